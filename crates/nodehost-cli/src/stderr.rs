//! Everything the CLI writes to stderr goes through here: messages and log lines alike have
//! every known secret of the run removed and control characters escaped, whatever their origin
//! (a server's answer, the user's own data), so nothing from outside reaches the terminal raw
//! and no line can be forged.

use std::io::{self, Write};
use std::sync::RwLock;

use nodehost_core::Secrets;

/// The secrets of the runs of this process.
static SECRETS: RwLock<Option<Secrets>> = RwLock::new(None);

/// Remove `secrets` from everything written to stderr from now on.
pub fn add_secrets(secrets: &Secrets) {
    if secrets.is_empty() {
        return;
    }
    let mut known = SECRETS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    *known = Some(match known.as_ref() {
        Some(k) => k.with(secrets),
        None => secrets.clone(),
    });
}

fn scrub(text: &str) -> String {
    let known = SECRETS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    match known.as_ref() {
        Some(secrets) => secrets.scrub(text),
        None => text.to_owned(),
    }
}

/// `text` on one line: secrets removed, control characters (newlines, escape sequences, NUL)
/// written as escapes.
pub fn clean(text: &str) -> String {
    escape(&scrub(text), false)
}

fn escape(text: &str, keep_newlines: bool) -> String {
    if !text.chars().any(|c| c.is_control() || is_bidi(c)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Characters that reorder what a terminal shows (bidirectional overrides).
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Print `nodehost: MESSAGE` on one line.
pub fn say(message: impl std::fmt::Display) {
    let line = format!("nodehost: {}\n", clean(&message.to_string()));
    let _ = io::stderr().write_all(line.as_bytes());
}

/// The log writer: stderr, with secrets removed and control characters escaped (line breaks
/// between log lines kept).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr().write_all(escape(&scrub(&text), true).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_a_line_or_drive_the_terminal() {
        assert_eq!(
            clean("ok\nnodehost: all good\r\u{1b}[31mred\u{7}\u{0}\u{202e}"),
            "ok\\nnodehost: all good\\r\\u{1b}[31mred\\u{7}\\u{0}\\u{202e}"
        );
        assert_eq!(clean("plain ação"), "plain ação");
    }
}

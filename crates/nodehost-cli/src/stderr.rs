//! Everything the CLI writes to stderr goes through here: messages and log lines alike have
//! every known secret of the run removed and control characters escaped, whatever their origin
//! (a server's answer, the user's own data), so nothing from outside reaches the terminal raw
//! and no line can be forged.

use std::io::{self, IsTerminal, Write};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// `text` with every registered secret removed.
pub fn scrub(text: &str) -> String {
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

/// Messages go out as JSON log lines (`--log-format json`).
static JSON: AtomicBool = AtomicBool::new(false);

/// Write messages as JSON log lines from now on.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Whether human messages may be coloured: never with `NO_COLOR` set, always with
/// `CLICOLOR_FORCE` set (to anything but `0`), otherwise when stderr is a terminal.
pub fn colour() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    set("CLICOLOR_FORCE") || io::stderr().is_terminal()
}

/// Print `nodehost: MESSAGE` on one line (a JSON log line at level INFO with
/// `--log-format json`).
pub fn say(message: impl std::fmt::Display) {
    emit(&message.to_string(), false);
}

/// Print why the command failed (level ERROR with `--log-format json`).
pub fn fail(message: impl std::fmt::Display) {
    emit(&message.to_string(), true);
}

fn emit(message: &str, error: bool) {
    if JSON.load(Ordering::Relaxed) {
        // The log writer removes secrets; the JSON encoder escapes control characters.
        if error {
            tracing::error!(target: "nodehost", "{message}");
        } else {
            tracing::info!(target: "nodehost", "{message}");
        }
        return;
    }
    let text = clean(message);
    let line = if colour() {
        // Bold name, red for a failure: only our own escape codes, around escaped text.
        let style = if error { "\x1b[1;31m" } else { "\x1b[1m" };
        format!("{style}nodehost:\x1b[0m {text}\n")
    } else {
        format!("nodehost: {text}\n")
    };
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

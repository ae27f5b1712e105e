//! Reading `run` input: a whole JSON document (bounded, with line and column on errors) or
//! NDJSON lines streamed one at a time.

use std::io::{IsTerminal, Read};
use std::path::Path;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::CliError;

/// Largest whole-document input; beyond it, `--ndjson` streams in constant memory.
pub const MAX_DOCUMENT_BYTES: u64 = 512 * 1024 * 1024;
/// Longest NDJSON line.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Read and parse the whole input document.
pub fn read_document(path: Option<&Path>) -> Result<Value, CliError> {
    let source = path.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let mut bytes = Vec::new();
    if path.is_none() && std::io::stdin().is_terminal() {
        eprintln!("nodehost: reading items from stdin (end with Ctrl-D; see `nodehost run --help`)");
    }
    let read = match path {
        Some(p) => {
            std::fs::File::open(p).and_then(|f| f.take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut bytes))
        }
        None => std::io::stdin()
            .lock()
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes),
    };
    read.map_err(|e| CliError::usage(format!("cannot read {source}: {e}")))?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(CliError::usage(format!(
            "{source} is larger than {} MiB; use --ndjson to stream items one per line",
            MAX_DOCUMENT_BYTES / (1024 * 1024)
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::usage(format!(
            "{source} is empty: expected a JSON array of items, an item object or an envelope"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| json_error(&source, &e))
}

/// `malformed JSON in stdin at line 3, column 7: expected `,` or `}``.
pub fn json_error(source: &str, e: &serde_json::Error) -> CliError {
    let what = e.to_string();
    // serde_json appends " at line L column C"; keep the words, state the place our way.
    let words = what.split(" at line ").next().unwrap_or(&what);
    CliError::usage(format!(
        "malformed JSON in {source} at line {}, column {}: {words}",
        e.line(),
        e.column()
    ))
}

/// One NDJSON line: its number (1-based) and content, or why it could not be read.
pub enum Line {
    /// A line's bytes without the newline.
    Data(usize, Vec<u8>),
    /// The line is longer than [`MAX_LINE_BYTES`]; the rest of it was skipped.
    TooLong(usize),
}

/// Read the next non-blank line, bounded in length.
pub async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line_no: &mut usize,
) -> std::io::Result<Option<Line>> {
    loop {
        let mut buf = Vec::new();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = reader.fill_buf().await?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if buf.len() + take > MAX_LINE_BYTES + 1 {
                    too_long = true;
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(&chunk[..take]);
                }
            }
            reader.consume(take);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        *line_no += 1;
        if too_long {
            return Ok(Some(Line::TooLong(*line_no)));
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return Ok(Some(Line::Data(*line_no, buf)));
    }
}

//! Reading `run` input: a whole JSON document (bounded, with line and column on errors) or
//! NDJSON lines streamed one at a time.

use std::io::{IsTerminal, Read};
use std::path::Path;

use crate::CliError;

/// Largest whole-document input; beyond it, `--ndjson` streams in constant memory.
pub const MAX_DOCUMENT_BYTES: u64 = 512 * 1024 * 1024;
/// Longest NDJSON line.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Read the whole input document's bytes (parsed by `nodehost_core::Document`, which locates
/// items without building a tree of them).
pub fn read_document(path: Option<&Path>) -> Result<Vec<u8>, CliError> {
    let source = path.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let mut bytes = Vec::new();
    if path.is_none() && std::io::stdin().is_terminal() {
        crate::stderr::say("reading items from stdin (end with Ctrl-D; see `nodehost run --help`)");
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
    if bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&bytes)
        .iter()
        .all(u8::is_ascii_whitespace)
    {
        return Err(CliError::usage(format!(
            "{source} is empty: expected a JSON array of items, an item object or an envelope"
        )));
    }
    Ok(bytes)
}

/// The name of the input in messages.
pub fn source_name(path: Option<&Path>) -> String {
    path.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string())
}

/// A document that cannot be read: `malformed JSON in stdin at line 3, column 7: ...`.
pub fn document_error(source: &str, e: nodehost_core::DocumentError) -> CliError {
    match e {
        nodehost_core::DocumentError::Json {
            message,
            line,
            column,
        } => CliError::usage(format!(
            "malformed JSON in {source} at line {line}, column {column}: {message}"
        )),
        other => CliError::usage(other.to_string()),
    }
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

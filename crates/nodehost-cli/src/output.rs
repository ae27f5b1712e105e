//! Writing to stdout: whole JSON documents, or a document/stream of items written as they
//! complete. A closed stdout (`| head`) is not an error worth a message.

use std::io::{self, BufWriter, Write};

use nodehost_core::OutputItem;
use serde::Serialize;

use crate::CliError;

/// Print one JSON document followed by a newline.
pub fn print_json<T: Serialize>(value: &T, pretty: bool) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let written = if pretty {
        serde_json::to_writer_pretty(&mut out, value)
    } else {
        serde_json::to_writer(&mut out, value)
    };
    written
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .or_else(ignore_broken_pipe)
        .map_err(|e| CliError::usage(format!("cannot write output: {e}")))
}

/// Broken pipe means the reader has all it wanted.
pub fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

/// Standard output without std's line buffering: `io::Stdout` is a `LineWriter` behind a lock,
/// which searches every chunk our own buffer hands it for its last newline (a whole 64 KiB
/// chunk, as document output has none) and takes the lock for each write. The items are
/// already buffered here, so they go to a duplicate of the descriptor instead. Nothing else
/// writes to stdout during a run, so output cannot interleave.
fn raw_stdout() -> Box<dyn Write + Send> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        if let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(io::stdout())
}

/// How items are laid out on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"items": [...], "error": {...}}`, compact.
    Document,
    /// The same, indented.
    Pretty,
    /// One output item per line; a final `{"error": ...}` line when the run stopped.
    Lines,
}

/// Writes output items as the engine emits them.
pub struct ItemWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    layout: Layout,
    count: usize,
}

impl ItemWriter {
    /// Start the output (writes the document's opening).
    pub fn new(layout: Layout) -> io::Result<Self> {
        let mut w = Self {
            out: BufWriter::with_capacity(64 * 1024, raw_stdout()),
            layout,
            count: 0,
        };
        match layout {
            Layout::Document => w.out.write_all(b"{\"items\":[")?,
            Layout::Pretty => w.out.write_all(b"{\n  \"items\": [")?,
            Layout::Lines => {}
        }
        Ok(w)
    }

    /// Write one item. Each goes to stdout as soon as it is in order, in every layout: a reader
    /// that goes away (`| head`) is seen at the next item and stops the run there, and the
    /// document is never held in memory. (An item is a request's worth of work; one write per
    /// item is small beside it.)
    pub fn item(&mut self, item: &OutputItem) -> io::Result<()> {
        match self.layout {
            Layout::Document => {
                if self.count > 0 {
                    self.out.write_all(b",")?;
                }
                serde_json::to_writer(&mut self.out, item)?;
                self.out.flush()?;
            }
            Layout::Pretty => {
                self.out.write_all(if self.count > 0 { b",\n" } else { b"\n" })?;
                // A passed-through answer would be written as it came, on one line: indent
                // the object itself. Text no map can hold (a number beyond f64) is written as
                // it came.
                let text = match item.json.to_object() {
                    Ok(object) => serde_json::to_string_pretty(&OutputItem {
                        json: object.into_owned().into(),
                        paired_item: item.paired_item,
                    })?,
                    Err(_) => serde_json::to_string(item)?,
                };
                for (i, line) in text.lines().enumerate() {
                    if i > 0 {
                        self.out.write_all(b"\n")?;
                    }
                    self.out.write_all(b"    ")?;
                    self.out.write_all(line.as_bytes())?;
                }
                self.out.flush()?;
            }
            Layout::Lines => {
                serde_json::to_writer(&mut self.out, item)?;
                self.out.write_all(b"\n")?;
                // Streaming consumers see each item as soon as it is in order.
                self.out.flush()?;
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Close the output, adding the run's error when it stopped.
    pub fn finish(mut self, error: Option<&serde_json::Value>) -> io::Result<()> {
        match self.layout {
            Layout::Document => {
                self.out.write_all(b"]")?;
                if let Some(e) = error {
                    self.out.write_all(b",\"error\":")?;
                    serde_json::to_writer(&mut self.out, e)?;
                }
                self.out.write_all(b"}\n")?;
            }
            Layout::Pretty => {
                self.out.write_all(if self.count > 0 { b"\n  ]" } else { b"]" })?;
                if let Some(e) = error {
                    self.out.write_all(b",\n  \"error\": ")?;
                    let text = serde_json::to_string_pretty(e)?;
                    self.out.write_all(text.replace('\n', "\n  ").as_bytes())?;
                }
                self.out.write_all(b"\n}\n")?;
            }
            Layout::Lines => {
                if let Some(e) = error {
                    serde_json::to_writer(&mut self.out, &serde_json::json!({ "error": e }))?;
                    self.out.write_all(b"\n")?;
                }
            }
        }
        self.out.flush()
    }
}

//! Reading newline-delimited input one line at a time, bounded in length: NDJSON items of
//! `run --ndjson`, and the JSON-RPC messages of plugins on both sides of their pipes.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line: its number (1-based) and content, or why it could not be read.
#[derive(Debug)]
pub enum Line {
    /// A line's bytes without the newline.
    Data(usize, Vec<u8>),
    /// The line is longer than the limit: reported as soon as the limit is crossed.
    TooLong(usize),
}

/// Reads lines one at a time, bounded in length; blank lines are skipped.
#[derive(Debug)]
pub struct Lines {
    max: usize,
    number: usize,
    /// The previous line was too long: the rest of it is skipped first.
    skipping: bool,
}

impl Lines {
    /// A reader of lines of at most `max` bytes (the newline not counted).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            number: 0,
            skipping: false,
        }
    }

    /// The longest line accepted, in bytes.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The number of the last line read (1-based).
    pub fn number(&self) -> usize {
        self.number
    }

    /// The next non-blank line. A line past the limit is reported without reading
    /// the rest of it (which a later call skips), so an endless line (`cat /dev/zero`) is
    /// refused at once rather than at the end of input.
    pub async fn next<R: AsyncBufRead + Unpin>(&mut self, reader: &mut R) -> std::io::Result<Option<Line>> {
        if self.skipping {
            self.skipping = false;
            loop {
                let chunk = reader.fill_buf().await?;
                if chunk.is_empty() {
                    return Ok(None);
                }
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        reader.consume(i + 1);
                        break;
                    }
                    None => {
                        let n = chunk.len();
                        reader.consume(n);
                    }
                }
            }
        }
        loop {
            let mut buf = Vec::new();
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
                if buf.len() + take > self.max + 1 {
                    self.number += 1;
                    // The newline, if in this chunk, ends the overlong line here.
                    reader.consume(take);
                    self.skipping = !done;
                    return Ok(Some(Line::TooLong(self.number)));
                }
                buf.extend_from_slice(&chunk[..take]);
                reader.consume(take);
                if done {
                    break;
                }
            }
            if !any {
                return Ok(None);
            }
            self.number += 1;
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(Line::Data(self.number, buf)));
        }
    }
}

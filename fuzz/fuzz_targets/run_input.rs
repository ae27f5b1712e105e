//! Fuzz the stdin path of `nodehost run`: any bytes, read as a JSON document and as NDJSON
//! lines, through the real registry's parsing and validation. Must never panic.

#![no_main]

#[path = "../src/stdin_path.rs"]
mod stdin_path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stdin_path::run(data);
});

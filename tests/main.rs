//! Every end-to-end test, as modules of one test binary (one link on a 2-core machine): the
//! built `nodehost` binary and the libraries seen from outside, against real sandboxes, raw
//! servers, NATS and Node.js. `support/lib.rs` (the `nodehost_e2e` crate) is the one way they
//! start the binary, with an environment cleared of the developer's settings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

mod bad_input;
mod cli;
mod cli_ux;
mod definitions;
mod durability;
mod faults;
mod interrupt;
mod mcp;
mod mcp_conformance;
mod n8n_package;
mod operations;
mod plugins;
mod properties;
mod readme;
mod schemathesis;
mod secrets;
mod serve;
mod streams;
mod sync;
mod wire;
mod workers;

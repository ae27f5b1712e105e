//! The sandbox seen from outside: real HTTP against a sandbox started on port 0 with its own
//! temporary database, one per test, so tests run in parallel without shared state.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod auth;
mod clients_crud;
mod faults;
mod lifecycle;
mod limits;
mod validation;

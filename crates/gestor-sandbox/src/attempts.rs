//! Counts requests per `METHOD /path`, so tests can assert exact attempt counts (how many times
//! a client retried) and deterministic faults can number attempts. Owns the counters only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Distinct `METHOD /path` keys remembered; beyond that, new keys share one bucket so a long
/// benchmark over many ids cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;
/// The shared bucket's key.
pub(crate) const OVERFLOW_KEY: &str = "(other)";

/// Shared, cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attempts(Arc<Mutex<HashMap<String, u64>>>);

impl Attempts {
    /// Counts one attempt at `method path` and returns its number (1 for the first).
    pub fn record(&self, method: &str, path: &str) -> u64 {
        let key = format!("{method} {path}");
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = if counts.len() >= MAX_KEYS && !counts.contains_key(&key) {
            OVERFLOW_KEY.to_owned()
        } else {
            key
        };
        let n = counts.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    /// Every count so far, sorted by key.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

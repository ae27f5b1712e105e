//! The secrets of a run (the values of its credentials' secret fields) and their removal from
//! every text the run produces: problems, error items, the stop report. Whatever its origin (a
//! server's answer, the user's own data, a field name), a known secret never leaves a run.

use std::fmt;
use std::sync::Arc;

use memchr::memmem;
use serde_json::{Map, Value};

use crate::description::CredentialType;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not searched for: a 3-character "secret" would blank out
/// ordinary words. Real API keys are far longer.
pub const MIN_SECRET_CHARS: usize = 6;

/// A run of at least this many bytes of a secret's start is redacted too: messages cut long
/// values short ("gck_c4a7…"), and a cut secret must not survive because it no longer matches
/// whole.
const PREFIX_BYTES: usize = 12;

/// A set of secret strings, searched for with prebuilt finders. Cheap to clone.
#[derive(Clone, Default)]
pub struct Secrets {
    finders: Arc<Vec<(String, memmem::Finder<'static>)>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.finders.len())
    }
}

impl Secrets {
    /// No secret.
    pub fn none() -> Self {
        Self::default()
    }

    /// These secrets (surrounding whitespace trimmed; short ones ignored).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut finders: Vec<(String, memmem::Finder<'static>)> = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref().trim();
            if secret.chars().count() < MIN_SECRET_CHARS || finders.iter().any(|(s, _)| s == secret) {
                continue;
            }
            let prefix = &secret.as_bytes()[..secret.len().min(PREFIX_BYTES)];
            let finder = memmem::Finder::new(prefix).into_owned();
            finders.push((secret.to_owned(), finder));
        }
        // Longest first, so a secret containing another is replaced whole.
        finders.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        Self {
            finders: Arc::new(finders),
        }
    }

    /// The values of `credentials`' secret fields, as `kind` marks them.
    pub fn of_credentials(kind: &CredentialType, credentials: &Value) -> Self {
        let values = kind
            .secret_fields()
            .into_iter()
            .filter_map(|field| credentials.get(field).and_then(Value::as_str).map(str::to_owned))
            .collect::<Vec<_>>();
        Self::new(values)
    }

    /// These secrets and `other`'s.
    #[must_use]
    pub fn with(&self, other: &Secrets) -> Self {
        Self::new(
            self.finders
                .iter()
                .chain(other.finders.iter())
                .map(|(s, _)| s.clone()),
        )
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.finders.is_empty()
    }

    /// Whether `bytes` hold a secret (or the start of one).
    pub fn found_in(&self, bytes: &[u8]) -> bool {
        self.finders.iter().any(|(_, f)| f.find(bytes).is_some())
    }

    /// `text` with every secret, and every run of a secret's first bytes (a secret cut short),
    /// replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (secret, finder) in self.finders.iter() {
            if finder.find(out.as_bytes()).is_none() {
                continue;
            }
            let mut scrubbed = String::with_capacity(out.len());
            let mut rest = out.as_str();
            while let Some(at) = finder.find(rest.as_bytes()) {
                let tail = &rest.as_bytes()[at..];
                let mut len = tail
                    .iter()
                    .zip(secret.as_bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                // Never split a character of the text.
                while !rest.is_char_boundary(at + len) {
                    len -= 1;
                }
                scrubbed.push_str(&rest[..at]);
                scrubbed.push_str(REDACTED);
                rest = &rest[at + len.max(1)..];
            }
            scrubbed.push_str(rest);
            out = scrubbed;
        }
        out
    }

    /// `value` with every secret replaced in every string, object keys included.
    pub fn scrub_value(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.scrub(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.scrub_value(v)).collect()),
            Value::Object(map) => Value::Object(self.scrub_object(map)),
            other => other,
        }
    }

    /// [`Secrets::scrub_value`] of an object.
    pub fn scrub_object(&self, map: Map<String, Value>) -> Map<String, Value> {
        if self.is_empty() {
            return map;
        }
        map.into_iter()
            .map(|(k, v)| (self.scrub(&k), self.scrub_value(v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_occurrence_in_text_keys_and_values_is_replaced() {
        let secrets = Secrets::new(["gck_secret_0123", "  padded-secret \n", "abc"]);
        assert_eq!(
            secrets.scrub("a gck_secret_0123 b gck_secret_0123 padded-secret abc"),
            "a [REDACTED] b [REDACTED] [REDACTED] abc"
        );
        assert_eq!(
            secrets.scrub_value(json!({"gck_secret_0123": ["x gck_secret_0123", 1]})),
            json!({"[REDACTED]": ["x [REDACTED]", 1]})
        );
        assert!(secrets.found_in(b"..gck_secret_0123.."));
        assert!(!secrets.found_in(b"abc"));
    }

    #[test]
    fn a_secret_cut_short_in_a_message_is_redacted_too() {
        let key = "gck_c4a7a12bdeadbeef0badc0de5ec7e7";
        let secrets = Secrets::new([key]);
        assert_eq!(
            secrets.scrub("got \"gck_c4a7a12bdead…\" (68 characters)"),
            "got \"[REDACTED]…\" (68 characters)"
        );
        // Fewer than 12 of its bytes is not the secret.
        assert_eq!(secrets.scrub("gck_c4a7 is a prefix"), "gck_c4a7 is a prefix");
        // Non-ASCII text around a match stays whole.
        let secrets = Secrets::new(["çãõ-secret-çãõ"]);
        assert_eq!(secrets.scrub("x çãõ-secret-çã! y"), "x [REDACTED]! y");
    }
}

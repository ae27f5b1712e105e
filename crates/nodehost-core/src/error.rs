//! Error types of the core: what a node reports for one item, what setup reports for a run,
//! and what validation reports for an input item.

use serde::Serialize;
use serde_json::{Map, Value};

/// Why one item failed while executing. Rendered as the `error` of an output item.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
#[non_exhaustive]
pub struct NodeError {
    /// One line a user can act on. Must never contain a secret.
    pub message: String,
    /// Members added to the error object as they are, e.g. `httpStatus` from an HTTP node
    /// (`nodehost_http` owns that name); the core gives them no meaning.
    #[serde(flatten)]
    pub fields: Box<Map<String, Value>>,
    /// Structured detail (e.g. the API's list of validation issues).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// The item may have changed remote state before failing (e.g. a create whose answer was
    /// lost). Reported so a user does not blindly re-run it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub maybe_applied: bool,
    /// The failure is transient: trying the item again later may succeed (worth doing only for
    /// an idempotent operation). Not part of the error object.
    #[serde(skip)]
    pub retryable: bool,
    /// The run goes on after this failure, as under continue-on-fail for this one item: it
    /// becomes an error item. For a failure that is not the item's own doing (the worker that
    /// had it in flight died), where stopping would leave every later item not run. Not part of
    /// the error object.
    #[serde(skip)]
    pub continue_run: bool,
}

impl NodeError {
    /// An error with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            fields: Box::default(),
            details: None,
            maybe_applied: false,
            retryable: false,
            continue_run: false,
        }
    }

    /// A failure that is a bug, not the item's fault: said so in its message.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self::new(format!(
            "internal error (a bug in nodehost or the node, please report it): {what}"
        ))
    }

    /// Add a member to the error object (`httpStatus`, ...).
    #[must_use]
    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// A member added with [`NodeError::with_field`].
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// Attach structured details.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Mark that the remote state may have changed.
    #[must_use]
    pub fn maybe_applied(mut self, maybe: bool) -> Self {
        self.maybe_applied = maybe;
        self
    }

    /// Let the run go on after this failure (see [`NodeError::continue_run`]).
    #[must_use]
    pub fn continue_run(mut self) -> Self {
        self.continue_run = true;
        self
    }

    /// Mark the failure transient (worth trying again).
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

/// Why a run could not start: bad credentials, unusable options. Exit status 2 in the CLI.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The node needs credentials and none were given.
    #[error("missing credentials of type `{credential}` (fields: {})", fields.join(", "))]
    MissingCredentials {
        /// Credential type name.
        credential: String,
        /// Its fields, for the caller's hint on how to give them.
        fields: Vec<String>,
    },
    /// Credentials were given but are unusable.
    #[error("invalid credentials of type `{credential}`: {reason}")]
    InvalidCredentials {
        /// Credential type name.
        credential: String,
        /// What is wrong (never the secret itself).
        reason: String,
    },
    /// Any other reason the node cannot run.
    #[error("{0}")]
    Other(String),
}

/// One problem found in one item's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// JSON pointer-like dotted path of the field (`""` for the item itself).
    pub path: String,
    /// What was wrong, in words, including what was expected and what was received.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "field `{}`: {}", self.path, self.message)
        }
    }
}

/// Every problem of one input item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ItemProblems {
    /// Index of the item in the input.
    pub item: usize,
    /// All problems found, in field order.
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for ItemProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {}: ", self.item)?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

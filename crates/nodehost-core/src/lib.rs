//! nodehost-core: the node model and the execution engine.
pub mod error;
pub mod node;
pub mod options;
pub mod retry;

pub use error::{ItemProblems, NodeError, Problem, SetupError};
pub use node::{
    CredentialSpec, Json, Lock, NoCredentials, Node, NodeSpec, OperationHints, OperationSpec,
    StringFormat,
};
pub use options::{HttpOptions, RetryPolicy, RunOptions};

//! The one run pipeline every caller drives: a run request (node, node-level parameters,
//! items, credentials) becomes validated work, then an ordered stream of outcomes and a run
//! document. The CLI, the fuzz target and every server call this; none re-implements
//! resolution, validation, ordering or the stop report.
//!
//! - [`Plan`]: node-level parameters checked once, then each item resolved and validated.
//! - [`Host`]: the registry, the settings sessions are opened with, and sessions shared
//!   between runs with the same node and credentials (one HTTP connection pool each).
//! - [`crate::engine::execute`]: the validated items, run.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::document::Document;
use crate::engine::{self, ItemFailure, OutputItem, RunConfig, WorkItem};
use crate::error::{ItemProblems, Problem, SetupError};
use crate::hosted::{DynSession, HostedNode};
use crate::input::{self, InputError, RunInput};
use crate::node::SessionOptions;
use crate::registry::Registry;
use crate::report::{MAX_LISTED_INVALID, Ranges, RunDocument, RunReport};
use crate::secrets::Secrets;
use crate::validate::UnknownFields;

/// Why a run request cannot run at all: nothing was validated or sent (exit status 2 in the
/// CLI, a 4xx in a server).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No node has this name.
    #[error("unknown node `{name}`; available: {}", available.join(", "))]
    UnknownNode {
        /// The name asked for.
        name: String,
        /// Every registered node.
        available: Vec<String>,
    },
    /// Node-level parameters no operation takes (typos).
    #[error("unknown node-level parameter(s) {}: no operation of `{node}` takes them",
        fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "))]
    UnknownParameters {
        /// The node.
        node: String,
        /// The parameters.
        fields: Vec<String>,
    },
    /// The input document has the wrong shape.
    #[error("{0}")]
    Input(#[from] InputError),
    /// The session could not be opened (credentials, options).
    #[error("{0}")]
    Setup(#[from] SetupError),
    /// A dry run of a node that cannot do one (it would send its writes).
    #[error(
        "node `{node}` does not support a dry run (its definition does not declare `supportsDryRun`); nothing was sent"
    )]
    DryRunUnsupported {
        /// The node.
        node: String,
    },
}

impl RequestError {
    /// `Err` when `config` asks for a dry run that `node` cannot do.
    pub fn check_dry_run(node: &HostedNode, config: &RunConfig) -> Result<(), Self> {
        if config.dry_run && !node.supports_dry_run() {
            return Err(Self::DryRunUnsupported {
                node: node.name().to_owned(),
            });
        }
        Ok(())
    }
}

/// A run's node and node-level parameters, checked once; resolves and validates each item.
#[derive(Debug, Clone)]
pub struct Plan {
    node: Arc<HostedNode>,
    parameters: Map<String, Value>,
    unknown: UnknownFields,
    secrets: Secrets,
}

impl Plan {
    /// Check the node-level parameters: one that no operation takes is refused as such (under
    /// [`UnknownFields::Reject`]), never as a problem of some item.
    pub fn new(
        node: Arc<HostedNode>,
        parameters: Map<String, Value>,
        unknown: UnknownFields,
    ) -> Result<Self, RequestError> {
        let typos = input::unknown_node_parameters(&parameters, node.validator());
        if !typos.is_empty() && unknown == UnknownFields::Reject {
            return Err(RequestError::UnknownParameters {
                node: node.name().to_owned(),
                fields: typos,
            });
        }
        Ok(Self {
            node,
            parameters,
            unknown,
            secrets: Secrets::none(),
        })
    }

    /// Remove `secrets` from every problem this plan reports: an item may quote a key as a
    /// value or a field name.
    #[must_use]
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// The node.
    pub fn node(&self) -> &Arc<HostedNode> {
        &self.node
    }

    /// Resolve and validate one item: node-level parameters, default operation, schema checks.
    pub fn prepare(&self, index: usize, item: Map<String, Value>) -> WorkItem {
        let description = self.node.description();
        let resolved = input::resolve(
            &self.parameters,
            item,
            &description.default_operation,
            self.node.validator(),
        );
        let result = self.node.prepare(resolved, self.unknown).map_err(|problems| {
            let problems = if self.secrets.is_empty() {
                problems
            } else {
                problems
                    .into_iter()
                    .map(|p| Problem {
                        path: self.secrets.scrub(&p.path),
                        message: self.secrets.scrub(&p.message),
                    })
                    .collect()
            };
            ItemFailure::Invalid(ItemProblems {
                item: index,
                problems,
            })
        });
        (index, result)
    }

    /// An item that could not even be read (a malformed NDJSON line): a failure of its own.
    pub fn unreadable(index: usize, message: String) -> WorkItem {
        (
            index,
            Err(ItemFailure::Invalid(ItemProblems {
                item: index,
                problems: vec![Problem {
                    path: String::new(),
                    message,
                }],
            })),
        )
    }

    /// An item as a [`Document`] reads it: its fields, or the problem that makes it unreadable
    /// (a key given twice).
    pub fn prepare_read(&self, index: usize, item: Result<Map<String, Value>, Problem>) -> WorkItem {
        match item {
            Ok(item) => self.prepare(index, item),
            Err(problem) => Self::unreadable(index, self.secrets.scrub(&problem.message)),
        }
    }

    /// Validate every item before anything is sent. Without continue-on-fail one invalid item
    /// refuses the run: the report lists the invalid items (the first
    /// [`MAX_LISTED_INVALID`]) and nothing is sent. With it, invalid items are kept as
    /// failures to become error items.
    pub fn validate_all<I>(&self, items: I, continue_on_fail: bool) -> Result<Vec<WorkItem>, Box<RunReport>>
    where
        I: IntoIterator<Item = Map<String, Value>>,
    {
        let prepared = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| self.prepare(index, item));
        Self::refuse_invalid(prepared, continue_on_fail, true)
    }

    /// Validate every item of `document` before anything is sent. A document of at most
    /// `keep` items keeps them as work (`Some`), so each is read once; a longer one keeps none
    /// (`None`: read them again with [`Plan::document_work`]), so memory stays that of the
    /// document however long it is. An item that is not an object is an [`InputError`];
    /// invalid items refuse the run as in [`Plan::validate_all`].
    pub fn check_document(
        &self,
        document: &Document<'_>,
        continue_on_fail: bool,
        keep: usize,
    ) -> Result<Result<Option<Vec<WorkItem>>, Box<RunReport>>, InputError> {
        let mut shape = None;
        let prepared = document
            .items()
            .enumerate()
            .map_while(|(index, item)| match item {
                Ok(item) => Some(self.prepare_read(index, item)),
                Err(e) => {
                    shape = Some(e);
                    None
                }
            });
        let kept = document.len() <= keep;
        let checked = Self::refuse_invalid(prepared, continue_on_fail, kept).map(|work| kept.then_some(work));
        match shape {
            Some(e) => Err(e),
            None => Ok(checked),
        }
    }

    /// The items of a checked `document` as work, read one at a time as the engine asks.
    pub fn document_work<'d>(
        &'d self,
        document: &'d Document<'_>,
    ) -> impl Iterator<Item = WorkItem> + Send + 'd {
        document.items().enumerate().map(|(index, item)| match item {
            Ok(item) => self.prepare_read(index, item),
            // `check_document` refused such a document before anything was sent.
            Err(e) => Self::unreadable(index, e.to_string()),
        })
    }

    fn refuse_invalid(
        prepared: impl Iterator<Item = WorkItem>,
        continue_on_fail: bool,
        keep: bool,
    ) -> Result<Vec<WorkItem>, Box<RunReport>> {
        let mut work = Vec::new();
        let mut listed = Vec::new();
        let mut invalid = Ranges::default();
        let mut total = 0;
        for (index, result) in prepared {
            total = index + 1;
            if let Err(ItemFailure::Invalid(problems)) = &result {
                invalid.push(index);
                if listed.len() < MAX_LISTED_INVALID {
                    listed.push(problems.clone());
                }
            }
            if keep && (continue_on_fail || invalid.is_empty()) {
                work.push((index, result));
            }
        }
        if !invalid.is_empty() && !continue_on_fail {
            return Err(Box::new(RunReport::refused(listed, invalid, total)));
        }
        Ok(work)
    }
}

/// Most sessions a host keeps open for reuse; the least recently used is closed first.
const MAX_SHARED_SESSIONS: usize = 64;

/// A registry, the settings sessions open with, and the sessions shared between runs.
pub struct Host {
    registry: Registry,
    options: SessionOptions,
    /// Most recently used last.
    sessions: Mutex<Vec<SharedSession>>,
}

/// `(node, credentials as JSON text, session)`.
type SharedSession = (String, String, Arc<dyn DynSession>);

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Session keys hold credentials: never shown.
        f.debug_struct("Host")
            .field("registry", &self.registry)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// A host of `registry`'s nodes, opening sessions with default settings.
    pub fn new(registry: Registry) -> Self {
        Self::with_options(registry, SessionOptions::default())
    }

    /// A host opening sessions with `options`.
    pub fn with_options(registry: Registry, options: SessionOptions) -> Self {
        Self {
            registry,
            options,
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// The nodes.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<Arc<HostedNode>, RequestError> {
        self.registry.get(name).ok_or_else(|| RequestError::UnknownNode {
            name: crate::validate::truncate(name, 80),
            available: self.registry.names().map(str::to_owned).collect(),
        })
    }

    /// A plan for a run of `node` with node-level `parameters`.
    pub fn plan(
        &self,
        node: &str,
        parameters: Map<String, Value>,
        unknown: UnknownFields,
    ) -> Result<Plan, RequestError> {
        Plan::new(self.node(node)?, parameters, unknown)
    }

    /// A fresh session of `node` for `credentials`, not shared.
    pub async fn open(
        &self,
        node: &HostedNode,
        credentials: Option<Value>,
    ) -> Result<Arc<dyn DynSession>, SetupError> {
        node.open(credentials, &self.options).await
    }

    /// A session of `node` for `credentials`, shared with every run that gives the same ones:
    /// runs of a long-lived host reuse its connection pool.
    pub async fn session(
        &self,
        node: &HostedNode,
        credentials: Option<Value>,
    ) -> Result<Arc<dyn DynSession>, SetupError> {
        let key = credentials.as_ref().map_or_else(String::new, Value::to_string);
        if let Some(session) = self.cached(node.name(), &key) {
            return Ok(session);
        }
        let session = node.open(credentials, &self.options).await?;
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !sessions.iter().any(|(n, k, _)| n == node.name() && *k == key) {
            if sessions.len() >= MAX_SHARED_SESSIONS {
                sessions.remove(0);
            }
            sessions.push((node.name().to_owned(), key, Arc::clone(&session)));
        }
        Ok(session)
    }

    fn cached(&self, node: &str, key: &str) -> Option<Arc<dyn DynSession>> {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = sessions.iter().position(|(n, k, _)| n == node && k == key)?;
        let entry = sessions.remove(at);
        let session = Arc::clone(&entry.2);
        sessions.push(entry);
        Some(session)
    }

    /// Run a whole input through `node` and collect the run document: every item validated
    /// before anything is sent, then executed with `config`. The short form for embedders;
    /// servers use [`Plan`] and [`engine::execute`] to stream.
    pub async fn run(
        &self,
        node: &str,
        input: RunInput,
        config: &RunConfig,
    ) -> Result<RunDocument, RequestError> {
        self.run_with(node, input, config, |session| session).await
    }

    /// [`Host::run`], with the session the items execute through wrapped by `layer`: what a
    /// caller adds around every item (a worker's journal of what was applied) without a
    /// pipeline of its own. `layer` sees only items that passed validation.
    pub async fn run_with(
        &self,
        node: &str,
        input: RunInput,
        config: &RunConfig,
        layer: impl FnOnce(Arc<dyn DynSession>) -> Arc<dyn DynSession>,
    ) -> Result<RunDocument, RequestError> {
        let RunInput {
            parameters,
            items,
            credentials,
            continue_on_fail,
        } = input;
        let hosted = self.node(node)?;
        RequestError::check_dry_run(&hosted, config)?;
        let secrets = match (hosted.credential(), &credentials) {
            (Some(kind), Some(value)) => Secrets::of_credentials(kind, value).with(&config.secrets),
            _ => config.secrets.clone(),
        };
        let plan = Plan::new(hosted, parameters, UnknownFields::Reject)?.with_secrets(secrets.clone());
        let config = RunConfig {
            continue_on_fail: config.continue_on_fail || continue_on_fail.unwrap_or(false),
            secrets,
            ..config.clone()
        };
        let total = items.len();
        let work = match plan.validate_all(items, config.continue_on_fail) {
            Ok(work) => work,
            Err(refused) => return Ok(refused.document(Vec::new(), Some(total))),
        };
        if work.is_empty() {
            return Ok(RunReport::default().document(Vec::new(), Some(0)));
        }
        let session = layer(self.session(plan.node(), credentials).await?);
        let mut outputs: Vec<OutputItem> = Vec::new();
        let report = engine::execute(session, futures::stream::iter(work), &config, &mut outputs).await;
        Ok(report.document(outputs, Some(total)))
    }
}

//! nodehost-worker: runs as jobs on NATS JetStream, for a pool of stateless workers, as a
//! library an engine runs in its own process.
//!
//! - Jobs are messages on a work-queue stream, de-duplicated by job id (`Nats-Msg-Id`), read by
//!   one durable pull consumer that every worker of the pool shares ([`Queue`], [`Worker`]).
//! - A worker runs a job through the same pipeline as `run` ([`nodehost_core::Host::run_with`]).
//!   Each write's outcome is journaled in a key-value bucket (key `JOB.INDEX`) as it happens:
//!   `started` before the item is sent, `applied` with its outputs after. Reads are not
//!   journaled: they have no effect to apply twice, and a redelivery reads again.
//! - The result, the run document plus `jobId`, `node`, `worker` and `delivery`, is published
//!   to the results stream (subject `RESULTS.JOB`) and acknowledged by JetStream before the job
//!   is acknowledged, and `JOB.done` is recorded: at least once delivery, a result at most once.
//! - A redelivered job (its worker died or lost its connection) resumes: applied items are not
//!   sent again, their outputs come from the journal; items that were in flight are run again
//!   when their operation is idempotent and otherwise fail as `maybeApplied`.
//! - A job delivered more than `max_deliver` times, or one that cannot be read, goes to the
//!   dead-letter subject with the last error, and its result says so.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nodehost_worker::{Queue, QueueConfig, Worker, WorkerConfig};
//! let mut registry = nodehost_core::Registry::new();
//! node_gestor_clientes::register(&mut registry)?;
//! let host = Arc::new(nodehost_core::Host::new(registry));
//! let queue = Queue::connect(QueueConfig::default()).await?; // nats://127.0.0.1:4222
//! let worker = Worker::start(host, queue, WorkerConfig::default()).await?;
//! let stop = nodehost_core::CancellationToken::new();
//! worker.run(stop).await; // until `stop` is cancelled, then drains
//! # Ok(())
//! # }
//! ```
//!
//! `cargo run -p nodehost-worker --example pool` runs a worker and submits a job to it
//! (it needs `nats-server -js` on the default port).

mod error;
mod journal;
mod queue;
mod worker;

pub use error::WorkerError;
pub use queue::{Queue, QueueConfig, Submitted, check_job_id};
pub use worker::{Worker, WorkerConfig};

/// Header naming where a submitter wants the result sent as well.
pub const REPLY_HEADER: &str = "Nodehost-Reply-To";

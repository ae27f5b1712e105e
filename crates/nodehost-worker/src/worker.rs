//! A worker: takes jobs from the queue's durable consumer, runs each through the host's one
//! pipeline with every write journaled, publishes the result, then acknowledges the job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use bytes::Bytes;
use futures::StreamExt as _;
use nodehost_core::{DynSession, Host, RunConfig, RunInput, Secrets, ServerCredentials};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::journal::{Journal, JournaledSession, Recorded};
use crate::queue::{Queue, check_job_id, twice};
use crate::{REPLY_HEADER, WorkerError};

/// How a worker runs jobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The durable consumer every worker of the pool shares.
    pub consumer: String,
    /// Jobs this worker runs at once.
    pub jobs: usize,
    /// Items executing at once within one job.
    pub concurrency: usize,
    /// How long one item may take.
    pub item_deadline: Duration,
    /// Deliveries of a job before it goes to the dead-letter subject (its workers kept dying).
    pub max_deliver: i64,
    /// Without an acknowledgement for this long, JetStream redelivers a job (a running job
    /// sends in-progress acknowledgements every third of it). Set on consumer creation.
    pub ack_wait: Duration,
    /// How long running jobs get to finish once the worker is told to stop; the unfinished
    /// are left to other workers.
    pub drain: Duration,
    /// This worker's name in results and logs.
    pub name: String,
    /// Credentials for the jobs that bring none.
    pub credentials: ServerCredentials,
}

impl Default for WorkerConfig {
    /// `nodehost worker`'s defaults, named `worker`.
    fn default() -> Self {
        Self {
            consumer: "nodehost-workers".into(),
            jobs: 1,
            concurrency: 8,
            item_deadline: Duration::from_secs(15),
            max_deliver: 3,
            ack_wait: Duration::from_secs(30),
            drain: Duration::from_secs(30),
            name: "worker".into(),
            credentials: ServerCredentials::new(),
        }
    }
}

/// A worker of a pool: [`Worker::start`] joins the pool's consumer, [`Worker::run`] takes jobs
/// until told to stop.
pub struct Worker {
    host: Arc<Host>,
    queue: Queue,
    name: String,
    config: RunConfig,
    credentials: ServerCredentials,
    /// What is removed from every dead letter and error message.
    secrets: Secrets,
    max_deliver: i64,
    ack_wait: Duration,
    drain: Duration,
    jobs: usize,
    consumer: consumer::PullConsumer,
    /// Cancelled to stop: no job is taken after it.
    stopping: CancellationToken,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("stream", &self.queue.config.stream)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Join the pool: create the durable consumer when missing.
    pub async fn start(host: Arc<Host>, queue: Queue, config: WorkerConfig) -> Result<Self, WorkerError> {
        if config.jobs == 0 || config.concurrency == 0 {
            return Err(WorkerError::InvalidSetting(
                "jobs and concurrency must be at least 1".into(),
            ));
        }
        if config.max_deliver < 1 {
            return Err(WorkerError::InvalidSetting(
                "max deliver must be at least 1".into(),
            ));
        }
        if config.ack_wait.is_zero() {
            return Err(WorkerError::InvalidSetting(
                "the ack wait must be longer than 0".into(),
            ));
        }
        let settings = consumer::pull::Config {
            durable_name: Some(config.consumer.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            // The worker dead-letters a job delivered more than max_deliver times; the
            // server's own bound is one more, so the worker sees that last delivery.
            max_deliver: config.max_deliver + 1,
            ..Default::default()
        };
        let consumer: consumer::PullConsumer = twice(|| {
            queue
                .jobs
                .get_or_create_consumer(&config.consumer, settings.clone())
        })
        .await
        .map_err(|e| WorkerError::Nats {
            what: format!("cannot create the consumer {}", config.consumer),
            message: e.to_string(),
        })?;
        let secrets = config.credentials.secrets(host.registry());
        Ok(Self {
            host,
            queue,
            name: config.name,
            config: RunConfig {
                concurrency: config.concurrency,
                item_deadline: Some(config.item_deadline),
                ..RunConfig::default()
            },
            credentials: config.credentials,
            secrets,
            max_deliver: config.max_deliver,
            ack_wait: config.ack_wait,
            drain: config.drain,
            jobs: config.jobs,
            consumer,
            stopping: CancellationToken::new(),
        })
    }

    /// This worker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue it takes jobs from.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Take jobs, `jobs` at once, until `stop` is cancelled; then let running jobs finish for
    /// the drain time and leave the unfinished to other workers.
    pub async fn run(self, stop: CancellationToken) {
        let worker = Arc::new(self);
        let stopping = worker.stopping.clone();
        let relay = tokio::spawn(async move {
            stop.cancelled().await;
            stopping.cancel();
        });
        let slots: Vec<_> = (0..worker.jobs)
            .map(|_| tokio::spawn(slot(Arc::clone(&worker), worker.consumer.clone())))
            .collect();
        for slot in slots {
            let _ = slot.await;
        }
        relay.abort();
    }
}

/// One job at a time: pull one, run it, repeat until the worker stops.
async fn slot(worker: Arc<Worker>, consumer: consumer::PullConsumer) {
    while !worker.stopping.is_cancelled() {
        let batch = consumer
            .batch()
            .max_messages(1)
            .expires(Duration::from_secs(1))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot pull jobs; trying again");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = worker.stopping.cancelled() => {}
                }
                continue;
            }
        };
        while let Some(message) = batch.next().await {
            match message {
                Ok(message) => worker.handle(message).await,
                Err(e) => tracing::warn!(error = %e, "pulling a job"),
            }
        }
    }
}

/// A job's members, read from its message.
struct Job {
    id: String,
    node: String,
    input: RunInput,
}

fn read_job(payload: &[u8]) -> Result<Job, (Option<String>, String)> {
    let value = nodehost_core::input::parse_json(payload).map_err(|e| {
        (
            None,
            format!(
                "the job is not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(mut job) = value else {
        return Err((
            None,
            "a job is a JSON object with `jobId`, `node` and the run envelope".into(),
        ));
    };
    let id = match job.shift_remove("jobId") {
        Some(Value::String(id)) => id,
        _ => return Err((None, "the job has no `jobId` string".into())),
    };
    check_job_id(&id).map_err(|e| (None, format!("`jobId`: {e}")))?;
    let node = match job.shift_remove("node") {
        Some(Value::String(node)) => node,
        _ => return Err((Some(id), "the job has no `node` string".into())),
    };
    // What remains is the envelope `run` reads; `items` makes it one even when empty.
    job.entry("items").or_insert_with(|| json!([]));
    let input = RunInput::from_value(Value::Object(job)).map_err(|e| (Some(id.clone()), e.to_string()))?;
    Ok(Job { id, node, input })
}

impl Worker {
    async fn handle(self: &Arc<Self>, message: jetstream::Message) {
        let (delivery, sequence) = match message.info() {
            Ok(info) => (info.delivered, info.stream_sequence),
            Err(_) => (1, 0),
        };
        let job = match read_job(&message.payload) {
            Ok(job) => job,
            Err((id, why)) => {
                let id = id.unwrap_or_else(|| format!("seq-{sequence}"));
                self.dead_letter(&message, &id, delivery, &why).await;
                return;
            }
        };
        let journal = &self.queue.journal;
        if let Ok(Some(_)) = journal.get(format!("{}.done", job.id)).await {
            tracing::info!(job = %job.id, delivery, "job already done; acknowledged again");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
        if delivery > self.max_deliver {
            let last = match journal.get(format!("{}.attempt", job.id)).await {
                Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                _ => "no attempt recorded".to_owned(),
            };
            let why = format!(
                "delivered {delivery} times (max deliver {}) without a result: every worker that took it died or lost its connection; the last attempt: {last}",
                self.max_deliver
            );
            self.dead_letter(&message, &job.id, delivery, &why).await;
            return;
        }
        let attempt = json!({"worker": self.name, "delivery": delivery});
        let _ = journal
            .put(format!("{}.attempt", job.id), Bytes::from(attempt.to_string()))
            .await;
        self.run_job(message, job, delivery).await;
    }

    async fn run_job(self: &Arc<Self>, message: jetstream::Message, job: Job, delivery: i64) {
        let message = Arc::new(message);
        let Job { id, node, mut input } = job;
        let started = std::time::Instant::now();
        let total = input.items.len();
        let hosted = self.host.node(&node);
        if input.credentials.is_none()
            && let Ok(hosted) = &hosted
            && let Some(kind) = hosted.credential()
        {
            input.credentials = self.credentials.get(&kind.name).cloned();
        }
        // A redelivered job reads what its earlier attempts did, item by item.
        let previous = if delivery > 1 {
            self.previous_outcomes(&id, total).await
        } else {
            HashMap::new()
        };
        let resumed = previous.len();
        let abort = CancellationToken::new();
        let config = RunConfig {
            node: Arc::from(node.as_str()),
            cancel: abort.clone(),
            abort: abort.clone(),
            ..self.config.clone()
        };
        let journal = Journal {
            store: self.queue.journal.clone(),
            job: id.clone(),
            previous: Arc::new(previous),
        };
        // Keep the job ours while it runs: an in-progress ack every third of the ack wait.
        let keepalive = {
            let interval = self.ack_wait / 3;
            let message = Arc::clone(&message);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            })
        };
        let run = self.host.run_with(&node, input, &config, move |inner| {
            Arc::new(JournaledSession { inner, journal }) as Arc<dyn DynSession>
        });
        tokio::pin!(run);
        // At SIGTERM the job has --drain to finish; past that it is given up, unacknowledged,
        // for another worker to resume from the journal.
        let drained = async {
            self.stopping.cancelled().await;
            tokio::time::sleep(self.drain).await;
        };
        let outcome = tokio::select! {
            outcome = &mut run => Some(outcome),
            () = drained => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => {
                abort.cancel();
                let _ = run.await;
                keepalive.abort();
                tracing::warn!(job = %id, "job not finished within the drain time: left for another worker");
                let _ = message.ack_with(AckKind::Nak(None)).await;
                return;
            }
        };
        keepalive.abort();
        let mut result = Map::new();
        result.insert("jobId".into(), json!(id));
        result.insert("node".into(), json!(node));
        result.insert("worker".into(), json!(self.name));
        result.insert("delivery".into(), json!(delivery));
        let (outcome_name, applied) = match outcome {
            Ok(document) => {
                let error = document.error.as_ref();
                let name = error
                    .and_then(|e| serde_json::to_value(e.reason).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "completed".to_owned());
                let applied = error.map_or(total, |e| e.applied.count());
                if let Ok(Value::Object(members)) = serde_json::to_value(&document) {
                    result.extend(members);
                }
                (name, applied)
            }
            // The run could not start (unknown node, credentials missing): an answer too.
            Err(e) => {
                let reason = match &e {
                    nodehost_core::RequestError::UnknownNode { .. } => "unknownNode",
                    nodehost_core::RequestError::Setup(_) => "invalidCredentials",
                    _ => "invalidRequest",
                };
                let message = match &e {
                    nodehost_core::RequestError::Setup(nodehost_core::SetupError::MissingCredentials {
                        ..
                    }) if hosted.is_ok() => {
                        format!(
                            "{e}: give `credentials` in the job, or give the workers credentials of that type"
                        )
                    }
                    _ => e.to_string(),
                };
                result.insert("items".into(), json!([]));
                result.insert(
                    "error".into(),
                    json!({"reason": reason, "message": self.secrets.scrub(&message)}),
                );
                (reason.to_owned(), 0)
            }
        };
        if self.publish_result(&message, &id, &Value::Object(result)).await {
            // Acknowledged with the server's confirmation: a plain ack is only queued in the
            // client, and a worker that exits right after (at SIGTERM) could lose it, leaving a
            // finished job to be delivered again.
            let _ = message.double_ack().await;
            tracing::info!(
                job = %id, node = %node, items = total, applied, resumed, delivery,
                outcome = %outcome_name, duration_ms = started.elapsed().as_millis() as u64,
                "job finished"
            );
        } else {
            // Without a durable result the job is not done: another delivery publishes it.
            let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
        }
    }

    /// Publish `result` to the job's result subject, wait for JetStream to store it, record the
    /// job done; then send it to the reply subject the submitter named, if any.
    async fn publish_result(&self, message: &jetstream::Message, job: &str, result: &Value) -> bool {
        let payload = Bytes::from(result.to_string());
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("result-{job}").as_str());
        let stored = match self
            .queue
            .js
            .publish_with_headers(self.queue.config.result_subject(job), headers, payload.clone())
            .await
        {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        if !stored {
            tracing::warn!(job = %job, "the result was not stored by JetStream; the job stays queued");
            return false;
        }
        let _ = self
            .queue
            .journal
            .put(format!("{job}.done"), Bytes::from_static(b"{}"))
            .await;
        if let Some(reply) = message
            .headers
            .as_ref()
            .and_then(|h| h.get(REPLY_HEADER))
            .map(|v| v.as_str().to_owned())
        {
            let _ = self.queue.js.publish(reply, payload).await;
        }
        true
    }

    /// Send a job to the dead-letter subject with why, publish a result saying so, and take it
    /// off the queue.
    async fn dead_letter(&self, message: &jetstream::Message, job: &str, delivery: i64, why: &str) {
        // The job as it came, without its credentials: a dead letter is read by people.
        let mut body = match serde_json::from_slice::<Value>(&message.payload) {
            Ok(Value::Object(mut members)) => {
                if members.contains_key("credentials") {
                    members.insert("credentials".into(), json!("[redacted]"));
                }
                Value::Object(members)
            }
            _ => json!(self.secrets.scrub(&String::from_utf8_lossy(
                &message.payload[..message.payload.len().min(64 * 1024)]
            ))),
        };
        let why = self.secrets.scrub(why);
        body =
            json!({"jobId": job, "deliveries": delivery, "lastError": why, "job": body, "worker": self.name});
        let dead = format!("{}.{job}", self.queue.config.dead_letter_subject);
        let stored = match self.queue.js.publish(dead, Bytes::from(body.to_string())).await {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        if !stored {
            let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
            return;
        }
        let result = json!({
            "jobId": job, "worker": self.name, "delivery": delivery, "items": [],
            "error": {"reason": "deadLettered", "message": format!("job {job} was dead-lettered: {why}")}
        });
        if self.publish_result(message, job, &result).await {
            tracing::warn!(job = %job, delivery, "job dead-lettered: {why}");
            let _ = message.ack_with(AckKind::Term).await;
        }
    }

    /// What earlier attempts recorded for each item of `job`.
    async fn previous_outcomes(&self, job: &str, total: usize) -> HashMap<usize, Recorded> {
        let store = &self.queue.journal;
        futures::stream::iter(0..total)
            .map(|index| async move {
                let bytes = store.get(format!("{job}.{index}")).await.ok()??;
                let record: Value = serde_json::from_slice(&bytes).ok()?;
                let recorded = match record.get("state")?.as_str()? {
                    "started" => Recorded::Started,
                    "applied" => Recorded::Applied(
                        record
                            .get("outputs")?
                            .as_array()?
                            .iter()
                            .filter_map(|o| o.as_object().cloned())
                            .collect(),
                    ),
                    _ => return None,
                };
                Some((index, recorded))
            })
            .buffer_unordered(32)
            .filter_map(|found| async move { found })
            .collect()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_subject_tokens() {
        assert!(check_job_id("import-2026_12_02").is_ok());
        assert!(check_job_id("").unwrap_err().contains("1 to 128"));
        assert!(check_job_id(&"a".repeat(129)).is_err());
        assert!(check_job_id("a.b").unwrap_err().contains("`.` is not allowed"));
        assert!(check_job_id("a>").is_err());
        assert!(check_job_id("a b").is_err());
    }

    #[test]
    fn a_job_is_the_run_envelope_with_an_id_and_a_node() {
        let job = read_job(br#"{"jobId": "j1", "node": "n", "items": [{"a": 1}], "continueOnFail": true}"#)
            .unwrap();
        assert_eq!((job.id.as_str(), job.node.as_str()), ("j1", "n"));
        assert_eq!(job.input.items.len(), 1);
        assert_eq!(job.input.continue_on_fail, Some(true));

        let (id, why) = read_job(b"{\"jobId\": 1}").err().unwrap();
        assert_eq!(id, None);
        assert!(why.contains("no `jobId` string"), "{why}");
        let (id, why) = read_job(br#"{"jobId": "j2"}"#).err().unwrap();
        assert_eq!(id.as_deref(), Some("j2"));
        assert!(why.contains("no `node`"), "{why}");
        let (_, why) = read_job(b"{\"jobId\": ").err().unwrap();
        assert!(why.contains("line 1"), "{why}");
    }
}

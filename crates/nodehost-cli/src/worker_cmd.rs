//! `nodehost worker` and `nodehost submit`: runs as jobs on NATS JetStream, for a pool of
//! stateless workers.
//!
//! - Jobs are messages on a work-queue stream (`--stream`, subject `--subject`), de-duplicated
//!   by job id (`Nats-Msg-Id`), read by one durable pull consumer that every worker shares.
//! - A worker runs a job through the same pipeline as `run` ([`Host::run_with`]). Each write's
//!   outcome is journaled in a key-value bucket (`--bucket`, key `JOB.INDEX`) as it happens:
//!   `started` before the item is sent, `applied` with its outputs after. Reads are not
//!   journaled: they have no effect to apply twice, and a redelivery reads again.
//! - The result, the run document plus `jobId`, `node`, `worker` and `delivery`, is published to
//!   the results stream (subject `RESULTS.JOB`) and acknowledged by JetStream before the job is
//!   acknowledged, and `JOB.done` is recorded: at least once delivery, a result at most once.
//! - A redelivered job (its worker died or lost its connection) resumes: applied items are not
//!   sent again, their outputs come from the journal; items that were in flight are run again
//!   when their operation is idempotent and otherwise fail as `maybeApplied`.
//! - A job delivered more than `--max-deliver` times, or one that cannot be read, goes to the
//!   dead-letter subject with the last error, and its result says so.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, kv, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use nodehost_core::{
    DynSession, Host, ItemContext, NodeError, Output, Prepared, Registry, RunConfig, RunInput,
};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::CliError;
use crate::cli::{NatsArgs, SubmitArgs, WorkerArgs};
use crate::connection::{EmbeddedSandbox, seconds, session_options};
use crate::stderr;

/// The longest a job id may be; it is a token of subjects and keys.
const MAX_JOB_ID: usize = 128;
/// Header naming where `submit --wait` (or any client) wants the result sent as well.
pub const REPLY_HEADER: &str = "Nodehost-Reply-To";
/// How long results, dead letters and journals are kept.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The NATS names both commands agree on.
struct Names {
    jobs_stream: String,
    jobs_subject: String,
    results_stream: String,
    results_subject: String,
    dead_subject: String,
    bucket: String,
    duplicate_window: Duration,
}

impl Names {
    fn from(args: &NatsArgs) -> Result<Self, CliError> {
        for (flag, value) in [
            ("stream", &args.stream),
            ("bucket", &args.bucket),
            ("subject", &args.subject),
            ("results-subject", &args.results_subject),
            ("dead-letter-subject", &args.dead_letter_subject),
        ] {
            // Stream and bucket names are one token; subjects may have several.
            let dots = flag.contains("subject");
            let ok = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dots && c == '.'))
                && !value.starts_with('.')
                && !value.ends_with('.')
                && !value.contains("..");
            if !ok {
                return Err(CliError::usage(format!(
                    "--{flag} `{value}`: use letters, digits, `-` and `_`{}",
                    if flag.contains("subject") {
                        " (and `.` between tokens)"
                    } else {
                        ""
                    }
                )));
            }
        }
        Ok(Self {
            jobs_stream: args.stream.clone(),
            jobs_subject: args.subject.clone(),
            results_stream: format!("{}_RESULTS", args.stream),
            results_subject: args.results_subject.clone(),
            dead_subject: args.dead_letter_subject.clone(),
            bucket: args.bucket.clone(),
            duplicate_window: seconds("duplicate-window", args.duplicate_window)?,
        })
    }

    fn result_subject(&self, job: &str) -> String {
        format!("{}.{job}", self.results_subject)
    }
}

/// Connected, with the streams and the bucket created when missing.
struct Queue {
    js: jetstream::Context,
    jobs: stream::Stream,
    results: stream::Stream,
    journal: kv::Store,
    names: Names,
}

async fn connect(args: &NatsArgs) -> Result<Queue, CliError> {
    let names = Names::from(args)?;
    let client = async_nats::ConnectOptions::new()
        .name("nodehost")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .connect(&args.nats)
        .await
        .map_err(|e| CliError::usage(format!("cannot connect to NATS at {}: {e}", args.nats)))?;
    let js = jetstream::new(client);
    let nats_error = |what: &str, e: &dyn std::fmt::Display| {
        CliError::usage(format!(
            "NATS at {}: {what}: {e} (is JetStream enabled? start the server with `nats-server -js`)",
            args.nats
        ))
    };
    let jobs = js
        .get_or_create_stream(stream::Config {
            name: names.jobs_stream.clone(),
            subjects: vec![names.jobs_subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            duplicate_window: names.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            nats_error(
                &format!("cannot create the jobs stream {}", names.jobs_stream),
                &e,
            )
        })?;
    let results = js
        .get_or_create_stream(stream::Config {
            name: names.results_stream.clone(),
            subjects: vec![
                format!("{}.>", names.results_subject),
                format!("{}.>", names.dead_subject),
            ],
            max_age: KEEP,
            duplicate_window: names.duplicate_window,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            nats_error(
                &format!("cannot create the results stream {}", names.results_stream),
                &e,
            )
        })?;
    let journal = match js.get_key_value(&names.bucket).await {
        Ok(store) => store,
        Err(_) => {
            // The bucket's stream, laid out as every KV client lays it out (what
            // `create_key_value` sends). Created directly because async-nats's
            // `create_key_value` first reads the account's info, and cannot parse the answer of
            // nats-server 2.9 (Debian 12's), which lacks the `reserved_*` members.
            js.get_or_create_stream(stream::Config {
                name: format!("KV_{}", names.bucket),
                description: Some(
                    "nodehost: what each item of a job did, for a job that is redelivered".into(),
                ),
                subjects: vec![format!("$KV.{}.>", names.bucket)],
                max_messages_per_subject: 1,
                max_age: KEEP,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| nats_error(&format!("cannot create the bucket {}", names.bucket), &e))?;
            js.get_key_value(&names.bucket)
                .await
                .map_err(|e| nats_error(&format!("cannot open the bucket {}", names.bucket), &e))?
        }
    };
    Ok(Queue {
        js,
        jobs,
        results,
        journal,
        names,
    })
}

/// A job id usable as a subject token and a key: letters, digits, `-` and `_`.
fn check_job_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_JOB_ID {
        return Err(format!(
            "a job id has 1 to {MAX_JOB_ID} characters, got {}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "a job id holds only letters, digits, `-` and `_`; `{}` is not allowed",
            c.escape_default()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// submit

/// `nodehost submit NODE`: publish a job; with `--wait`, print its result and exit as `run`.
pub async fn submit(args: SubmitArgs) -> Result<(), CliError> {
    let queue = connect(&args.nats).await?;
    let bytes = crate::input_reader::read_document(args.input.as_deref())?;
    let value = nodehost_core::input::parse_json(&bytes).map_err(|e| {
        CliError::usage(format!(
            "input is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let input = RunInput::from_value(value).map_err(|e| CliError::usage(e.to_string()))?;
    let job_id = args
        .job_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    check_job_id(&job_id).map_err(|e| CliError::usage(format!("--job-id: {e}")))?;
    let mut job = Map::new();
    job.insert("jobId".into(), json!(job_id));
    job.insert("node".into(), json!(args.node));
    if !input.parameters.is_empty() {
        job.insert("parameters".into(), Value::Object(input.parameters));
    }
    job.insert(
        "items".into(),
        Value::Array(input.items.into_iter().map(Value::Object).collect()),
    );
    if let Some(credentials) = input.credentials {
        job.insert("credentials".into(), credentials);
    }
    if let Some(c) = input.continue_on_fail.or(args.continue_on_fail.then_some(true)) {
        job.insert("continueOnFail".into(), json!(c));
    }
    let payload = serde_json::to_vec(&job).map_err(|e| CliError::usage(e.to_string()))?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", job_id.as_str());
    let ack = queue
        .js
        .publish_with_headers(queue.names.jobs_subject.clone(), headers, Bytes::from(payload))
        .await
        .map_err(|e| CliError::usage(format!("cannot publish the job: {e}")))?
        .await
        .map_err(|e| CliError::usage(format!("the job was not stored by JetStream: {e}")))?;
    if ack.duplicate {
        stderr::say(format!("job {job_id} was already submitted: not queued again"));
    }
    if !args.wait {
        return crate::output::print_json(
            &json!({"jobId": job_id, "duplicate": ack.duplicate, "sequence": ack.sequence}),
            args.pretty,
        );
    }
    let limit = args.timeout.map(|t| seconds("timeout", t)).transpose()?;
    let result = wait_for_result(&queue, &job_id, limit).await?;
    crate::output::print_json(&result, args.pretty)?;
    match result.get("error") {
        None => Ok(()),
        Some(error) => {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the job stopped");
            Err(CliError::stopped(format!("job {job_id}: {message}")))
        }
    }
}

/// The result of `job`, from the results stream (whether it was published before or after
/// this call).
async fn wait_for_result(queue: &Queue, job: &str, limit: Option<Duration>) -> Result<Value, CliError> {
    let consumer = queue
        .results
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: queue.names.result_subject(job),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| CliError::usage(format!("cannot read results: {e}")))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| CliError::usage(format!("cannot read results: {e}")))?;
    let next = async {
        loop {
            match messages.next().await {
                Some(Ok(message)) => return serde_json::from_slice::<Value>(&message.payload).ok(),
                Some(Err(e)) => stderr::say(format!("reading results: {e}")),
                None => return None,
            }
        }
    };
    let found = match limit {
        Some(limit) => tokio::time::timeout(limit, next).await.map_err(|_| {
            CliError::stopped(format!(
                "no result for job {job} within --timeout; it is still queued or running (wait again with the same --job-id)"
            ))
        })?,
        None => next.await,
    };
    found.ok_or_else(|| CliError::usage(format!("the results stream ended before job {job}'s result")))
}

// ---------------------------------------------------------------------------------------------
// worker

/// What every job of a worker shares.
struct Worker {
    host: Arc<Host>,
    queue: Queue,
    name: String,
    config: RunConfig,
    /// Worker-side credentials, by credential type.
    credentials: Vec<(String, Value)>,
    max_deliver: i64,
    ack_wait: Duration,
    drain: Duration,
    /// Cancelled at SIGTERM: no job is taken after it.
    stopping: CancellationToken,
}

/// `nodehost worker`: take jobs from the queue until SIGTERM, `--jobs` at once.
pub async fn run(registry: Registry, args: WorkerArgs) -> Result<(), CliError> {
    let queue = connect(&args.nats).await?;
    let ack_wait = seconds("ack-wait", args.ack_wait)?;
    let drain = seconds("drain", args.drain)?;
    if args.jobs == 0 || args.concurrency == 0 {
        return Err(CliError::usage("--jobs and --concurrency must be at least 1"));
    }
    if args.max_deliver < 1 {
        return Err(CliError::usage("--max-deliver must be at least 1"));
    }
    let sandbox = if args.connection.sandbox {
        Some(EmbeddedSandbox::start(args.connection.sandbox_db.as_deref()).await?)
    } else {
        None
    };
    let credentials = crate::connection::server_credentials(&registry, sandbox.as_ref(), &args.connection)?;
    let consumer: consumer::PullConsumer = queue
        .jobs
        .get_or_create_consumer(
            &args.consumer,
            consumer::pull::Config {
                durable_name: Some(args.consumer.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                // The worker dead-letters a job delivered more than --max-deliver times; the
                // server's own bound is one more, so the worker sees that last delivery.
                max_deliver: args.max_deliver + 1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| CliError::usage(format!("cannot create the consumer {}: {e}", args.consumer)))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let config = RunConfig {
        concurrency: args.concurrency,
        item_deadline: Some(crate::connection::item_deadline(&args.connection)?),
        ..RunConfig::default()
    };
    let worker = Arc::new(Worker {
        host: Arc::new(Host::with_options(registry, session_options(&args.connection)?)),
        queue,
        name,
        config,
        credentials,
        max_deliver: args.max_deliver,
        ack_wait,
        drain,
        stopping: CancellationToken::new(),
    });
    // Listening before the ready line, so a SIGTERM right after it is never the default (death).
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::usage(format!("cannot listen for SIGTERM: {e}")))?;
    let signals = {
        let stopping = worker.stopping.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            stderr::say("stopping: no new job is taken; running jobs finish (--drain)");
            stopping.cancel();
        })
    };
    println!(
        "{}",
        json!({"worker": worker.name, "stream": worker.queue.names.jobs_stream, "consumer": args.consumer, "jobs": args.jobs})
    );
    let slots: Vec<_> = (0..args.jobs)
        .map(|_| tokio::spawn(slot(Arc::clone(&worker), consumer.clone())))
        .collect();
    for slot in slots {
        let _ = slot.await;
    }
    signals.abort();
    if let Some(s) = sandbox {
        s.stop().await;
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
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
                "delivered {delivery} times (--max-deliver {}) without a result: every worker that took it died or lost its connection; the last attempt: {last}",
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
            input.credentials = self
                .credentials
                .iter()
                .find(|(k, _)| *k == kind.name)
                .map(|(_, v)| v.clone());
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
                tracing::warn!(job = %id, "job not finished within --drain: left for another worker");
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
                            "{e}: give `credentials` in the job, or start the workers with --credentials FILE"
                        )
                    }
                    _ => e.to_string(),
                };
                result.insert("items".into(), json!([]));
                result.insert(
                    "error".into(),
                    json!({"reason": reason, "message": stderr::scrub(&message)}),
                );
                (reason.to_owned(), 0)
            }
        };
        if self.publish_result(&message, &id, &Value::Object(result)).await {
            let _ = message.ack().await;
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
            .publish_with_headers(self.queue.names.result_subject(job), headers, payload.clone())
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
            _ => json!(stderr::scrub(&String::from_utf8_lossy(
                &message.payload[..message.payload.len().min(64 * 1024)]
            ))),
        };
        let why = stderr::scrub(why);
        body =
            json!({"jobId": job, "deliveries": delivery, "lastError": why, "job": body, "worker": self.name});
        let dead = format!("{}.{job}", self.queue.names.dead_subject);
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

/// What an earlier attempt of a job recorded for one item.
#[derive(Debug, Clone)]
enum Recorded {
    /// It was sent (or about to be) and no outcome was recorded: its worker stopped.
    Started,
    /// It was applied, with these outputs.
    Applied(Vec<Map<String, Value>>),
}

#[derive(Clone)]
struct Journal {
    store: kv::Store,
    job: String,
    previous: Arc<HashMap<usize, Recorded>>,
}

/// The node's session, with every item's outcome journaled and earlier outcomes reused.
struct JournaledSession {
    inner: Arc<dyn DynSession>,
    journal: Journal,
}

#[async_trait]
impl DynSession for JournaledSession {
    async fn execute(&self, prepared: Prepared, item: &ItemContext) -> Result<Vec<Output>, NodeError> {
        let index = item.index;
        match self.journal.previous.get(&index) {
            Some(Recorded::Applied(outputs)) => {
                return Ok(outputs.iter().cloned().map(Output::from).collect());
            }
            Some(Recorded::Started) if !prepared.hints.idempotent => {
                return Err(NodeError::new(
                    "was in flight when the worker running this job stopped, and its operation is not \
                     idempotent: it may have been applied, so it is not sent again; check it before re-running it",
                )
                .maybe_applied(true)
                .with_field("inFlightWhenWorkerStopped", true));
            }
            _ => {}
        }
        // A read has no effect to apply twice: it is not journaled, and a redelivery reads
        // again. This keeps two key-value writes per item off read jobs (benchmark 8).
        if item.dry_run || prepared.hints.read_only {
            return self.inner.execute(prepared, item).await;
        }
        let key = format!("{}.{index}", self.journal.job);
        self.journal
            .store
            .put(&key, Bytes::from_static(br#"{"state":"started"}"#))
            .await
            .map_err(|e| {
                NodeError::new(format!(
                    "cannot journal the item before sending it (nothing was sent): {e}"
                ))
            })?;
        let result = self.inner.execute(prepared, item).await;
        match &result {
            Ok(outputs) => {
                let objects: Vec<Value> = outputs
                    .iter()
                    .filter_map(|o| o.to_object().ok().map(|m| Value::Object(m.into_owned())))
                    .collect();
                let record = json!({"state": "applied", "outputs": objects});
                if let Err(e) = self
                    .journal
                    .store
                    .put(&key, Bytes::from(record.to_string()))
                    .await
                {
                    tracing::warn!(key = %key, error = %e, "cannot journal an applied item; a redelivery would treat it as in flight");
                }
            }
            // Not applied: nothing to keep (a redelivery runs it again).
            Err(error) if !error.maybe_applied => {
                let _ = self.journal.store.delete(&key).await;
            }
            Err(_) => {}
        }
        result
    }

    async fn test_credentials(&self) -> Result<String, NodeError> {
        self.inner.test_credentials().await
    }

    async fn close(&self) {
        self.inner.close().await;
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

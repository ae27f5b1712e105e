//! The NATS side both a worker and a submitter stand on: the names they agree on, the jobs
//! and results streams and the journal bucket (created when missing), submitting a job and
//! reading its result.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use futures::StreamExt as _;
use nodehost_core::RunInput;
use serde_json::{Map, Value, json};

use crate::WorkerError;

/// The longest a job id may be; it is a token of subjects and keys.
const MAX_JOB_ID: usize = 128;
/// How long results, dead letters and journals are kept.
pub(crate) const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where the queue lives and what its parts are called; workers and submitters of one pool use
/// the same.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// The NATS server (JetStream enabled).
    pub url: String,
    /// The work-queue stream of jobs; results go to `STREAM_RESULTS`.
    pub stream: String,
    /// The subject jobs are published on.
    pub subject: String,
    /// Results are published on `SUBJECT.JOB_ID`.
    pub results_subject: String,
    /// Dead-lettered jobs are published on `SUBJECT.JOB_ID`.
    pub dead_letter_subject: String,
    /// The key-value bucket journaling each item's outcome.
    pub bucket: String,
    /// Within it, a second submission of a job id is dropped (set on stream creation).
    pub duplicate_window: Duration,
}

impl Default for QueueConfig {
    /// `nodehost worker`'s defaults, on `nats://127.0.0.1:4222`.
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "NODEHOST_JOBS".into(),
            subject: "nodehost.jobs".into(),
            results_subject: "nodehost.results".into(),
            dead_letter_subject: "nodehost.dead".into(),
            bucket: "nodehost-items".into(),
            duplicate_window: Duration::from_secs(600),
        }
    }
}

impl QueueConfig {
    /// Every name is one NATS accepts.
    fn check(&self) -> Result<(), WorkerError> {
        for (setting, value) in [
            ("stream", &self.stream),
            ("bucket", &self.bucket),
            ("subject", &self.subject),
            ("results-subject", &self.results_subject),
            ("dead-letter-subject", &self.dead_letter_subject),
        ] {
            // Stream and bucket names are one token; subjects may have several.
            let subject = setting.contains("subject");
            let ok = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (subject && c == '.'))
                && !value.starts_with('.')
                && !value.ends_with('.')
                && !value.contains("..");
            if !ok {
                return Err(WorkerError::InvalidName {
                    setting,
                    value: value.clone(),
                    subject,
                });
            }
        }
        if self.duplicate_window.is_zero() {
            return Err(WorkerError::InvalidSetting(
                "the duplicate window must be longer than 0".into(),
            ));
        }
        Ok(())
    }

    fn results_stream(&self) -> String {
        format!("{}_RESULTS", self.stream)
    }

    pub(crate) fn result_subject(&self, job: &str) -> String {
        format!("{}.{job}", self.results_subject)
    }
}

/// Connected, with the streams and the bucket created when missing.
#[derive(Debug)]
pub struct Queue {
    pub(crate) js: jetstream::Context,
    pub(crate) jobs: stream::Stream,
    pub(crate) results: stream::Stream,
    pub(crate) journal: kv::Store,
    pub(crate) config: QueueConfig,
}

/// What [`Queue::submit`] answers: the job's id and whether JetStream already had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The job id (given, or minted).
    pub job_id: String,
    /// A job of this id was submitted within the duplicate window: not queued again.
    pub duplicate: bool,
    /// The job's sequence number in the jobs stream.
    pub sequence: u64,
}

impl Queue {
    /// Connect to `config.url` and make sure the streams and the bucket exist.
    pub async fn connect(config: QueueConfig) -> Result<Self, WorkerError> {
        config.check()?;
        let client = async_nats::ConnectOptions::new()
            .name("nodehost")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(&config.url)
            .await
            .map_err(|e| WorkerError::Connect {
                url: config.url.clone(),
                message: e.to_string(),
            })?;
        let js = jetstream::new(client);
        let failed = |what: String, e: &dyn std::fmt::Display| WorkerError::JetStream {
            url: config.url.clone(),
            what,
            message: e.to_string(),
        };
        let jobs = twice(|| {
            js.get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![config.subject.clone()],
                retention: stream::RetentionPolicy::WorkQueue,
                duplicate_window: config.duplicate_window,
                ..Default::default()
            })
        })
        .await
        .map_err(|e| failed(format!("cannot create the jobs stream {}", config.stream), &e))?;
        let results = twice(|| {
            js.get_or_create_stream(stream::Config {
                name: config.results_stream(),
                subjects: vec![
                    format!("{}.>", config.results_subject),
                    format!("{}.>", config.dead_letter_subject),
                ],
                max_age: KEEP,
                duplicate_window: config.duplicate_window,
                ..Default::default()
            })
        })
        .await
        .map_err(|e| {
            failed(
                format!("cannot create the results stream {}", config.results_stream()),
                &e,
            )
        })?;
        let journal = match js.get_key_value(&config.bucket).await {
            Ok(store) => store,
            Err(_) => {
                // The bucket's stream, laid out as every KV client lays it out (what
                // `create_key_value` sends). Created directly because async-nats's
                // `create_key_value` first reads the account's info, and cannot parse the
                // answer of nats-server 2.9 (Debian 12's), which lacks the `reserved_*` members.
                twice(|| {
                    js.get_or_create_stream(stream::Config {
                        name: format!("KV_{}", config.bucket),
                        description: Some(
                            "nodehost: what each item of a job did, for a job that is redelivered".into(),
                        ),
                        subjects: vec![format!("$KV.{}.>", config.bucket)],
                        max_messages_per_subject: 1,
                        max_age: KEEP,
                        allow_rollup: true,
                        deny_delete: true,
                        allow_direct: true,
                        discard: stream::DiscardPolicy::New,
                        ..Default::default()
                    })
                })
                .await
                .map_err(|e| failed(format!("cannot create the bucket {}", config.bucket), &e))?;
                js.get_key_value(&config.bucket)
                    .await
                    .map_err(|e| failed(format!("cannot open the bucket {}", config.bucket), &e))?
            }
        };
        Ok(Self {
            js,
            jobs,
            results,
            journal,
            config,
        })
    }

    /// The names it was connected with.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Queue a run of `node` over `input` as a job; without `job_id` a random one is minted.
    /// A second submission of one job id within the duplicate window is the same job.
    pub async fn submit(
        &self,
        node: &str,
        input: RunInput,
        job_id: Option<String>,
    ) -> Result<Submitted, WorkerError> {
        let job_id = job_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        check_job_id(&job_id).map_err(WorkerError::InvalidJobId)?;
        let mut job = Map::new();
        job.insert("jobId".into(), json!(job_id));
        job.insert("node".into(), json!(node));
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
        if let Some(c) = input.continue_on_fail {
            job.insert("continueOnFail".into(), json!(c));
        }
        let nats = |what: &str, e: &dyn std::fmt::Display| WorkerError::Nats {
            what: what.to_owned(),
            message: e.to_string(),
        };
        let payload = serde_json::to_vec(&job).map_err(|e| nats("cannot encode the job", &e))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", job_id.as_str());
        let ack = self
            .js
            .publish_with_headers(self.config.subject.clone(), headers, Bytes::from(payload))
            .await
            .map_err(|e| nats("cannot publish the job", &e))?
            .await
            .map_err(|e| nats("the job was not stored by JetStream", &e))?;
        Ok(Submitted {
            job_id,
            duplicate: ack.duplicate,
            sequence: ack.sequence,
        })
    }

    /// The result of `job` from the results stream, whether it was published before or after
    /// this call; `limit` bounds the wait.
    pub async fn result(&self, job: &str, limit: Option<Duration>) -> Result<Value, WorkerError> {
        let nats = |e: &dyn std::fmt::Display| WorkerError::Nats {
            what: "cannot read results".into(),
            message: e.to_string(),
        };
        let consumer = self
            .results
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: self.config.result_subject(job),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| nats(&e))?;
        let mut messages = consumer.messages().await.map_err(|e| nats(&e))?;
        let next = async {
            loop {
                match messages.next().await {
                    Some(Ok(message)) => return serde_json::from_slice::<Value>(&message.payload).ok(),
                    Some(Err(e)) => tracing::warn!(error = %e, "reading results"),
                    None => return None,
                }
            }
        };
        let found = match limit {
            Some(limit) => tokio::time::timeout(limit, next)
                .await
                .map_err(|_| WorkerError::NoResultYet { job: job.to_owned() })?,
            None => next.await,
        };
        found.ok_or_else(|| WorkerError::ResultsEnded { job: job.to_owned() })
    }
}

/// `step`, tried a second time when the first fails. Workers of a pool start together: one may
/// create a stream, bucket or consumer between another's look for it and that one's create, which
/// then fails; the second try finds what the first one made.
pub(crate) async fn twice<T, E, F, Fut>(mut step: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    match step().await {
        Ok(done) => Ok(done),
        Err(_) => step().await,
    }
}

/// A job id usable as a subject token and a key: letters, digits, `-` and `_`.
pub fn check_job_id(id: &str) -> Result<(), String> {
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

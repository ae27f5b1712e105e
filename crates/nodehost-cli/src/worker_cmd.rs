//! `nodehost worker` and `nodehost submit`: the `nodehost-worker` library behind flags. This
//! file turns flags into its settings, reads the input, handles SIGTERM and chooses the words
//! and the exit status.

use std::sync::Arc;

use nodehost_core::{CancellationToken, Host, Registry, RunInput};
use nodehost_worker::{Queue, QueueConfig, Worker, WorkerConfig, WorkerError};
use serde_json::{Value, json};

use crate::CliError;
use crate::cli::{NatsArgs, SubmitArgs, WorkerArgs};
use crate::connection::{seconds, session_options};
use crate::stderr;

/// The queue's settings from the flags.
fn queue_config(args: &NatsArgs) -> Result<QueueConfig, CliError> {
    Ok(QueueConfig {
        url: args.nats.clone(),
        stream: args.stream.clone(),
        subject: args.subject.clone(),
        results_subject: args.results_subject.clone(),
        dead_letter_subject: args.dead_letter_subject.clone(),
        bucket: args.bucket.clone(),
        duplicate_window: seconds("duplicate-window", args.duplicate_window)?,
    })
}

/// A library error in the words of the flags that set what was wrong.
fn worker_error(e: WorkerError) -> CliError {
    match e {
        WorkerError::InvalidName { setting, .. } => CliError::usage(format!("--{setting}: {e}")),
        WorkerError::InvalidJobId(why) => CliError::usage(format!("--job-id: {why}")),
        _ => CliError::usage(e.to_string()),
    }
}

/// `nodehost submit NODE`: publish a job; with `--wait`, print its result and exit as `run`.
pub async fn submit(args: SubmitArgs) -> Result<(), CliError> {
    let queue = Queue::connect(queue_config(&args.nats)?)
        .await
        .map_err(worker_error)?;
    let bytes = crate::input_reader::read_document(args.input.as_deref())?;
    let value = nodehost_core::input::parse_json(&bytes).map_err(|e| {
        CliError::usage(format!(
            "input is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let mut input = RunInput::from_value(value).map_err(|e| CliError::usage(e.to_string()))?;
    if input.continue_on_fail.is_none() && args.continue_on_fail {
        input.continue_on_fail = Some(true);
    }
    let job = queue
        .submit(&args.node, input, args.job_id.clone())
        .await
        .map_err(worker_error)?;
    let job_id = job.job_id;
    if job.duplicate {
        stderr::say(format!("job {job_id} was already submitted: not queued again"));
    }
    if !args.wait {
        return crate::output::print_json(
            &json!({"jobId": job_id, "duplicate": job.duplicate, "sequence": job.sequence}),
            args.pretty,
        );
    }
    let limit = args.timeout.map(|t| seconds("timeout", t)).transpose()?;
    let result = queue.result(&job_id, limit).await.map_err(|e| match e {
        WorkerError::NoResultYet { .. } => CliError::stopped(format!(
            "no result for job {job_id} within --timeout; it is still queued or running (wait again with the same --job-id)"
        )),
        e => worker_error(e),
    })?;
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

/// `nodehost worker`: take jobs from the queue until SIGTERM, `--jobs` at once.
pub async fn run(registry: Registry, args: WorkerArgs) -> Result<(), CliError> {
    let ack_wait = seconds("ack-wait", args.ack_wait)?;
    let drain = seconds("drain", args.drain)?;
    if args.jobs == 0 || args.concurrency == 0 {
        return Err(CliError::usage("--jobs and --concurrency must be at least 1"));
    }
    if args.max_deliver < 1 {
        return Err(CliError::usage("--max-deliver must be at least 1"));
    }
    let item_deadline = crate::connection::item_deadline(&args.connection)?;
    let options = session_options(&args.connection)?;
    let queue = Queue::connect(queue_config(&args.nats)?)
        .await
        .map_err(worker_error)?;
    let sandbox = if args.connection.sandbox {
        Some(crate::connection::Sandboxes::all(&registry, args.connection.sandbox_db.as_deref()).await?)
    } else {
        None
    };
    let credentials = crate::connection::server_credentials(&registry, sandbox.as_ref(), &args.connection)?;
    let config = WorkerConfig {
        consumer: args.consumer.clone(),
        jobs: args.jobs,
        concurrency: args.concurrency,
        item_deadline,
        max_deliver: args.max_deliver,
        ack_wait,
        drain,
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id())),
        credentials,
    };
    let host = Arc::new(Host::with_options(registry, options));
    let worker = Worker::start(host, queue, config).await.map_err(worker_error)?;
    // Listening before the ready line, so a SIGTERM right after it is never the default (death).
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::usage(format!("cannot listen for SIGTERM: {e}")))?;
    let stop = CancellationToken::new();
    let signals = {
        let stop = stop.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            stderr::say("stopping: no new job is taken; running jobs finish (--drain)");
            stop.cancel();
        })
    };
    println!(
        "{}",
        json!({"worker": worker.name(), "stream": worker.queue().config().stream, "consumer": args.consumer, "jobs": args.jobs})
    );
    worker.run(stop).await;
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

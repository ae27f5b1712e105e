//! `nodehost run` and `nodehost credentials test`: read input, hand it to the core's run
//! pipeline (resolution, validation, execution, the stop report), and write what it produces
//! to stdout as it completes. This file decides only what is the CLI's own: where input and
//! credentials come from, signals, and the words and exit status on stderr.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use nodehost_core::input::item_fields;
use nodehost_core::{
    CancellationToken, Document, DynSession, FnSink, Host, HostedNode, Plan, Registry, RunConfig, RunReport,
    Secrets, StopCause, UnknownFields, WorkItem, engine,
};
use serde_json::{Map, Value, json};

use crate::CliError;
use crate::cli::{ConnectionArgs, CredentialsTestArgs, RunArgs};
use crate::connection::{Sandboxes, credentials, item_deadline, missing_hint, session_options};
use crate::input_reader::{self, MAX_LINE_BYTES};
use crate::output::{ItemWriter, Layout, print_json};
use crate::stderr::{self, say};
use nodehost_core::lines::Line;

/// The most items of a document kept once validated (about 200 bytes each); a longer document
/// is read again item by item as it runs, so its memory stays a small multiple of its size.
const KEEP_VALIDATED: usize = 65_536;

/// How long in-flight items may take to finish after the first interrupt.
const DRAIN_AFTER_INTERRUPT: Duration = Duration::from_secs(10);
/// How long the report may take to be written once items in flight were given up.
const EXIT_AFTER_ABORT: Duration = Duration::from_secs(5);

pub async fn run(registry: Registry, args: RunArgs, quiet: bool) -> Result<(), CliError> {
    let host = Host::with_options(registry, session_options(&args.connection)?);
    let node = host
        .node(&args.node)
        .map_err(|e| CliError::usage(e.to_string()))?;
    // The node lives until the process exits: freeing its description, schemas and validators
    // one map at a time cost a one-item run 0.3 M of its 5.5 M instructions (BENCHMARKS.md,
    // "Lean"), and the exit releases the memory anyway.
    std::mem::forget(Arc::clone(&node));
    if args.dry_run && !node.supports_dry_run() {
        return Err(CliError::usage(format!(
            "node `{}` does not support --dry-run (its definition does not declare `supportsDryRun`); nothing was sent",
            node.name()
        )));
    }
    let cli_parameters = parse_parameters(args.parameters.as_deref())?;
    let unknown = if args.ignore_unknown_fields {
        UnknownFields::Ignore
    } else {
        UnknownFields::Reject
    };
    let signals = Signals::install();
    let run = Invocation {
        deadline: item_deadline(&args.connection)?,
        host,
        node,
        cli_parameters,
        unknown,
        signals,
        quiet,
    };
    if args.ndjson {
        run.lines(args).await
    } else {
        run.document(args).await
    }
}

/// What both input modes share.
struct Invocation {
    host: Host,
    deadline: Duration,
    node: Arc<HostedNode>,
    cli_parameters: Map<String, Value>,
    unknown: UnknownFields,
    signals: Signals,
    quiet: bool,
}

fn parse_parameters(text: Option<&str>) -> Result<Map<String, Value>, CliError> {
    match text {
        None => Ok(Map::new()),
        Some(t) => match nodehost_core::input::parse_json(t.as_bytes()) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(CliError::usage("--parameters must be a JSON object")),
            Err(e) => Err(input_reader::json_error("--parameters", &e)),
        },
    }
}

/// SIGINT (Ctrl-C), SIGTERM and SIGHUP: the first stops starting items and lets the ones in
/// flight finish; the second (or the drain deadline) gives those up too. Either way the run
/// ends with its stop report.
struct Signals {
    cancel: CancellationToken,
    abort: CancellationToken,
}

impl Signals {
    fn install() -> Self {
        let cancel = CancellationToken::new();
        let abort = CancellationToken::new();
        // Installed here, before any item runs: a listener created inside the spawned task
        // would only be installed when that task is first polled, and a signal arriving
        // before then would be lost.
        let mut listener = Listener::install();
        let (c, a) = (cancel.clone(), abort.clone());
        tokio::spawn(async move {
            if !listener.next().await {
                return;
            }
            c.cancel();
            say(format!(
                "interrupted; letting items in flight finish (up to {}s; interrupt again to stop them now)",
                DRAIN_AFTER_INTERRUPT.as_secs()
            ));
            tokio::select! {
                _ = listener.next() => {}
                () = tokio::time::sleep(DRAIN_AFTER_INTERRUPT) => {}
            }
            say("giving up the items in flight; writes among them are reported as maybe applied");
            a.cancel();
            // The report is written at once after this; only a process stuck elsewhere (a
            // blocking read of a document on stdin) gets here.
            tokio::time::sleep(EXIT_AFTER_ABORT).await;
            say("quitting");
            std::process::exit(130);
        });
        Self { cancel, abort }
    }
}

/// The signals that stop a run, listened to from the moment they are installed.
struct Listener {
    #[cfg(unix)]
    signals: Vec<tokio::signal::unix::Signal>,
}

impl Listener {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let kinds = [
                SignalKind::interrupt(),
                SignalKind::terminate(),
                SignalKind::hangup(),
            ];
            Self {
                signals: kinds.into_iter().filter_map(|k| signal(k).ok()).collect(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The next signal; `false` when none can be listened to.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            if self.signals.is_empty() {
                return false;
            }
            let next = futures::future::select_all(self.signals.iter_mut().map(|s| Box::pin(s.recv())));
            next.await.0.is_some()
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

impl Invocation {
    /// The secrets of `credentials`, removed from everything the run prints from now on.
    fn secrets_of(&self, credentials: Option<&Value>) -> Secrets {
        let secrets = match (self.node.credential(), credentials) {
            (Some(kind), Some(value)) => Secrets::of_credentials(kind, value),
            _ => Secrets::none(),
        };
        stderr::add_secrets(&secrets);
        secrets
    }

    fn config(&self, args: &RunArgs, continue_on_fail: bool, secrets: Secrets) -> RunConfig {
        RunConfig {
            concurrency: args.concurrency as usize,
            continue_on_fail,
            item_deadline: Some(self.deadline),
            cancel: self.signals.cancel.clone(),
            abort: self.signals.abort.clone(),
            secrets,
            node: Arc::from(self.node.name()),
            // Counted only when shown: no atomic per item otherwise.
            progress: crate::progress::wanted(self.quiet)
                .then(|| Arc::new(nodehost_core::Progress::default())),
            dry_run: args.dry_run,
        }
    }

    async fn document(self, args: RunArgs) -> Result<(), CliError> {
        let bytes = input_reader::read_document(args.input.as_deref())?;
        let source = input_reader::source_name(args.input.as_deref());
        let mut document = Document::parse(&bytes).map_err(|e| input_reader::document_error(&source, e))?;
        for (k, v) in self.cli_parameters.clone() {
            document.parameters.entry(k).or_insert(v);
        }
        let continue_on_fail = args.continue_on_fail || document.continue_on_fail.unwrap_or(false);
        // Credentials are known before items are validated, so no problem can quote a key.
        let credentials = if args.connection.sandbox {
            None
        } else {
            credentials(&self.node, document.credentials.take(), &args.connection)?
        };
        let secrets = self.secrets_of(credentials.as_ref());
        let parameters = std::mem::take(&mut document.parameters);
        let plan = Plan::new(Arc::clone(&self.node), parameters, self.unknown)
            .map_err(|e| CliError::usage(e.to_string()))?
            .with_secrets(secrets.clone());
        let layout = if args.pretty {
            Layout::Pretty
        } else {
            Layout::Document
        };

        // Every item is validated before anything is sent. Up to KEEP_VALIDATED items are kept
        // as validated; a longer document keeps none and each item is read again when it runs,
        // so memory stays that of the document.
        let total = document.len();
        let kept = match plan.check_document(&document, continue_on_fail, KEEP_VALIDATED) {
            Err(e) => return Err(CliError::usage(e.to_string())),
            Ok(Err(refused)) => return refuse(&refused, total, layout),
            Ok(Ok(kept)) => kept,
        };
        if total == 0 {
            // Nothing to do, so nothing to connect to: no credentials needed.
            let writer = ItemWriter::new(layout).map_err(write_error)?;
            return writer.finish(None).map_err(write_error);
        }
        let (session, sandbox) = self.open(credentials, &args.connection).await?;
        let config = self.config(&args, continue_on_fail, secrets);
        let work = match kept {
            Some(work) => futures::future::Either::Left(futures::stream::iter(work)),
            None => futures::future::Either::Right(futures::stream::iter(plan.document_work(&document))),
        };
        let result = execute(session, work, &config, layout, Some(total)).await;
        if let Some(s) = sandbox {
            s.stop().await;
        }
        result
    }

    async fn lines(self, args: RunArgs) -> Result<(), CliError> {
        let credentials = if args.connection.sandbox {
            None
        } else {
            credentials(&self.node, None, &args.connection)?
        };
        let secrets = self.secrets_of(credentials.as_ref());
        let plan = Plan::new(Arc::clone(&self.node), self.cli_parameters.clone(), self.unknown)
            .map_err(|e| CliError::usage(e.to_string()))?
            .with_secrets(secrets.clone());
        let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match &args.input {
            Some(path) => Box::new(
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?,
            ),
            None => Box::new(tokio::io::stdin()),
        };
        let reader = tokio::io::BufReader::with_capacity(256 * 1024, reader);
        let (session, sandbox) = self.open(credentials, &args.connection).await?;
        let config = self.config(&args, args.continue_on_fail, secrets);
        let items = line_items(reader, plan).boxed();
        let result = execute(session, items, &config, Layout::Lines, None).await;
        if let Some(s) = sandbox {
            s.stop().await;
        }
        result
    }

    /// Open the node's session: on the local emulator of its service (`--sandbox`), or with
    /// the credentials given.
    async fn open(
        &self,
        credentials: Option<Value>,
        connection: &ConnectionArgs,
    ) -> Result<(Arc<dyn DynSession>, Option<Sandboxes>), CliError> {
        let sandbox = if connection.sandbox {
            Some(
                Sandboxes::for_node(self.host.registry(), &self.node, connection.sandbox_db.as_deref())
                    .await?,
            )
        } else {
            None
        };
        let credentials = match (&sandbox, self.node.credential()) {
            (Some(s), Some(kind)) => s.credentials(&kind.name),
            _ => credentials,
        };

        if credentials.is_none() && self.node.credential().is_some() {
            return Err(CliError::usage(missing_hint(&self.node)));
        }
        match self.host.open(&self.node, credentials).await {
            Ok(session) => Ok((session, sandbox)),
            Err(e) => {
                if let Some(s) = sandbox {
                    s.stop().await;
                }
                Err(CliError::usage(e.to_string()))
            }
        }
    }
}

/// NDJSON input as work items, parsed and validated as they arrive, so memory does not grow
/// with the input. A line past the length limit is reported as soon as the limit is crossed.
fn line_items<R>(reader: R, plan: Plan) -> impl futures::Stream<Item = WorkItem> + Send
where
    R: tokio::io::AsyncBufRead + Unpin + Send,
{
    struct State<R> {
        reader: R,
        plan: Plan,
        lines: nodehost_core::lines::Lines,
        index: usize,
        done: bool,
    }
    let state = State {
        reader,
        plan,
        lines: nodehost_core::lines::Lines::new(MAX_LINE_BYTES),
        index: 0,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let index = st.index;
        let item = match st.lines.next(&mut st.reader).await {
            Ok(None) => return None,
            Err(e) => {
                st.done = true;
                Plan::unreadable(
                    index,
                    format!("input line {}: cannot read input: {e}", st.lines.number() + 1),
                )
            }
            Ok(Some(Line::TooLong(n))) => Plan::unreadable(
                index,
                format!(
                    "input line {n}: line is longer than {} MiB",
                    MAX_LINE_BYTES / (1024 * 1024)
                ),
            ),
            Ok(Some(Line::Data(n, bytes))) => match nodehost_core::input::parse_json(&bytes) {
                Err(e) => {
                    let err = input_reader::json_error(&format!("line {n}"), &e);
                    Plan::unreadable(index, format!("input line {n}: {}", err.message))
                }
                Ok(value) => match item_fields(index, value) {
                    Err(e) => Plan::unreadable(index, format!("input line {n}: {e}")),
                    Ok(item) => st.plan.prepare(index, item),
                },
            },
        };
        st.index += 1;
        Some((item, st))
    })
}

/// Without continue-on-fail, one invalid item stops the run before anything is sent.
fn refuse(refused: &RunReport, total: usize, layout: Layout) -> Result<(), CliError> {
    let error = refused.error(Some(total));
    if let Some(StopCause::Invalid { listed, more }) = &refused.stop {
        for p in listed {
            say(p);
        }
        if *more > 0 {
            say(format!("... and {more} more invalid item(s)"));
        }
    }
    let message = error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    let writer = ItemWriter::new(layout).map_err(write_error)?;
    writer
        .finish(error.map(|e| e.to_value()).as_ref())
        .map_err(write_error)?;
    Err(CliError::stopped(message))
}

fn write_error(e: std::io::Error) -> CliError {
    CliError::stopped(format!("cannot write output: {e}"))
}

async fn execute<S>(
    session: Arc<dyn DynSession>,
    items: S,
    config: &RunConfig,
    layout: Layout,
    total: Option<usize>,
) -> Result<(), CliError>
where
    S: futures::Stream<Item = WorkItem> + Send,
{
    let mut writer = ItemWriter::new(layout).map_err(write_error)?;
    let mut sink = FnSink(|item| writer.item(&item));
    let started = std::time::Instant::now();
    let display = config
        .progress
        .as_ref()
        .map(|p| crate::progress::Display::start(p, total));
    let report = engine::execute(Arc::clone(&session), items, config, &mut sink).await;
    // Ends a plugin's process in order (close, shutdown) rather than by dropping it.
    session.close().await;
    if let Some(d) = display {
        d.finish().await;
    }
    let error = report.error(total);
    let outcome = error
        .as_ref()
        .and_then(|e| serde_json::to_value(e.reason).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "completed".to_owned());
    // One line per run for log collectors (INFO: shown with `--log-format json`).
    tracing::info!(
        node = %config.node,
        items = report.seen,
        applied = report.applied.count(),
        failed = report.failed.count(),
        maybe_applied = report.maybe_applied.count(),
        outcome = %outcome,
        duration_ms = started.elapsed().as_millis() as u64,
        "run finished"
    );
    if !report.output_failed()
        && let Err(e) = writer.finish(error.as_ref().map(|e| e.to_value()).as_ref())
    {
        say(format!("cannot write output: {e}"));
        return Err(stopped_summary(&report, total, "run stopped"));
    }
    conclude(&report, error.as_ref().map(|e| e.message.as_str()), total)
}

/// Lines on stderr about how the run ended, and the exit status.
fn conclude(report: &RunReport, message: Option<&str>, total: Option<usize>) -> Result<(), CliError> {
    match &report.stop {
        None => {
            if !report.failed.is_empty() {
                say(format!(
                    "{} item(s) failed and were written as error items (continue-on-fail)",
                    report.failed.count()
                ));
            }
            Ok(())
        }
        Some(StopCause::Cancelled) => Err(stopped_summary(report, total, "run interrupted")),
        Some(_) => {
            say(message.unwrap_or("run stopped"));
            Err(stopped_summary(report, total, "run stopped"))
        }
    }
}

/// `HOW: N item(s) applied, M failed, K not run` (and what may have been applied), as the
/// exit-1 error.
fn stopped_summary(report: &RunReport, total: Option<usize>, how: &str) -> CliError {
    let not_run = report.not_run_with_unread(total).count();
    let mut line = format!(
        "{how}: {} item(s) applied, {} failed, {not_run} not run",
        report.applied.count(),
        report.failed.count(),
    );
    if !report.maybe_applied.is_empty() {
        line.push_str(&format!(
            ", {} maybe applied (check them before re-running)",
            report.maybe_applied.count()
        ));
    }
    if total.is_none() {
        line.push_str("; the rest of the input was not read");
    }
    if report.output_failed() {
        line.push_str(" (output could not be written)");
    } else {
        line.push_str(" (see \"error\" in the output)");
    }
    CliError::stopped(line)
}

pub async fn test_credentials(registry: Registry, args: CredentialsTestArgs) -> Result<(), CliError> {
    let host = Host::with_options(registry, session_options(&args.connection)?);
    let node = host
        .node(&args.node)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let invocation = Invocation {
        deadline: item_deadline(&args.connection)?,
        host,
        node,
        cli_parameters: Map::new(),
        unknown: UnknownFields::Reject,
        signals: Signals::install(),
        quiet: true,
    };
    let credentials = if args.connection.sandbox {
        None
    } else {
        credentials(&invocation.node, None, &args.connection)?
    };
    invocation.secrets_of(credentials.as_ref());
    let (session, sandbox) = invocation.open(credentials, &args.connection).await?;
    let result = tokio::time::timeout(invocation.deadline, session.test_credentials())
        .await
        .unwrap_or_else(|_| {
            Err(nodehost_core::NodeError::new(format!(
                "the credential check did not finish within the deadline of {:?}",
                invocation.deadline
            )))
        });
    session.close().await;
    if let Some(s) = sandbox {
        s.stop().await;
    }
    match result {
        Ok(who) => {
            say(format!("credentials work: {who}"));
            print_json(&json!({ "ok": true, "message": who }), true)
        }
        Err(e) => {
            print_json(&json!({ "ok": false, "error": e }), true)?;
            Err(CliError::stopped(format!("credentials check failed: {e}")))
        }
    }
}

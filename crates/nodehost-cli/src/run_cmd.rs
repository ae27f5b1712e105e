//! `nodehost run` and `nodehost credentials test`: read input, validate every item, open the
//! node's session, execute through the engine and write output as it completes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use nodehost_core::input::item_fields;
use nodehost_core::{
    DynNode, DynSession, ItemFailure, ItemProblems, Problem, Registry, RunConfig, RunInput, RunOptions,
    RunReport, UnknownFields, engine, prepare_item,
};
use serde_json::{Map, Value, json};

use crate::cli::{ConnectionArgs, CredentialsTestArgs, RunArgs};
use crate::connection::{EmbeddedSandbox, credentials, run_options};
use crate::input_reader::{self, Line, MAX_LINE_BYTES};
use crate::output::{ItemWriter, Layout, ignore_broken_pipe, print_json};
use crate::{CliError, unknown_node};

/// How long in-flight items may take to finish after Ctrl-C.
const DRAIN_AFTER_INTERRUPT: Duration = Duration::from_secs(10);

pub async fn run(registry: &Registry, args: RunArgs) -> Result<(), CliError> {
    let node = registry
        .get(&args.node)
        .ok_or_else(|| unknown_node(registry, &args.node))?;
    let cli_parameters = parse_parameters(args.parameters.as_deref())?;
    let options = run_options(&args.connection)?;
    let unknown = if args.ignore_unknown_fields {
        UnknownFields::Ignore
    } else {
        UnknownFields::Reject
    };
    let plan = Plan {
        node,
        parameters: cli_parameters,
        options,
        unknown,
        cancel: interrupt_flag(),
    };
    if args.ndjson {
        run_lines(plan, args).await
    } else {
        run_document(plan, args).await
    }
}

/// What both input modes share: the node, node-level parameters and run settings.
struct Plan {
    node: Arc<dyn DynNode>,
    parameters: Map<String, Value>,
    options: RunOptions,
    unknown: UnknownFields,
    cancel: Arc<AtomicBool>,
}

fn parse_parameters(text: Option<&str>) -> Result<Map<String, Value>, CliError> {
    match text {
        None => Ok(Map::new()),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(CliError::usage("--parameters must be a JSON object")),
            Err(e) => Err(input_reader::json_error("--parameters", &e)),
        },
    }
}

/// Ctrl-C stops dispatching; a second one (or the drain deadline) exits at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    // The handler is installed here, before any item runs: a listener created inside the
    // spawned task would only be installed when that task is first polled, and a Ctrl-C
    // arriving before then would be lost.
    let mut interrupts = Interrupts::install();
    tokio::spawn(async move {
        if interrupts.next().await {
            flag.store(true, Ordering::Release);
            eprintln!(
                "nodehost: interrupted; letting items in flight finish (up to {}s, Ctrl-C again to quit now)",
                DRAIN_AFTER_INTERRUPT.as_secs()
            );
            tokio::select! {
                _ = interrupts.next() => {}
                () = tokio::time::sleep(DRAIN_AFTER_INTERRUPT) => {}
            }
            eprintln!("nodehost: items in flight did not finish; quitting");
            std::process::exit(130);
        }
    });
    cancel
}

/// SIGINT (Ctrl-C), listened to from the moment it is installed.
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn install() -> Self {
        #[cfg(unix)]
        {
            Self {
                signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The next interrupt; `false` when interrupts cannot be listened to.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            match &mut self.signal {
                Some(signal) => signal.recv().await.is_some(),
                None => false,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

async fn open_session(
    node: &dyn DynNode,
    envelope_credentials: Option<Value>,
    connection: &ConnectionArgs,
    options: &RunOptions,
) -> Result<(Arc<dyn DynSession>, Option<EmbeddedSandbox>), CliError> {
    let sandbox = if connection.sandbox {
        Some(EmbeddedSandbox::start(connection.sandbox_db.as_deref()).await?)
    } else {
        None
    };
    let creds = match &sandbox {
        Some(s) => Some(s.credentials()),
        None => credentials(node, envelope_credentials, connection)?,
    };
    match node.open(creds, options).await {
        Ok(session) => Ok((session, sandbox)),
        Err(e) => {
            if let Some(s) = sandbox {
                s.stop().await;
            }
            Err(CliError::usage(e.to_string()))
        }
    }
}

async fn run_document(plan: Plan, args: RunArgs) -> Result<(), CliError> {
    let Plan {
        node,
        parameters: cli_parameters,
        options,
        unknown,
        cancel,
    } = plan;
    let document = input_reader::read_document(args.input.as_deref())?;
    let mut input = RunInput::from_value(document).map_err(|e| CliError::usage(e.to_string()))?;
    for (k, v) in cli_parameters {
        input.parameters.entry(k).or_insert(v);
    }
    let continue_on_fail = args.continue_on_fail || input.continue_on_fail.unwrap_or(false);
    check_node_parameters(node.as_ref(), &input.parameters, unknown)?;

    // Every item is validated before anything is sent.
    let items = std::mem::take(&mut input.items);
    let total = items.len();
    let mut prepared = Vec::with_capacity(total);
    let mut invalid = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let result = prepare_item(node.as_ref(), &input.parameters, index, item, unknown);
        if let Err(ItemFailure::Invalid(p)) = &result {
            invalid.push(p.clone());
        }
        prepared.push((index, result));
    }
    let layout = if args.pretty {
        Layout::Pretty
    } else {
        Layout::Document
    };
    if !invalid.is_empty() && !continue_on_fail {
        return refuse_invalid(&invalid, total, layout);
    }
    if total == 0 {
        // Nothing to do, so nothing to connect to: no credentials needed.
        let writer = ItemWriter::new(layout).map_err(write_error)?;
        return writer
            .finish(None)
            .or_else(ignore_broken_pipe)
            .map_err(write_error);
    }

    let (session, sandbox) = open_session(
        node.as_ref(),
        input.credentials.take(),
        &args.connection,
        &options,
    )
    .await?;
    let config = RunConfig {
        concurrency: args.concurrency as usize,
        continue_on_fail,
        cancel,
    };
    let result = execute(
        session,
        futures::stream::iter(prepared),
        &config,
        layout,
        Some(total),
    )
    .await;
    if let Some(s) = sandbox {
        s.stop().await;
    }
    result
}

fn check_node_parameters(
    node: &dyn DynNode,
    parameters: &Map<String, Value>,
    unknown: UnknownFields,
) -> Result<(), CliError> {
    if unknown == UnknownFields::Ignore {
        return Ok(());
    }
    let typos = nodehost_core::input::unknown_node_parameters(parameters, node.validator());
    if typos.is_empty() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "unknown node-level parameter(s) {}: no operation of `{}` takes them",
        typos
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", "),
        node.spec().name
    )))
}

/// Without continue-on-fail, one invalid item stops the run before anything is sent.
fn refuse_invalid(invalid: &[ItemProblems], total: usize, layout: Layout) -> Result<(), CliError> {
    for p in invalid {
        eprintln!("nodehost: {p}");
    }
    let message = format!("{} of {total} item(s) invalid; nothing was sent", invalid.len());
    let error = json!({
        "message": message,
        "invalidItems": invalid.iter().map(|p| json!({
            "item": p.item,
            "message": p.to_string(),
            "problems": p.problems,
        })).collect::<Vec<_>>(),
        "applied": [],
        "notRun": [[0, total.saturating_sub(1)]],
    });
    let writer = ItemWriter::new(layout).map_err(write_error)?;
    writer
        .finish(Some(&error))
        .or_else(ignore_broken_pipe)
        .map_err(write_error)?;
    Err(CliError::stopped(message))
}

fn write_error(e: std::io::Error) -> CliError {
    CliError::usage(format!("cannot write output: {e}"))
}

async fn execute<S>(
    session: Arc<dyn DynSession>,
    items: S,
    config: &RunConfig,
    layout: Layout,
    total: Option<usize>,
) -> Result<(), CliError>
where
    S: futures::Stream<Item = (usize, Result<nodehost_core::Prepared, ItemFailure>)> + Send,
{
    let mut writer = ItemWriter::new(layout).map_err(write_error)?;
    let report = engine::execute(session, items, config, |item| writer.item(item)).await;
    let error = report.error_json(total);
    if report.output_error.is_none() {
        writer
            .finish(error.as_ref())
            .or_else(ignore_broken_pipe)
            .map_err(write_error)?;
    }
    conclude(&report, total)
}

/// One line on stderr about how the run ended, and the exit status.
fn conclude(report: &RunReport, total: Option<usize>) -> Result<(), CliError> {
    if let Some(e) = &report.output_error {
        // The reader went away (`| head`): not a failure worth shouting about.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(());
        }
        return Err(CliError::usage(format!("cannot write output: {e}")));
    }
    if let Some(failure) = &report.stopped_by {
        let not_run = report.not_run_with_unread(total).count();
        let unread = if total.is_none() {
            "; the rest of the input was not read"
        } else {
            ""
        };
        return Err(CliError::stopped(format!(
            "{failure}\nnodehost: run stopped: {} item(s) applied, {} failed, {not_run} not run{unread} \
             (see \"error\" in the output)",
            report.applied.count(),
            report.failed.count(),
        )));
    }
    if report.cancelled {
        return Err(CliError::stopped(format!(
            "run interrupted: {} item(s) applied; the rest were not started",
            report.applied.count()
        )));
    }
    if !report.failed.is_empty() {
        eprintln!(
            "nodehost: {} item(s) failed and were written as error items (continue-on-fail)",
            report.failed.count()
        );
    }
    Ok(())
}

async fn run_lines(plan: Plan, args: RunArgs) -> Result<(), CliError> {
    let Plan {
        node,
        parameters,
        options,
        unknown,
        cancel,
    } = plan;
    check_node_parameters(node.as_ref(), &parameters, unknown)?;
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match &args.input {
        Some(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?,
        ),
        None => Box::new(tokio::io::stdin()),
    };
    let reader = tokio::io::BufReader::with_capacity(256 * 1024, reader);
    let (session, sandbox) = open_session(node.as_ref(), None, &args.connection, &options).await?;
    let config = RunConfig {
        concurrency: args.concurrency as usize,
        continue_on_fail: args.continue_on_fail,
        cancel: Arc::clone(&cancel),
    };
    let parameters = Arc::new(parameters);
    struct State {
        reader: tokio::io::BufReader<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
        line_no: usize,
        index: usize,
        done: bool,
    }
    let state = State {
        reader,
        line_no: 0,
        index: 0,
        done: false,
    };
    let stream_node = Arc::clone(&node);
    let stream_cancel = Arc::clone(&cancel);
    // Items are parsed and validated as they arrive, so memory does not grow with the input.
    let items = futures::stream::unfold(state, move |mut st| {
        let node = Arc::clone(&stream_node);
        let parameters = Arc::clone(&parameters);
        let cancel = Arc::clone(&stream_cancel);
        async move {
            if st.done {
                return None;
            }
            let line = tokio::select! {
                line = input_reader::next_line(&mut st.reader, &mut st.line_no) => line,
                () = wait_for(&cancel) => return None,
            };
            let index = st.index;
            let result = match line {
                Ok(None) => return None,
                Err(e) => {
                    st.done = true;
                    Err(line_problem(
                        index,
                        st.line_no + 1,
                        format!("cannot read input: {e}"),
                    ))
                }
                Ok(Some(Line::TooLong(n))) => Err(line_problem(
                    index,
                    n,
                    format!("line is longer than {} MiB", MAX_LINE_BYTES / (1024 * 1024)),
                )),
                Ok(Some(Line::Data(n, bytes))) => match serde_json::from_slice::<Value>(&bytes) {
                    Err(e) => {
                        let err = input_reader::json_error(&format!("line {n}"), &e);
                        Err(line_problem(index, n, err.message))
                    }
                    Ok(value) => match item_fields(index, value) {
                        Err(e) => Err(line_problem(index, n, e.to_string())),
                        Ok(item) => prepare_item(node.as_ref(), &parameters, index, item, unknown),
                    },
                },
            };
            st.index += 1;
            Some(((index, result), st))
        }
    })
    .boxed();
    let result = execute(session, items, &config, Layout::Lines, None).await;
    if let Some(s) = sandbox {
        s.stop().await;
    }
    result
}

fn line_problem(index: usize, line: usize, message: String) -> ItemFailure {
    ItemFailure::Invalid(ItemProblems {
        item: index,
        problems: vec![Problem {
            path: String::new(),
            message: format!("input line {line}: {message}"),
        }],
    })
}

async fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn test_credentials(registry: &Registry, args: CredentialsTestArgs) -> Result<(), CliError> {
    let node = registry
        .get(&args.node)
        .ok_or_else(|| unknown_node(registry, &args.node))?;
    let options = run_options(&args.connection)?;
    let (session, sandbox) = open_session(node.as_ref(), None, &args.connection, &options).await?;
    let result = session.test_credentials().await;
    if let Some(s) = sandbox {
        s.stop().await;
    }
    match result {
        Ok(who) => {
            eprintln!("nodehost: credentials work: {who}");
            print_json(&json!({ "ok": true, "message": who }), true)
        }
        Err(e) => {
            print_json(&json!({ "ok": false, "error": e }), true)?;
            Err(CliError::stopped(format!("credentials check failed: {e}")))
        }
    }
}

//! The execution engine: runs prepared items with bounded concurrency, keeps output in input
//! order, applies continue-on-fail, stops on the first failure otherwise, and accounts for
//! every item (applied, failed, maybe applied, not run).
//!
//! It reads items as a stream and hands output items to an async [`OutputSink`] as they
//! complete in order; while the sink is busy no further item is settled, and at most
//! `concurrency` items are in flight, so a run of any length holds a bounded number of items
//! in memory. Each run has its own tokens: `cancel` stops starting items (in-flight ones
//! finish), `abort` also gives up the items in flight, reporting writes among them as maybe
//! applied. Runs share nothing, so a process may drive any number at once.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt, future::Either};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::error::{ItemProblems, NodeError};
use crate::hosted::{DynSession, Prepared};
use crate::node::ItemContext;
use crate::output::Output;
use crate::report::{RunReport, StopCause};
use crate::schedule::{Done, FireOnDrop, Scheduler};
use crate::secrets::Secrets;
use tracing::Instrument as _;

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Items executing at once (at least 1).
    pub concurrency: usize,
    /// Turn failing items into error items instead of stopping.
    pub continue_on_fail: bool,
    /// Longest one item may take, attempts and backoff included (`None`: no limit).
    pub item_deadline: Option<Duration>,
    /// Cancel to stop starting items; the ones in flight finish.
    pub cancel: CancellationToken,
    /// Cancel to give up the items in flight too.
    pub abort: CancellationToken,
    /// Secrets removed from every error item and from the stop report.
    pub secrets: Secrets,
    /// The node's name, in the log span of every item (`item{node=.. item=..}`).
    pub node: Arc<str>,
    /// Counts of settled items, for a progress display (`None`: not counted).
    pub progress: Option<Arc<Progress>>,
    /// A dry run: every item's context says so, and the node describes its writes instead
    /// of sending them. Check [`crate::HostedNode::supports_dry_run`] before asking for one.
    pub dry_run: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            continue_on_fail: false,
            item_deadline: None,
            cancel: CancellationToken::new(),
            abort: CancellationToken::new(),
            secrets: Secrets::none(),
            node: Arc::from(""),
            progress: None,
            dry_run: false,
        }
    }
}

/// How far a run is: items settled (output, failed or not run) and failed, as they happen.
#[derive(Debug, Default)]
pub struct Progress {
    settled: AtomicUsize,
    failed: AtomicUsize,
}

impl Progress {
    /// Items settled so far.
    pub fn settled(&self) -> usize {
        self.settled.load(Ordering::Relaxed)
    }

    /// Items failed so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }
}

/// One output item: `{"json": {...}, "pairedItem": {"item": N}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputItem {
    /// The output object.
    pub json: Output,
    /// Index of the input item it came from.
    pub paired_item: usize,
}

impl schemars::JsonSchema for OutputItem {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OutputItem".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "One output item, as n8n has them.",
            "type": "object",
            "properties": {
                "json": {
                    "type": "object",
                    "description": "The output object. Under continue-on-fail, a failed item is `{\"error\": {\"message\", ...}}` (with `httpStatus`, `details`, `maybeApplied` when known)."
                },
                "pairedItem": {
                    "type": "object",
                    "description": "The input item it came from.",
                    "properties": {"item": {"type": "integer", "minimum": 0}},
                    "required": ["item"]
                }
            },
            "required": ["json", "pairedItem"]
        })
    }
}

impl Serialize for OutputItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("json", &self.json)?;
        map.serialize_entry("pairedItem", &json!({ "item": self.paired_item }))?;
        map.end()
    }
}

/// Where a run's output items go, in input order. While `send` is pending the engine settles
/// no further item: that is the run's backpressure. An error stops the run like a failed
/// item: nothing new starts, in-flight items finish and are accounted for.
pub trait OutputSink: Send {
    /// Take one output item.
    fn send(&mut self, item: OutputItem) -> impl Future<Output = std::io::Result<()>> + Send;
}

impl OutputSink for Vec<OutputItem> {
    async fn send(&mut self, item: OutputItem) -> std::io::Result<()> {
        self.push(item);
        Ok(())
    }
}

/// A synchronous function as a sink, e.g. a writer of stdout.
#[derive(Debug)]
pub struct FnSink<F>(pub F);

impl<F: FnMut(OutputItem) -> std::io::Result<()> + Send> OutputSink for FnSink<F> {
    async fn send(&mut self, item: OutputItem) -> std::io::Result<()> {
        (self.0)(item)
    }
}

/// Why one item failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemFailure {
    /// Its input or parameters are invalid (nothing was sent).
    #[error("{0}")]
    Invalid(ItemProblems),
    /// The node failed executing it.
    #[error("item {item}: {error}")]
    Node {
        /// Index of the item.
        item: usize,
        /// What the node reported.
        error: NodeError,
    },
}

impl ItemFailure {
    /// The error object of an error item.
    pub fn to_json(&self) -> Map<String, Value> {
        match self {
            ItemFailure::Invalid(p) => {
                let mut m = Map::new();
                m.insert("message".into(), json!(p.to_string()));
                m.insert("item".into(), json!(p.item));
                m.insert("problems".into(), json!(p.problems));
                m
            }
            ItemFailure::Node { item, error } => {
                let mut m = match json!(error) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                m.insert("message".into(), json!(format!("item {item}: {}", error.message)));
                m.insert("item".into(), json!(item));
                m
            }
        }
    }

    /// Index of the item.
    pub fn item(&self) -> usize {
        match self {
            ItemFailure::Invalid(p) => p.item,
            ItemFailure::Node { item, .. } => *item,
        }
    }

    pub(crate) fn maybe_applied(&self) -> bool {
        matches!(self, ItemFailure::Node { error, .. } if error.maybe_applied)
    }

    /// The run goes on after it, whatever continue-on-fail says ([`NodeError::continue_run`]).
    pub(crate) fn continues_run(&self) -> bool {
        matches!(self, ItemFailure::Node { error, .. } if error.continue_run)
    }
}

/// One input item for the engine: its index and its prepared parameters, or why it cannot run.
pub type WorkItem = (usize, Result<Prepared, ItemFailure>);

enum Outcome {
    Output(Vec<Output>),
    Failed(ItemFailure),
    /// Given up in flight because the run was aborted.
    Aborted(ItemFailure),
    NotRun,
}

/// Run a stream of work items (in order of index) and hand every output item to `sink` in
/// input order. Returns what happened to every item.
///
/// Must be awaited inside a Tokio runtime: each item runs as a task (`tokio::spawn`).
pub async fn execute<S, K>(
    session: Arc<dyn DynSession>,
    items: S,
    config: &RunConfig,
    sink: &mut K,
) -> RunReport
where
    S: Stream<Item = WorkItem> + Send,
    K: OutputSink,
{
    let run = Run(Arc::new(Shared {
        continue_on_fail: config.continue_on_fail,
        stop_at: AtomicUsize::new(usize::MAX),
        stopped: config.cancel.child_token(),
        cancel: config.cancel.clone(),
        abort: config.abort.clone(),
        deadline: config.item_deadline,
        secrets: config.secrets.clone(),
        node: Arc::clone(&config.node),
        progress: config.progress.clone(),
        dry_run: config.dry_run,
        tasks: tokio_util::task::TaskTracker::new(),
    }));
    let mut report = RunReport {
        secrets: config.secrets.clone(),
        ..RunReport::default()
    };
    // Waiting for the next input item ends as soon as the run stops (a failure, output that
    // cannot be written, a cancel), so a run reading an open stdin stops at once.
    let items = items.take_until(run.stopped.clone().cancelled_owned());
    if config.concurrency <= 1 {
        sequential(&run, session, items, &mut report, sink).await;
    } else {
        concurrent(&run, session, items, config.concurrency, &mut report, sink).await;
    }
    if report.stop.is_none() && (run.cancel.is_cancelled() || run.abort.is_cancelled()) {
        report.stop = Some(StopCause::Cancelled);
    }
    // An item given up at an abort had its task aborted, which Tokio completes later, on
    // the task's next turn. Wait for that: the run has ended only once every item's future is
    // dropped, so what a node does as it is dropped (a plugin's `$/cancel`) happens before
    // the caller closes the session.
    run.tasks.close();
    run.tasks.wait().await;
    report
}

/// What every item of a run shares, behind one reference count: each item's task takes a
/// clone, and one atomic increment per item costs less than one per field on a line every
/// worker touches.
#[derive(Clone)]
struct Run(Arc<Shared>);

impl std::ops::Deref for Run {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

struct Shared {
    continue_on_fail: bool,
    /// Lowest index of an item whose failure stops the run; later items are not started.
    stop_at: AtomicUsize,
    /// Cancelled when the run stops for any reason: ends the reading of input.
    stopped: CancellationToken,
    cancel: CancellationToken,
    abort: CancellationToken,
    deadline: Option<Duration>,
    secrets: Secrets,
    node: Arc<str>,
    progress: Option<Arc<Progress>>,
    dry_run: bool,
    /// Every item's task, so the run can wait for the aborted ones to be gone.
    tasks: tokio_util::task::TaskTracker,
}

impl Shared {
    /// Whether items may still start.
    fn going(&self) -> bool {
        !self.stopped.is_cancelled()
    }

    /// Stop the run at item `index`: no later item starts.
    fn stop(&self, index: usize) {
        self.stop_at.fetch_min(index, Ordering::AcqRel);
        self.stopped.cancel();
    }

    /// Note a failure of item `index`: without continue-on-fail, no later item starts.
    fn failed(&self, index: usize) {
        if !self.continue_on_fail {
            self.stop(index);
        }
    }

    /// Execute one item, unless the run stopped before it or was cancelled.
    async fn item(&self, session: &dyn DynSession, index: usize, prepared: Prepared) -> Outcome {
        if index > self.stop_at.load(Ordering::Acquire) || self.cancel.is_cancelled() {
            return Outcome::NotRun;
        }
        let read_only = prepared.hints.read_only;
        let context = ItemContext {
            index,
            deadline: self.deadline.map(|d| tokio::time::Instant::now() + d),
            cancel: self.cancel.clone(),
            dry_run: self.dry_run,
        };
        let result = match context.deadline {
            None => session.execute(prepared, &context).await,
            Some(at) => match tokio::time::timeout_at(at, session.execute(prepared, &context)).await {
                Ok(result) => result,
                Err(_) => Err(NodeError::new(format!(
                    "did not finish within the item deadline of {}",
                    human(self.deadline.unwrap_or_default())
                ))
                .maybe_applied(!read_only)),
            },
        };
        match result {
            Ok(outputs) => Outcome::Output(outputs),
            Err(error) => {
                if !error.continue_run {
                    self.failed(index);
                }
                Outcome::Failed(ItemFailure::Node { item: index, error })
            }
        }
    }
}

/// `30s`, `1.5s`, `250ms`: how a person writes a time limit.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// One item at a time: every earlier item has finished before the next is pulled, so there is
/// nothing to order against: no scheduler, lock or stream combinator, a plain loop.
///
/// Each item still runs as a task of its own rather than inline in this one. Measured on a
/// 2-vCPU VM whose idle vCPUs halt (BENCHMARKS.md, benchmark 1): with every item inline, the
/// run sits on one worker thread, and every round trip waits for a halted vCPU to wake on
/// each side; some runs took 1.7-2.3x the raw client's wall time. With a task per item the
/// runtime's other worker takes part, the waits overlap, and six paired runs gave 0.91-1.04x
/// the raw client's time against 1.01-1.69x inline, for some 20-40 µs more CPU per item in
/// futex wake-ups.
async fn sequential<S, K>(
    run: &Run,
    session: Arc<dyn DynSession>,
    items: S,
    report: &mut RunReport,
    sink: &mut K,
) where
    S: Stream<Item = WorkItem> + Send,
    K: OutputSink,
{
    let mut items = std::pin::pin!(items);
    let mut aborted = std::pin::pin!(run.abort.cancelled());
    while run.going() {
        let Some((index, prepared)) = items.next().await else {
            break;
        };
        // Checked again: the item was read while a Ctrl-C may have come in.
        if !run.going() {
            break;
        }
        let outcome = match prepared {
            Err(failure) => {
                run.failed(index);
                Outcome::Failed(failure)
            }
            Ok(prepared) => {
                let read_only = prepared.hints.read_only;
                let item = spawn_item(run, &session, index, prepared, Vec::new(), None);
                tokio::select! {
                    biased;
                    // The item's task is aborted as its handle drops here.
                    () = &mut aborted => aborted_outcome(run, index, read_only),
                    outcome = item => outcome,
                }
            }
        };
        settle(run, report, index, outcome, sink).await;
    }
}

/// Up to `concurrency` items at once, a task each, so items (and the parsing of their answers)
/// spread over every worker thread; output is still emitted in input order.
async fn concurrent<S, K>(
    run: &Run,
    session: Arc<dyn DynSession>,
    items: S,
    concurrency: usize,
    report: &mut RunReport,
    sink: &mut K,
) where
    S: Stream<Item = WorkItem> + Send,
    K: OutputSink,
{
    let mut scheduler = Scheduler::default();
    // Items started and not yet settled, in input order, so an abort can account for them.
    let in_flight: std::sync::Mutex<VecDeque<(usize, bool)>> = std::sync::Mutex::new(VecDeque::new());
    let stream = items
        .take_while(|_| futures::future::ready(run.going()))
        .map(|(index, prepared)| match prepared {
            Err(failure) => {
                run.failed(index);
                Either::Left(futures::future::ready((index, Outcome::Failed(failure))))
            }
            Ok(prepared) => {
                lock(&in_flight).push_back((index, prepared.hints.read_only));
                let (deps, me) = scheduler.register(&prepared.locks);
                let item = spawn_item(run, &session, index, prepared, deps, me);
                Either::Right(async move { (index, item.await) })
            }
        })
        .buffered(concurrency);
    let mut stream = Box::pin(stream);
    // One waiter on the abort token for the whole run, not one per item: registering a waiter
    // takes the token's lock, which every worker would contend for.
    let mut aborted = std::pin::pin!(run.abort.cancelled());
    loop {
        tokio::select! {
            biased;
            () = &mut aborted => {
                // Dropping the stream aborts every task still in it.
                drop(stream);
                let left: Vec<(usize, bool)> = lock(&in_flight).drain(..).collect();
                for (index, read_only) in left {
                    settle(run, report, index, aborted_outcome(run, index, read_only), sink).await;
                }
                return;
            }
            next = stream.next() => {
                let Some((index, outcome)) = next else { return };
                lock(&in_flight).retain(|(i, _)| *i > index);
                settle(run, report, index, outcome, sink).await;
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The outcome of an item given up in flight because the run was aborted: a write among them
/// may have reached the service.
fn aborted_outcome(run: &Run, index: usize, read_only: bool) -> Outcome {
    run.failed(index);
    Outcome::Aborted(ItemFailure::Node {
        item: index,
        error: NodeError::new("stopped while in flight: the run was aborted").maybe_applied(!read_only),
    })
}

/// Starts item `index` as a task of its own, which waits for the items in `after` and marks
/// `done` when it ends; the returned future gives its outcome, and dropping it aborts the task.
/// A task that panicked fails its item only.
fn spawn_item(
    run: &Run,
    session: &Arc<dyn DynSession>,
    index: usize,
    prepared: Prepared,
    after: Vec<Arc<Done>>,
    done: Option<Arc<Done>>,
) -> impl Future<Output = Outcome> + Send + 'static {
    let session = Arc::clone(session);
    let shared = run.clone();
    // Log lines of the item (an HTTP node's attempts) carry its node and index.
    let span = tracing::info_span!("item", node = %run.node, item = index);
    let task = AbortOnDrop(
        run.tasks.spawn(
            async move {
                let _done = done.map(FireOnDrop);
                for dep in after {
                    dep.wait().await;
                }
                shared.item(session.as_ref(), index, prepared).await
            }
            .instrument(span),
        ),
    );
    let run = run.clone();
    async move {
        task.await.unwrap_or_else(|e| {
            run.failed(index);
            // The panic payload is never forwarded: it could quote anything.
            let what = if e.is_panic() {
                "the node panicked on this item"
            } else {
                "the item's task was stopped"
            };
            Outcome::Failed(ItemFailure::Node {
                item: index,
                error: NodeError::internal(what),
            })
        })
    }
}

/// A task handle that aborts its task when dropped unfinished.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// Record item `index`'s outcome and send its output items (or its error item under
/// continue-on-fail). Once output has failed, later outcomes are only recorded.
async fn settle<K: OutputSink>(
    run: &Run,
    report: &mut RunReport,
    index: usize,
    outcome: Outcome,
    sink: &mut K,
) {
    report.seen = index + 1;
    if let Some(p) = &run.progress {
        p.settled.fetch_add(1, Ordering::Relaxed);
        if matches!(outcome, Outcome::Failed(_) | Outcome::Aborted(_)) {
            p.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let emitted: Vec<Output> = match outcome {
        Outcome::Output(outputs) => {
            report.applied.push(index);
            outputs
        }
        Outcome::Failed(failure) => {
            report.failed.push(index);
            if failure.maybe_applied() {
                report.maybe_applied.push(index);
            }
            if run.continue_on_fail || failure.continues_run() {
                let mut json = Map::new();
                json.insert(
                    "error".into(),
                    Value::Object(run.secrets.scrub_object(failure.to_json())),
                );
                vec![json.into()]
            } else {
                if report.stop.is_none() {
                    report.stop = Some(StopCause::Item(failure));
                }
                Vec::new()
            }
        }
        Outcome::Aborted(failure) => {
            report.failed.push(index);
            if failure.maybe_applied() {
                report.maybe_applied.push(index);
            }
            if report.stop.is_none() {
                report.stop = Some(StopCause::Cancelled);
            }
            Vec::new()
        }
        Outcome::NotRun => {
            report.not_run.push(index);
            Vec::new()
        }
    };
    if report.output_failed() {
        // In-flight items still finish; they are only recorded.
        return;
    }
    for json in emitted {
        if let Err(e) = sink
            .send(OutputItem {
                json,
                paired_item: index,
            })
            .await
        {
            run.stop(index);
            report.set_output_error(e);
            break;
        }
    }
}

//! The execution engine: runs prepared items with bounded concurrency, keeps output in input
//! order, applies continue-on-fail, stops on the first failure otherwise, and reports which
//! items were applied, failed or never ran.
//!
//! It reads items as a stream and emits output items as they complete in order, so a run of
//! any length holds at most `concurrency` items in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures::{Stream, StreamExt, future::Either};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::erased::{DynSession, Prepared};
use crate::error::{ItemProblems, NodeError};
use crate::input::InputError;
use crate::output::Output;
use crate::schedule::{Done, FireOnDrop, Scheduler};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Items executing at once (at least 1).
    pub concurrency: usize,
    /// Turn failing items into error items instead of stopping.
    pub continue_on_fail: bool,
    /// Set from outside (e.g. Ctrl-C) to stop starting new items; in-flight ones finish.
    pub cancel: Arc<AtomicBool>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            continue_on_fail: false,
            cancel: Arc::new(AtomicBool::new(false)),
        }
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

impl Serialize for OutputItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("json", &self.json)?;
        map.serialize_entry(
            "pairedItem",
            &PairedItem {
                item: self.paired_item,
            },
        )?;
        map.end()
    }
}

#[derive(Serialize)]
struct PairedItem {
    item: usize,
}

/// Why one item failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemFailure {
    /// Its parameters are invalid (nothing was sent).
    #[error("{0}")]
    Invalid(ItemProblems),
    /// Its input could not be read (e.g. a malformed NDJSON line).
    #[error("{0}")]
    Input(InputError),
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
    /// The error object of an error item or of the run's `error` member.
    pub fn to_json(&self) -> Map<String, Value> {
        match self {
            ItemFailure::Invalid(p) => {
                let mut m = Map::new();
                m.insert("message".into(), json!(p.to_string()));
                m.insert("item".into(), json!(p.item));
                m.insert("problems".into(), json!(p.problems));
                m
            }
            ItemFailure::Input(e) => {
                let mut m = Map::new();
                m.insert("message".into(), json!(e.to_string()));
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

    fn maybe_applied(&self) -> bool {
        matches!(self, ItemFailure::Node { error, .. } if error.maybe_applied)
    }
}

/// Sorted, merged index ranges (inclusive), for compact reports on long runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Ranges(Vec<(usize, usize)>);

impl Ranges {
    /// Add an index (indices are added in increasing order).
    pub fn push(&mut self, i: usize) {
        match self.0.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => self.0.push((i, i)),
        }
    }

    /// Number of indices.
    pub fn count(&self) -> usize {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Whether no index is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `i` is present.
    pub fn contains(&self, i: usize) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&i))
    }
}

/// What happened to every item of a run.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Items read from the input.
    pub seen: usize,
    /// Items executed successfully (their effects are applied).
    pub applied: Ranges,
    /// Items that failed (error items under continue-on-fail).
    pub failed: Ranges,
    /// Failed items whose effect may nevertheless have reached the remote service.
    pub maybe_applied: Ranges,
    /// Items read but never started because the run stopped.
    pub not_run: Ranges,
    /// The failure that stopped the run (without continue-on-fail).
    pub stopped_by: Option<ItemFailure>,
    /// The run was cancelled from outside.
    pub cancelled: bool,
    /// Writing output failed (e.g. the reader went away); the run stopped.
    pub output_error: Option<std::io::Error>,
}

impl RunReport {
    /// Whether the run stopped early (failure, cancel or output error).
    pub fn is_stopped(&self) -> bool {
        self.stopped_by.is_some() || self.cancelled || self.output_error.is_some()
    }

    /// Items never started: those read but skipped, plus, when the input's length is known,
    /// those never read because the run stopped first.
    pub fn not_run_with_unread(&self, total_items: Option<usize>) -> Ranges {
        let mut not_run = self.not_run.clone();
        if let Some(total) = total_items {
            for i in self.seen..total {
                not_run.push(i);
            }
        }
        not_run
    }

    /// The run's `error` member: what stopped it and what state every item is in.
    pub fn error_json(&self, total_items: Option<usize>) -> Option<Value> {
        let mut m = if let Some(f) = &self.stopped_by {
            f.to_json()
        } else if self.cancelled {
            let mut m = Map::new();
            m.insert(
                "message".into(),
                json!("run cancelled: no new item was started after the interrupt"),
            );
            m
        } else {
            return None;
        };
        let not_run = self.not_run_with_unread(total_items);
        m.insert("applied".into(), json!(self.applied));
        if !self.maybe_applied.is_empty() {
            m.insert("maybeApplied".into(), json!(self.maybe_applied));
        }
        m.insert("failed".into(), json!(self.failed));
        m.insert("notRun".into(), json!(not_run));
        if total_items.is_none() && self.stopped_by.is_some() {
            m.insert("inputAfterStopNotRead".into(), json!(true));
        }
        Some(Value::Object(m))
    }
}

/// The outcome of an item whose node panicked. The panic payload is never forwarded: it could
/// quote anything.
fn panicked(index: usize) -> Outcome {
    Outcome::Failed(ItemFailure::Node {
        item: index,
        error: NodeError::new("internal error: the node panicked on this item"),
    })
}

enum Outcome {
    Output(Vec<Output>),
    Failed(ItemFailure),
    NotRun,
}

/// Run a stream of `(index, prepared item or failure)` in order of index and emit every
/// output item in input order. `emit` failing (broken pipe) stops the run.
///
/// Must be awaited inside a Tokio runtime: each item runs as a task (`tokio::spawn`).
pub async fn execute<S, F>(
    session: Arc<dyn DynSession>,
    items: S,
    config: &RunConfig,
    mut emit: F,
) -> RunReport
where
    S: Stream<Item = (usize, Result<Prepared, ItemFailure>)> + Send,
    F: FnMut(&OutputItem) -> std::io::Result<()>,
{
    let run = Run {
        continue_on_fail: config.continue_on_fail,
        stop_at: Arc::new(AtomicUsize::new(usize::MAX)),
        cancel: Arc::clone(&config.cancel),
    };
    let mut report = RunReport::default();
    if config.concurrency <= 1 {
        sequential(&run, session, items, &mut report, &mut emit).await;
    } else {
        concurrent(&run, session, items, config.concurrency, &mut report, &mut emit).await;
    }
    report.cancelled = run.cancel.load(Ordering::Acquire) && report.stopped_by.is_none();
    report
}

/// What every item of a run shares.
#[derive(Clone)]
struct Run {
    continue_on_fail: bool,
    /// Lowest index of an item whose failure stops the run; later items are not started.
    stop_at: Arc<AtomicUsize>,
    cancel: Arc<AtomicBool>,
}

impl Run {
    /// Whether items may still start.
    fn going(&self) -> bool {
        self.stop_at.load(Ordering::Acquire) == usize::MAX && !self.cancel.load(Ordering::Acquire)
    }

    /// Note a failure of item `index`: without continue-on-fail, no later item starts.
    fn failed(&self, index: usize) {
        if !self.continue_on_fail {
            self.stop_at.fetch_min(index, Ordering::AcqRel);
        }
    }

    /// Execute one item, unless the run stopped before it or was cancelled.
    async fn item(&self, session: &dyn DynSession, index: usize, prepared: Prepared) -> Outcome {
        if index > self.stop_at.load(Ordering::Acquire) || self.cancel.load(Ordering::Acquire) {
            return Outcome::NotRun;
        }
        match session.execute(prepared).await {
            Ok(outputs) => Outcome::Output(outputs),
            Err(error) => {
                self.failed(index);
                Outcome::Failed(ItemFailure::Node { item: index, error })
            }
        }
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
async fn sequential<S, F>(
    run: &Run,
    session: Arc<dyn DynSession>,
    items: S,
    report: &mut RunReport,
    emit: &mut F,
) where
    S: Stream<Item = (usize, Result<Prepared, ItemFailure>)> + Send,
    F: FnMut(&OutputItem) -> std::io::Result<()>,
{
    let mut items = std::pin::pin!(items);
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
            Ok(prepared) => spawn_item(run, &session, index, prepared, Vec::new(), None).await,
        };
        settle(run, report, index, outcome, emit);
    }
}

/// Up to `concurrency` items at once, a task each, so items (and the parsing of their answers)
/// spread over every worker thread; output is still emitted in input order.
async fn concurrent<S, F>(
    run: &Run,
    session: Arc<dyn DynSession>,
    items: S,
    concurrency: usize,
    report: &mut RunReport,
    emit: &mut F,
) where
    S: Stream<Item = (usize, Result<Prepared, ItemFailure>)> + Send,
    F: FnMut(&OutputItem) -> std::io::Result<()>,
{
    let mut scheduler = Scheduler::default();
    let stream = items
        .take_while(|_| futures::future::ready(run.going()))
        .map(|(index, prepared)| match prepared {
            Err(failure) => {
                run.failed(index);
                Either::Left(futures::future::ready((index, Outcome::Failed(failure))))
            }
            Ok(prepared) => {
                let (deps, me) = scheduler.register(&prepared.locks);
                let item = spawn_item(run, &session, index, prepared, deps, me);
                Either::Right(async move { (index, item.await) })
            }
        })
        .buffered(concurrency);
    let mut stream = std::pin::pin!(stream);
    while let Some((index, outcome)) = stream.next().await {
        settle(run, report, index, outcome, emit);
    }
}

/// Starts item `index` as a task of its own, which waits for the items in `after` and marks
/// `done` when it ends; the returned future gives its outcome. A task that panicked (or was
/// aborted at shutdown) fails its item only.
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
    let task = tokio::spawn(async move {
        let _done = done.map(FireOnDrop);
        for dep in after {
            dep.wait().await;
        }
        shared.item(session.as_ref(), index, prepared).await
    });
    async move { task.await.unwrap_or_else(|_| panicked(index)) }
}

/// Record item `index`'s outcome and emit its output items (or its error item under
/// continue-on-fail). Once output has failed, later outcomes are only recorded.
fn settle<F>(run: &Run, report: &mut RunReport, index: usize, outcome: Outcome, emit: &mut F)
where
    F: FnMut(&OutputItem) -> std::io::Result<()>,
{
    report.seen = index + 1;
    if report.output_error.is_some() {
        // In-flight items still finish; record them only.
        if let Outcome::Output(_) = outcome {
            report.applied.push(index);
        }
        return;
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
            if run.continue_on_fail {
                let mut json = Map::new();
                json.insert("error".into(), Value::Object(failure.to_json()));
                vec![json.into()]
            } else {
                if report.stopped_by.is_none() {
                    report.stopped_by = Some(failure);
                }
                Vec::new()
            }
        }
        Outcome::NotRun => {
            report.not_run.push(index);
            Vec::new()
        }
    };
    for json in emitted {
        if let Err(e) = emit(&OutputItem {
            json,
            paired_item: index,
        }) {
            report.output_error = Some(e);
            run.stop_at.fetch_min(index, Ordering::AcqRel);
            break;
        }
    }
}

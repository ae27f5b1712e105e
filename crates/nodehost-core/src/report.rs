//! What a run did, item by item, and the one typed run document every caller returns:
//! `{"items": [...], "error": {...}}`, with the same `error` shape for every way a run stops
//! (invalid items with nothing sent, an item failure, cancellation, output that could not be
//! written), always carrying the `applied`, `failed`, `notRun` and `maybeApplied` ranges.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::engine::{ItemFailure, OutputItem};
use crate::error::ItemProblems;
use crate::secrets::Secrets;

/// Sorted, merged index ranges (inclusive), for compact reports on long runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(
    description = "Item indices as sorted, merged inclusive `[first, last]` pairs: `[[0, 2], [5, 5]]` is items 0, 1, 2 and 5."
)]
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

    /// The ranges, inclusive.
    pub fn as_slice(&self) -> &[(usize, usize)] {
        &self.0
    }
}

/// Why a run stopped early.
#[derive(Debug)]
#[non_exhaustive]
pub enum StopCause {
    /// Items were invalid, and nothing was sent (`listed` are reported, `more` were not).
    Invalid {
        /// The invalid items reported, in input order.
        listed: Vec<ItemProblems>,
        /// Invalid items beyond those listed.
        more: usize,
    },
    /// An item failed (without continue-on-fail).
    Item(ItemFailure),
    /// The run was cancelled: no new item was started after it.
    Cancelled,
    /// Output could not be written.
    Output(std::io::Error),
}

/// What happened to every item of a run.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Items read from the input (every index below it is in exactly one of the ranges).
    pub seen: usize,
    /// Items executed successfully (their effects are applied).
    pub applied: Ranges,
    /// Items that failed (error items under continue-on-fail).
    pub failed: Ranges,
    /// Failed items whose effect may nevertheless have reached the remote service.
    pub maybe_applied: Ranges,
    /// Items read but never started because the run stopped.
    pub not_run: Ranges,
    /// Why the run stopped early, if it did.
    pub stop: Option<StopCause>,
    /// Output could not be written (also when something else stopped the run first).
    pub output_error: Option<std::io::Error>,
    /// Removed from the stop report's texts.
    pub secrets: Secrets,
}

/// The most invalid items a refusal lists one by one.
pub const MAX_LISTED_INVALID: usize = 1000;

impl RunReport {
    /// The report of a run refused before anything was sent because items were invalid:
    /// `invalid` are every invalid index, `listed` the problems reported (the first of them).
    pub fn refused(listed: Vec<ItemProblems>, invalid: Ranges, total: usize) -> Self {
        let mut report = Self {
            seen: total,
            ..Self::default()
        };
        for i in 0..total {
            if invalid.contains(i) {
                report.failed.push(i);
            } else {
                report.not_run.push(i);
            }
        }
        let more = invalid.count().saturating_sub(listed.len());
        report.stop = Some(StopCause::Invalid { listed, more });
        report
    }

    /// Whether the run stopped early (failure, cancel or output error).
    pub fn is_stopped(&self) -> bool {
        self.stop.is_some() || self.output_error.is_some()
    }

    /// Whether output could not be written.
    pub fn output_failed(&self) -> bool {
        self.output_error.is_some()
    }

    pub(crate) fn set_output_error(&mut self, e: std::io::Error) {
        if self.stop.is_none() {
            self.stop = Some(StopCause::Output(std::io::Error::new(e.kind(), e.to_string())));
        }
        self.output_error = Some(e);
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

    /// The run's `error` member, when it stopped early: what stopped it and the state of
    /// every item. `total_items` is the input's length when it is known.
    pub fn error(&self, total_items: Option<usize>) -> Option<RunError> {
        let stop = self.stop.as_ref()?;
        let mut failure = Map::new();
        let mut invalid_items = Vec::new();
        let mut more_invalid = 0;
        let (reason, message) = match stop {
            StopCause::Invalid { listed, more } => {
                invalid_items = listed.iter().map(InvalidItem::from).collect();
                more_invalid = *more;
                let total = total_items.unwrap_or(self.seen);
                (
                    StopReason::InvalidItems,
                    format!(
                        "{} of {total} item(s) invalid; nothing was sent",
                        listed.len() + more
                    ),
                )
            }
            StopCause::Item(f) => {
                failure = f.to_json();
                // The ranges say which items may have been applied.
                failure.shift_remove("maybeApplied");
                let message = match failure.shift_remove("message") {
                    Some(Value::String(m)) => m,
                    _ => f.to_string(),
                };
                (StopReason::ItemFailed, message)
            }
            StopCause::Cancelled => (
                StopReason::Cancelled,
                "run cancelled: no new item was started after it".to_owned(),
            ),
            StopCause::Output(e) => (StopReason::OutputFailed, format!("cannot write output: {e}")),
        };
        Some(RunError {
            message: self.secrets.scrub(&message),
            reason,
            failure: self.secrets.scrub_object(failure),
            invalid_items,
            more_invalid_items: more_invalid,
            applied: self.applied.clone(),
            failed: self.failed.clone(),
            not_run: self.not_run_with_unread(total_items),
            maybe_applied: self.maybe_applied.clone(),
            input_after_stop_not_read: total_items.is_none() && !matches!(stop, StopCause::Invalid { .. }),
        })
    }

    /// The run document: `items` and, when the run stopped early, `error`.
    pub fn document(&self, items: Vec<OutputItem>, total_items: Option<usize>) -> RunDocument {
        RunDocument {
            items,
            error: self.error(total_items),
        }
    }
}

/// How a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// Items were invalid; nothing was sent.
    InvalidItems,
    /// An item failed.
    ItemFailed,
    /// The run was cancelled (Ctrl-C, a signal, a client that went away).
    Cancelled,
    /// Output could not be written.
    OutputFailed,
}

/// One invalid item in a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InvalidItem {
    /// Index of the item.
    pub item: usize,
    /// Every problem in one line.
    pub message: String,
    /// Every problem, field by field.
    pub problems: Vec<crate::error::Problem>,
}

impl From<&ItemProblems> for InvalidItem {
    fn from(p: &ItemProblems) -> Self {
        Self {
            item: p.item,
            message: p.to_string(),
            problems: p.problems.clone(),
        }
    }
}

/// The `error` member of a run document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    /// What stopped the run, in one line.
    pub message: String,
    /// How the run stopped.
    pub reason: StopReason,
    /// For an item failure: `item`, `problems` or the node's members (`httpStatus`, `details`).
    #[serde(flatten)]
    pub failure: Map<String, Value>,
    /// For a refusal: every invalid item (the first 1,000, [`MAX_LISTED_INVALID`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_items: Vec<InvalidItem>,
    /// For a refusal: invalid items not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_invalid_items: usize,
    /// Items applied.
    pub applied: Ranges,
    /// Items that failed.
    pub failed: Ranges,
    /// Items never started.
    pub not_run: Ranges,
    /// Failed items whose effect may nevertheless have been applied: check them before a
    /// re-run.
    pub maybe_applied: Ranges,
    /// A streamed input was not read past the stop, so `notRun` cannot list what followed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub input_after_stop_not_read: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RunError {
    /// The error as a JSON value.
    pub fn to_value(&self) -> Value {
        json!(self)
    }
}

/// The answer to a run: its output items in input order and, when it stopped early, why.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RunDocument {
    /// Output items, in input order.
    pub items: Vec<OutputItem>,
    /// Set when the run stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
}

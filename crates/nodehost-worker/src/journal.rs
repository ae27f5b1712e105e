//! The journal of a job's items in the key-value bucket: `started` before a write is sent,
//! `applied` with its outputs after, so a redelivered job resumes without sending an applied
//! item again and reports one that was in flight as maybe applied.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::kv;
use async_trait::async_trait;
use bytes::Bytes;
use nodehost_core::{DynSession, ItemContext, NodeError, Output, Prepared};
use serde_json::{Map, Value, json};

/// What an earlier attempt of a job recorded for one item.
#[derive(Debug, Clone)]
pub(crate) enum Recorded {
    /// It was sent (or about to be) and no outcome was recorded: its worker stopped.
    Started,
    /// It was applied, with these outputs.
    Applied(Vec<Map<String, Value>>),
}

#[derive(Clone)]
pub(crate) struct Journal {
    pub(crate) store: kv::Store,
    pub(crate) job: String,
    pub(crate) previous: Arc<HashMap<usize, Recorded>>,
}

/// The node's session, with every item's outcome journaled and earlier outcomes reused.
pub(crate) struct JournaledSession {
    pub(crate) inner: Arc<dyn DynSession>,
    pub(crate) journal: Journal,
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
                .with_field("inFlightWhenWorkerStopped", true)
                // A worker's death is not the item's failure: the rest of the job goes on.
                .continue_run());
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

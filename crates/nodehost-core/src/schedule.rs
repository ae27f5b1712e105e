//! Ordering of items that touch the same record.
//!
//! Each item declares [`Lock`]s; an item waits for every earlier item holding a conflicting
//! lock (same resource, at least one exclusive) and for nothing else. Registration happens in
//! input order, so side effects on one record are those of sequential execution, while items
//! on different records run in parallel. Memory stays bounded on endless streams: finished
//! items are forgotten.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::node::Lock;

/// Fires once when an item has finished (successfully or not).
#[derive(Debug, Default)]
pub struct Done {
    fired: AtomicBool,
    notify: Notify,
}

impl Done {
    /// Mark finished and wake every waiter.
    pub fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Whether it has fired.
    pub fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Wait until it fires.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Register interest before checking, so a fire in between is not missed.
            notified.as_mut().enable();
            if self.is_fired() {
                return;
            }
            notified.await;
        }
    }
}

/// Fires its [`Done`] when dropped, so a failed or panicking item never blocks later ones.
#[derive(Debug)]
pub struct FireOnDrop(pub Arc<Done>);

impl Drop for FireOnDrop {
    fn drop(&mut self) {
        self.0.fire();
    }
}

#[derive(Default)]
struct Resource {
    last_exclusive: Option<Arc<Done>>,
    shared_since: Vec<Arc<Done>>,
}

impl Resource {
    fn idle(&self) -> bool {
        self.last_exclusive.as_ref().is_none_or(|d| d.is_fired())
            && self.shared_since.iter().all(|d| d.is_fired())
    }
}

/// Tracks who holds which resource, in input order.
#[derive(Default)]
pub struct Scheduler {
    resources: HashMap<String, Resource>,
    registered: u64,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("resources", &self.resources.len())
            .finish_non_exhaustive()
    }
}

/// How often (in registrations) finished resources are forgotten.
const PRUNE_EVERY: u64 = 1024;
/// Longest list of shared holders kept before finished ones are dropped.
const SHARED_COMPACT_AT: usize = 64;

impl Scheduler {
    /// Register the next item (in input order). Returns what it must wait for and its own
    /// completion signal (`None` when it declared no locks).
    pub fn register(&mut self, locks: &[Lock]) -> (Vec<Arc<Done>>, Option<Arc<Done>>) {
        if locks.is_empty() {
            return (Vec::new(), None);
        }
        self.registered += 1;
        if self.registered.is_multiple_of(PRUNE_EVERY) {
            self.resources.retain(|_, r| !r.idle());
        }
        let me = Arc::new(Done::default());
        let mut deps: Vec<Arc<Done>> = Vec::new();
        for lock in locks {
            // Look up before inserting: most resources are already known, and `entry` would
            // allocate a key for every lock.
            if !self.resources.contains_key(&lock.resource) {
                self.resources.insert(lock.resource.clone(), Resource::default());
            }
            let Some(r) = self.resources.get_mut(&lock.resource) else {
                continue;
            };
            if let Some(x) = &r.last_exclusive
                && !x.is_fired()
            {
                deps.push(Arc::clone(x));
            }
            if lock.exclusive {
                deps.extend(r.shared_since.drain(..).filter(|d| !d.is_fired()));
                r.last_exclusive = Some(Arc::clone(&me));
            } else {
                if r.shared_since.len() >= SHARED_COMPACT_AT {
                    r.shared_since.retain(|d| !d.is_fired());
                }
                r.shared_since.push(Arc::clone(&me));
            }
        }
        (deps, Some(me))
    }

    /// Number of resources currently remembered (for tests of bounded memory).
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.resources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_of_one_record_do_not_wait_for_each_other() {
        let mut s = Scheduler::default();
        let (d1, _a) = s.register(&[Lock::shared("client/1")]);
        let (d2, _b) = s.register(&[Lock::shared("client/1")]);
        assert!(d1.is_empty() && d2.is_empty());
    }

    #[test]
    fn a_writer_waits_for_earlier_readers_and_writers_of_its_record_only() {
        let mut s = Scheduler::default();
        let (_, _r) = s.register(&[Lock::shared("client/1")]);
        let (_, _other) = s.register(&[Lock::exclusive("client/2")]);
        let (deps, w) = s.register(&[Lock::exclusive("client/1")]);
        assert_eq!(
            deps.len(),
            1,
            "waits for the reader of client/1, not the writer of client/2"
        );
        let (deps, _) = s.register(&[Lock::shared("client/1")]);
        assert_eq!(deps.len(), 1);
        assert!(Arc::ptr_eq(&deps[0], w.as_ref().expect("registered with locks")));
    }

    #[test]
    fn finished_items_are_not_waited_for_and_are_forgotten() {
        let mut s = Scheduler::default();
        for i in 0..(PRUNE_EVERY * 2) {
            let (_, me) = s.register(&[Lock::exclusive(format!("client/{i}"))]);
            me.expect("registered with locks").fire();
        }
        assert!(s.tracked() < PRUNE_EVERY as usize);
    }

    #[tokio::test]
    async fn wait_returns_after_fire_even_if_fired_first() {
        let d = Arc::new(Done::default());
        d.fire();
        d.wait().await;
        let d2 = Arc::new(Done::default());
        let d3 = Arc::clone(&d2);
        let h = tokio::spawn(async move { d3.wait().await });
        tokio::task::yield_now().await;
        d2.fire();
        h.await.expect("waiter finishes");
    }
}

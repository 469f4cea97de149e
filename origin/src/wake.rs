//! Held DM sessions waiting for their portal session to change, by portal session id: a
//! choice wakes the waiters of its own session (O(1) per choice), not every held session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The held sessions of this process, by portal session id.
#[derive(Default)]
pub struct Registry {
    waiting: Mutex<HashMap<Arc<str>, Vec<Arc<Notify>>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Arc<Registry> {
        Arc::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Vec<Arc<Notify>>>> {
        // A panic elsewhere cannot leave the map half-changed: every change is one call.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a waiter for `sid`'s next change, until the returned guard is dropped. More
    /// than one may wait on one session: a handset that sends its held message again on a new
    /// connection while the first still waits.
    pub fn register(self: &Arc<Self>, sid: &str) -> Waiting {
        let notify = Arc::new(Notify::new());
        let mut waiting = self.lock();
        let sid = match waiting.get_key_value(sid) {
            Some((key, _)) => key.clone(),
            None => Arc::from(sid),
        };
        waiting.entry(sid.clone()).or_default().push(notify.clone());
        Waiting { registry: self.clone(), sid, notify }
    }

    /// `sid` changed: wakes its waiters (none is fine: a session reads its state when it next
    /// asks). Returns how many were woken.
    pub fn wake(&self, sid: &str) -> usize {
        let waiting = self.lock();
        let woken = waiting.get(sid).map_or(&[][..], Vec::as_slice);
        for w in woken {
            w.notify_one();
        }
        woken.len()
    }

    /// Wakes every waiter once, to read its state again: after changes may have gone unheard
    /// (the database's notifications were lost while their listener reconnected).
    pub fn wake_all(&self) -> usize {
        // Notified outside the lock: there may be tens of thousands.
        let all: Vec<Arc<Notify>> = self.lock().values().flatten().cloned().collect();
        for w in &all {
            w.notify_one();
        }
        all.len()
    }

    /// How many waiters are registered.
    pub fn waiters(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

/// One held session's registration; dropping it (the answer sent, or the request dropped
/// because the handset went away) deregisters it.
pub struct Waiting {
    registry: Arc<Registry>,
    sid: Arc<str>,
    notify: Arc<Notify>,
}

impl Waiting {
    /// Waits for the session's next change, or returns at once if it changed since the last
    /// call (or since registering): a change is never missed between two looks at the state.
    pub async fn changed(&self) {
        self.notify.notified().await;
        crate::metrics::hold_wakeup();
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiting = self.registry.lock();
        if let Some(list) = waiting.get_mut(&*self.sid) {
            list.retain(|w| !Arc::ptr_eq(w, &self.notify));
            if list.is_empty() {
                waiting.remove(&*self.sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken(w: &Waiting) -> bool {
        tokio::time::timeout(Duration::from_millis(50), w.changed()).await.is_ok()
    }

    #[tokio::test]
    async fn a_change_wakes_only_the_waiters_of_its_session() {
        let r = Registry::new();
        let (a, a2, b) = (r.register("a"), r.register("a"), r.register("b"));
        assert_eq!(r.wake("a"), 2);
        assert!(woken(&a).await && woken(&a2).await);
        assert!(!woken(&b).await, "another session's change woke b");
        assert_eq!(r.wake("nobody"), 0);
    }

    #[tokio::test]
    async fn a_change_before_the_wait_is_not_missed() {
        let r = Registry::new();
        let a = r.register("a");
        // As when the choice lands between registering and reading the state.
        r.wake("a");
        assert!(woken(&a).await);
        assert!(!woken(&a).await, "one change wakes once");
    }

    #[tokio::test]
    async fn dropping_a_waiter_deregisters_it_even_mid_wait() {
        let r = Registry::new();
        let kept = r.register("a");
        let w = r.register("a");
        assert_eq!(r.waiters(), 2);
        // A request future dropped while it waits (the handset hung up).
        let mut wait = Box::pin(async move { w.changed().await });
        assert!(tokio::time::timeout(Duration::from_millis(10), &mut wait).await.is_err());
        drop(wait);
        assert_eq!(r.waiters(), 1);
        assert_eq!(r.wake("a"), 1);
        drop(kept);
        assert_eq!(r.waiters(), 0);
        assert!(r.lock().is_empty(), "an empty session left behind");
    }

    #[tokio::test]
    async fn wake_all_wakes_every_waiter_once() {
        let r = Registry::new();
        let (a, b) = (r.register("a"), r.register("b"));
        assert_eq!(r.wake_all(), 2);
        assert!(woken(&a).await && woken(&b).await);
        assert!(!woken(&a).await);
    }
}

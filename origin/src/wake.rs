//! Held DM sessions waiting for their portal session to change, by portal session id: a
//! choice wakes the waiters of its own session (O(1) per choice), not every held session.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// How many of the latest changes the registry remembers, for [`Registry::register_since`].
const RECENT: usize = 256;

/// The held sessions of this process, by portal session id.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

struct Inner {
    waiting: HashMap<Arc<str>, Vec<Arc<Notify>>>,
    /// Changes so far (a [`Registry::wake_all`] counts as more than [`RECENT`]).
    changes: u64,
    /// The hash of the session id of change `n`, at `n % RECENT`.
    recent: [u64; RECENT],
}

impl Default for Inner {
    fn default() -> Self {
        Inner { waiting: HashMap::new(), changes: 0, recent: [0; RECENT] }
    }
}

/// A point in this process's history of changes (`Registry::since_now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since(u64);

fn hash(sid: &str) -> u64 {
    // Fixed keys: a collision only costs a session one more read.
    BuildHasherDefault::<DefaultHasher>::default().hash_one(sid)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Arc<Registry> {
        Arc::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the map half-changed: every change is one call.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Now, in the history of changes: taken before reading a portal session's state, to ask
    /// at [`Registry::register_since`] whether what was read may already be stale.
    pub fn since_now(&self) -> Since {
        Since(self.lock().changes)
    }

    /// Registers a waiter for `sid`'s next change, as [`Registry::register`] does, and says
    /// whether `sid` may have changed since `since` (it did, or too many changes came since
    /// to tell): a state read after `since` and before this call is then to be read again.
    pub fn register_since(self: &Arc<Self>, sid: &str, since: Since) -> (Waiting, bool) {
        let waiting = self.register(sid);
        let inner = self.lock();
        let count = inner.changes.saturating_sub(since.0);
        let changed = count > RECENT as u64 || {
            let h = hash(sid);
            (since.0 + 1..=inner.changes).any(|n| inner.recent[(n % RECENT as u64) as usize] == h)
        };
        (waiting, changed)
    }

    /// Registers a waiter for `sid`'s next change, until the returned guard is dropped. More
    /// than one may wait on one session: a handset that sends its held message again on a new
    /// connection while the first still waits.
    pub fn register(self: &Arc<Self>, sid: &str) -> Waiting {
        let notify = Arc::new(Notify::new());
        let mut inner = self.lock();
        let waiting = &mut inner.waiting;
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
        let mut inner = self.lock();
        inner.changes += 1;
        let at = (inner.changes % RECENT as u64) as usize;
        inner.recent[at] = hash(sid);
        let woken = inner.waiting.get(sid).map_or(&[][..], Vec::as_slice);
        for w in woken {
            w.notify_one();
        }
        woken.len()
    }

    /// Wakes every waiter once, to read its state again: after changes may have gone unheard
    /// (the database's notifications were lost while their listener reconnected).
    pub fn wake_all(&self) -> usize {
        // Notified outside the lock: there may be tens of thousands.
        let all: Vec<Arc<Notify>> = {
            let mut inner = self.lock();
            // Every session may have changed: older than any remembered change.
            inner.changes += RECENT as u64 + 1;
            inner.waiting.values().flatten().cloned().collect()
        };
        for w in &all {
            w.notify_one();
        }
        all.len()
    }

    /// How many waiters are registered.
    pub fn waiters(&self) -> usize {
        self.lock().waiting.values().map(Vec::len).sum()
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
        let mut inner = self.registry.lock();
        let waiting = &mut inner.waiting;
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
        assert!(r.lock().waiting.is_empty(), "an empty session left behind");
    }

    #[tokio::test]
    async fn wake_all_wakes_every_waiter_once() {
        let r = Registry::new();
        let (a, b) = (r.register("a"), r.register("b"));
        assert_eq!(r.wake_all(), 2);
        assert!(woken(&a).await && woken(&b).await);
        assert!(!woken(&a).await);
    }

    #[tokio::test]
    async fn a_change_since_a_read_is_told_at_registering() {
        let r = Registry::new();
        let before = r.since_now();
        r.wake("other");
        let (_w, changed) = r.register_since("a", before);
        assert!(!changed, "another session's change is not this one's");
        r.wake("a");
        let (_w, changed) = r.register_since("a", before);
        assert!(changed, "a's change since the read was missed");
        let (_w, changed) = r.register_since("a", r.since_now());
        assert!(!changed);
    }

    #[tokio::test]
    async fn too_many_changes_since_count_as_a_change() {
        let r = Registry::new();
        let before = r.since_now();
        for i in 0..=RECENT {
            r.wake(&format!("s{i}"));
        }
        assert!(r.register_since("a", before).1, "a change of a's could have been forgotten");
        let before = r.since_now();
        r.wake_all();
        assert!(r.register_since("a", before).1, "wake_all is a change of every session");
    }
}

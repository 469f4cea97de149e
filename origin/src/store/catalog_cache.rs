//! The published catalog (and the device profiles) as last read, kept for a moment: every
//! poll of a portal past the device read lists the offers, and each listing re-read the whole
//! catalog (a seventh of a flow's SQL statements); every portal session's opening read the
//! profiles. This process's own catalog changes clear it at once; another
//! process's (a replica, the CLI on the same SQLite file) show within [`MAX_AGE`]. Downloads
//! never rely on it: `/dl` asks the database whether a blob is still published.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portaldm_shared::catalog::CatalogPackage;

/// How long a read catalog is listed from before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// A shared, clearable copy of the published catalog (or of the device profiles: `T`).
#[derive(Clone)]
pub struct CatalogCache<T = CatalogPackage> {
    inner: Arc<Mutex<Inner<T>>>,
    max_age: Duration,
}

struct Inner<T> {
    /// The copy and when its read began.
    kept: Option<(Instant, Arc<[T]>)>,
    /// Bumped by every clear: a read that began before a change must not be kept after it.
    generation: u64,
}

/// A read of the catalog about to begin: [`CatalogCache::keep`] takes its result.
#[derive(Debug, Clone, Copy)]
pub struct ReadTicket {
    generation: u64,
    began: Instant,
}

impl<T> Default for CatalogCache<T> {
    fn default() -> Self {
        Self::new(MAX_AGE)
    }
}

impl<T> CatalogCache<T> {
    /// An empty cache whose copies are used for `max_age`.
    pub fn new(max_age: Duration) -> Self {
        CatalogCache { inner: Arc::new(Mutex::new(Inner { kept: None, generation: 0 })), max_age }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        // The state is a copy and a counter, valid whatever a panicking holder left.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept copy if it is recent enough, else a ticket for reading it afresh.
    pub fn get(&self) -> Result<Arc<[T]>, ReadTicket> {
        let now = Instant::now();
        let inner = self.lock();
        match &inner.kept {
            Some((at, c)) if now.duration_since(*at) < self.max_age => Ok(c.clone()),
            _ => Err(ReadTicket { generation: inner.generation, began: now }),
        }
    }

    /// Keeps what a read begun with `ticket` returned, unless the catalog changed meanwhile.
    pub fn keep(&self, ticket: ReadTicket, catalog: Arc<[T]>) {
        let mut inner = self.lock();
        if inner.generation == ticket.generation {
            inner.kept = Some((ticket.began, catalog));
        }
    }

    /// Forgets the copy: called after this process changed the catalog.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.kept = None;
        inner.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(n: usize) -> Arc<[CatalogPackage]> {
        (0..n)
            .map(|id| {
                let p = serde_json::json!({ "id": id, "name": "p", "version": "1", "models": [], "base_min": null,
                    "base_max": null, "blob": "b", "size": 1, "notes": "" });
                serde_json::from_value::<CatalogPackage>(p).expect("a package")
            })
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn a_kept_copy_is_used_until_it_is_too_old() {
        let c = CatalogCache::new(Duration::from_millis(50));
        let ticket = c.get().expect_err("empty at first");
        c.keep(ticket, catalog(2));
        assert_eq!(c.get().expect("kept").len(), 2);
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get().is_err(), "read again once older than the max age");
    }

    #[test]
    fn a_change_clears_the_copy() {
        let c = CatalogCache::new(Duration::from_secs(60));
        let ticket = c.get().expect_err("empty");
        c.keep(ticket, catalog(1));
        c.clear();
        assert!(c.get().is_err());
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let c = CatalogCache::new(Duration::from_secs(60));
        let ticket = c.get().expect_err("empty");
        c.clear(); // the catalog changed while the read was under way
        c.keep(ticket, catalog(1));
        assert!(c.get().is_err(), "the older read is not kept");
        let ticket = c.get().expect_err("still empty");
        c.keep(ticket, catalog(3));
        assert_eq!(c.get().expect("kept").len(), 3);
    }

    #[test]
    fn a_zero_max_age_never_keeps() {
        let c = CatalogCache::new(Duration::ZERO);
        let ticket = c.get().expect_err("empty");
        c.keep(ticket, catalog(1));
        assert!(c.get().is_err());
    }
}

//! Live lists (SPEC §6): the screener in use, swapped atomically when the watch lists or the
//! known-shipper registry change, so updates take effect without a restart and without
//! pausing screening.
//!
//! [`LiveScreener`] is the one place that holds "the current screener". Workers call
//! [`LiveScreener::current`] once per record and screen with that snapshot to the end, so a
//! decision never mixes two list versions; whoever applies an update builds the new
//! [`Screener`] aside (indexing can take a few hundred milliseconds) and calls
//! [`LiveScreener::replace`].

use arc_swap::ArcSwap;
use std::sync::Arc;

use screener_engine::known_shippers::{self, KnownShipperRegistry};
use screener_engine::rules::Screener;

/// The current screener, readable from any thread without locking.
///
/// `ArcSwap` rather than `RwLock<Arc<_>>`: readers (one per screened record, on every worker)
/// never wait for a writer, and a writer (a list update, rare) never waits for readers.
#[derive(Debug)]
pub struct LiveScreener {
    /// The snapshot new records are screened with.
    current: ArcSwap<Screener>,
}

impl LiveScreener {
    pub fn new(screener: Screener) -> Self {
        LiveScreener {
            current: ArcSwap::from_pointee(screener),
        }
    }

    /// The screener to screen the next record with.
    pub fn current(&self) -> Arc<Screener> {
        self.current.load_full()
    }

    /// Makes `screener` the one used from the next record on.
    pub fn replace(&self, screener: Screener) {
        self.current.store(Arc::new(screener));
    }

    /// Swaps in a new known-shipper registry, keeping the (expensive) watch-list index.
    pub fn replace_known_shippers(&self, registry: KnownShipperRegistry) {
        self.current.rcu(|current| {
            let mut next = Screener::clone(current);
            next.list_versions.known_shippers = known_shippers::content_version(&registry);
            next.known_shippers = Arc::new(registry.clone());
            next
        });
    }
}

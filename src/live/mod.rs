//! Live lists (SPEC §6): the screener in use, swapped atomically when the watch lists or the
//! known-shipper registry change, so updates take effect without a restart and without
//! pausing screening.
//!
//! [`LiveScreener`] is the one place that holds "the current screener". Workers call
//! [`LiveScreener::current`] once per record and screen with that snapshot to the end, so a
//! decision never mixes two list versions; whoever applies an update builds the new
//! [`Screener`] aside (indexing can take a few hundred milliseconds) and calls
//! [`LiveScreener::replace`].

pub mod follower;
pub mod publish;
pub mod topic;

use arc_swap::ArcSwap;
use std::sync::Arc;

use screener_engine::known_shippers::{self, KnownShipperRegistry};
use screener_engine::matching::Matcher;
use screener_engine::rules::Screener;

pub use follower::{
    start_following, AppliedPositions, FollowerHandle, ListFiles, ListFollower, ListState,
};

/// Watch-list entries that a list update added or changed: parcels released earlier inside
/// the dedup window are checked against these (and only these) for a new hold.
#[derive(Debug)]
pub struct WatchlistDelta {
    /// The added or changed entries, indexed on their own.
    pub matcher: Arc<Matcher>,
}

/// How many announced deltas a slow re-screener may fall behind before it misses some.
const DELTA_CHANNEL_CAPACITY: usize = 64;

/// The current screener, readable from any thread without locking.
///
/// `ArcSwap` rather than `RwLock<Arc<_>>`: readers (one per screened record, on every worker)
/// never wait for a writer, and a writer (a list update, rare) never waits for readers.
#[derive(Debug)]
pub struct LiveScreener {
    /// The snapshot new records are screened with.
    current: ArcSwap<Screener>,
    /// Watch-list deltas, for the pipeline's re-screening of released parcels.
    deltas: tokio::sync::broadcast::Sender<Arc<WatchlistDelta>>,
}

impl LiveScreener {
    pub fn new(screener: Screener) -> Self {
        LiveScreener {
            current: ArcSwap::from_pointee(screener),
            deltas: tokio::sync::broadcast::Sender::new(DELTA_CHANNEL_CAPACITY),
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
            next.list_versions.known_shippers = known_shippers::content_version(&registry).into();
            next.known_shippers = Arc::new(registry.clone());
            next
        });
    }

    /// Swaps in a new watch-list index (named `version`), keeping the known shippers.
    pub fn replace_watchlist(&self, matcher: Arc<Matcher>, version: String) {
        self.current.rcu(|current| {
            let mut next = Screener::clone(current);
            next.matcher = matcher.clone();
            next.list_versions.watchlist = version.as_str().into();
            next
        });
    }

    /// Tells the subscribers (the pipeline) which entries an update added or changed.
    pub fn announce(&self, delta: WatchlistDelta) {
        // No subscriber (no pipeline running) is fine: there is nothing to re-screen.
        let _ = self.deltas.send(Arc::new(delta));
    }

    /// Receives the deltas announced from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<WatchlistDelta>> {
        self.deltas.subscribe()
    }
}

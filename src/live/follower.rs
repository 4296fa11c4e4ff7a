//! Following the list topics: `lists.watchlist` (key `"{list}:{id}"`, value a native JSONL
//! watch-list entry) and `lists.known-shippers` (key the enrollment id, value a known-shipper
//! record). Both are read from the beginning at start, then followed; every batch of updates
//! becomes a new screener, built aside and swapped in ([`LiveScreener`]).
//!
//! How the files of the configuration and the topics combine:
//! - Watch lists: a list that has at least one entry in the topic is owned by the topic (its
//!   entries from files are ignored); other lists come from the files. Publishing a list
//!   therefore replaces it wholesale, and a tombstone removed from the topic by compaction
//!   cannot bring a delisted entry back from an old file.
//! - Known shippers: per id, the topic's record replaces the file's; a tombstone removes the
//!   id. (The API never deletes: revocation is a status, so compaction cannot resurrect a
//!   revoked shipper.)

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use screener_engine::known_shippers::{KnownShipper, KnownShipperRegistry};
use screener_engine::lists::{self, WatchEntry};
use screener_engine::matching::Matcher;

use super::topic::{ListTopicReader, TopicChange, TopicError};
use super::{LiveScreener, WatchlistDelta};
use crate::metrics::Metrics;
use crate::streaming::config::KafkaConfig;

/// What the configured files hold; the base the topics are applied over.
#[derive(Debug, Clone, Default)]
pub struct ListFiles {
    pub watch_entries: Vec<WatchEntry>,
    pub known_shippers: KnownShipperRegistry,
}

/// The lists as the topics have made them so far.
#[derive(Debug)]
pub struct ListState {
    files: ListFiles,
    /// `lists.watchlist`, by key, sorted so that every instance builds the same index.
    watch_topic: BTreeMap<String, WatchEntry>,
    /// `lists.known-shippers`, by id; `None` is a tombstone.
    shipper_topic: HashMap<String, Option<KnownShipper>>,
    /// The watch-list entries currently in effect, by key (to find what an update changed).
    effective_watch: HashMap<String, WatchEntry>,
}

/// What applying a batch of topic records changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub watchlist_changed: bool,
    pub known_shippers_changed: bool,
    /// Entries that are new or different in the effective watch lists (deletions cannot
    /// cause a hold, so they are not listed).
    pub added_or_changed: Vec<WatchEntry>,
    /// Records that could not be applied (bad JSON, key not matching the entry), with why.
    pub problems: Vec<String>,
}

impl ListState {
    pub fn new(files: ListFiles) -> Self {
        let effective_watch = files
            .watch_entries
            .iter()
            .map(|entry| (entry.key(), entry.clone()))
            .collect();
        ListState {
            files,
            watch_topic: BTreeMap::new(),
            shipper_topic: HashMap::new(),
            effective_watch,
        }
    }

    /// Applies `lists.watchlist` records in order.
    pub fn apply_watchlist(&mut self, changes: &[TopicChange], applied: &mut Applied) {
        let mut touched = false;
        for change in changes {
            let Some(value) = &change.value else {
                touched |= self.watch_topic.remove(&change.key).is_some();
                continue;
            };
            match serde_json::from_slice::<WatchEntry>(value) {
                Ok(entry) if entry.key() == change.key => {
                    self.watch_topic.insert(change.key.clone(), entry);
                    touched = true;
                }
                Ok(entry) => applied.problems.push(format!(
                    "lists.watchlist partition {} offset {}: key {:?} does not match the entry's list:id {:?}",
                    change.partition,
                    change.offset,
                    change.key,
                    entry.key()
                )),
                Err(error) => applied.problems.push(format!(
                    "lists.watchlist partition {} offset {} (key {:?}): {error}",
                    change.partition, change.offset, change.key
                )),
            }
        }
        if !touched {
            return;
        }
        let effective = self.effective_watch_entries();
        let mut next: HashMap<String, WatchEntry> = HashMap::with_capacity(effective.len());
        for entry in effective {
            let key = entry.key();
            if self.effective_watch.get(&key) != Some(&entry) {
                applied.added_or_changed.push(entry.clone());
            }
            next.insert(key, entry);
        }
        applied.watchlist_changed = next != self.effective_watch;
        self.effective_watch = next;
    }

    /// Applies `lists.known-shippers` records in order.
    pub fn apply_known_shippers(&mut self, changes: &[TopicChange], applied: &mut Applied) {
        for change in changes {
            let Some(value) = &change.value else {
                self.shipper_topic.insert(change.key.clone(), None);
                applied.known_shippers_changed = true;
                continue;
            };
            match serde_json::from_slice::<KnownShipper>(value) {
                Ok(shipper) if shipper.id != change.key => applied.problems.push(format!(
                    "lists.known-shippers partition {} offset {}: key {:?} does not match the id in the value",
                    change.partition, change.offset, change.key
                )),
                Ok(shipper) => {
                    let problems = shipper.problems();
                    if problems.is_empty() {
                        self.shipper_topic.insert(change.key.clone(), Some(shipper));
                        applied.known_shippers_changed = true;
                    } else {
                        applied.problems.push(format!(
                            "lists.known-shippers partition {} offset {} (key {:?}): {}",
                            change.partition,
                            change.offset,
                            change.key,
                            problems.join("; ")
                        ));
                    }
                }
                // The error of a typed parse names fields, never values.
                Err(error) => applied.problems.push(format!(
                    "lists.known-shippers partition {} offset {} (key {:?}): {error}",
                    change.partition, change.offset, change.key
                )),
            }
        }
    }

    /// The watch-list entries in effect: lists owned by the topic from the topic, the others
    /// from the files. Files first, in file order, then the topic's entries by key.
    pub fn effective_watch_entries(&self) -> Vec<WatchEntry> {
        let topic_lists: HashSet<&str> = self
            .watch_topic
            .values()
            .map(|entry| entry.list.as_str())
            .collect();
        self.files
            .watch_entries
            .iter()
            .filter(|entry| !topic_lists.contains(entry.list.as_str()))
            .chain(self.watch_topic.values())
            .cloned()
            .collect()
    }

    /// The known-shipper registry in effect.
    pub fn effective_known_shippers(&self) -> KnownShipperRegistry {
        let mut by_id: BTreeMap<String, KnownShipper> = self
            .files
            .known_shippers
            .iter()
            .map(|shipper| (shipper.id.clone(), shipper.clone()))
            .collect();
        for (id, shipper) in &self.shipper_topic {
            match shipper {
                Some(shipper) => by_id.insert(id.clone(), shipper.clone()),
                None => by_id.remove(id),
            };
        }
        KnownShipperRegistry::new(by_id.into_values())
    }
}

/// Where the follower has got to, so that a writer (the enrollment API) can wait until its
/// own update is in effect here before answering.
#[derive(Debug)]
pub struct AppliedPositions {
    /// The next offset to apply per (topic, partition).
    positions: tokio::sync::watch::Sender<HashMap<(String, i32), i64>>,
}

impl Default for AppliedPositions {
    fn default() -> Self {
        AppliedPositions {
            positions: tokio::sync::watch::Sender::new(HashMap::new()),
        }
    }
}

impl AppliedPositions {
    fn advance(&self, topic: &str, positions: &HashMap<i32, i64>) {
        self.positions.send_modify(|all| {
            for (partition, position) in positions {
                all.insert((topic.to_string(), *partition), *position);
            }
        });
    }

    /// Waits until the record at `offset` of `topic`/`partition` is in effect, or `limit`
    /// passes. Returns whether it is.
    pub async fn wait_for(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        limit: Duration,
    ) -> bool {
        let mut receiver = self.positions.subscribe();
        let key = (topic.to_string(), partition);
        let reached = tokio::time::timeout(
            limit,
            receiver.wait_for(|all| all.get(&key).is_some_and(|next| *next > offset)),
        )
        .await;
        matches!(reached, Ok(Ok(_)))
    }
}

/// The list follower: catches up with both topics at start, then follows them on a thread of
/// its own.
pub struct ListFollower {
    watchlist: ListTopicReader,
    known_shippers: ListTopicReader,
    state: ListState,
    live: Arc<LiveScreener>,
    metrics: Arc<Metrics>,
    pub applied_positions: Arc<AppliedPositions>,
}

/// Longest the start-up catch-up may take.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(120);
/// How long the topics must be quiet before the catch-up counts as complete.
const CATCH_UP_QUIET: Duration = Duration::from_millis(200);
/// Updates arriving within this time of each other are applied together.
const GATHER: Duration = Duration::from_millis(20);

impl ListFollower {
    /// Opens both topics and applies everything they hold over `files`, so that screening
    /// starts with the lists in effect. The returned follower has not started following.
    pub fn catch_up(
        settings: &KafkaConfig,
        files: ListFiles,
        live: Arc<LiveScreener>,
        metrics: Arc<Metrics>,
    ) -> Result<ListFollower, TopicError> {
        let started = Instant::now();
        let mut watchlist = ListTopicReader::open(settings, &settings.topics.watchlist)?;
        let mut known_shippers = ListTopicReader::open(settings, &settings.topics.known_shippers)?;
        let watch_changes = watchlist.catch_up(CATCH_UP_LIMIT, CATCH_UP_QUIET)?;
        let shipper_changes = known_shippers.catch_up(CATCH_UP_LIMIT, CATCH_UP_QUIET)?;
        let mut follower = ListFollower {
            watchlist,
            known_shippers,
            state: ListState::new(files),
            live,
            metrics,
            applied_positions: Arc::new(AppliedPositions::default()),
        };
        let records = watch_changes.len() + shipper_changes.len();
        let applied = follower.apply(&watch_changes, &shipper_changes);
        tracing::info!(
            records,
            problems = applied.problems.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            watchlist_version = %follower.live.current().list_versions.watchlist,
            known_shippers_version = %follower.live.current().list_versions.known_shippers,
            "list topics caught up"
        );
        Ok(follower)
    }

    /// Follows both topics until `stop` is set, applying each batch as it arrives.
    pub fn follow(mut self, stop: Arc<std::sync::atomic::AtomicBool>) {
        use std::sync::atomic::Ordering;
        while !stop.load(Ordering::Relaxed) {
            let watch_changes = self.watchlist.poll(Duration::from_millis(50), GATHER);
            let shipper_changes = self.known_shippers.poll(Duration::from_millis(50), GATHER);
            if watch_changes.is_empty() && shipper_changes.is_empty() {
                continue;
            }
            let started = Instant::now();
            let applied = self.apply(&watch_changes, &shipper_changes);
            tracing::info!(
                watchlist_records = watch_changes.len(),
                known_shipper_records = shipper_changes.len(),
                added_or_changed_entries = applied.added_or_changed.len(),
                problems = applied.problems.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                watchlist_version = %self.live.current().list_versions.watchlist,
                known_shippers_version = %self.live.current().list_versions.known_shippers,
                "list update applied"
            );
        }
    }

    /// Applies a batch of records of both topics, swaps the screener if anything changed,
    /// and announces new watch-list entries for re-screening.
    fn apply(&mut self, watch_changes: &[TopicChange], shipper_changes: &[TopicChange]) -> Applied {
        let mut applied = Applied::default();
        self.state.apply_watchlist(watch_changes, &mut applied);
        self.state
            .apply_known_shippers(shipper_changes, &mut applied);
        for problem in &applied.problems {
            tracing::warn!(%problem, "list topic record not applied");
        }
        self.metrics
            .list_update_problems
            .inc_by(applied.problems.len() as u64);
        if applied.watchlist_changed {
            let entries = self.state.effective_watch_entries();
            let version = lists::content_version(&entries);
            let matcher = Matcher::new(entries);
            self.live.replace_watchlist(Arc::new(matcher), version);
        }
        if applied.known_shippers_changed {
            self.live
                .replace_known_shippers(self.state.effective_known_shippers());
        }
        if applied.watchlist_changed || applied.known_shippers_changed {
            self.metrics.record_lists(&self.live.current());
        }
        if applied.watchlist_changed && !applied.added_or_changed.is_empty() {
            let delta = WatchlistDelta {
                matcher: Arc::new(Matcher::new(applied.added_or_changed.clone())),
            };
            self.live.announce(delta);
        }
        self.applied_positions
            .advance(self.watchlist.topic(), self.watchlist.positions());
        self.applied_positions
            .advance(self.known_shippers.topic(), self.known_shippers.positions());
        applied
    }
}

/// A running follower; dropping it stops the thread.
pub struct FollowerHandle {
    /// Where the follower has got to (for read-your-writes in the enrollment API).
    pub applied_positions: Arc<AppliedPositions>,
    /// Set to stop the follower thread.
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FollowerHandle {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Catches up with the list topics over what `live` holds now (its lists are taken as the
/// files' lists), then follows them on a thread of its own.
pub fn start_following(
    settings: &KafkaConfig,
    live: Arc<LiveScreener>,
    metrics: Arc<Metrics>,
) -> Result<FollowerHandle, TopicError> {
    let current = live.current();
    let files = ListFiles {
        watch_entries: current.matcher.entries().to_vec(),
        known_shippers: KnownShipperRegistry::clone(&current.known_shippers),
    };
    drop(current);
    let follower = ListFollower::catch_up(settings, files, live, metrics)?;
    let applied_positions = follower.applied_positions.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("list-follower".to_string())
            .spawn(move || follower.follow(stop))
            .expect("spawning the list follower thread")
    };
    Ok(FollowerHandle {
        applied_positions,
        stop,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use screener_engine::lists::EntityType;

    fn entry(list: &str, id: &str, name: &str) -> WatchEntry {
        WatchEntry {
            id: id.to_string(),
            list: list.to_string(),
            name: name.to_string(),
            aliases: Vec::new(),
            addresses: Vec::new(),
            countries: Vec::new(),
            entity_type: EntityType::Individual,
        }
    }

    fn record(offset: i64, key: &str, value: Option<&WatchEntry>) -> TopicChange {
        TopicChange {
            partition: 0,
            offset,
            key: key.to_string(),
            value: value.map(|entry| serde_json::to_vec(entry).expect("JSON")),
        }
    }

    fn keys(entries: &[WatchEntry]) -> Vec<String> {
        entries.iter().map(WatchEntry::key).collect()
    }

    #[test]
    fn a_list_in_the_topic_replaces_the_files_list_and_tombstones_delete() {
        let files = ListFiles {
            watch_entries: vec![
                entry("A", "1", "ONE"),
                entry("A", "2", "TWO"),
                entry("B", "1", "BEE"),
            ],
            known_shippers: KnownShipperRegistry::default(),
        };
        let mut state = ListState::new(files);
        let mut applied = Applied::default();
        state.apply_watchlist(
            &[
                record(0, "A:1", Some(&entry("A", "1", "ONE"))),
                record(1, "A:3", Some(&entry("A", "3", "THREE"))),
            ],
            &mut applied,
        );
        // A is owned by the topic now: A:2 (file only) is gone, A:3 is new.
        assert_eq!(
            keys(&state.effective_watch_entries()),
            ["B:1", "A:1", "A:3"]
        );
        assert!(applied.watchlist_changed);
        assert_eq!(keys(&applied.added_or_changed), ["A:3"]);

        let mut applied = Applied::default();
        state.apply_watchlist(
            &[
                record(2, "A:3", None),
                record(3, "A:1", Some(&entry("A", "1", "ONE RENAMED"))),
            ],
            &mut applied,
        );
        assert_eq!(keys(&state.effective_watch_entries()), ["B:1", "A:1"]);
        assert_eq!(
            keys(&applied.added_or_changed),
            ["A:1"],
            "the changed entry"
        );

        let mut applied = Applied::default();
        state.apply_watchlist(
            &[
                record(4, "B:9", Some(&entry("A", "9", "MISKEYED"))),
                TopicChange {
                    partition: 0,
                    offset: 5,
                    key: "A:5".to_string(),
                    value: Some(b"{not json".to_vec()),
                },
            ],
            &mut applied,
        );
        assert_eq!(applied.problems.len(), 2, "{:?}", applied.problems);
        assert!(applied.problems[0].contains("does not match"));
        assert!(!applied.watchlist_changed);
    }

    #[test]
    fn known_shippers_from_the_topic_override_the_file_per_id() {
        let shipper: KnownShipper = serde_json::from_str(
            r#"{"id":"KS-1","name":"N","address":"A","country":"CN","enrolled_by":"M","status":"ACTIVE","valid_from":"2025-01-01"}"#,
        )
        .expect("shipper");
        let files = ListFiles {
            watch_entries: Vec::new(),
            known_shippers: KnownShipperRegistry::new([shipper.clone()]),
        };
        let mut state = ListState::new(files);
        let mut suspended = shipper.clone();
        suspended.status = screener_engine::known_shippers::KnownShipperStatus::Suspended;
        let mut applied = Applied::default();
        state.apply_known_shippers(
            &[TopicChange {
                partition: 0,
                offset: 0,
                key: "KS-1".to_string(),
                value: Some(serde_json::to_vec(&suspended).expect("JSON")),
            }],
            &mut applied,
        );
        assert!(applied.known_shippers_changed);
        assert_eq!(
            state.effective_known_shippers().get("KS-1"),
            Some(&suspended)
        );
        let mut applied = Applied::default();
        let mut invalid = suspended.clone();
        invalid.country = "XX".to_string();
        state.apply_known_shippers(
            &[
                TopicChange {
                    partition: 0,
                    offset: 1,
                    key: "KS-1".to_string(),
                    value: Some(serde_json::to_vec(&invalid).expect("JSON")),
                },
                TopicChange {
                    partition: 0,
                    offset: 2,
                    key: "KS-2".to_string(),
                    value: None,
                },
            ],
            &mut applied,
        );
        assert_eq!(applied.problems.len(), 1);
        assert!(
            applied.problems[0].contains("country"),
            "{:?}",
            applied.problems
        );
        assert_eq!(
            state.effective_known_shippers().get("KS-1"),
            Some(&suspended),
            "invalid update ignored"
        );
        let mut applied = Applied::default();
        state.apply_known_shippers(
            &[TopicChange {
                partition: 0,
                offset: 3,
                key: "KS-1".to_string(),
                value: None,
            }],
            &mut applied,
        );
        assert!(
            state.effective_known_shippers().is_empty(),
            "a tombstone deletes"
        );
    }
}

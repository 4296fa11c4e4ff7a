//! Prometheus metrics (SPEC §9) and the readiness state behind `/health/ready`.
//!
//! One [`Metrics`] per process (or per pipeline in tests), each with its own registry, served
//! as Prometheus text by the admin server (`crate::admin`). Every event is counted in one
//! place: the screening worker that decides, rejects or suppresses a record counts it; the
//! acker observes end-to-end latency; the consumer's and producer's statistics callbacks set
//! the librdkafka gauges ([`kafka`]); the commands set the list gauges when lists load.
//!
//! Names follow Prometheus conventions: base units (seconds), `_total` counters, and label
//! values from small fixed sets (feeds, verdicts, reason codes, error kinds, partitions,
//! brokers) — never a parcel key, record id or party name.

pub mod kafka;
pub mod readiness;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use screener_engine::decision::{Decision, ReasonCode, Verdict};
use screener_engine::dedup::{DedupStats, DuplicateKind};
use screener_engine::known_shippers::KnownShipperStatus;
use screener_engine::record::FilerType;
use screener_engine::rules::Screener;

pub use readiness::Readiness;

/// `screener_parcels_received_total{feed}` for a record that could not be parsed.
pub const UNKNOWN_FEED: &str = "unknown";

/// `screener_decisions_total{reason}` of a decision without reasons (a plain RELEASE, a
/// CANCELLED).
pub const NO_REASON: &str = "none";

/// The kinds of `RecordError::kind()`, created at zero so that rate() has a series from the
/// start.
pub const REJECT_KINDS: [&str; 4] = [
    "too_large",
    "invalid_utf8",
    "invalid_json",
    "invalid_fields",
];

/// Screening time per record (parse, dedup, match, decide): 10 µs to 1 s.
const SCREENING_BUCKETS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Kafka timestamp to acknowledged delivery: 1 ms to 60 s.
const END_TO_END_BUCKETS: [f64; 16] = [
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// The service's metrics. Cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    /// `screener_parcels_received_total{feed}`: records taken off the input topic, by the
    /// record's `source.filer_type` (`unknown` when it does not parse).
    pub parcels_received: IntCounterVec,
    /// `screener_decisions_total{decision,reason}`: one per decision per reason code
    /// (`reason="none"` for a decision without reasons).
    pub decisions: IntCounterVec,
    /// `screener_decision_records_total{decision}`: one per decision record, whatever its
    /// reasons; the denominator of hold rates.
    pub decision_records: IntCounterVec,
    /// `screener_duplicates_total{kind}`: reports suppressed as duplicates.
    pub duplicates: IntCounterVec,
    /// `screener_rejected_total{error}`: records sent to the rejected topic.
    pub rejected: IntCounterVec,
    /// `screener_screening_duration_seconds`: parse + dedup + screening of one record.
    pub screening_duration: Histogram,
    /// `screener_end_to_end_latency_seconds`: a record's Kafka timestamp to the broker's
    /// acknowledgement of its decision or rejection.
    pub end_to_end_latency: Histogram,
    /// `screener_consumer_lag_messages{topic,partition}`: librdkafka's `consumer_lag`.
    pub consumer_lag: IntGaugeVec,
    /// `screener_watchlist_entries{list}`.
    pub watchlist_entries: IntGaugeVec,
    /// `screener_known_shippers{status}`.
    pub known_shippers: IntGaugeVec,
    /// `screener_dedup_keys`: parcel keys remembered, summed over partitions (set on scrape).
    pub dedup_keys: IntGauge,
    /// `screener_dedup_keys_removed_total{reason}`: keys expired from the window or evicted
    /// by the memory bound.
    pub dedup_keys_removed: IntCounterVec,
    /// `screener_build_info{version}`: always 1.
    pub build_info: IntGaugeVec,
    /// `screener_list_version_info{list,version}`: 1 for the versions in use.
    pub list_version_info: IntGaugeVec,
    /// `screener_lists_last_update_timestamp_seconds`: when the lists in use were loaded.
    pub lists_last_update: Gauge,
    /// `screener_list_update_problems_total`: list-topic records that could not be applied
    /// (bad JSON, invalid entry, key not matching the entry); each is logged once.
    pub list_update_problems: IntCounter,
    /// `screener_rescreen_holds_total`: new HOLD decisions published by re-screening released
    /// parcels after a watch-list update.
    pub rescreen_holds: IntCounter,
    /// `screener_kafka_producer_queue_messages`: librdkafka's producer `msg_cnt`.
    pub producer_queue_messages: IntGauge,
    /// `screener_kafka_broker_rtt_seconds{client,broker}`: average round-trip time over the
    /// last statistics interval.
    pub broker_rtt: GaugeVec,

    // Resolved label children of the hot path.
    received_by_feed: [IntCounter; 3],
    received_unknown: IntCounter,
    decisions_by: [[IntCounter; ReasonCode::ALL.len() + 1]; 3],
    records_by: [IntCounter; 3],
    duplicates_by: [IntCounter; 2],
    dedup_expired: IntCounter,
    dedup_evicted: IntCounter,

    /// Each screening worker's current dedup key count; summed into `dedup_keys` on scrape.
    dedup_slots: Mutex<Vec<Weak<AtomicU64>>>,
    /// Label pairs of `consumer_lag` set by the last statistics callback.
    lag_series: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    register(registry, &metric);
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    register(registry, &metric);
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("valid metric");
    register(registry, &metric);
    metric
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, metric: &C) {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let parcels_received = counter_vec(
            &registry,
            "screener_parcels_received_total",
            "Parcel records taken off the input topic, by feed (the record's source.filer_type; unknown when it does not parse).",
            &["feed"],
        );
        let decisions = counter_vec(
            &registry,
            "screener_decisions_total",
            "Decisions published, one per decision per reason code (reason=\"none\" for a decision without reasons).",
            &["decision", "reason"],
        );
        let decision_records = counter_vec(
            &registry,
            "screener_decision_records_total",
            "Decision records published, one per decision whatever its reasons.",
            &["decision"],
        );
        let duplicates = counter_vec(
            &registry,
            "screener_duplicates_total",
            "Reports suppressed as duplicates (no decision published), by kind.",
            &["kind"],
        );
        let rejected = counter_vec(
            &registry,
            "screener_rejected_total",
            "Records sent to the rejected topic, by error kind.",
            &["error"],
        );
        let screening_duration = histogram(
            &registry,
            "screener_screening_duration_seconds",
            "Time to parse, deduplicate and screen one record.",
            &SCREENING_BUCKETS,
        );
        let end_to_end_latency = histogram(
            &registry,
            "screener_end_to_end_latency_seconds",
            "From a record's Kafka timestamp to the broker's acknowledgement of its decision or rejection.",
            &END_TO_END_BUCKETS,
        );
        let consumer_lag = gauge_vec(
            &registry,
            "screener_consumer_lag_messages",
            "Messages behind the end of each assigned input partition (librdkafka consumer_lag: high watermark - committed offset).",
            &["topic", "partition"],
        );
        let watchlist_entries = gauge_vec(
            &registry,
            "screener_watchlist_entries",
            "Watch-list entries in use, by list.",
            &["list"],
        );
        let known_shippers = gauge_vec(
            &registry,
            "screener_known_shippers",
            "Known shippers in the registry in use, by status.",
            &["status"],
        );
        let dedup_keys = IntGauge::new(
            "screener_dedup_keys",
            "Parcel keys remembered for deduplication, summed over partitions.",
        )
        .expect("valid metric");
        register(&registry, &dedup_keys);
        let dedup_keys_removed = counter_vec(
            &registry,
            "screener_dedup_keys_removed_total",
            "Parcel keys forgotten by deduplication: expired from the window, or evicted by the memory bound.",
            &["reason"],
        );
        let build_info = gauge_vec(
            &registry,
            "screener_build_info",
            "Always 1; the version of the running build.",
            &["version"],
        );
        let list_version_info = gauge_vec(
            &registry,
            "screener_list_version_info",
            "Always 1; the content versions of the lists in use.",
            &["list", "version"],
        );
        let lists_last_update = Gauge::new(
            "screener_lists_last_update_timestamp_seconds",
            "When the lists in use were loaded or last updated (Unix time).",
        )
        .expect("valid metric");
        register(&registry, &lists_last_update);
        let list_update_problems = IntCounter::new(
            "screener_list_update_problems_total",
            "List-topic records that could not be applied (logged with the reason).",
        )
        .expect("valid metric");
        register(&registry, &list_update_problems);
        let rescreen_holds = IntCounter::new(
            "screener_rescreen_holds_total",
            "HOLD decisions published by re-screening released parcels after a watch-list update.",
        )
        .expect("valid metric");
        register(&registry, &rescreen_holds);
        let producer_queue_messages = IntGauge::new(
            "screener_kafka_producer_queue_messages",
            "Messages in the producer's queues, waiting to be sent or acknowledged (librdkafka msg_cnt).",
        )
        .expect("valid metric");
        register(&registry, &producer_queue_messages);
        let broker_rtt = GaugeVec::new(
            Opts::new(
                "screener_kafka_broker_rtt_seconds",
                "Average broker round-trip time over the last librdkafka statistics interval.",
            ),
            &["client", "broker"],
        )
        .expect("valid metric");
        register(&registry, &broker_rtt);

        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let received_by_feed =
            FilerType::ALL.map(|f| parcels_received.with_label_values(&[f.as_str()]));
        let received_unknown = parcels_received.with_label_values(&[UNKNOWN_FEED]);
        let decisions_by = Verdict::ALL.map(|verdict| {
            let mut reasons = ReasonCode::ALL.map(ReasonCode::as_str).to_vec();
            reasons.push(NO_REASON);
            let children: Vec<IntCounter> = reasons
                .iter()
                .map(|reason| decisions.with_label_values(&[verdict.as_str(), reason]))
                .collect();
            children.try_into().expect("one counter per reason")
        });
        let records_by = Verdict::ALL.map(|v| decision_records.with_label_values(&[v.as_str()]));
        let duplicates_by = DuplicateKind::ALL.map(|k| duplicates.with_label_values(&[k.as_str()]));
        for kind in REJECT_KINDS {
            rejected.with_label_values(&[kind]);
        }
        let dedup_expired = dedup_keys_removed.with_label_values(&["expired"]);
        let dedup_evicted = dedup_keys_removed.with_label_values(&["evicted"]);

        Metrics {
            registry,
            parcels_received,
            decisions,
            decision_records,
            duplicates,
            rejected,
            screening_duration,
            end_to_end_latency,
            consumer_lag,
            watchlist_entries,
            known_shippers,
            dedup_keys,
            dedup_keys_removed,
            build_info,
            list_version_info,
            lists_last_update,
            list_update_problems,
            rescreen_holds,
            producer_queue_messages,
            broker_rtt,
            received_by_feed,
            received_unknown,
            decisions_by,
            records_by,
            duplicates_by,
            dedup_expired,
            dedup_evicted,
            dedup_slots: Mutex::new(Vec::new()),
            lag_series: Mutex::new(HashSet::new()),
        }
    }

    /// Every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.refresh_dedup_keys();
        let mut buffer = Vec::new();
        // Encoding plain metric families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// The content type of [`Metrics::render`].
    pub fn content_type(&self) -> &'static str {
        prometheus::TEXT_FORMAT
    }

    /// A record taken off the input topic; `feed` is `None` when it does not parse.
    pub fn count_received(&self, feed: Option<FilerType>) {
        match feed {
            Some(feed) => self.received_by_feed[filer_index(feed)].inc(),
            None => self.received_unknown.inc(),
        }
    }

    /// A decision published: one `decisions_total` per reason (or `reason="none"`), one
    /// `decision_records_total`.
    pub fn count_decision(&self, decision: &Decision) {
        let verdict = verdict_index(decision.decision);
        self.records_by[verdict].inc();
        let by_reason = &self.decisions_by[verdict];
        if decision.reasons.is_empty() {
            by_reason[ReasonCode::ALL.len()].inc();
        }
        for reason in &decision.reasons {
            by_reason[reason_index(reason.code)].inc();
        }
    }

    pub fn count_duplicate(&self, kind: DuplicateKind) {
        let index = match kind {
            DuplicateKind::Exact => 0,
            DuplicateKind::AfterCancel => 1,
        };
        self.duplicates_by[index].inc();
    }

    /// A rejected record; `kind` is `RecordError::kind()`.
    pub fn count_rejected(&self, kind: &str) {
        self.rejected.with_label_values(&[kind]).inc();
    }

    /// Keys a deduplicator forgot between two of its [`DedupStats`].
    pub fn count_dedup_removed(&self, before: DedupStats, after: DedupStats) {
        self.dedup_expired
            .inc_by(after.expired.saturating_sub(before.expired));
        self.dedup_evicted
            .inc_by(after.evicted.saturating_sub(before.evicted));
    }

    /// A slot where one screening worker publishes how many parcel keys its deduplicators
    /// hold; `screener_dedup_keys` is the sum over live slots. Dropping the slot removes it.
    pub fn dedup_slot(&self) -> Arc<AtomicU64> {
        let slot = Arc::new(AtomicU64::new(0));
        let mut slots = self.dedup_slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|s| s.strong_count() > 0);
        slots.push(Arc::downgrade(&slot));
        slot
    }

    fn refresh_dedup_keys(&self) {
        let slots = self.dedup_slots.lock().unwrap_or_else(|p| p.into_inner());
        let total: u64 = slots
            .iter()
            .filter_map(Weak::upgrade)
            .map(|slot| slot.load(Ordering::Relaxed))
            .sum();
        self.dedup_keys.set(total as i64);
    }

    /// Sets the list gauges from the screener in use: entries per list, known shippers per
    /// status, the list versions, and the time of the update (now).
    pub fn record_lists(&self, screener: &Screener) {
        let mut per_list: BTreeMap<&str, i64> = BTreeMap::new();
        for entry in screener.matcher.entries() {
            *per_list.entry(entry.list.as_str()).or_default() += 1;
        }
        self.watchlist_entries.reset();
        for (list, count) in per_list {
            self.watchlist_entries.with_label_values(&[list]).set(count);
        }
        for status in KnownShipperStatus::ALL {
            self.known_shippers
                .with_label_values(&[status.as_str()])
                .set(screener.known_shippers.count_with_status(status) as i64);
        }
        self.list_version_info.reset();
        let versions = &screener.list_versions;
        self.list_version_info
            .with_label_values(&["watchlist", versions.watchlist.as_str()])
            .set(1);
        self.list_version_info
            .with_label_values(&["known_shippers", versions.known_shippers.as_str()])
            .set(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.lists_last_update.set(now);
    }

    // Totals for progress reports and summaries (PipelineStats::snapshot).

    pub fn received_total(&self) -> u64 {
        self.received_by_feed
            .iter()
            .map(IntCounter::get)
            .sum::<u64>()
            + self.received_unknown.get()
    }

    pub fn decision_records_total(&self, verdict: Verdict) -> u64 {
        self.records_by[verdict_index(verdict)].get()
    }

    pub fn duplicates_total(&self) -> u64 {
        self.duplicates_by.iter().map(IntCounter::get).sum()
    }

    /// Over every error kind, including any not in [`REJECT_KINDS`].
    pub fn rejected_total(&self) -> u64 {
        self.rejected
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|metric| metric.get_counter().get_value() as u64)
            .sum()
    }
}

fn filer_index(feed: FilerType) -> usize {
    match feed {
        FilerType::ExpressCarrier => 0,
        FilerType::Marketplace => 1,
        FilerType::Postal => 2,
    }
}

fn verdict_index(verdict: Verdict) -> usize {
    match verdict {
        Verdict::Release => 0,
        Verdict::Hold => 1,
        Verdict::Cancelled => 2,
    }
}

fn reason_index(code: ReasonCode) -> usize {
    ReasonCode::ALL
        .iter()
        .position(|c| *c == code)
        .unwrap_or(ReasonCode::ALL.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use screener_engine::decision::{Lane, ListVersions, Reason};

    fn decision(verdict: Verdict, reasons: &[ReasonCode]) -> Decision {
        Decision {
            schema: "decision/v1".into(),
            parcel_key: "DHL:1".into(),
            record_id: "r".into(),
            version: 1,
            decision: verdict,
            lane: Lane::Standard,
            reasons: reasons.iter().map(|c| Reason::new(*c)).collect(),
            list_versions: ListVersions::default(),
            decided_at: Default::default(),
            latency_ms: 0.0,
        }
    }

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
            .and_then(|line| line[series.len()..].trim().parse().ok())
    }

    #[test]
    fn decisions_count_once_per_reason_and_none_without_reasons() {
        let metrics = Metrics::new();
        metrics.count_decision(&decision(Verdict::Release, &[]));
        metrics.count_decision(&decision(
            Verdict::Hold,
            &[ReasonCode::WlMatch, ReasonCode::ValueOverThreshold],
        ));
        metrics.count_decision(&decision(Verdict::Release, &[ReasonCode::KsVerified]));
        let text = metrics.render();
        let get =
            |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in {text}"));
        assert_eq!(
            get(r#"screener_decisions_total{decision="RELEASE",reason="none"}"#),
            1.0
        );
        assert_eq!(
            get(r#"screener_decisions_total{decision="HOLD",reason="WL_MATCH"}"#),
            1.0
        );
        assert_eq!(
            get(r#"screener_decisions_total{decision="HOLD",reason="VALUE_OVER_THRESHOLD"}"#),
            1.0
        );
        assert_eq!(
            get(r#"screener_decisions_total{decision="RELEASE",reason="KS_VERIFIED"}"#),
            1.0
        );
        assert_eq!(
            get(r#"screener_decision_records_total{decision="HOLD"}"#),
            1.0
        );
        assert_eq!(
            get(r#"screener_decision_records_total{decision="RELEASE"}"#),
            2.0
        );
        assert_eq!(metrics.decision_records_total(Verdict::Hold), 1);
    }

    #[test]
    fn received_rejected_duplicates_and_build_info_are_exposed() {
        let metrics = Metrics::new();
        metrics.count_received(Some(FilerType::Marketplace));
        metrics.count_received(None);
        metrics.count_rejected("invalid_json");
        metrics.count_duplicate(DuplicateKind::AfterCancel);
        let text = metrics.render();
        assert_eq!(
            sample(
                &text,
                r#"screener_parcels_received_total{feed="marketplace"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"screener_parcels_received_total{feed="unknown"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"screener_parcels_received_total{feed="postal"}"#),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, r#"screener_rejected_total{error="invalid_json"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"screener_duplicates_total{kind="after_cancel"}"#),
            Some(1.0)
        );
        let build = format!(
            "screener_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(sample(&text, &build), Some(1.0));
        assert_eq!(metrics.received_total(), 2);
        assert_eq!(metrics.rejected_total(), 1);
        assert_eq!(metrics.duplicates_total(), 1);
    }

    #[test]
    fn dedup_keys_sum_live_worker_slots() {
        let metrics = Metrics::new();
        let first = metrics.dedup_slot();
        let second = metrics.dedup_slot();
        first.store(5, Ordering::Relaxed);
        second.store(7, Ordering::Relaxed);
        assert_eq!(sample(&metrics.render(), "screener_dedup_keys"), Some(12.0));
        drop(second);
        assert_eq!(sample(&metrics.render(), "screener_dedup_keys"), Some(5.0));
    }
}

//! The human summary (stdout) and the JSON report of a run.

use anyhow::Context;
use serde_json::{json, Value};
use std::path::Path;

use parcel_screener::feed::{FeedConfig, FeedStats, ReportKind};

use crate::account::Accounting;
use crate::collect::{Mode, Receipts};
use crate::cpu::CpuReport;
use crate::expect::ExpectedCounts;
use crate::run::RunArgs;

/// Everything a report says about a run.
pub struct RunFacts<'a> {
    pub args: &'a RunArgs,
    pub feed_config: &'a FeedConfig,
    pub feed_stats: &'a FeedStats,
    /// Partitions of the input, decisions and rejected topics.
    pub partitions: [i32; 3],
    /// Expected outcomes of the delivered reports (screening mode).
    pub expected: ExpectedCounts,
    pub accounting: &'a Accounting,
    pub receipts: &'a Receipts,
    /// Seconds the send loop took (until the last report was accepted by the producer).
    pub sending_seconds: f64,
    /// Seconds from the first send (backlog mode: from the service's start) until every
    /// output was read (or the drain gave up).
    pub wall_seconds: f64,
    pub timed_out: bool,
    pub expectation_differences: u64,
    pub first_delivery_error: Option<String>,
    pub cpu: &'a CpuReport,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn rate_text(args: &RunArgs) -> String {
    if args.rate > 0.0 {
        if args.manifest > 1 {
            format!("{} reports/s in manifests of {}", args.rate, args.manifest)
        } else {
            format!("{} reports/s steady", args.rate)
        }
    } else {
        "as fast as possible".to_string()
    }
}

/// Latency percentiles in milliseconds.
fn latency_json(accounting: &Accounting) -> Value {
    let h = &accounting.latency_us;
    if h.is_empty() {
        return json!({ "count": 0 });
    }
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p95": ms(h.value_at_quantile(0.95)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p99_9": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": h.mean() / 1000.0,
    })
}

pub fn print_summary(facts: &RunFacts<'_>) {
    let a = facts.accounting;
    let args = facts.args;
    println!();
    println!(
        "loadtest: {} mode, {} parcels = {} reports (seed {}), {}",
        a.mode.as_str(),
        facts.feed_config.parcels,
        facts.feed_stats.total(),
        facts.feed_config.seed,
        rate_text(args)
    );
    println!(
        "  partitions: input {}, decisions {}, rejected {}; load generator: linger.ms {}, reader fetch.wait.max.ms {}",
        facts.partitions[0],
        facts.partitions[1],
        facts.partitions[2],
        args.linger_ms,
        args.fetch_wait_ms
    );
    println!(
        "  sent        {:>9}  in {:.2} s ({:.0} reports/s); not delivered {}",
        a.sent,
        a.send_seconds(),
        per_second(a.sent, a.send_seconds()),
        a.not_delivered
    );
    match a.mode {
        Mode::Screening => {
            let verdicts: Vec<String> = a
                .verdicts
                .iter()
                .map(|(verdict, count)| format!("{verdict} {count}"))
                .collect();
            let verdicts = if verdicts.is_empty() {
                "none".to_string()
            } else {
                verdicts.join(", ")
            };
            println!("  decided     {:>9}  ({verdicts})", a.decided);
            println!(
                "  suppressed  {:>9}  (duplicates: nothing published)",
                a.suppressed
            );
            println!("  rejected    {:>9}", a.rejected);
            println!("  lost        {:>9}", a.lost);
            println!(
                "  decided + suppressed + rejected + lost = {} {} sent {}",
                a.decided + a.suppressed + a.rejected + a.lost,
                if a.balanced() { "=" } else { "≠" },
                a.sent
            );
        }
        Mode::PassThrough => {
            println!("  copied      {:>9}  (read back unchanged)", a.copied);
            println!("  lost        {:>9}", a.lost);
            println!(
                "  copied + lost = {} {} sent {}",
                a.copied + a.lost,
                if a.balanced() { "=" } else { "≠" },
                a.sent
            );
        }
    }
    println!(
        "  unexpected {}, redelivered {}, wrong verdict {}, stale ignored {}",
        a.unexpected, a.redelivered, a.wrong_verdict, facts.receipts.stale
    );
    let seconds = a.end_to_end_seconds();
    println!(
        "  end to end  {} reports in {:.2} s: {:.0} reports/s, {:.0} parcels/s{}",
        a.sent,
        seconds,
        per_second(a.sent, seconds),
        facts.feed_config.parcels as f64 / seconds.max(1e-9),
        if a.lost > 0 {
            " (not a throughput: outputs are missing)"
        } else {
            ""
        }
    );
    if a.backlog_start_us.is_some() {
        println!("  backlog: the feed was sent before the service started; end to end counts from its start, latencies include the wait");
    }
    let h = &a.latency_us;
    if !h.is_empty() {
        println!(
            "  latency ms  p50 {:.1}  p95 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  ({} outputs, produce → read)",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.95)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
            h.len()
        );
    }
    let cpu: Vec<String> = facts
        .cpu
        .processes
        .iter()
        .map(|p| {
            format!(
                "{} {:.1} s ({:.0}%)",
                p.name, p.cpu_seconds, p.percent_of_one_core
            )
        })
        .collect();
    let machine = facts
        .cpu
        .machine_busy_percent
        .map(|busy| {
            format!(
                "; machine {busy:.0}% busy ({} cores), other processes {:.1} s",
                facts.cpu.cores,
                facts.cpu.other_cpu_seconds.unwrap_or(0.0)
            )
        })
        .unwrap_or_default();
    println!(
        "  cpu over {:.1} s: {}{machine}",
        facts.cpu.seconds,
        cpu.join(", ")
    );
    for process in &facts.cpu.processes {
        let threads: Vec<String> = process
            .threads
            .iter()
            .take(5)
            .map(|t| format!("{} {:.1}", t.name, t.cpu_seconds))
            .collect();
        if !threads.is_empty() {
            println!("    {} threads (s): {}", process.name, threads.join(", "));
        }
    }
    if facts.timed_out {
        println!("  the drain timed out");
    }
    if let Some(error) = &facts.first_delivery_error {
        println!("  first delivery error: {error}");
    }
    for example in &a.lost_examples {
        println!("  lost: {example}");
    }
    for example in &a.unexpected_examples {
        println!("  unexpected: {example}");
    }
    if a.passed() {
        println!("  PASS: every report sent is accounted for");
    } else {
        println!(
            "  FAIL: {} lost, {} unexpected, {} not delivered, {} wrong verdicts",
            a.lost, a.unexpected, a.not_delivered, a.wrong_verdict
        );
    }
}

pub fn to_json(facts: &RunFacts<'_>) -> Value {
    let a = facts.accounting;
    let args = facts.args;
    let config = facts.feed_config;
    let seconds = a.end_to_end_seconds();
    let by_kind: serde_json::Map<String, Value> = ReportKind::ALL
        .iter()
        .map(|kind| {
            (
                kind.as_str().to_string(),
                json!(facts.feed_stats.count(*kind)),
            )
        })
        .collect();
    json!({
        "schema": "loadtest/v1",
        "finished_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "mode": a.mode,
        "passed": a.passed(),
        "run": {
            "brokers": args.brokers,
            "parcels": config.parcels,
            "seed": config.seed,
            "rate_reports_per_s": if args.rate > 0.0 { json!(args.rate) } else { Value::Null },
            "manifest": args.manifest,
            "compression": args.compression,
            "producer_linger_ms": args.linger_ms,
            "reader_fetch_wait_max_ms": args.fetch_wait_ms,
            "partitions": {
                "input": facts.partitions[0],
                "decisions": facts.partitions[1],
                "rejected": facts.partitions[2],
            },
            "shares": {
                "duplicate": config.duplicate_share,
                "cross_feed": config.cross_feed_share,
                "disagree": config.disagree_share,
                "amend": config.amend_share,
                "cancel": config.cancel_share,
                "malformed": config.malformed_share,
                "watchlist_hit": config.watchlist_hit_share,
                "known_shipper": config.known_shipper_share,
                "new_name": config.new_name_share,
                "value_over": config.value_over_share,
                "restricted_goods": config.restricted_goods_share,
            },
            "drain_timeout_s": args.drain_timeout,
        },
        "feed": {
            "reports": facts.feed_stats.total(),
            "by_kind": by_kind,
            "planted": {
                "watchlist_hits": facts.feed_stats.watchlist_hits,
                "known_shipper": facts.feed_stats.known_shipper,
                "value_over": facts.feed_stats.value_over,
                "restricted_goods": facts.feed_stats.restricted_goods,
            },
        },
        "expected": facts.expected,
        "accounting": {
            "reports": a.reports,
            "sent": a.sent,
            "not_delivered": a.not_delivered,
            "decided": a.decided,
            "suppressed": a.suppressed,
            "rejected": a.rejected,
            "copied": a.copied,
            "lost": a.lost,
            "balanced": a.balanced(),
            "unexpected": a.unexpected,
            "redelivered": a.redelivered,
            "wrong_verdict": a.wrong_verdict,
            "verdicts": a.verdicts,
            "stale_ignored": facts.receipts.stale,
            "decisions_read": facts.receipts.decisions_read,
            "rejections_read": facts.receipts.rejections_read,
            "expectation_differences": facts.expectation_differences,
            "lost_examples": a.lost_examples,
            "unexpected_examples": a.unexpected_examples,
            "drain_timed_out": facts.timed_out,
            "first_delivery_error": facts.first_delivery_error,
        },
        "throughput": {
            "end_to_end_seconds": seconds,
            "reports_per_s": per_second(a.sent, seconds),
            "parcels_per_s": config.parcels as f64 / seconds.max(1e-9),
            "send_seconds": a.send_seconds(),
            "send_reports_per_s": per_second(a.sent, a.send_seconds()),
            "send_loop_seconds": facts.sending_seconds,
            "wall_seconds": facts.wall_seconds,
            "backlog": a.backlog_start_us.is_some(),
        },
        "latency_ms": latency_json(a),
        "cpu": facts.cpu,
    })
}

pub fn write_json(facts: &RunFacts<'_>, path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(&to_json(facts))?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

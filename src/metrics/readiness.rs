//! What `/health/ready` reports: the lists are loaded, the consumer has partitions (at least
//! one assignment happened and it has not failed), and a broker is reachable.
//!
//! The commands set `lists`; the pipeline's rebalance callbacks set the assignment; the
//! librdkafka statistics callbacks report brokers seen up, and the error callback reports
//! "all brokers down" and fatal errors.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Without statistics, how long after an "all brokers down" error the broker check fails.
const BROKERS_DOWN_HOLD: Duration = Duration::from_secs(30);

/// Shared readiness state; every method is cheap and callable from any thread.
#[derive(Debug)]
pub struct Readiness {
    lists_loaded: AtomicBool,
    /// Assignment callbacks seen (an empty assignment counts: the group answered).
    assignments: AtomicU64,
    assigned_partitions: AtomicI64,
    pipeline: Mutex<PipelineState>,
    /// Unix ms of the last statistics in which some broker was UP (0: never).
    broker_up_ms: AtomicI64,
    /// Unix ms of the last "all brokers down" error (0: never).
    brokers_down_ms: AtomicI64,
    /// How old `broker_up_ms` may be; 0 when statistics are disabled.
    broker_stale_ms: AtomicI64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PipelineState {
    NotStarted,
    Running,
    Stopped,
    Failed(String),
}

/// One check of the readiness report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub ok: bool,
    pub detail: String,
}

/// The body of `/health/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    /// The names of the failing checks.
    pub not_ready: Vec<&'static str>,
    pub lists: Check,
    pub partitions: Check,
    pub broker: Check,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Readiness {
    pub fn new() -> Self {
        Readiness {
            lists_loaded: AtomicBool::new(false),
            assignments: AtomicU64::new(0),
            assigned_partitions: AtomicI64::new(0),
            pipeline: Mutex::new(PipelineState::NotStarted),
            broker_up_ms: AtomicI64::new(0),
            brokers_down_ms: AtomicI64::new(0),
            broker_stale_ms: AtomicI64::new(30_000),
        }
    }

    pub fn set_lists_loaded(&self, loaded: bool) {
        self.lists_loaded.store(loaded, Ordering::Relaxed);
    }

    /// The consumer was subscribed; `statistics_interval` is librdkafka's
    /// `statistics.interval.ms` (zero when disabled), which bounds how stale "a broker was
    /// up" may be.
    pub fn pipeline_started(&self, statistics_interval: Duration) {
        *self.state() = PipelineState::Running;
        self.assignments.store(0, Ordering::Relaxed);
        self.assigned_partitions.store(0, Ordering::Relaxed);
        let stale = if statistics_interval.is_zero() {
            0
        } else {
            (statistics_interval * 3)
                .max(Duration::from_secs(15))
                .as_millis() as i64
        };
        self.broker_stale_ms.store(stale, Ordering::Relaxed);
    }

    /// The pipeline returned: cleanly (`None`) or with an error.
    pub fn pipeline_stopped(&self, error: Option<String>) {
        *self.state() = match error {
            None => PipelineState::Stopped,
            Some(error) => PipelineState::Failed(error),
        };
    }

    /// A fatal client error: the consumer or producer cannot go on.
    pub fn client_failed(&self, error: String) {
        *self.state() = PipelineState::Failed(error);
    }

    pub fn partitions_assigned(&self, count: usize) {
        self.assignments.fetch_add(1, Ordering::Relaxed);
        self.assigned_partitions
            .fetch_add(count as i64, Ordering::Relaxed);
    }

    pub fn partitions_revoked(&self, count: usize) {
        let _ = self
            .assigned_partitions
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n - count as i64).max(0))
            });
    }

    /// Statistics showed at least one broker in state UP.
    pub fn broker_seen_up(&self) {
        self.broker_up_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// librdkafka reported that every broker is down.
    pub fn all_brokers_down(&self) {
        self.brokers_down_ms.store(now_ms(), Ordering::Relaxed);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PipelineState> {
        self.pipeline.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn report(&self) -> ReadinessReport {
        let now = now_ms();
        let lists = if self.lists_loaded.load(Ordering::Relaxed) {
            Check {
                ok: true,
                detail: "lists loaded".to_string(),
            }
        } else {
            Check {
                ok: false,
                detail: "lists are not loaded yet".to_string(),
            }
        };

        let assignments = self.assignments.load(Ordering::Relaxed);
        let assigned = self.assigned_partitions.load(Ordering::Relaxed);
        let partitions = match &*self.state() {
            PipelineState::NotStarted => Check {
                ok: false,
                detail: "the consumer has not started".to_string(),
            },
            PipelineState::Stopped => Check {
                ok: false,
                detail: "the consumer has stopped".to_string(),
            },
            PipelineState::Failed(error) => Check {
                ok: false,
                detail: format!("the consumer failed: {error}"),
            },
            PipelineState::Running if assignments == 0 => Check {
                ok: false,
                detail: "no partition assignment yet (joining the consumer group)".to_string(),
            },
            PipelineState::Running => Check {
                ok: true,
                detail: format!("{assigned} partition(s) assigned"),
            },
        };

        let up = self.broker_up_ms.load(Ordering::Relaxed);
        let down = self.brokers_down_ms.load(Ordering::Relaxed);
        let stale = self.broker_stale_ms.load(Ordering::Relaxed);
        let broker = if stale == 0 {
            // No statistics: only the "all brokers down" error tells.
            if down > 0 && now - down < BROKERS_DOWN_HOLD.as_millis() as i64 {
                Check {
                    ok: false,
                    detail: format!("all brokers down {} s ago", (now - down) / 1000),
                }
            } else {
                Check {
                    ok: true,
                    detail: "no all-brokers-down error (statistics disabled)".to_string(),
                }
            }
        } else if up == 0 {
            Check {
                ok: false,
                detail: "no broker seen up yet".to_string(),
            }
        } else if down > up {
            Check {
                ok: false,
                detail: format!("all brokers down since {} s", (now - down).max(0) / 1000),
            }
        } else if now - up > stale {
            Check {
                ok: false,
                detail: format!("no broker seen up for {} s", (now - up) / 1000),
            }
        } else {
            Check {
                ok: true,
                detail: format!("a broker was up {} ms ago", (now - up).max(0)),
            }
        };

        let mut not_ready = Vec::new();
        for (name, check) in [
            ("lists", &lists),
            ("partitions", &partitions),
            ("broker", &broker),
        ] {
            if !check.ok {
                not_ready.push(name);
            }
        }
        ReadinessReport {
            ready: not_ready.is_empty(),
            not_ready,
            lists,
            partitions,
            broker,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_lists_assignment_and_a_broker_up() {
        let readiness = Readiness::new();
        let report = readiness.report();
        assert!(!report.ready);
        assert_eq!(report.not_ready, ["lists", "partitions", "broker"]);

        readiness.set_lists_loaded(true);
        readiness.pipeline_started(Duration::from_secs(1));
        assert_eq!(readiness.report().not_ready, ["partitions", "broker"]);
        readiness.partitions_assigned(4);
        readiness.broker_seen_up();
        let report = readiness.report();
        assert!(report.ready, "{report:?}");
        assert_eq!(report.partitions.detail, "4 partition(s) assigned");

        std::thread::sleep(Duration::from_millis(5));
        readiness.all_brokers_down();
        assert_eq!(readiness.report().not_ready, ["broker"]);
        std::thread::sleep(Duration::from_millis(5));
        readiness.broker_seen_up();
        assert!(readiness.report().ready);

        readiness.client_failed("fatal".to_string());
        let report = readiness.report();
        assert_eq!(report.not_ready, ["partitions"]);
        assert!(report.partitions.detail.contains("fatal"));
    }

    #[test]
    fn an_empty_assignment_is_an_assignment() {
        let readiness = Readiness::new();
        readiness.set_lists_loaded(true);
        readiness.pipeline_started(Duration::ZERO);
        readiness.partitions_assigned(0);
        assert!(readiness.report().ready);
        readiness.pipeline_stopped(None);
        assert_eq!(readiness.report().not_ready, ["partitions"]);
    }
}

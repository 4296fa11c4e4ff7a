//! Where the CPU went during a run: the CPU time (user + system, all threads) of watched
//! processes from `/proc/PID/stat`, and how busy the whole machine was from `/proc/stat`.
//! Linux only; elsewhere the figures are simply absent.

use std::collections::BTreeMap;
use std::fs;

/// Kernel clock ticks per second for `/proc` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A process to watch, by name and pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

/// `NAME=PID`.
pub fn parse_watched(text: &str) -> Result<Watched, String> {
    let (name, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PID, got {text:?}"))?;
    let pid = pid
        .trim()
        .parse()
        .map_err(|_| format!("not a pid: {pid:?}"))?;
    Ok(Watched {
        name: name.trim().to_string(),
        pid,
    })
}

/// CPU seconds (user + system) of a process, from the contents of its `/proc/PID/stat`.
pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may contain spaces: fields after the
    // last ')' start at field 3 (state); utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// The `comm` (thread or process name) of a `/proc/.../stat` line.
pub fn comm_from_stat(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// A thread name without its instance number, so that threads of one kind add up:
/// `screener-worke` (screener-worker-0, -1 …), `rdk:broker`, `tokio-runtime-w`.
pub fn thread_group(comm: &str) -> String {
    comm.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#')
        .to_string()
}

fn proc_dir(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    }
}

fn process_cpu_seconds(pid: Option<u32>) -> Option<f64> {
    cpu_seconds_from_stat(&fs::read_to_string(format!("{}/stat", proc_dir(pid))).ok()?)
}

/// CPU seconds per thread group of a process (threads alive now).
fn thread_cpu_seconds(pid: Option<u32>) -> BTreeMap<String, f64> {
    let mut groups = BTreeMap::new();
    let Ok(tasks) = fs::read_dir(format!("{}/task", proc_dir(pid))) else {
        return groups;
    };
    for task in tasks.flatten() {
        let Ok(stat) = fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let (Some(comm), Some(seconds)) = (comm_from_stat(&stat), cpu_seconds_from_stat(&stat)) {
            *groups.entry(thread_group(comm)).or_insert(0.0) += seconds;
        }
    }
    groups
}

/// (busy, total) jiffies of all CPUs from the contents of `/proc/stat`.
pub fn machine_jiffies_from_stat(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// CPU counters at one moment.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    /// Per watched process (and this process, named `loadtest`), CPU seconds so far.
    processes: Vec<ProcessSample>,
    machine: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct ProcessSample {
    name: String,
    pid: Option<u32>,
    seconds: Option<f64>,
    threads: BTreeMap<String, f64>,
}

impl ProcessSample {
    fn take(name: &str, pid: Option<u32>) -> Self {
        ProcessSample {
            name: name.to_string(),
            pid,
            seconds: process_cpu_seconds(pid),
            threads: thread_cpu_seconds(pid),
        }
    }
}

/// CPU used by one kind of thread between two snapshots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ThreadUse {
    pub name: String,
    pub cpu_seconds: f64,
}

/// CPU used between two snapshots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuUse {
    pub name: String,
    pub pid: Option<u32>,
    pub cpu_seconds: f64,
    /// Percent of one core over the interval (200% = both cores of a 2-core machine).
    pub percent_of_one_core: f64,
    /// By thread name (instance numbers removed), most first; threads that ended during
    /// the interval are missing.
    pub threads: Vec<ThreadUse>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuReport {
    pub seconds: f64,
    pub cores: usize,
    pub processes: Vec<CpuUse>,
    /// Share of all cores busy over the interval, in percent (from /proc/stat).
    pub machine_busy_percent: Option<f64>,
    /// CPU seconds used by everything else on the machine (busy time minus the processes
    /// above): other work competing for the cores.
    pub other_cpu_seconds: Option<f64>,
}

impl CpuSnapshot {
    pub fn take(watched: &[Watched]) -> CpuSnapshot {
        let mut processes: Vec<ProcessSample> = watched
            .iter()
            .map(|w| ProcessSample::take(&w.name, Some(w.pid)))
            .collect();
        processes.push(ProcessSample::take("loadtest", None));
        let machine = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| machine_jiffies_from_stat(&stat));
        CpuSnapshot { processes, machine }
    }

    /// What was used from `self` to `later`, over `seconds` of wall time.
    pub fn until(&self, later: &CpuSnapshot, seconds: f64) -> CpuReport {
        let seconds = seconds.max(1e-9);
        let processes: Vec<CpuUse> = self
            .processes
            .iter()
            .zip(&later.processes)
            .filter_map(|(before, after)| {
                let used = after.seconds? - before.seconds?;
                let mut threads: Vec<ThreadUse> = after
                    .threads
                    .iter()
                    .map(|(name, total)| ThreadUse {
                        name: name.clone(),
                        cpu_seconds: total - before.threads.get(name).copied().unwrap_or(0.0),
                    })
                    .filter(|thread| thread.cpu_seconds > 0.0)
                    .collect();
                threads.sort_by(|a, b| b.cpu_seconds.total_cmp(&a.cpu_seconds));
                Some(CpuUse {
                    name: before.name.clone(),
                    pid: before.pid,
                    cpu_seconds: used,
                    percent_of_one_core: 100.0 * used / seconds,
                    threads,
                })
            })
            .collect();
        let machine_busy_percent = match (self.machine, later.machine) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                Some(100.0 * (busy1.saturating_sub(busy0)) as f64 / (total1 - total0) as f64)
            }
            _ => None,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let watched: f64 = processes.iter().map(|p| p.cpu_seconds).sum();
        let other_cpu_seconds = machine_busy_percent
            .map(|busy| (busy / 100.0 * cores as f64 * seconds - watched).max(0.0));
        CpuReport {
            seconds,
            cores,
            processes,
            machine_busy_percent,
            other_cpu_seconds,
        }
    }
}

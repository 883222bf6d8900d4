//! Where the CPU of a run goes: the processor time of the load generator, of the service and
//! of PostgreSQL (the postmaster and every process it started) over the measured part of a run,
//! read from `/proc`, so that a throughput can be explained by the microseconds each call costs
//! each of them on the shared cores.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Clock ticks a second of `/proc/<pid>/stat`'s times. Linux has used 100 on every
/// architecture the service runs on; `getconf CLK_TCK` says so.
const TICKS_PER_SECOND: f64 = 100.0;

/// The processes whose time is counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Watched {
    pub service: Option<u32>,
    pub postmaster: Option<u32>,
}

/// Processor seconds (user and system) used so far.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    load_generator: f64,
    service: f64,
    postgres: f64,
}

/// What `/proc/<pid>/stat` says of a process's time.
struct ProcessTimes {
    parent: u32,
    /// User plus system seconds of the process itself.
    own: f64,
    /// User plus system seconds of its children that ended and that it has waited for.
    ended_children: f64,
}

fn times_of(pid: &str) -> Option<ProcessTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, field 2, is in parentheses and may hold spaces: count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let seconds = |first: usize| -> Option<f64> {
        let ticks =
            fields.get(first)?.parse::<f64>().ok()? + fields.get(first + 1)?.parse::<f64>().ok()?;
        Some(ticks / TICKS_PER_SECOND)
    };
    Some(ProcessTimes {
        parent: fields.get(1)?.parse().ok()?,
        own: seconds(11)?,
        ended_children: seconds(13)?,
    })
}

/// Processor seconds a process has used, or it and its children when `tree` (for the
/// postmaster); `bench/run` reads PostgreSQL's around the pgbench baselines with it.
pub fn seconds_used(pid: u32, tree: bool) -> f64 {
    if tree { seconds_of_tree(pid) } else { seconds_of(pid) }
}

fn seconds_of(pid: u32) -> f64 {
    times_of(&pid.to_string()).map_or(0.0, |times| times.own)
}

/// The postmaster's time and that of its children: the backends, one per connection, and the
/// background processes, those still running and those that ended (whose time the kernel adds
/// to the postmaster's "children" fields once it has waited for them).
fn seconds_of_tree(postmaster: u32) -> f64 {
    let Some(root) = times_of(&postmaster.to_string()) else { return 0.0 };
    let mut total = root.own + root.ended_children;
    let Ok(entries) = std::fs::read_dir("/proc") else { return total };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if let Some(times) = times_of(pid)
            && times.parent == postmaster
        {
            total += times.own;
        }
    }
    total
}

fn sample(watched: Watched) -> Sample {
    Sample {
        load_generator: seconds_of(std::process::id()),
        service: watched.service.map_or(0.0, seconds_of),
        postgres: watched.postmaster.map_or(0.0, seconds_of_tree),
    }
}

/// Samples at `from` and at `until`, and returns what each process used in between, as
/// microseconds per call once the number of calls is known.
pub async fn measure(watched: Watched, from: Instant, until: Instant) -> CpuUse {
    tokio::time::sleep_until(from.into()).await;
    let start = sample(watched);
    tokio::time::sleep_until(until.into()).await;
    let end = sample(watched);
    CpuUse {
        load_generator: end.load_generator - start.load_generator,
        service: end.service - start.service,
        postgres: end.postgres - start.postgres,
        watched,
        seconds: until.saturating_duration_since(from),
    }
}

pub struct CpuUse {
    load_generator: f64,
    service: f64,
    postgres: f64,
    watched: Watched,
    seconds: Duration,
}

impl CpuUse {
    /// Result notes: microseconds of processor time per call for each watched process, and
    /// the share of the machine's cores all of them kept busy.
    pub fn notes(&self, calls: u64, notes: &mut BTreeMap<String, serde_json::Value>) {
        if calls == 0 {
            return;
        }
        let per_call = |seconds: f64| (seconds * 1e6 / calls as f64 * 10.0).round() / 10.0;
        notes.insert("cpu_us_per_call_load_generator".into(), per_call(self.load_generator).into());
        if self.watched.service.is_some() {
            notes.insert("cpu_us_per_call_service".into(), per_call(self.service).into());
        }
        if self.watched.postmaster.is_some() {
            notes.insert("cpu_us_per_call_postgres".into(), per_call(self.postgres).into());
        }
        let busy = (self.load_generator + self.service + self.postgres)
            / self.seconds.as_secs_f64().max(0.001);
        notes.insert("cpu_cores_busy".into(), ((busy * 100.0).round() / 100.0).into());
    }
}

#[derive(clap::Args)]
pub struct CpuSecondsArgs {
    #[arg(long)]
    pid: u32,
    /// Add the time of the process's children, as for PostgreSQL's postmaster.
    #[arg(long)]
    tree: bool,
}

pub fn print_seconds(args: CpuSecondsArgs) {
    println!("{:.2}", seconds_used(args.pid, args.tree));
}

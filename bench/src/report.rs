//! Turning a run's files into numbers: pgbench's per-transaction logs into result files, and
//! a directory of result files into the side-by-side table and the verdict on each target.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::results::{Percentiles, RunResult, distribution, new_histogram};

#[derive(Args)]
pub struct PgbenchLogArgs {
    /// The log files pgbench wrote with --log (one per thread).
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    /// The RPC the script replays, such as get.
    #[arg(long)]
    scenario: String,
    #[arg(long)]
    concurrency: u32,
    /// Seconds at the start of the run that are not measured.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Processor seconds pgbench itself used over the whole run, warm-up included.
    #[arg(long)]
    client_cpu_seconds: Option<f64>,
    /// Processor seconds PostgreSQL used over the whole run, warm-up included.
    #[arg(long)]
    postgres_cpu_seconds: Option<f64>,
    #[arg(long)]
    out: PathBuf,
}

/// Reads pgbench's transaction log lines (`client transaction latency_us script epoch_s
/// epoch_us`), drops the warm-up and summarises the rest like a load generator run.
pub fn summarise_pgbench_log(args: PgbenchLogArgs) -> anyhow::Result<()> {
    let mut transactions = Vec::new();
    let mut failed_at = Vec::new();
    for path in &args.logs {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 6 {
                continue;
            }
            let at = fields[4].parse::<f64>()? + fields[5].parse::<f64>()? / 1e6;
            match fields[2].parse::<u64>() {
                Ok(latency_us) => transactions.push((at, latency_us)),
                Err(_) => failed_at.push(at),
            }
        }
    }
    anyhow::ensure!(!transactions.is_empty(), "the pgbench logs hold no transaction");

    let first = transactions.iter().map(|(at, _)| *at).fold(f64::INFINITY, f64::min);
    let last = transactions.iter().map(|(at, _)| *at).fold(0.0, f64::max);
    let measure_from = first + args.warmup;
    let mut histogram = new_histogram();
    for (_, latency_us) in transactions.iter().filter(|(at, _)| *at >= measure_from) {
        histogram.saturating_record((*latency_us).max(1));
    }
    let failures = failed_at.iter().filter(|at| **at >= measure_from).count() as u64;
    let seconds = (last - measure_from).max(0.001);

    // The processor times cover the whole run, so they are divided by every transaction.
    let mut notes = BTreeMap::new();
    let per_transaction = |cpu: f64| (cpu * 1e6 / transactions.len() as f64 * 10.0).round() / 10.0;
    if let Some(cpu) = args.client_cpu_seconds {
        notes.insert("cpu_us_per_call_load_generator".into(), per_transaction(cpu).into());
    }
    if let Some(cpu) = args.postgres_cpu_seconds {
        notes.insert("cpu_us_per_call_postgres".into(), per_transaction(cpu).into());
    }

    let result = RunResult {
        scenario: format!("pgbench-{}", args.scenario),
        mode: "pgbench".into(),
        concurrency: Some(args.concurrency),
        target_rate: None,
        duration_seconds: seconds,
        ok: histogram.len(),
        errors: if failures > 0 {
            BTreeMap::from([("error".into(), failures)])
        } else {
            BTreeMap::new()
        },
        throughput: histogram.len() as f64 / seconds,
        latency_ms: Percentiles::of(&histogram),
        distribution: distribution(&histogram),
        notes,
    };
    result.print_summary();
    result.write(&args.out)
}

#[derive(Args)]
pub struct ReportArgs {
    /// The directory of a run's result files.
    dir: PathBuf,
    /// Also write the table as Markdown to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The scenarios that have a pgbench baseline, as bench/pgbench names them.
const PGBENCH_SCRIPTS: [&str; 6] = ["get", "create", "append", "list-first", "list-deep", "stats"];

pub fn print_report(args: ReportArgs) -> anyhow::Result<()> {
    let results = read_results(&args.dir)?;
    let closed =
        |name: &str| results.iter().find(|result| result.scenario == name && result.mode != "open");
    let open =
        |name: &str| results.iter().find(|result| result.scenario == name && result.mode == "open");
    let health = closed("health").map(|result| result.throughput);

    let mut table = String::new();
    table.push_str(
        "| scenario | calls/s | p50 ms | p99 ms | pgbench calls/s | of pgbench | of health |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let order = [
        "health",
        "get",
        "create",
        "append",
        "list-first",
        "list-deep",
        "search",
        "stats",
        "mixed",
    ];
    for name in order {
        let Some(result) = closed(name) else { continue };
        let baseline = closed(&format!("pgbench-{name}"));
        let _ = writeln!(
            table,
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
            result.throughput,
            result.latency_ms.p50,
            result.latency_ms.p99,
            baseline.map_or("".into(), |baseline| format!("{:.0}", baseline.throughput)),
            baseline.map_or("".into(), |baseline| percent(result.throughput, baseline.throughput)),
            health.map_or("".into(), |health| percent(result.throughput, health)),
        );
    }
    for name in PGBENCH_SCRIPTS {
        let Some(baseline) = closed(&format!("pgbench-{name}")) else { continue };
        let _ = writeln!(
            table,
            "| pgbench {name} | {:.0} | {:.2} | {:.2} | | | |",
            baseline.throughput, baseline.latency_ms.p50, baseline.latency_ms.p99
        );
    }

    table.push_str(
        "\n| open loop at half the closed-loop rate | rate/s | p50 ms | p99 ms | p99.9 ms \
         | sent late, p99 ms |\n",
    );
    table.push_str("|---|---:|---:|---:|---:|---:|\n");
    for name in ["get", "create", "append", "search", "stats"] {
        let Some(result) = open(name) else { continue };
        let send_lag =
            result.notes.get("send_lag_ms_p99").map_or(String::new(), ToString::to_string);
        let _ = writeln!(
            table,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {send_lag} |",
            result.target_rate.unwrap_or_default(),
            result.latency_ms.p50,
            result.latency_ms.p99,
            result.latency_ms.p999
        );
    }

    table.push_str(
        "\n| processor time per call, µs | load generator or pgbench | service | PostgreSQL \
         | cores busy |\n|---|---:|---:|---:|---:|\n",
    );
    let mut with_cpu: Vec<&RunResult> = order.iter().filter_map(|name| closed(name)).collect();
    with_cpu.extend(PGBENCH_SCRIPTS.iter().filter_map(|name| closed(&format!("pgbench-{name}"))));
    for result in with_cpu {
        let note = |key: &str| result.notes.get(key).map_or(String::new(), ToString::to_string);
        if note("cpu_us_per_call_load_generator").is_empty() {
            continue;
        }
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} |",
            result.scenario,
            note("cpu_us_per_call_load_generator"),
            note("cpu_us_per_call_service"),
            note("cpu_us_per_call_postgres"),
            note("cpu_cores_busy"),
        );
    }

    table.push_str("\n| target | measured | verdict |\n|---|---|---|\n");
    let mut verdict = |target: &str, measured: Option<(String, bool)>| {
        let (text, met) = measured.unwrap_or_else(|| ("not measured".into(), false));
        let mark = if text == "not measured" {
            "not measured"
        } else if met {
            "met"
        } else {
            "missed"
        };
        let _ = writeln!(table, "| {target} | {text} | {mark} |");
    };
    for (name, share, p99_limit) in
        [("get", 0.6, 5.0), ("create", 0.7, 15.0), ("append", 0.7, 15.0)]
    {
        let ratio = closed(name)
            .zip(closed(&format!("pgbench-{name}")))
            .map(|(rpc, baseline)| rpc.throughput / baseline.throughput);
        verdict(
            &format!("{name}: at least {:.0}% of pgbench", share * 100.0),
            ratio.map(|ratio| (format!("{:.0}%", ratio * 100.0), ratio >= share)),
        );
        verdict(
            &format!("{name}: p99 at half rate at most {p99_limit} ms"),
            open(name).map(|result| {
                (format!("{:.2} ms", result.latency_ms.p99), result.latency_ms.p99 <= p99_limit)
            }),
        );
    }
    verdict(
        "list: deep page p50 within 1.3x of page 1",
        closed("list-deep").zip(closed("list-first")).map(|(deep, first)| {
            let ratio = deep.latency_ms.p50 / first.latency_ms.p50;
            let page = deep.notes.get("deep_page").map_or("?".into(), ToString::to_string);
            (format!("page {page}: {ratio:.2}x"), ratio <= 1.3)
        }),
    );
    // Judged at half the maximum rate, like the other latency targets: at the maximum rate,
    // 16 callers queue behind one another and the p99 measures the queue.
    for name in ["search", "stats"] {
        verdict(
            &format!("{name} (heavy user): p99 at half rate at most 50 ms"),
            open(name).map(|result| {
                (format!("{:.2} ms", result.latency_ms.p99), result.latency_ms.p99 <= 50.0)
            }),
        );
    }
    verdict("memory: resident set flat within 10% over the mixed run", memory_verdict(&args.dir));

    println!("{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, &table).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 { format!("{:.0}%", part / whole * 100.0) } else { String::new() }
}

fn read_results(dir: &Path) -> anyhow::Result<Vec<RunResult>> {
    let mut results = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let is_result = path.extension().is_some_and(|extension| extension == "json")
            && path.file_name().is_some_and(|name| name != "dataset.json");
        if is_result && let Ok(result) = RunResult::read(&path) {
            results.push(result);
        }
    }
    Ok(results)
}

/// Reads `rss.tsv` (seconds and VmRSS in kB, one sample a line) and compares the samples
/// after the first tenth of the run, which is the service warming its pools and caches.
fn memory_verdict(dir: &Path) -> Option<(String, bool)> {
    let text = std::fs::read_to_string(dir.join("rss.tsv")).ok()?;
    let samples: Vec<f64> =
        text.lines().filter_map(|line| line.split_whitespace().nth(1)?.parse().ok()).collect();
    if samples.len() < 5 {
        return None;
    }
    let steady = &samples[samples.len() / 10..];
    let low = steady.iter().copied().fold(f64::INFINITY, f64::min);
    let high = steady.iter().copied().fold(0.0, f64::max);
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    let spread = high / low - 1.0;
    Some((
        format!(
            "{} samples: first {:.1} MiB, last {:.1} MiB, after warm-up {:.1} to {:.1} MiB \
             ({:.1}% spread)",
            samples.len(),
            first / 1024.0,
            last / 1024.0,
            low / 1024.0,
            high / 1024.0,
            spread * 100.0
        ),
        spread <= 0.10,
    ))
}

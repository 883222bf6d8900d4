//! The result file every measurement writes, whether the load generator's or pgbench's: the
//! counts, the throughput, the usual percentiles, and the whole latency distribution so that a
//! chart can be drawn later without the raw samples.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, from 1 µs to one minute, with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RunResult {
    /// The scenario, such as `get`, or `pgbench-get` for a baseline.
    pub scenario: String,
    /// `closed` (fixed concurrency), `open` (fixed rate) or `pgbench`.
    pub mode: String,
    pub concurrency: Option<u32>,
    /// The intended rate of an open-loop run, in calls a second.
    pub target_rate: Option<f64>,
    pub duration_seconds: f64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Failed calls by gRPC code (or `error` for pgbench).
    pub errors: BTreeMap<String, u64>,
    /// Successful calls a second.
    pub throughput: f64,
    pub latency_ms: Percentiles,
    /// (percentile, milliseconds) pairs over the whole distribution, for plotting.
    pub distribution: Vec<(f64, f64)>,
    /// Anything else worth keeping, such as the page a deep listing reached.
    #[serde(default)]
    pub notes: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            mean: histogram.mean() / 1000.0,
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }
}

/// The distribution at five steps per halving of the tail, as HdrHistogram plots it.
pub fn distribution(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    histogram
        .iter_quantiles(5)
        .map(|step| (step.quantile_iterated_to() * 100.0, step.value_iterated_to() as f64 / 1000.0))
        .collect()
}

impl RunResult {
    pub fn print_summary(&self) {
        let errors: u64 = self.errors.values().sum();
        let latency = &self.latency_ms;
        println!(
            "{:<16} {:>9.0}/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  \
             ok {} errors {}{}",
            self.scenario,
            self.throughput,
            latency.p50,
            latency.p90,
            latency.p99,
            latency.p999,
            self.ok,
            errors,
            if errors > 0 { format!(" {:?}", self.errors) } else { String::new() },
        );
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    }
}

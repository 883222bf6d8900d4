//! The load generator: drives one scenario against a running service, closed-loop (a fixed
//! number of callers, each sending its next call when the last one returns) or open-loop (a
//! fixed rate of calls whatever the service does).
//!
//! Open-loop latencies run from the moment a call was due, not from when it was sent: when the
//! service stalls, the calls that should have gone out meanwhile count the stall too, instead
//! of silently waiting to be sent (the "coordinated omission" a closed loop suffers from).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::cpu::{self, Watched};
use crate::results::{Percentiles, RunResult, distribution, new_histogram};
use crate::scenario::{Scenario, Signing, Target};
use crate::seed::Dataset;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Closed,
    Open,
}

#[derive(Args)]
pub struct LoadArgs {
    /// The service's address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// The dataset description the seeder wrote.
    #[arg(long, default_value = "dataset.json")]
    dataset: PathBuf,
    #[arg(long, value_enum)]
    scenario: Scenario,
    #[arg(long, value_enum, default_value = "closed")]
    mode: Mode,
    /// Callers of a closed-loop run.
    #[arg(long, default_value_t = 16)]
    concurrency: u32,
    /// Calls a second of an open-loop run.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// How long calls are measured, after the warm-up.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long calls are sent but not measured, first.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// HTTP/2 connections, used in turn.
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// The service's HS256 secret (CONVERSATION_JWT_SECRET).
    #[arg(long, env = "CONVERSATION_JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    #[arg(long, default_value = "tradecoach")]
    jwt_issuer: String,
    #[arg(long, default_value = "conversation-service")]
    jwt_audience: String,
    /// The page of the heavy user's listing that list-deep reads.
    #[arg(long, default_value_t = 10_000)]
    deep_page: u32,
    /// The service's process, whose processor time per call the result notes.
    #[arg(long)]
    service_pid: Option<u32>,
    /// PostgreSQL's postmaster, whose processor time and its children's the result notes.
    #[arg(long)]
    postmaster_pid: Option<u32>,
    /// Where to write the result as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ReadyArgs {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// What the callers of a run collected.
struct Tally {
    histogram: Histogram<u64>,
    /// Open loop only: how late each call was sent after its due time, which its latency
    /// includes. It shows how much of a tail is the load generator's own.
    send_lag: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            histogram: new_histogram(),
            send_lag: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    fn record(&mut self, outcome: Result<(), tonic::Code>, latency: Duration) {
        match outcome {
            Ok(()) => {
                self.ok += 1;
                record_duration(&mut self.histogram, latency);
            }
            Err(code) => *self.errors.entry(format!("{code:?}")).or_default() += 1,
        }
    }

    fn record_send_lag(&mut self, lag: Duration) {
        record_duration(&mut self.send_lag, lag);
    }

    /// The send lag's p99 and maximum in milliseconds, for the result's notes.
    fn send_lag_notes(&self, notes: &mut BTreeMap<String, serde_json::Value>) {
        if self.send_lag.is_empty() {
            return;
        }
        let send_lag = Percentiles::of(&self.send_lag);
        notes.insert("send_lag_ms_p99".into(), send_lag.p99.into());
        notes.insert("send_lag_ms_max".into(), send_lag.max.into());
    }

    fn merge(&mut self, other: Tally) {
        self.histogram.add(&other.histogram).expect("histograms of the same bounds");
        self.send_lag.add(&other.send_lag).expect("histograms of the same bounds");
        self.ok += other.ok;
        for (code, count) in other.errors {
            *self.errors.entry(code).or_default() += count;
        }
    }
}

/// Records `duration` in microseconds, at least 1, the histograms' lowest value.
fn record_duration(histogram: &mut Histogram<u64>, duration: Duration) {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.dataset)
        .with_context(|| format!("reading {}", args.dataset.display()))?;
    let dataset: Dataset = serde_json::from_slice(&bytes)?;
    let signing = Signing {
        secret: args.jwt_secret.clone(),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
        lifetime: args.warmup + args.duration + Duration::from_secs(3600),
    };
    let mut target = Target::connect(&args.target, args.channels, &dataset, &signing).await?;

    let mut notes = BTreeMap::new();
    if args.scenario == Scenario::ListDeep {
        let (page, pages) = target.find_deep_page(args.deep_page).await?;
        notes.insert("deep_page".to_owned(), page.into());
        notes.insert("heavy_user_pages".to_owned(), pages.into());
        if page != args.deep_page {
            println!(
                "list-deep: the heavy user's listing has {pages} pages of 50; reading page {page}"
            );
        }
    }
    let target = Arc::new(target);

    let watched = Watched { service: args.service_pid, postmaster: args.postmaster_pid };
    let measure_from = Instant::now() + args.warmup;
    let cpu = tokio::spawn(cpu::measure(watched, measure_from, measure_from + args.duration));
    let tally = match args.mode {
        Mode::Closed => closed_loop(&target, &args).await,
        Mode::Open => open_loop(&target, &args).await,
    };
    if let Ok(cpu) = cpu.await {
        cpu.notes(tally.ok, &mut notes);
    }
    tally.send_lag_notes(&mut notes);

    let seconds = args.duration.as_secs_f64();
    let result = RunResult {
        scenario: args.scenario.name().to_owned(),
        mode: format!("{:?}", args.mode).to_lowercase(),
        concurrency: (args.mode == Mode::Closed).then_some(args.concurrency),
        target_rate: (args.mode == Mode::Open).then_some(args.rate),
        duration_seconds: seconds,
        ok: tally.ok,
        errors: tally.errors,
        throughput: tally.ok as f64 / seconds,
        latency_ms: Percentiles::of(&tally.histogram),
        distribution: distribution(&tally.histogram),
        notes,
    };
    result.print_summary();
    if let Some(out) = &args.out {
        result.write(out)?;
    }
    Ok(())
}

/// `concurrency` callers, each sending its next call as soon as the last returns. Calls that
/// start in the warm-up are not measured.
async fn closed_loop(target: &Arc<Target>, args: &LoadArgs) -> Tally {
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;

    let mut callers = Vec::new();
    for caller in 0..args.concurrency {
        let (target, scenario) = (target.clone(), args.scenario);
        callers.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(u64::from(caller) + 1);
            let mut tally = Tally::new();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = target.call(scenario, &mut rng).await;
                if sent >= measure_from {
                    tally.record(outcome, sent.elapsed());
                }
            }
            tally
        }));
    }

    let mut total = Tally::new();
    for caller in callers {
        if let Ok(tally) = caller.await {
            total.merge(tally);
        }
    }
    total
}

/// Calls due at a fixed rate, each sent by its own task at its due time by a dedicated thread
/// (which keeps to the schedule more tightly than the runtime's millisecond timer), each
/// measured from its due time.
async fn open_loop(target: &Arc<Target>, args: &LoadArgs) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::new()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let runtime = tokio::runtime::Handle::current();

    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;

    let dispatcher = {
        let (target, tally, in_flight, scenario) =
            (target.clone(), tally.clone(), in_flight.clone(), args.scenario);
        std::thread::spawn(move || {
            let mut due = start;
            let mut sequence = 0u64;
            while due < end {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let (target, tally, in_flight) = (target.clone(), tally.clone(), in_flight.clone());
                in_flight.fetch_add(1, Ordering::Relaxed);
                sequence += 1;
                runtime.spawn(async move {
                    let send_lag = due.elapsed();
                    let mut rng = SmallRng::seed_from_u64(sequence);
                    let outcome = target.call(scenario, &mut rng).await;
                    let latency = due.elapsed();
                    if due >= measure_from {
                        let mut tally = tally.lock().expect("tally lock");
                        tally.record(outcome, latency);
                        tally.record_send_lag(send_lag);
                    }
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
                due += interval;
            }
        })
    };

    while !dispatcher.is_finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Calls still running at the end count with their full latency, up to half a minute.
    let drain_until = Instant::now() + Duration::from_secs(30);
    while in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut guard = tally.lock().expect("tally lock");
    std::mem::replace(&mut *guard, Tally::new())
}

pub async fn wait_until_ready(args: ReadyArgs) -> anyhow::Result<()> {
    let deadline = Instant::now() + args.timeout;
    let dataset = Dataset {
        heavy_user_id: uuid::Uuid::nil(),
        heavy_user_conversations: 0,
        users: 0,
        conversations: 0,
        messages: 0,
        sample: vec![(uuid::Uuid::nil(), uuid::Uuid::nil())],
        seeding_seconds: Vec::new(),
    };
    let signing = Signing {
        secret: "unused by health checks".into(),
        issuer: String::new(),
        audience: String::new(),
        lifetime: Duration::from_secs(60),
    };
    loop {
        if let Ok(target) = Target::connect(&args.target, 1, &dataset, &signing).await
            && target.serving().await
        {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{} did not become ready", args.target);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

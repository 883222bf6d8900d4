//! conversation-bench: the tools that measure conversation-service. `seed` loads a realistic
//! dataset, `load` drives the service over gRPC, `pgbench-log` turns pgbench's transaction log
//! into the same result format, `report` prints the side-by-side table and `plot` draws the
//! latency distributions. `bench/run` strings them together; docs/benchmarks.md explains them.

mod cpu;
mod load;
mod plot;
mod report;
mod results;
mod scenario;
mod seed;
mod vocabulary;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "conversation-bench", about = "Benchmark tools for conversation-service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Applies the service's migrations and loads a generated dataset with COPY.
    Seed(seed::SeedArgs),
    /// Sends one scenario's calls to a running service and records their latencies.
    Load(load::LoadArgs),
    /// Waits until a service answers its health check.
    Ready(load::ReadyArgs),
    /// Summarises pgbench's per-transaction log files as a result file.
    PgbenchLog(report::PgbenchLogArgs),
    /// Prints the table of a run's results, with each RPC's ratio to its ceilings.
    Report(report::ReportArgs),
    /// Draws the latency distribution of result files as one PNG chart.
    Plot(plot::PlotArgs),
    /// Prints the processor seconds a process (and with --tree its children) has used.
    CpuSeconds(cpu::CpuSecondsArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed(args) => seed::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::Ready(args) => load::wait_until_ready(args).await,
        Command::PgbenchLog(args) => report::summarise_pgbench_log(args),
        Command::Report(args) => report::print_report(args),
        Command::Plot(args) => plot::draw(args),
        Command::CpuSeconds(args) => {
            cpu::print_seconds(args);
            Ok(())
        }
    }
}

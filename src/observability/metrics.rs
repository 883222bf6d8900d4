//! The Prometheus exporter and the names of every metric the service records. Names follow
//! the Go grpc-prometheus convention for the per-call series, so existing dashboards and
//! alert rules for gRPC servers work unchanged; the service's own series start with
//! `conversation_`.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

pub const RPC_STARTED: &str = "grpc_server_started_total";
pub const RPC_HANDLED: &str = "grpc_server_handled_total";
pub const RPC_SECONDS: &str = "grpc_server_handling_seconds";
pub const RPC_IN_FLIGHT: &str = "grpc_server_streams_in_flight";
pub const POOL_CONNECTIONS: &str = "conversation_db_pool_connections";
pub const POOL_MAX_CONNECTIONS: &str = "conversation_db_pool_max_connections";
pub const POOL_WAITING: &str = "conversation_db_pool_waiting";
pub const POOL_ACQUIRE_TIMEOUTS: &str = "conversation_db_pool_acquire_timeouts_total";
pub const DATABASE_UP: &str = "conversation_database_up";
pub const RATE_LIMITED: &str = "conversation_rate_limited_total";
pub const BUILD_INFO: &str = "conversation_build_info";

/// Latency buckets in seconds: fine below 10 ms, where lookups land, and up to the 30 s
/// request timeout, where only streams and stuck calls go.
const RPC_SECONDS_BUCKETS: &[f64] =
    &[0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Serves `/metrics` on `address` and makes it the process's metrics recorder. Fails when the
/// address cannot be bound, so a misconfigured port stops the start instead of going unseen.
/// Needs a Tokio runtime.
pub fn install(address: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(address)
        .set_buckets_for_metric(Matcher::Full(RPC_SECONDS.into()), RPC_SECONDS_BUCKETS)?
        .install()
        .map_err(|error| anyhow::anyhow!("serving metrics on {address}: {error}"))?;

    describe();
    // Counters that may stay at zero for long are registered now, so that rate() over them
    // (as in the alert rules) sees a series from the start.
    metrics::counter!(RATE_LIMITED).increment(0);
    metrics::counter!(POOL_ACQUIRE_TIMEOUTS).increment(0);
    metrics::gauge!(POOL_WAITING).set(0.0);
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    tracing::info!(metrics.addr = %address, "serving Prometheus metrics on /metrics");
    Ok(())
}

/// The help text Prometheus shows for each series.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

    describe_counter!(RPC_STARTED, "Calls started, by method.");
    describe_counter!(RPC_HANDLED, "Calls finished, by method and gRPC status code.");
    describe_histogram!(RPC_SECONDS, Unit::Seconds, "Time from request to the call's end.");
    describe_gauge!(RPC_IN_FLIGHT, "Calls in progress; a stream counts until its last page.");
    describe_gauge!(POOL_CONNECTIONS, "PostgreSQL connections held, by state (idle, in_use).");
    describe_gauge!(POOL_MAX_CONNECTIONS, "Most PostgreSQL connections the pool may hold.");
    describe_gauge!(POOL_WAITING, "Requests waiting for a free PostgreSQL connection.");
    describe_counter!(POOL_ACQUIRE_TIMEOUTS, "Requests that found no free connection in time.");
    describe_gauge!(DATABASE_UP, "1 while the health probe reaches PostgreSQL, else 0.");
    describe_counter!(RATE_LIMITED, "Calls refused by the per-user rate limit.");
    describe_gauge!(BUILD_INFO, "Always 1; the version label names the running build.");
}

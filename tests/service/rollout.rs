//! A rolling restart on one machine: two instances of the real binary on one database, under
//! steady load from clients that balance over both. Each instance in turn gets SIGTERM, exits,
//! and starts again on its port, as a Kubernetes rollout replaces pods one by one. A careful
//! client sees nothing it would not retry, and no acknowledged write is lost or doubled.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::PgPool;
use tonic::transport::Channel;

use crate::process::{ServiceOptions, ServiceProcess};
use crate::steady_load::{Tally, assert_stored_exactly, spawn_writers, stop_writers};
use crate::support::fresh_database;

const WRITERS: usize = 4;
/// Successful calls to wait for before, between and after the restarts.
const PROGRESS: u64 = 40;

/// Stops `instance` with SIGTERM while the load runs, checks its clean exit, starts it again
/// on the same port, and waits until the load has made progress with it back.
async fn restart_under_load(instance: &mut ServiceProcess, tally: &Tally) {
    instance.stop().await;
    tally.wait_for_progress(PROGRESS).await;
    instance.restart().await;
    tally.wait_for_progress(PROGRESS).await;
}

#[tokio::test]
async fn a_rolling_restart_under_load_loses_no_acknowledged_write_and_needs_only_retries() {
    let database = fresh_database().await;
    let mut a = ServiceProcess::start(ServiceOptions::new(database.clone())).await;
    let mut b = ServiceProcess::start(ServiceOptions::new(database.clone())).await;
    // Lazy: a connection refused while an instance is away is made again on a later call.
    let channels: Vec<Channel> =
        [&a, &b].iter().map(|instance| instance.endpoint().connect_lazy()).collect();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(WRITERS, &channels, &tally, &stop);
    tally.wait_for_progress(PROGRESS).await;

    restart_under_load(&mut a, &tally).await;
    restart_under_load(&mut b, &tally).await;
    let acknowledged = stop_writers(&stop, writers).await;

    println!("rolling restart: {}", tally.summary());
    println!("errors seen: {:#?}", tally.error_counts());
    let failures = tally.failures();
    assert!(failures.is_empty(), "calls a client would not retry: {failures:#?}");
    // A connection that broke under a call would leave its outcome unknown; an orderly drain
    // (GOAWAY, in-flight calls finished, a lingering close) never breaks one, so the only
    // retries are of UNAVAILABLE and of calls the client had not yet sent.
    assert_eq!(tally.retried_unknown_outcome(), 0, "calls cut off mid-flight: {}", tally.summary());
    let db = PgPool::connect_with(database).await.unwrap();
    assert_stored_exactly(&db, &acknowledged).await;
}

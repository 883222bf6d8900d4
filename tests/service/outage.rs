//! PostgreSQL going away under load, seen from outside the real process: while it is down,
//! callers get UNAVAILABLE and nothing else (and no database text), and health says
//! NOT_SERVING; once it is back, health says SERVING and writes succeed again without a
//! restart of the service; and every write acknowledged before, during or after the outage
//! is stored exactly once.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use conversation_service::database::{MIGRATOR, create_database_if_missing, ensure_runtime_role};
use conversation_service::embedded::EmbeddedPostgres;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::process::{ServiceOptions, ServiceProcess, wait_for_health};
use crate::steady_load::{Tally, assert_stored_exactly, spawn_writers, stop_writers};
use crate::support::throwaway_cluster_options;

const WRITERS: usize = 3;
/// Successful calls to wait for before and after the outage.
const PROGRESS: u64 = 40;
const DATABASE: &str = "conversations";

/// A PostgreSQL cluster of this test alone, which it stops and starts again. Stopped and
/// deleted when dropped, even by a failing test.
struct OwnCluster {
    cluster: Option<EmbeddedPostgres>,
    root: PathBuf,
}

impl OwnCluster {
    /// Starts the cluster with the runtime role and a migrated database.
    async fn start() -> Self {
        let mut options = throwaway_cluster_options();
        // Deleting the files at the first stop would leave nothing to start again.
        options.remove_when_stopped = false;
        let root = options.root.clone();
        let cluster = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(options))
            .await
            .unwrap()
            .expect("a cluster of this test's own starts");

        let admin = PgPool::connect_with(cluster.connect_options("postgres")).await.unwrap();
        ensure_runtime_role(&admin).await.unwrap();
        create_database_if_missing(&admin, DATABASE).await.unwrap();
        admin.close().await;
        let owner = PgPool::connect_with(cluster.connect_options(DATABASE)).await.unwrap();
        MIGRATOR.run(&owner).await.expect("the migrations apply");
        owner.close().await;

        Self { cluster: Some(cluster), root }
    }

    fn database(&self) -> PgConnectOptions {
        self.cluster.as_ref().expect("the cluster").connect_options(DATABASE)
    }

    /// A fast shutdown: connections are cut, as when the database's node goes away.
    async fn stop(&mut self) {
        let mut cluster = self.cluster.take().expect("the cluster");
        let stopped = tokio::task::spawn_blocking(move || cluster.stop().map(|()| cluster));
        self.cluster = Some(stopped.await.unwrap().expect("the cluster stops"));
    }

    async fn restart(&mut self) {
        let mut cluster = self.cluster.take().expect("the cluster");
        let started = tokio::task::spawn_blocking(move || cluster.restart().map(|()| cluster));
        self.cluster = Some(started.await.unwrap().expect("the cluster starts on its files"));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Some(mut cluster) = self.cluster.take() {
            let _ = cluster.stop();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Words of database errors that a client must never read.
fn shows_database_text(message: &str) -> bool {
    let message = message.to_lowercase();
    ["postgres", "sqlx", "sqlstate", "pgsql", "pool", "socket", "terminating", "relation"]
        .iter()
        .any(|word| message.contains(word))
}

#[tokio::test]
async fn writes_under_load_see_only_unavailable_while_the_database_is_down_and_none_is_lost() {
    let mut cluster = OwnCluster::start().await;
    let database = cluster.database();
    let options = ServiceOptions {
        // A call waits this long for a connection that cannot come, then says UNAVAILABLE.
        env: vec![("CONVERSATION_DB_ACQUIRE_TIMEOUT", "1s".into())],
        ..ServiceOptions::new(database.clone())
    };
    let mut service = ServiceProcess::start(options).await;
    let channels = vec![service.endpoint().connect_lazy()];
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(WRITERS, &channels, &tally, &stop);
    tally.wait_for_progress(PROGRESS).await;

    cluster.stop().await;
    wait_for_health(service.address(), ServingStatus::NotServing).await;
    tally.wait_for_errors(WRITERS).await;
    cluster.restart().await;
    wait_for_health(service.address(), ServingStatus::Serving).await;
    tally.wait_for_progress(PROGRESS).await;
    let never_restarted = service.is_running();
    let acknowledged = stop_writers(&stop, writers).await;
    service.stop().await;

    println!("database outage: {}", tally.summary());
    println!("errors seen: {:#?}", tally.error_counts());
    assert!(never_restarted, "the service exited during the outage");
    let failures = tally.failures();
    assert!(failures.is_empty(), "calls a client would not retry: {failures:#?}");
    let errors = tally.errors();
    let not_unavailable: Vec<_> =
        errors.iter().filter(|(code, _)| *code != Code::Unavailable).collect();
    assert!(not_unavailable.is_empty(), "errors other than UNAVAILABLE: {not_unavailable:#?}");
    let leaking: Vec<_> =
        errors.iter().filter(|(_, message)| shows_database_text(message)).collect();
    assert!(leaking.is_empty(), "errors that show database text: {leaking:#?}");
    let db = PgPool::connect_with(database).await.unwrap();
    assert_stored_exactly(&db, &acknowledged).await;
}

//! Health follows the database, and shutdown turns it off before the drain.

use std::time::Duration;

use conversation_service::database::{MIGRATOR, create_database_if_missing, ensure_runtime_role};
use conversation_service::embedded::EmbeddedPostgres;
use conversation_service::{health, pb};
use sqlx::PgPool;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{AppOptions, TestApp, throwaway_cluster_options};

/// Polls the health check until it reports `expected`; the probe runs every 100 ms in tests.
async fn wait_for_health(app: &TestApp, service: &str, expected: ServingStatus) {
    let mut health = HealthClient::new(app.channel());
    for _ in 0..300 {
        let request = HealthCheckRequest { service: service.into() };
        if let Ok(response) = health.check(request).await
            && response.into_inner().status() == expected
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("health of {service:?} never became {expected:?}");
}

async fn status_of(app: &TestApp, service: &str) -> ServingStatus {
    let request = HealthCheckRequest { service: service.into() };
    let response = HealthClient::new(app.channel()).check(request).await.unwrap();
    response.into_inner().status()
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_the_conversation_service() {
    let app = TestApp::spawn().await;

    wait_for_health(&app, "", ServingStatus::Serving).await;
    wait_for_health(&app, pb::SERVICE_NAME, ServingStatus::Serving).await;
}

#[tokio::test]
async fn health_turns_not_serving_while_the_database_is_down_and_recovers_without_a_restart() {
    let mut options = throwaway_cluster_options();
    options.remove_when_stopped = false;
    let root = options.root.clone();
    let mut cluster = tokio::task::spawn_blocking(move || EmbeddedPostgres::start(options))
        .await
        .unwrap()
        .expect("a cluster of this test's own starts");
    let admin = PgPool::connect_with(cluster.connect_options("postgres")).await.unwrap();
    ensure_runtime_role(&admin).await.unwrap();
    create_database_if_missing(&admin, "conversations").await.unwrap();
    admin.close().await;
    let database = cluster.connect_options("conversations");
    let migrate = PgPool::connect_with(database.clone()).await.unwrap();
    MIGRATOR.run(&migrate).await.unwrap();
    migrate.close().await;
    let app = TestApp::spawn_on(database, AppOptions::default()).await;
    let mut alice = app.user();
    wait_for_health(&app, "", ServingStatus::Serving).await;

    let mut cluster = tokio::task::spawn_blocking(move || cluster.stop().map(|()| cluster))
        .await
        .unwrap()
        .unwrap();
    wait_for_health(&app, "", ServingStatus::NotServing).await;
    let during_outage = alice.get(&uuid::Uuid::new_v4().to_string()).await.unwrap_err();
    let liveness_during_outage = status_of(&app, health::LIVENESS_SERVICE).await;

    let _running_again = tokio::task::spawn_blocking(move || cluster.restart().map(|()| cluster))
        .await
        .unwrap()
        .expect("the cluster starts again on the same files");
    wait_for_health(&app, "", ServingStatus::Serving).await;
    let after_recovery = alice.create_titled("back in business").await;

    assert_eq!(during_outage.code(), Code::Unavailable);
    assert_eq!(liveness_during_outage, ServingStatus::Serving, "no restart for a database outage");
    assert!(!during_outage.message().contains("postgres"), "{}", during_outage.message());
    assert_eq!(after_recovery.title, "back in business");
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn shutdown_turns_health_off_and_the_server_stops_cleanly() {
    let mut app = TestApp::spawn().await;
    wait_for_health(&app, "", ServingStatus::Serving).await;
    let mut watcher = HealthClient::new(app.channel());
    let mut statuses =
        watcher.watch(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(statuses.message().await.unwrap().unwrap().status(), ServingStatus::Serving);

    let stopped = app.stop().await;
    let last = statuses.message().await;

    stopped.expect("the server drains and stops without error");
    if let Ok(Some(update)) = last {
        assert_eq!(update.status(), ServingStatus::NotServing);
    }
}

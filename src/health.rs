//! The standard gRPC health service, following PostgreSQL: SERVING while the database
//! answers, NOT_SERVING while it does not, and NOT_SERVING for good once shutdown begins.
//! One more name, `liveness`, says only that the process answers: a liveness probe that
//! followed the database would restart every replica during a database outage, which helps
//! nothing and drops the connections the replicas hold.

use std::time::Duration;

use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::observability::metrics::DATABASE_UP;
use crate::pb::SERVICE_NAME;
use crate::store::Store;

/// The health name that is SERVING for as long as the process answers, for liveness probes.
pub const LIVENESS_SERVICE: &str = "liveness";

/// Sets the overall status ("") and the conversation service's status together.
pub async fn set_status(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(SERVICE_NAME, status).await;
}

/// Ends every open `Watch` stream, which would otherwise hold the drain for its whole grace
/// period: forgetting a name drops the only sender its watchers listen to. Called once new
/// calls are refused, so no `Check` comes after it to find the names gone.
pub async fn end_watches(mut reporter: HealthReporter) {
    for name in ["", SERVICE_NAME, LIVENESS_SERVICE] {
        reporter.clear_service_status(name).await;
    }
}

/// Probes the database every `interval` and reports each change of its reachability.
pub fn watch_database(
    reporter: HealthReporter,
    store: Store,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reachable = None;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        loop {
            ticker.tick().await;
            let ping = store.ping(interval.max(Duration::from_secs(1))).await;
            let now_reachable = ping.is_ok();
            metrics::gauge!(DATABASE_UP).set(if now_reachable { 1.0 } else { 0.0 });
            if reachable == Some(now_reachable) {
                if let Err(error) = &ping {
                    tracing::debug!(%error, "database still unreachable");
                }
                continue;
            }

            match ping {
                Ok(()) => {
                    tracing::info!("database reachable; serving");
                    set_status(&reporter, ServingStatus::Serving).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "database unreachable; not serving");
                    set_status(&reporter, ServingStatus::NotServing).await;
                }
            }
            reachable = Some(now_reachable);
        }
    })
}

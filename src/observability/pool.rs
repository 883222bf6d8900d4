//! The state of the PostgreSQL connection pool as metrics: connections held (idle and in
//! use) and the pool's ceiling, sampled each second, and the requests waiting for a
//! connection, counted as they wait.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::Store;

use super::metrics::{POOL_ACQUIRE_TIMEOUTS, POOL_CONNECTIONS, POOL_MAX_CONNECTIONS, POOL_WAITING};

const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Samples the pool every second until the returned task is aborted.
pub fn sample_pool(store: Store) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let pool = store.pool();
            let size = pool.size() as f64;
            let idle = store.idle_connections() as f64;
            metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(idle);
            metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set((size - idle).max(0.0));
            metrics::gauge!(POOL_MAX_CONNECTIONS).set(pool.options().get_max_connections());
        }
    })
}

/// Counts one request as waiting for a connection from creation until drop, so that a wait
/// abandoned by a cancelled call is uncounted too.
pub struct WaitingForConnection(());

impl WaitingForConnection {
    pub fn start() -> Self {
        metrics::gauge!(POOL_WAITING).increment(1.0);
        Self(())
    }

    /// The wait ended because no connection was free before the acquire timeout.
    pub fn timed_out(self) {
        metrics::counter!(POOL_ACQUIRE_TIMEOUTS).increment(1);
    }
}

impl Drop for WaitingForConnection {
    fn drop(&mut self) {
        metrics::gauge!(POOL_WAITING).decrement(1.0);
    }
}

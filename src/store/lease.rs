//! Connections handed from one call to the next without the round trip of sqlx's release.
//!
//! sqlx pings every connection given back to its pool (a Sync message and its ReadyForQuery)
//! because a call cancelled in the middle of a statement can leave a reply unread on it. That
//! ping is a round trip per call: without it a GetConversation cost the service and PostgreSQL
//! a tenth to a fifth less processor time in the benchmarks (docs/benchmarks.md). A call whose
//! statements all finished knows its connection is idle, so it leaves the connection here,
//! still checked out of sqlx's pool, and the next call takes it at once.
//!
//! Everything else goes back through sqlx's own release, with its ping, its rollback of an
//! unfinished transaction, its maximum lifetime and its idle count: a call that failed or was
//! cancelled, a connection held out of sqlx's pool for longer than [`HOLD_LIMIT`], and one left
//! idle here for longer than [`IDLE_LIMIT`].

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

use crate::observability::WaitingForConnection;

/// How long a connection may pass from call to call before it goes back through sqlx's pool,
/// which closes it once it outlives the pool's maximum lifetime.
const HOLD_LIMIT: Duration = Duration::from_secs(1);

/// How long a connection may wait here for the next call. Past it, the load is low enough
/// for a round trip per call not to matter, and sqlx's pool counts and reaps idle connections.
const IDLE_LIMIT: Duration = Duration::from_millis(250);

/// The connections that calls left behind, newest last.
#[derive(Debug, Default)]
pub(super) struct WarmConnections {
    idle: Mutex<Idle>,
    /// Calls waiting for sqlx's pool to hand them a connection. While there are any, a
    /// connection a call gives back goes to sqlx's pool, which hands it to the first of them.
    waiting_for_pool: AtomicUsize,
}

#[derive(Debug, Default)]
struct Idle {
    connections: Vec<Warm>,
    closed: bool,
}

#[derive(Debug)]
struct Warm {
    connection: PoolConnection<Postgres>,
    taken_from_pool: Instant,
    idle_since: Instant,
}

/// A connection lent to one call. Dropped, it goes back through sqlx's release; only
/// [`Lease::release`], called once the call's last statement has finished, leaves it warm.
#[derive(Debug)]
pub(super) struct Lease {
    connection: PoolConnection<Postgres>,
    taken_from_pool: Instant,
    warm: Arc<WarmConnections>,
}

impl WarmConnections {
    /// Starts giving connections left idle too long back to sqlx's pool, until the last handle
    /// on these connections is gone. Outside a Tokio runtime nothing sweeps them, and only
    /// calls give them back.
    pub(super) fn new() -> Arc<Self> {
        let warm = Arc::new(Self::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&warm)));
        }
        warm
    }

    /// A connection for one call: a warm one if there is one, else one from `pool`. Only the
    /// wait for `pool` counts in the pool's metrics as waiting.
    pub(super) async fn lease(self: &Arc<Self>, pool: &PgPool) -> Result<Lease, sqlx::Error> {
        if let Some(lease) = self.take() {
            return Ok(lease);
        }

        // Counted as waiting before looking again, so that a connection left here after this
        // look goes to sqlx's pool, which hands it to this call, instead of waiting here while
        // this call waits there.
        let waiting = WaitingForConnection::start();
        let _counted = WaitingForPool::start(self);
        if let Some(lease) = self.take() {
            return Ok(lease);
        }
        match pool.acquire().await {
            Ok(connection) => Ok(self.lent(connection, Instant::now())),
            Err(error) => {
                if let sqlx::Error::PoolTimedOut = error {
                    waiting.timed_out();
                }
                Err(error)
            }
        }
    }

    /// How many connections wait here for a call.
    pub(super) fn idle_count(&self) -> usize {
        self.lock().connections.len()
    }

    /// Gives every warm connection back to sqlx's pool and keeps none from now on, so that
    /// closing the pool does not wait for them.
    pub(super) fn close(&self) {
        let returned = {
            let mut idle = self.lock();
            idle.closed = true;
            std::mem::take(&mut idle.connections)
        };
        drop(returned);
    }

    fn take(self: &Arc<Self>) -> Option<Lease> {
        let warm = self.lock().connections.pop()?;
        Some(self.lent(warm.connection, warm.taken_from_pool))
    }

    fn lent(self: &Arc<Self>, connection: PoolConnection<Postgres>, taken: Instant) -> Lease {
        Lease { connection, taken_from_pool: taken, warm: Arc::clone(self) }
    }

    fn keep(&self, connection: PoolConnection<Postgres>, taken_from_pool: Instant) {
        let mut idle = self.lock();
        // Looked at under the lock that a waiting call's second look takes: either that look
        // finds this connection, or this sees the call counted and leaves the connection to
        // sqlx's pool, which hands it over.
        if idle.closed || self.waiting_for_pool.load(Ordering::SeqCst) > 0 {
            drop(idle);
            drop(connection);
            return;
        }
        let idle_since = Instant::now();
        idle.connections.push(Warm { connection, taken_from_pool, idle_since });
    }

    /// Gives the connections idle for longer than [`IDLE_LIMIT`] back to sqlx's pool.
    fn return_idle(&self) {
        let now = Instant::now();
        let is_stale = |warm: &mut Warm| now.duration_since(warm.idle_since) >= IDLE_LIMIT;
        let stale: Vec<Warm> = self.lock().connections.extract_if(.., is_stale).collect();
        drop(stale);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        // The lock guards only pushes and pops of a list, which cannot leave it half-changed.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Counts one call as waiting for sqlx's pool until dropped, so that a cancelled call is
/// uncounted too.
struct WaitingForPool<'a>(&'a WarmConnections);

impl<'a> WaitingForPool<'a> {
    fn start(warm: &'a WarmConnections) -> Self {
        warm.waiting_for_pool.fetch_add(1, Ordering::SeqCst);
        Self(warm)
    }
}

impl Drop for WaitingForPool<'_> {
    fn drop(&mut self) {
        self.0.waiting_for_pool.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn sweep(warm: Weak<WarmConnections>) {
    let mut ticker = tokio::time::interval(IDLE_LIMIT);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(warm) = warm.upgrade() else { return };
        warm.return_idle();
    }
}

impl Lease {
    /// Leaves the connection warm for the next call. Only for a connection whose statements
    /// have all finished, with no transaction open.
    pub(super) fn release(self) {
        if self.taken_from_pool.elapsed() >= HOLD_LIMIT {
            drop(self.connection);
        } else {
            self.warm.keep(self.connection, self.taken_from_pool);
        }
    }
}

impl Deref for Lease {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

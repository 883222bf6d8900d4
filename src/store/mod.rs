//! Every SQL statement of the service. Each method takes the caller's user id and every
//! statement filters by it, so that no code path can reach another user's rows. Database
//! errors are classified here, once, into [`StoreError`]; their text never leaves this module
//! except in logs.

mod conversations;
mod error;
mod filtering;
mod lease;
mod messages;
mod records;
mod scope;
mod search;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use lease::WarmConnections;

pub use conversations::{ConversationChanges, ConversationFilter, NewConversation, Transition};
pub use error::StoreError;
pub use messages::NewMessage;
pub use records::{ConversationRecord, MessageRecord};
pub use scope::Scope;
pub use search::{SearchConfig, SearchHit, SearchMode, SearchQuery, TITLE_CANDIDATES};
pub use stats::{ConversationStatsRecord, ValueCount};

pub type StoreResult<T> = Result<T, StoreError>;

/// Longest a statement may run when the caller set no shorter deadline.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The service's handle on PostgreSQL; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    /// One connection of its own for [`Store::ping`], with the same options as `pool`. A ping
    /// that queued behind busy calls would time out under load and take a healthy replica out
    /// of service just when it is needed most.
    ping_pool: PgPool,
    /// Connections that calls left for the next call, shared by every clone.
    warm: Arc<WarmConnections>,
    statement_timeout: Duration,
    search_config: SearchConfig,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        let ping_pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(PgConnectOptions::clone(&pool.connect_options()));
        Self {
            pool,
            ping_pool,
            warm: WarmConnections::new(),
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            search_config: SearchConfig::default(),
        }
    }

    /// Indexes and searches text with `config`, a PostgreSQL text search configuration.
    pub fn with_search_config(mut self, config: SearchConfig) -> Self {
        self.search_config = config;
        self
    }

    /// Caps every statement at `timeout`, or at the caller's deadline when that is sooner.
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many of the pool's connections wait for a call. sqlx's pool counts only the ones
    /// it holds itself; the store keeps recently used ones apart, checked out of it.
    pub fn idle_connections(&self) -> usize {
        self.pool.num_idle() + self.warm.idle_count()
    }

    /// Answers whether PostgreSQL answers a trivial query within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> StoreResult<()> {
        let query = sqlx::query("SELECT 1").execute(&self.ping_pool);
        match tokio::time::timeout(timeout, query).await {
            Ok(result) => result.map(|_| ()).map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable("ping timed out".into())),
        }
    }

    /// Gives every connection the store keeps back to the pool and closes the one that
    /// [`Store::ping`] uses, so that closing the pool, which is the owner's to do, waits only
    /// for calls still running.
    pub async fn close(&self) {
        self.warm.close();
        self.ping_pool.close().await;
    }

    /// Creates the message partitions of this month and the next `months_ahead`, so that new
    /// messages never land in the default partition.
    pub async fn ensure_message_partitions(&self, months_ahead: i32) -> StoreResult<()> {
        let mut connection = self.acquire().await?;
        sqlx::query("SELECT ensure_message_partitions($1)")
            .bind(months_ahead)
            .execute(&mut *connection)
            .await?;
        connection.release();
        Ok(())
    }
}

//! Every SQL statement of the service. Each method takes the caller's user id and every
//! statement filters by it, so that no code path can reach another user's rows. Database
//! errors are classified here, once, into [`StoreError`]; their text never leaves this module
//! except in logs.

mod conversations;
mod error;
mod filtering;
mod messages;
mod records;
mod scope;
mod search;
mod stats;

use std::time::Duration;

use sqlx::PgPool;

pub use conversations::{ConversationChanges, ConversationFilter, NewConversation, Transition};
pub use error::StoreError;
pub use messages::NewMessage;
pub use records::{ConversationRecord, MessageRecord};
pub use scope::Scope;
pub use search::{SearchConfig, SearchHit, SearchMode, SearchQuery};
pub use stats::{ConversationStatsRecord, ValueCount};

pub type StoreResult<T> = Result<T, StoreError>;

/// Longest a statement may run when the caller set no shorter deadline.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The service's handle on PostgreSQL; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    statement_timeout: Duration,
    search_config: SearchConfig,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
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

    /// Answers whether PostgreSQL answers a trivial query within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> StoreResult<()> {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(timeout, query).await {
            Ok(result) => result.map(|_| ()).map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable("ping timed out".into())),
        }
    }

    /// Creates the message partitions of this month and the next `months_ahead`, so that new
    /// messages never land in the default partition.
    pub async fn ensure_message_partitions(&self, months_ahead: i32) -> StoreResult<()> {
        sqlx::query("SELECT ensure_message_partitions($1)")
            .bind(months_ahead)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

//! Who a store call acts for, and the transaction that carries it to PostgreSQL.
//!
//! Every statement runs inside a transaction that first sets `conversation.user_id` with
//! `set_config(..., true)`, the function form of `SET LOCAL`: the row-level security policies
//! read it, and it ends with the transaction, so a pooled connection never carries one
//! caller's identity into the next caller's work. The same transaction gets the statement
//! timeout left by the caller's deadline.

use std::time::Instant;

use sqlx::{AssertSqlSafe, Postgres, SqlSafeStr, Transaction};
use uuid::Uuid;

use super::{Store, StoreResult};
use crate::observability::{TracedStatement, WaitingForConnection};

/// The caller and the time its statements may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub user_id: Uuid,
    /// When the caller stops waiting; `None` leaves only the store's default timeout.
    pub deadline: Option<Instant>,
}

impl Scope {
    pub fn user(user_id: Uuid) -> Self {
        Self { user_id, deadline: None }
    }
}

impl Store {
    /// Begins a transaction scoped to `scope`, in one round trip.
    pub(super) async fn begin(&self, scope: &Scope) -> StoreResult<Transaction<'static, Postgres>> {
        let time_left =
            scope.deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        let timeout =
            time_left.map_or(self.statement_timeout, |left| left.min(self.statement_timeout));
        let timeout_ms = timeout.as_millis().clamp(1, i32::MAX as u128);

        // The values are formatted from typed values (a UUID, an integer, a configuration name
        // checked to be a plain identifier), never from client text; set_config takes no bind
        // parameters inside a multi-statement BEGIN.
        let statement = format!(
            "BEGIN; SELECT set_config('conversation.user_id', '{}', true), \
             set_config('statement_timeout', '{timeout_ms}', true), \
             set_config('conversation.search_config', '{}', true)",
            scope.user_id,
            self.search_config.as_str(),
        );
        // Only the wait for a free connection counts as waiting; the BEGIN round trip that
        // follows is work, and counting it would show a busy pool as a saturated one.
        let waiting = WaitingForConnection::start();
        let connection = match self.pool.acquire().await {
            Ok(connection) => connection,
            Err(error) => {
                if let sqlx::Error::PoolTimedOut = error {
                    waiting.timed_out();
                }
                return Err(error.into());
            }
        };
        drop(waiting);

        let begin = Transaction::begin(connection, Some(AssertSqlSafe(statement).into_sql_str()));
        Ok(begin.traced("BEGIN").await?)
    }
}

//! Who a store call acts for, and the transaction that carries it to PostgreSQL.
//!
//! Every statement runs inside a transaction that first sets `conversation.user_id` with
//! `set_config(..., true)`, the function form of `SET LOCAL`: the row-level security policies
//! read it, and it ends with the transaction, so a pooled connection never carries one
//! caller's identity into the next caller's work. The same transaction gets the statement
//! timeout left by the caller's deadline.

use std::ops::{Deref, DerefMut};
use std::time::Instant;

use sqlx::{AssertSqlSafe, Database, PgConnection, Postgres, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;
use uuid::Uuid;

use super::lease::Lease;
use super::{Store, StoreResult};
use crate::observability::TracedStatement;

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

/// Whether PostgreSQL may reuse a generic plan of a prepared statement, made without looking
/// at the values bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Planning {
    /// PostgreSQL's default: after a few executions a statement may keep one generic plan.
    Cached,
    /// A fresh plan for the bound values every time, for statements whose best plan depends
    /// on them (how common a searched word is decides between an index and a scan).
    EachStatement,
}

impl Store {
    /// Begins a transaction scoped to `scope`, in one round trip.
    pub(super) async fn begin(&self, scope: &Scope) -> StoreResult<ScopedTransaction> {
        self.begin_planned(scope, Planning::Cached).await
    }

    /// Begins a transaction like [`Store::begin`] whose statements are planned for their
    /// bound values each time they run.
    pub(super) async fn begin_planning_each_statement(
        &self,
        scope: &Scope,
    ) -> StoreResult<ScopedTransaction> {
        self.begin_planned(scope, Planning::EachStatement).await
    }

    async fn begin_planned(
        &self,
        scope: &Scope,
        planning: Planning,
    ) -> StoreResult<ScopedTransaction> {
        let statement = format!("BEGIN; {}", self.scope_settings(scope, planning));
        let mut lease = self.acquire().await?;
        let begin = Manager::begin(&mut lease, Some(AssertSqlSafe(statement).into_sql_str()));
        begin.traced("BEGIN").await?;
        Ok(ScopedTransaction { lease: Some(lease) })
    }
}

type Manager = <Postgres as Database>::TransactionManager;

/// A transaction scoped to one caller, on a connection lent to it. Committed, it leaves the
/// connection warm for the next call; dropped while open (an error, a cancelled call), it
/// queues a ROLLBACK, which sqlx's release of the connection sends before anyone reuses it.
/// It does what sqlx's own `Transaction` does, except that a `Transaction` that owns its
/// connection can only give it back through sqlx's release and its round trip.
#[derive(Debug)]
pub(super) struct ScopedTransaction {
    lease: Option<Lease>,
}

impl ScopedTransaction {
    pub(super) async fn commit(mut self) -> Result<(), sqlx::Error> {
        // On an error or a cancellation the transaction is still counted open on the
        // connection, and dropping `self` rolls it back.
        Manager::commit(&mut self).await?;

        if let Some(lease) = self.lease.take() {
            lease.release();
        }
        Ok(())
    }
}

impl Deref for ScopedTransaction {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.lease.as_ref().expect("an open transaction holds its connection")
    }
}

impl DerefMut for ScopedTransaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.lease.as_mut().expect("an open transaction holds its connection")
    }
}

impl Drop for ScopedTransaction {
    fn drop(&mut self) {
        if let Some(lease) = &mut self.lease {
            Manager::start_rollback(lease);
        }
    }
}

impl Store {
    /// The SELECT of `set_config(..., true)` calls that scopes a transaction to `scope`.
    fn scope_settings(&self, scope: &Scope, planning: Planning) -> String {
        let timeout_ms = self.timeout_ms(scope);

        // The values are formatted from typed values (a UUID, an integer, a configuration name
        // checked to be a plain identifier), never from client text; set_config takes no bind
        // parameters inside a multi-statement query.
        let plan_cache_mode = match planning {
            Planning::Cached => "",
            Planning::EachStatement => ", set_config('plan_cache_mode', 'force_custom_plan', true)",
        };
        format!(
            "SELECT set_config('conversation.user_id', '{}', true), \
             set_config('statement_timeout', '{timeout_ms}', true), \
             set_config('conversation.search_config', '{}', true){plan_cache_mode}",
            scope.user_id,
            self.search_config.as_str(),
        )
    }

    /// The milliseconds a statement of `scope` may take: the time left before the caller's
    /// deadline, at most the store's statement timeout, and at least 1 (0 means no limit).
    pub(super) fn timeout_ms(&self, scope: &Scope) -> i32 {
        let time_left =
            scope.deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        let timeout =
            time_left.map_or(self.statement_timeout, |left| left.min(self.statement_timeout));
        timeout.as_millis().clamp(1, i32::MAX as u128) as i32
    }

    /// A connection lent to one call.
    pub(super) async fn acquire(&self) -> StoreResult<Lease> {
        Ok(self.warm.lease(&self.pool).await?)
    }
}

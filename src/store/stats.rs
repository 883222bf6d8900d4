//! The statistics of a user's conversations, computed in one statement.
//!
//! The statement reads the caller's conversations three times (grouped counts, the median, the
//! context values) and probes the indexes once per day of the last 30. Every part filters by
//! user_id, and row-level security applies as to any other statement. docs/querying.md
//! defines each number and shows how the statement performs.

use chrono::{DateTime, Utc};
use tracing::instrument;

use crate::observability::TracedStatement;

use super::{Scope, Store, StoreError, StoreResult};
use crate::domain::{Mode, Status};

/// Modes and statuses in the order the API lists them, so that every one is reported, with 0
/// when no conversation has it.
const MODES: [Mode; 4] = [Mode::Analysis, Mode::Psychology, Mode::Training, Mode::Planning];
const STATUSES: [Status; 3] = [Status::Active, Status::Archived, Status::Deleted];

/// How many values of each context list are reported.
const TOP_VALUES: i64 = 10;

/// The context keys whose list values are ranked.
const INSTRUMENTS_KEY: &str = "trading_instruments";
const FOCUS_KEY: &str = "coaching_focus";

/// A summary of one user's conversations; see the proto's ConversationStats for each field.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationStatsRecord {
    /// Every mode, in API order, with its count.
    pub by_mode: Vec<(Mode, i64)>,
    /// Every status, in API order, with its count; deleted conversations always count here.
    pub by_status: Vec<(Status, i64)>,
    pub total_conversations: i64,
    pub total_messages: i64,
    pub average_messages: f64,
    pub median_messages: f64,
    pub first_activity: Option<DateTime<Utc>>,
    pub latest_activity: Option<DateTime<Utc>>,
    pub active_days_last_30: i32,
    pub top_instruments: Vec<ValueCount>,
    pub top_coaching_focuses: Vec<ValueCount>,
}

/// One value of a context list and the number of conversations whose list holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueCount {
    pub value: String,
    pub conversations: i64,
}

/// $1 is the caller, $2 whether deleted conversations count, $3 and $4 the two context keys,
/// $5 how many values of each key to return.
///
/// Counts, totals and activity times come from one grouped pass, at most 12 rows (mode by
/// status), that the later parts add up. The median needs every count, so it has a pass of its
/// own. Active days are 30 probes of one day each, answered by indexes on (user_id, time)
/// without reading a user's messages: the day bounds are computed as dates in UTC, so that
/// neither the session's time zone nor daylight saving can stretch a day.
const STATS_STATEMENT: &str = r#"
WITH groups AS (
  SELECT mode, status, ($2 OR status <> 'deleted') AS counted,
         count(*) AS conversations, sum(message_count)::bigint AS messages,
         min(created_at) AS first_activity,
         max(GREATEST(updated_at, last_message_at)) AS latest_activity
  FROM conversations
  WHERE user_id = $1
  GROUP BY mode, status
),
totals AS (
  SELECT coalesce(sum(conversations), 0)::bigint AS conversations,
         coalesce(sum(messages), 0)::bigint AS messages,
         min(first_activity) AS first_activity,
         max(latest_activity) AS latest_activity
  FROM groups
  WHERE counted
),
median AS (
  SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY message_count) AS messages
  FROM conversations
  WHERE user_id = $1 AND ($2 OR status <> 'deleted')
),
by_mode AS (
  SELECT array_agg(mode::text) AS modes, array_agg(conversations) AS counts
  FROM (SELECT mode, sum(conversations)::bigint AS conversations
        FROM groups WHERE counted GROUP BY mode) AS m
),
by_status AS (
  SELECT array_agg(status::text) AS statuses, array_agg(conversations) AS counts
  FROM (SELECT status, sum(conversations)::bigint AS conversations
        FROM groups GROUP BY status) AS s
),
active_days AS (
  SELECT count(*)::int AS days
  FROM generate_series(0, 29) AS back (days),
       LATERAL (SELECT ((now() AT TIME ZONE 'UTC')::date - back.days) AS day) AS d,
       LATERAL (SELECT d.day::timestamp AT TIME ZONE 'UTC' AS since,
                       (d.day + 1)::timestamp AT TIME ZONE 'UTC' AS until) AS bounds
  WHERE EXISTS (SELECT 1 FROM messages AS m
                WHERE m.user_id = $1
                  AND m.created_at >= bounds.since AND m.created_at < bounds.until)
     OR EXISTS (SELECT 1 FROM conversations AS c
                WHERE c.user_id = $1
                  AND c.updated_at >= bounds.since AND c.updated_at < bounds.until)
     OR EXISTS (SELECT 1 FROM conversations AS c
                WHERE c.user_id = $1
                  AND c.created_at >= bounds.since AND c.created_at < bounds.until)
),
named AS (
  SELECT listed.key, listed.value
  FROM conversations AS c
  CROSS JOIN LATERAL (
    SELECT DISTINCT keys.key, element #>> '{}' AS value
    FROM (VALUES ($3::text), ($4::text)) AS keys (key),
         jsonb_array_elements(
           CASE jsonb_typeof(c.context_data -> keys.key)
             WHEN 'array' THEN c.context_data -> keys.key
             WHEN 'string' THEN jsonb_build_array(c.context_data -> keys.key)
             ELSE '[]'::jsonb
           END) AS element
    WHERE jsonb_typeof(element) = 'string'
  ) AS listed
  WHERE c.user_id = $1 AND ($2 OR c.status <> 'deleted')
),
ranked AS (
  SELECT key, value, count(*) AS conversations,
         row_number() OVER (PARTITION BY key ORDER BY count(*) DESC, value COLLATE "C") AS rank
  FROM named
  GROUP BY key, value
)
SELECT totals.conversations, totals.messages, median.messages AS median,
       totals.first_activity, totals.latest_activity,
       active_days.days AS active_days,
       coalesce(by_mode.modes, '{}') AS modes,
       coalesce(by_mode.counts, '{}') AS mode_counts,
       coalesce(by_status.statuses, '{}') AS statuses,
       coalesce(by_status.counts, '{}') AS status_counts,
       ARRAY(SELECT value FROM ranked WHERE key = $3 AND rank <= $5 ORDER BY rank)
         AS instruments,
       ARRAY(SELECT conversations FROM ranked WHERE key = $3 AND rank <= $5 ORDER BY rank)
         AS instrument_counts,
       ARRAY(SELECT value FROM ranked WHERE key = $4 AND rank <= $5 ORDER BY rank)
         AS focuses,
       ARRAY(SELECT conversations FROM ranked WHERE key = $4 AND rank <= $5 ORDER BY rank)
         AS focus_counts
FROM totals, median, active_days, by_mode, by_status
"#;

#[derive(sqlx::FromRow)]
struct StatsRow {
    conversations: i64,
    messages: i64,
    median: Option<f64>,
    first_activity: Option<DateTime<Utc>>,
    latest_activity: Option<DateTime<Utc>>,
    active_days: i32,
    modes: Vec<String>,
    mode_counts: Vec<i64>,
    statuses: Vec<String>,
    status_counts: Vec<i64>,
    instruments: Vec<String>,
    instrument_counts: Vec<i64>,
    focuses: Vec<String>,
    focus_counts: Vec<i64>,
}

impl Store {
    /// The caller's statistics. Deleted conversations count only by status unless
    /// `include_deleted`.
    #[instrument(skip_all, fields(include_deleted))]
    pub async fn conversation_stats(
        &self,
        scope: &Scope,
        include_deleted: bool,
    ) -> StoreResult<ConversationStatsRecord> {
        let mut tx = self.begin(scope).await?;
        let row: StatsRow = sqlx::query_as(STATS_STATEMENT)
            .bind(scope.user_id)
            .bind(include_deleted)
            .bind(INSTRUMENTS_KEY)
            .bind(FOCUS_KEY)
            .bind(TOP_VALUES)
            .fetch_one(&mut *tx)
            .traced("SELECT stats")
            .await?;
        tx.commit().traced("COMMIT").await?;

        row.try_into()
    }
}

impl TryFrom<StatsRow> for ConversationStatsRecord {
    type Error = StoreError;

    fn try_from(row: StatsRow) -> Result<Self, StoreError> {
        let by_mode = every_kind(&MODES, &row.modes, &row.mode_counts, Mode::from_stored)?;
        let by_status =
            every_kind(&STATUSES, &row.statuses, &row.status_counts, Status::from_stored)?;

        // An average over no conversation is reported as 0 rather than NaN, which JSON
        // clients and dashboards handle badly.
        let average_messages = if row.conversations == 0 {
            0.0
        } else {
            row.messages as f64 / row.conversations as f64
        };

        Ok(Self {
            by_mode,
            by_status,
            total_conversations: row.conversations,
            total_messages: row.messages,
            average_messages,
            median_messages: row.median.unwrap_or(0.0),
            first_activity: row.first_activity,
            latest_activity: row.latest_activity,
            active_days_last_30: row.active_days,
            top_instruments: value_counts(row.instruments, row.instrument_counts),
            top_coaching_focuses: value_counts(row.focuses, row.focus_counts),
        })
    }
}

/// Counts for every kind of `all`, in its order, from the kinds the database found: a kind no
/// conversation has is reported with 0.
fn every_kind<K: Copy + PartialEq, E: std::fmt::Display>(
    all: &[K],
    stored: &[String],
    counts: &[i64],
    parse: impl Fn(&str) -> Result<K, E>,
) -> StoreResult<Vec<(K, i64)>> {
    let mut found = Vec::with_capacity(stored.len());
    for (name, count) in stored.iter().zip(counts) {
        let kind = parse(name).map_err(|error| StoreError::Internal(error.to_string()))?;
        found.push((kind, *count));
    }

    let count_of = |kind: K| found.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n);
    Ok(all.iter().map(|&kind| (kind, count_of(kind))).collect())
}

fn value_counts(values: Vec<String>, counts: Vec<i64>) -> Vec<ValueCount> {
    values
        .into_iter()
        .zip(counts)
        .map(|(value, conversations)| ValueCount { value, conversations })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_no_conversation_has_is_reported_with_zero() {
        let stored = vec!["planning".to_owned(), "analysis".to_owned()];

        let counts = every_kind(&MODES, &stored, &[2, 5], Mode::from_stored).unwrap();

        let expected = vec![
            (Mode::Analysis, 5),
            (Mode::Psychology, 0),
            (Mode::Training, 0),
            (Mode::Planning, 2),
        ];
        assert_eq!(counts, expected);
    }

    #[test]
    fn an_unknown_stored_kind_is_an_internal_error() {
        let stored = vec!["gambling".to_owned()];

        let result = every_kind(&MODES, &stored, &[1], Mode::from_stored);

        assert!(matches!(result, Err(StoreError::Internal(_))));
    }
}

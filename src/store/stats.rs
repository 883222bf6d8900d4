//! The statistics of a user's conversations, computed in one statement.
//!
//! The statement reads running counts that triggers keep per user, never the user's
//! conversations one by one, so that its cost does not grow with their number; it probes
//! indexes for the activity times and once per day of the last 30. Every part filters by
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

/// $1 is the caller, $2 whether deleted conversations count, $3 and $4 the two context keys
/// (which must be the ones `tracked_context_values()` in the migrations counts), $5 how many
/// values of each key to return.
///
/// Nothing here reads a user's conversations one by one: counts, totals and the median come
/// from the histogram in `conversation_message_counts`, the ranking from
/// `conversation_context_counts`, both kept current by triggers (see the migration
/// `conversation_counts`). The activity times are three probes of per-user indexes on a time
/// column. Active days are 30 probes of one day each, answered by indexes on (user_id, time)
/// without reading a user's messages: the day bounds are computed as dates in UTC, so that
/// neither the session's time zone nor daylight saving can stretch a day.
const STATS_STATEMENT: &str = r#"
WITH histogram AS (
  SELECT mode, status, message_count, conversations, ($2 OR status <> 'deleted') AS counted
  FROM conversation_message_counts
  WHERE user_id = $1 AND conversations > 0
),
totals AS (
  SELECT coalesce(sum(conversations), 0)::bigint AS conversations,
         coalesce(sum(conversations * message_count), 0)::bigint AS messages
  FROM histogram
  WHERE counted
),
-- percentile_cont(0.5) read off the histogram: the mean of the values at the two middle
-- positions (the same one when the number of conversations is odd). The value at position k,
-- counting from 0, is the smallest count whose running total of conversations exceeds k.
median AS (
  SELECT ((min(message_count) FILTER (WHERE reached > (total - 1) / 2)
         + min(message_count) FILTER (WHERE reached > total / 2)) / 2.0)::float8 AS messages
  FROM (SELECT message_count,
               (sum(conversations) OVER (ORDER BY message_count))::bigint AS reached,
               (sum(conversations) OVER ())::bigint AS total
        FROM (SELECT message_count, sum(conversations) AS conversations
              FROM histogram WHERE counted GROUP BY message_count) AS per_count) AS running
),
-- The latest activity of a conversation is the later of its updated_at and its last message.
-- last_activity_at is the last message's time, or the creation time when there is none,
-- which is never later than updated_at; so the latest of the two per-user maxima below is
-- the latest activity of all, and each maximum is one probe of an index.
activity AS (
  SELECT (SELECT min(created_at) FROM conversations
          WHERE user_id = $1 AND ($2 OR status <> 'deleted')) AS first_activity,
         GREATEST(
           (SELECT max(updated_at) FROM conversations
            WHERE user_id = $1 AND ($2 OR status <> 'deleted')),
           (SELECT max(last_activity_at) FROM conversations
            WHERE user_id = $1 AND ($2 OR status <> 'deleted'))) AS latest_activity
),
by_mode AS (
  SELECT array_agg(mode::text) AS modes, array_agg(conversations) AS counts
  FROM (SELECT mode, sum(conversations)::bigint AS conversations
        FROM histogram WHERE counted GROUP BY mode) AS m
),
by_status AS (
  SELECT array_agg(status::text) AS statuses, array_agg(conversations) AS counts
  FROM (SELECT status, sum(conversations)::bigint AS conversations
        FROM histogram GROUP BY status) AS s
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
ranked AS (
  SELECT key, value, sum(conversations)::bigint AS conversations,
         row_number() OVER (PARTITION BY key
                            ORDER BY sum(conversations) DESC, value COLLATE "C") AS rank
  FROM conversation_context_counts
  WHERE user_id = $1 AND ($2 OR NOT deleted) AND key IN ($3, $4)
  GROUP BY key, value
  HAVING sum(conversations) > 0
)
SELECT totals.conversations, totals.messages, median.messages AS median,
       activity.first_activity, activity.latest_activity,
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
FROM totals, median, activity, active_days, by_mode, by_status
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

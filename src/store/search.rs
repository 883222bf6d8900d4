//! Full-text search over the caller's titles and messages, ranked, with a snippet of the best
//! matching message; and, when full text finds nothing, trigram matching of titles so that a
//! typo still finds the conversation.
//!
//! A title match weighs twice a message match, so a conversation named after the words ranks
//! above one that mentions them in passing. The listing's filter narrows the hits; deleted
//! conversations are never found.
//!
//! Ranking needs every candidate's text vector, so the cost of a search grows with the number
//! of candidates, not with the number of hits returned. To keep a search of a user with a
//! million messages as cheap as one of a user with a hundred, the candidates are the user's
//! most recent matches: the [`TITLE_CANDIDATES`] newest conversations whose title matches and
//! the [`MESSAGE_CANDIDATES`] newest matching messages. Hits are ranked, and paged, among
//! those. For nearly every user that is every match; for a user whose words match thousands
//! of conversations, it is the most relevant of the recent ones.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use tracing::instrument;

use crate::observability::TracedStatement;
use uuid::Uuid;

use super::filtering::push_conversation_filter;
use super::records::ConversationRow;
use super::{ConversationFilter, ConversationRecord, Scope, Store, StoreError, StoreResult};
use crate::domain::ScorePosition;

/// A PostgreSQL text search configuration name, such as `english` or `simple`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchConfig(String);

impl Default for SearchConfig {
    fn default() -> Self {
        Self("english".into())
    }
}

impl SearchConfig {
    /// Accepts a plain lowercase identifier; whether PostgreSQL has it is checked at start.
    pub fn parse(name: &str) -> Option<Self> {
        let plain = !name.is_empty()
            && name.len() <= 63
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        plain.then(|| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What to look for: words and quoted phrases (web search syntax), and word prefixes written
/// with a trailing `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: String,
    pub prefixes: Vec<String>,
}

/// Which matching produced a page: full text, or the trigram fallback for titles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    FullText,
    Fuzzy,
}

#[derive(Debug, Clone)]
pub struct SearchHit {
    pub conversation: ConversationRecord,
    pub score: f64,
    /// The best matching message, when a message matched.
    pub message_id: Option<Uuid>,
    /// Matching words of the best message (or of the title) marked `**like this**`.
    pub snippet: String,
}

#[derive(sqlx::FromRow)]
struct HitRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    score: f64,
    message_id: Option<Uuid>,
    snippet: Option<String>,
}

/// How many of the newest conversations with a matching title a search ranks.
pub const TITLE_CANDIDATES: i64 = 100;

/// How many of the newest matching messages a search ranks.
pub const MESSAGE_CANDIDATES: i64 = 200;

/// Matching messages are looked for in the last 3 days first, then back to the start of the
/// month 30 days ago, then back to the start of the month 180 days ago, then in everything
/// older, and each later window is read only while the earlier ones found fewer than
/// [`MESSAGE_CANDIDATES`]. Messages are partitioned by month, so a window is a few partitions,
/// and a query with many matches never reads the older ones. The first window is short because
/// a common word has to be fetched and sorted wherever it matches within a window: for a user
/// who writes a thousand messages a day, three days of a word in one message of ten are a few
/// hundred rows, thirty days are thousands. The older bounds fall on the first of a month, so
/// that of the partitions a query reads, only the one holding the first bound is read twice.
const WINDOW_BOUNDS: [MessageWindowBound; 3] = [
    MessageWindowBound::DaysAgo(3),
    MessageWindowBound::MonthOfDaysAgo(30),
    MessageWindowBound::MonthOfDaysAgo(180),
];

/// Where a window of messages begins, counted back from now.
#[derive(Debug, Clone, Copy)]
enum MessageWindowBound {
    DaysAgo(i64),
    /// The first instant (UTC, as the partitions are cut) of the month that holds that day.
    MonthOfDaysAgo(i64),
}

impl MessageWindowBound {
    fn before(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::DaysAgo(days) => now - Duration::days(days),
            Self::MonthOfDaysAgo(days) => {
                let day = (now - Duration::days(days)).date_naive();
                let first = day.with_day(1).unwrap_or(day);
                first.and_time(NaiveTime::MIN).and_utc()
            }
        }
    }
}

const HEADLINE_OPTIONS: &str =
    "MaxFragments=1, MaxWords=24, MinWords=8, ShortWord=2, StartSel=**, StopSel=**";

impl Store {
    /// One page of hits after `after`, best first.
    #[instrument(skip_all, fields(?mode, limit))]
    pub async fn search_conversations(
        &self,
        scope: &Scope,
        query: &SearchQuery,
        filter: &ConversationFilter,
        mode: SearchMode,
        after: Option<ScorePosition>,
        limit: i64,
    ) -> StoreResult<Vec<SearchHit>> {
        let config = self.search_config.as_str();
        let mut builder = match mode {
            SearchMode::FullText => full_text(scope.user_id, query, config, Utc::now()),
            SearchMode::Fuzzy => fuzzy(scope.user_id, query),
        };
        // The outer query reads the hit's conversation as `c`; the filter's column names are
        // the conversation's own, which no other table of the statement has.
        push_conversation_filter(&mut builder, filter);

        if let Some(after) = after {
            builder.push(" AND (hits.score, hits.id) < (").push_bind(after.score);
            builder.push(", ").push_bind(after.id).push(")");
        }
        builder.push(" ORDER BY hits.score DESC, hits.id DESC LIMIT ").push_bind(limit);

        let mut tx = self.begin_planning_each_statement(scope).await?;
        let rows: Vec<HitRow> =
            builder.build_query_as().fetch_all(&mut *tx).traced("SELECT search").await?;
        tx.commit().traced("COMMIT").await?;

        rows.into_iter()
            .map(|row| {
                Ok(SearchHit {
                    snippet: row.snippet.unwrap_or_default(),
                    conversation: row.conversation.try_into()?,
                    score: row.score,
                    message_id: row.message_id,
                })
            })
            .collect::<Result<_, StoreError>>()
    }
}

impl Store {
    /// The first page of a search: full text, or the typo fallback when full text finds
    /// nothing at all. Says which mode answered, for the page tokens to keep it.
    pub async fn search_first_page(
        &self,
        scope: &Scope,
        query: &SearchQuery,
        filter: &ConversationFilter,
        limit: i64,
    ) -> StoreResult<(SearchMode, Vec<SearchHit>)> {
        let full_text = self
            .search_conversations(scope, query, filter, SearchMode::FullText, None, limit)
            .await?;
        if !full_text.is_empty() {
            return Ok((SearchMode::FullText, full_text));
        }

        let fuzzy =
            self.search_conversations(scope, query, filter, SearchMode::Fuzzy, None, limit).await?;
        Ok((SearchMode::Fuzzy, fuzzy))
    }
}

/// The tsquery of `query`: web search syntax for the words and phrases, `word:*` for each
/// prefix, all of them required. The configuration is written into the statement as a
/// constant (a plain identifier, checked by [`SearchConfig::parse`]) rather than read from the
/// session, so that PostgreSQL computes the tsquery once while planning, and can estimate from
/// its statistics how many rows match and so whether an index or a scan of the newest rows
/// finds the candidates sooner.
fn push_tsquery(builder: &mut QueryBuilder<Postgres>, query: &SearchQuery, config: &str) {
    // Parenthesised: @@ and && share a precedence, so `v @@ a && b` would read `(v @@ a) && b`.
    builder.push("(");
    let mut parts = 0;
    if !query.text.trim().is_empty() {
        builder.push(format_args!("websearch_to_tsquery('{config}'::regconfig, "));
        builder.push_bind(query.text.clone()).push(")");
        parts += 1;
    }
    for prefix in &query.prefixes {
        if parts > 0 {
            builder.push(" && ");
        }
        // The prefix holds letters and digits only (checked by the caller), so the quoted
        // lexeme cannot carry tsquery operators.
        builder.push(format_args!("to_tsquery('{config}'::regconfig, "));
        builder.push_bind(format!("'{prefix}':*")).push(")");
        parts += 1;
    }
    builder.push(")");
}

/// The newest matching messages of the user created in `[since, until)`, newest first.
fn push_message_window(
    builder: &mut QueryBuilder<Postgres>,
    user_id: Uuid,
    query: &SearchQuery,
    config: &str,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) {
    builder.push("(SELECT m.conversation_id, m.id, m.content, m.created_at, m.content_search ");
    builder.push("FROM messages m WHERE m.user_id = ").push_bind(user_id);
    if let Some(since) = window.0 {
        builder.push(" AND m.created_at >= ").push_bind(since);
    }
    if let Some(until) = window.1 {
        builder.push(" AND m.created_at < ").push_bind(until);
    }
    push_message_match(builder, user_id, query, config);
    builder.push(" ORDER BY m.created_at DESC LIMIT ").push(MESSAGE_CANDIDATES).push(")");
}

/// Whether message `m` matches, read through the index of words per group of users (migration
/// 20261204000002). Its words have no positions, so a query with a phrase (`<->`, from quotes
/// or a hyphenated word) is checked against the message's own vector too. Whether the query
/// has one is a constant of the statement: PostgreSQL folds the check while planning and drops
/// whichever side of the OR does not apply.
fn push_message_match(
    builder: &mut QueryBuilder<Postgres>,
    user_id: Uuid,
    query: &SearchQuery,
    config: &str,
) {
    builder.push(" AND user_search_terms(m.user_id, m.content_search) @@ user_search_query(");
    builder.push_bind(user_id).push(", ");
    push_tsquery(builder, query, config);
    builder.push(") AND (strpos(");
    push_tsquery(builder, query, config);
    builder.push("::text, '<') = 0 OR m.content_search @@ ");
    push_tsquery(builder, query, config);
    builder.push(")");
}

fn full_text(
    user_id: Uuid,
    query: &SearchQuery,
    config: &str,
    now: DateTime<Utc>,
) -> QueryBuilder<Postgres> {
    // The tsquery is written out at each use rather than shared through a CTE: the planner
    // can then match it against the GIN indexes, which a CTE's output column hides from it.
    // Candidates carry their vectors, and are ranked only once chosen: ranking every match
    // before choosing would cost what the candidate limit saves.
    let mut builder = QueryBuilder::new(
        "WITH title_hits AS (SELECT c.id, c.title_search FROM conversations c WHERE c.user_id = ",
    );
    builder.push_bind(user_id);
    builder.push(" AND c.title_search @@ ");
    push_tsquery(&mut builder, query, config);
    builder.push(" ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ").push(TITLE_CANDIDATES);

    // The windows are read in turn and only as far as the LIMIT needs, newest first.
    builder.push("), message_candidates AS (");
    let mut until = None;
    for bound in WINDOW_BOUNDS {
        let since = bound.before(now);
        push_message_window(&mut builder, user_id, query, config, (Some(since), until));
        builder.push(" UNION ALL ");
        until = Some(since);
    }
    push_message_window(&mut builder, user_id, query, config, (None, until));
    builder.push(" LIMIT ").push(MESSAGE_CANDIDATES);

    builder.push("), message_hits AS (");
    builder.push("SELECT DISTINCT ON (conversation_id) conversation_id AS id, ");
    builder.push("id AS message_id, content, ts_rank(content_search, ");
    push_tsquery(&mut builder, query, config);
    builder.push(") AS rank FROM message_candidates ");
    builder.push("ORDER BY conversation_id, rank DESC, created_at DESC, id), ");
    // Materialized, so that the join below sees the hit's id as a plain column: an expression
    // such as COALESCE over the two sides could not be matched against the primary key under
    // row-level security, and the join would read every conversation of the user.
    builder.push("hits AS MATERIALIZED (SELECT COALESCE(t.id, h.id) AS id, ");
    builder.push("(2 * COALESCE(ts_rank(t.title_search, ");
    push_tsquery(&mut builder, query, config);
    builder.push("), 0) + COALESCE(h.rank, 0))::float8 AS score, ");
    builder.push(
        "h.message_id, h.content FROM title_hits t FULL JOIN message_hits h ON h.id = t.id) ",
    );
    builder.push("SELECT c.*, hits.score, hits.message_id, ");
    builder.push(format_args!(
        "ts_headline('{config}'::regconfig, COALESCE(hits.content, c.title, ''), "
    ));
    push_tsquery(&mut builder, query, config);
    builder.push(", '").push(HEADLINE_OPTIONS).push("') AS snippet ");
    builder.push("FROM hits JOIN conversations c ON c.id = hits.id AND c.user_id = ");
    builder.push_bind(user_id).push(" WHERE true");
    builder
}

fn fuzzy(user_id: Uuid, query: &SearchQuery) -> QueryBuilder<Postgres> {
    let mut words = query.text.clone();
    for prefix in &query.prefixes {
        words.push(' ');
        words.push_str(prefix);
    }

    let mut builder = QueryBuilder::new("WITH hits AS (SELECT c.id, similarity(c.title, ");
    builder
        .push_bind(words.clone())
        .push(")::float8 AS score FROM conversations c WHERE c.user_id = ");
    builder.push_bind(user_id).push(" AND c.status <> 'deleted' AND c.title % ");
    builder.push_bind(words).push(") SELECT c.*, hits.score, NULL::uuid AS message_id, ");
    builder.push(
        "c.title AS snippet FROM hits JOIN conversations c ON c.id = hits.id AND c.user_id = ",
    );
    builder.push_bind(user_id).push(" WHERE true");
    builder
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_older_windows_begin_on_the_first_of_a_month() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 16, 20, 53).unwrap();

        let bounds: Vec<DateTime<Utc>> =
            WINDOW_BOUNDS.iter().map(|bound| bound.before(now)).collect();

        assert_eq!(
            bounds,
            [
                Utc.with_ymd_and_hms(2026, 12, 1, 16, 20, 53).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
            ]
        );
    }
}

//! Full-text search over the caller's titles and messages, ranked, with a snippet of the best
//! matching message; and, when full text finds nothing, trigram matching of titles so that a
//! typo still finds the conversation.
//!
//! A title match weighs twice a message match, so a conversation named after the words ranks
//! above one that mentions them in passing. The listing's filter narrows the hits; deleted
//! conversations are never found.

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
        let mut builder = match mode {
            SearchMode::FullText => full_text(scope.user_id, query),
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

        let mut tx = self.begin(scope).await?;
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
/// prefix, all of them required.
fn push_tsquery(builder: &mut QueryBuilder<Postgres>, query: &SearchQuery) {
    // Parenthesised: @@ and && share a precedence, so `v @@ a && b` would read `(v @@ a) && b`.
    builder.push("(");
    let mut parts = 0;
    if !query.text.trim().is_empty() {
        builder.push("websearch_to_tsquery(conversation_search_config(), ");
        builder.push_bind(query.text.clone()).push(")");
        parts += 1;
    }
    for prefix in &query.prefixes {
        if parts > 0 {
            builder.push(" && ");
        }
        // The prefix holds letters and digits only (checked by the caller), so the quoted
        // lexeme cannot carry tsquery operators.
        builder.push("to_tsquery(conversation_search_config(), ");
        builder.push_bind(format!("'{prefix}':*")).push(")");
        parts += 1;
    }
    builder.push(")");
}

fn full_text(user_id: Uuid, query: &SearchQuery) -> QueryBuilder<Postgres> {
    // The tsquery is written out at each use rather than shared through a CTE: the planner
    // can then match it against the GIN indexes, which a CTE's output column hides from it.
    let mut builder =
        QueryBuilder::new("WITH title_hits AS (SELECT c.id, ts_rank(c.title_search, ");
    push_tsquery(&mut builder, query);
    builder.push(") AS rank FROM conversations c WHERE c.user_id = ").push_bind(user_id);
    builder.push(" AND c.title_search @@ ");
    push_tsquery(&mut builder, query);
    builder.push("), message_hits AS (");
    builder.push("SELECT DISTINCT ON (m.conversation_id) m.conversation_id AS id, ");
    builder.push("m.id AS message_id, m.content, ts_rank(m.content_search, ");
    push_tsquery(&mut builder, query);
    builder.push(") AS rank FROM messages m WHERE m.user_id = ").push_bind(user_id);
    builder.push(" AND m.content_search @@ ");
    push_tsquery(&mut builder, query);
    builder.push(" ORDER BY m.conversation_id, rank DESC, m.created_at DESC, m.id), ");
    builder.push("hits AS (SELECT COALESCE(t.id, h.id) AS id, ");
    builder.push("(2 * COALESCE(t.rank, 0) + COALESCE(h.rank, 0))::float8 AS score, ");
    builder.push(
        "h.message_id, h.content FROM title_hits t FULL JOIN message_hits h ON h.id = t.id) ",
    );
    builder.push("SELECT c.*, hits.score, hits.message_id, ");
    builder.push("ts_headline(conversation_search_config(), COALESCE(hits.content, c.title, ''), ");
    push_tsquery(&mut builder, query);
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

//! SearchConversations: the query text to a validated search, and hits to protobuf.

use uuid::Uuid;

use super::requests::PageTokens;
use crate::domain::{
    AllValid, FilterExpression, InvalidInput, PageLimit, PageSize, ScorePosition, Status,
};
use crate::pb;
use crate::store::{ConversationFilter, SearchHit, SearchMode, SearchQuery};

pub const MAX_QUERY_CHARS: usize = 500;

/// The validated parts of a SearchConversations request.
pub struct Search {
    pub query: SearchQuery,
    /// Narrows the hits; never lets a deleted conversation through.
    pub filter: ConversationFilter,
    pub page_size: PageSize,
    pub page_limit: PageLimit,
    /// The mode and position a page token resumes; `None` from the start.
    pub resume: Option<(SearchMode, ScorePosition)>,
}

/// What a search's page tokens are bound to: the matching mode, and the query and filter as
/// sent (debug-quoted, so that no two pairs of texts give one binding).
pub fn binding(mode: SearchMode, request: &pb::SearchConversationsRequest) -> String {
    format!("search|{mode:?}|{:?}|{:?}", request.query, request.filter)
}

pub fn search(
    request: &pb::SearchConversationsRequest,
    tokens: &PageTokens,
) -> Result<Search, InvalidInput> {
    let (query, expression, page_size, page_limit, resume) = (
        query("query", &request.query),
        FilterExpression::parse_field("filter", &request.filter),
        PageSize::parse("page_size", request.page_size),
        PageLimit::parse("max_pages", request.max_pages),
        resume_point(request, tokens),
    )
        .all_valid()?;

    let filter = ConversationFilter {
        mode: None,
        statuses: vec![Status::Active, Status::Archived],
        expression,
    };
    Ok(Search { query, filter, page_size, page_limit, resume })
}

/// A token names its mode through its binding: one that verifies as a full-text token
/// resumes full text, otherwise it must verify as a fuzzy one.
fn resume_point(
    request: &pb::SearchConversationsRequest,
    tokens: &PageTokens,
) -> Result<Option<(SearchMode, ScorePosition)>, InvalidInput> {
    let full_text = binding(SearchMode::FullText, request);
    match tokens.resume_point(full_text, &request.page_token) {
        Ok(position) => Ok(position.map(|position| (SearchMode::FullText, position))),
        Err(_) => tokens
            .resume_point(binding(SearchMode::Fuzzy, request), &request.page_token)
            .map(|position| position.map(|position| (SearchMode::Fuzzy, position))),
    }
}

/// Splits the words ending in `*` off as prefixes; the rest is web search syntax, which
/// PostgreSQL parses without ever failing on odd input.
fn query(field: &str, value: &str) -> Result<SearchQuery, InvalidInput> {
    let value = value.trim();
    if value.is_empty() {
        return Err(InvalidInput::field(field, "is required"));
    }
    if value.chars().count() > MAX_QUERY_CHARS {
        return Err(InvalidInput::field(
            field,
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(InvalidInput::field(field, "must not contain NUL characters"));
    }

    let mut words = Vec::new();
    let mut prefixes = Vec::new();
    let mut in_phrase = false;
    for word in value.split_whitespace() {
        let starts_or_ends_phrase = word.matches('"').count() % 2 == 1;
        let is_prefix = !in_phrase && !word.contains('"') && word.ends_with('*');
        if is_prefix {
            let stem: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
            if !stem.is_empty() {
                prefixes.push(stem.to_lowercase());
            }
        } else {
            words.push(word);
        }
        if starts_or_ends_phrase {
            in_phrase = !in_phrase;
        }
    }

    let text = words.join(" ");
    if text.chars().all(|c| !c.is_alphanumeric()) && prefixes.is_empty() {
        return Err(InvalidInput::field(field, "must contain at least one word"));
    }
    Ok(SearchQuery { text, prefixes })
}

impl From<SearchHit> for pb::SearchHit {
    fn from(hit: SearchHit) -> Self {
        Self {
            conversation: Some(hit.conversation.into()),
            rank: hit.score,
            snippet: hit.snippet,
            message_id: hit.message_id.as_ref().map(Uuid::to_string).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_star_makes_a_prefix_and_phrases_stay_whole() {
        let parsed = query("query", r#"overtrad* "stop loss" NQ"#).unwrap();
        assert_eq!(parsed.prefixes, ["overtrad"]);
        assert_eq!(parsed.text, r#""stop loss" NQ"#);
    }

    #[test]
    fn a_star_inside_a_phrase_is_just_text() {
        let parsed = query("query", r#""risk* plan""#).unwrap();
        assert!(parsed.prefixes.is_empty());
    }

    #[test]
    fn a_query_of_punctuation_alone_is_refused() {
        assert!(query("query", "'; -- \\").is_err());
        assert!(query("query", "   ").is_err());
    }
}

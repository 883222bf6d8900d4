//! The filter expressions and orderings of ListConversations, in the style of Google AIP-160
//! and AIP-132: text from the client turned into a typed tree of conditions, or refused with
//! the byte offset and the reason. The grammar is in `parser`, the fields and their values in
//! `fields`; `docs/querying.md` describes both for clients. Nothing here touches SQL: the
//! store compiles the typed tree into bound parameters.

mod error;
mod fields;
mod lexer;
mod order;
mod parser;

pub use error::{FilterError, Problem};
pub use fields::{Condition, ContextBound, FilterExpression, Ordering, TimeField};
pub use order::{ListOrder, SortKey};

use super::InvalidInput;

/// Longest filter accepted, in characters: far above any hand-written expression, and small
/// enough that a compiled statement stays small.
pub const MAX_FILTER_CHARS: usize = 2_000;

impl FilterExpression {
    /// Parses and checks a filter; `None` when the text is empty or only whitespace.
    pub fn parse(text: &str) -> Result<Option<Self>, FilterError> {
        if let Some((position, _)) = text.char_indices().nth(MAX_FILTER_CHARS) {
            return Err(FilterError::new(position, Problem::TooLong { limit: MAX_FILTER_CHARS }));
        }

        let tokens = lexer::tokenize(text)?;
        if tokens.is_empty() {
            return Ok(None);
        }
        let tree = parser::parse(&tokens, text.len())?;
        fields::typed(tree).map(Some)
    }

    /// [`FilterExpression::parse`] for a request field, as a field violation.
    pub fn parse_field(field: &str, text: &str) -> Result<Option<Self>, InvalidInput> {
        Self::parse(text).map_err(|error| InvalidInput::field(field, error.to_string()))
    }
}

impl ListOrder {
    /// [`ListOrder::parse`] for a request field, as a field violation.
    pub fn parse_field(field: &str, text: &str) -> Result<Self, InvalidInput> {
        Self::parse(text).map_err(|error| InvalidInput::field(field, error.to_string()))
    }
}

#[cfg(test)]
mod tests;

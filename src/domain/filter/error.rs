//! Why a filter expression or an ordering was refused, with the byte offset in the client's
//! text where the problem starts, so that a client can point at it.

use std::fmt;

/// One problem in a filter or order_by text, and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Byte offset into the text the client sent.
    pub position: usize,
    pub problem: Problem,
}

impl FilterError {
    pub fn new(position: usize, problem: Problem) -> Self {
        Self { position, problem }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.position, self.problem)
    }
}

/// The reasons an expression can be refused; each names what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the expression is longer than {limit} characters")]
    TooLong { limit: usize },
    #[error("parentheses nest deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("NUL characters are not allowed")]
    NulCharacter,
    #[error("unexpected character {0:?}")]
    UnexpectedCharacter(char),
    #[error("unterminated string: a closing {0} is missing")]
    UnterminatedString(char),
    #[error("unbalanced parenthesis: this '(' is never closed")]
    UnclosedParenthesis,
    #[error("unbalanced parenthesis: this ')' closes nothing")]
    UnopenedParenthesis,
    #[error("empty expression: expected a condition such as mode = psychology")]
    EmptyExpression,
    #[error("expected a condition, found {0}")]
    ExpectedCondition(String),
    #[error("expected a comparison operator (=, !=, <, <=, >, >=, :) after the field")]
    ExpectedComparator,
    #[error("expected a value after the operator, found {0}")]
    ExpectedValue(String),
    #[error("trailing input: {0} after a complete expression")]
    TrailingInput(String),
    #[error("unknown field {0:?}; filterable fields are {FIELD_NAMES}")]
    UnknownField(String),
    #[error("name a key under context_data, such as context_data.session_type")]
    BareContextField,
    #[error("operator {operator} does not apply to {field}; use {allowed}")]
    OperatorNotAllowed { operator: &'static str, field: String, allowed: &'static str },
    #[error("{field} takes {expected}")]
    WrongValueType { field: String, expected: &'static str },
    #[error("{value:?} is not a {field}; use one of {allowed}")]
    UnknownValue { field: &'static str, value: String, allowed: &'static str },
    #[error("unknown order_by field {0:?}; use updated_at, created_at or last_message_at")]
    UnknownOrderField(String),
    #[error("unknown order_by direction {0:?}; use asc or desc")]
    UnknownDirection(String),
    #[error("order_by takes one field with an optional direction, such as \"created_at desc\"")]
    OrderTooLong,
}

/// The fields a filter may name, for error messages.
pub const FIELD_NAMES: &str = "mode, status, created_at, updated_at, last_message_at, \
                               message_count, title and context_data.<key>";

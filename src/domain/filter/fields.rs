//! Gives the parsed tree its meaning: each restriction becomes a typed [`Condition`] on one
//! column of a conversation, or on a path into its context, with a value of the right type.
//! Everything a client can get wrong about fields, operators and values is refused here, so
//! that the store compiles only conditions that make sense.

use chrono::{DateTime, Utc};
use serde_json::{Number, Value};

use super::error::{FilterError, Problem};
use super::lexer::Comparator;
use super::parser::{Expr, Literal, Restriction};
use crate::domain::{Mode, Status};

/// A filter that passed every check, as a tree of conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterExpression {
    All(Vec<FilterExpression>),
    Any(Vec<FilterExpression>),
    Not(Box<FilterExpression>),
    Condition(Condition),
}

/// The ordering comparisons, for fields that have an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// The timestamp columns a filter can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    CreatedAt,
    UpdatedAt,
    LastMessageAt,
}

/// A value that a context path can be compared with by order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextBound {
    Number(Number),
    Text(String),
}

/// One typed comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Mode {
        equal: bool,
        mode: Mode,
    },
    Status {
        equal: bool,
        status: Status,
    },
    Time {
        field: TimeField,
        ordering: Ordering,
        at: DateTime<Utc>,
    },
    MessageCount {
        ordering: Ordering,
        count: i64,
    },
    TitleEquals {
        equal: bool,
        title: String,
    },
    /// Case-insensitive substring.
    TitleContains(String),
    TitlePresent,
    /// The value at `path` is exactly `value` (or, with `equal` false, is not).
    ContextEquals {
        path: Vec<String>,
        equal: bool,
        value: Value,
    },
    /// The value at `path` is `value`, or is an array that holds it.
    ContextHas {
        path: Vec<String>,
        value: Value,
    },
    /// Some value, even null, is stored at `path`.
    ContextPresent {
        path: Vec<String>,
    },
    /// The value at `path` is of the bound's type and compares with it as asked.
    ContextOrdered {
        path: Vec<String>,
        ordering: Ordering,
        bound: ContextBound,
    },
}

impl FilterExpression {
    /// Whether any condition looks at the status, which lifts the listing's default of hiding
    /// deleted conversations.
    pub fn mentions_status(&self) -> bool {
        match self {
            Self::All(items) | Self::Any(items) => items.iter().any(Self::mentions_status),
            Self::Not(inner) => inner.mentions_status(),
            Self::Condition(condition) => matches!(condition, Condition::Status { .. }),
        }
    }
}

pub fn typed(expr: Expr) -> Result<FilterExpression, FilterError> {
    let all = |items: Vec<Expr>| items.into_iter().map(typed).collect::<Result<Vec<_>, _>>();
    Ok(match expr {
        Expr::And(items) => FilterExpression::All(all(items)?),
        Expr::Or(items) => FilterExpression::Any(all(items)?),
        Expr::Not(inner) => FilterExpression::Not(Box::new(typed(*inner)?)),
        Expr::Restriction(restriction) => FilterExpression::Condition(condition(restriction)?),
    })
}

fn condition(restriction: Restriction) -> Result<Condition, FilterError> {
    let Restriction { field, field_at, comparator, comparator_at, value, value_at } = restriction;
    let name = field.join(".");
    let refuse_operator = |allowed| {
        FilterError::new(
            comparator_at,
            Problem::OperatorNotAllowed {
                operator: comparator.symbol(),
                field: name.clone(),
                allowed,
            },
        )
    };
    let wrong_type = |expected| {
        FilterError::new(value_at, Problem::WrongValueType { field: name.clone(), expected })
    };

    if field[0] == "context_data" {
        if field.len() == 1 {
            return Err(FilterError::new(field_at, Problem::BareContextField));
        }
        let path = field[1..].to_vec();
        return context_condition(path, comparator, value).ok_or_else(|| match comparator {
            Comparator::Has | Comparator::Equal | Comparator::NotEqual => {
                wrong_type("a string, number, true, false or null (or * after :)")
            }
            _ => wrong_type("a number or a string after <, <=, > or >="),
        });
    }
    if field.len() > 1 {
        return Err(FilterError::new(field_at, Problem::UnknownField(name)));
    }

    let equality = || match comparator {
        Comparator::Equal => Ok(true),
        Comparator::NotEqual => Ok(false),
        _ => Err(refuse_operator("= or !=")),
    };

    match field[0].as_str() {
        "mode" => {
            let equal = equality()?;
            let mode = named_value(&value, "mode", MODES, value_at)?;
            Ok(Condition::Mode { equal, mode })
        }
        "status" => {
            let equal = equality()?;
            let status = named_value(&value, "status", STATUSES, value_at)?;
            Ok(Condition::Status { equal, status })
        }
        "created_at" | "updated_at" | "last_message_at" => {
            let field = match field[0].as_str() {
                "created_at" => TimeField::CreatedAt,
                "updated_at" => TimeField::UpdatedAt,
                _ => TimeField::LastMessageAt,
            };
            let ordering =
                ordering(comparator).ok_or_else(|| refuse_operator("=, !=, <, <=, > or >="))?;
            let at = match &value {
                Literal::Text(text) => DateTime::parse_from_rfc3339(text).ok(),
                _ => None,
            };
            let at = at.ok_or_else(|| {
                wrong_type("an RFC 3339 time in quotes, such as \"2026-01-31T09:30:00Z\"")
            })?;
            Ok(Condition::Time { field, ordering, at: at.with_timezone(&Utc) })
        }
        "message_count" => {
            let ordering =
                ordering(comparator).ok_or_else(|| refuse_operator("=, !=, <, <=, > or >="))?;
            let count = match &value {
                Literal::Number(number) => number.parse::<i64>().ok(),
                _ => None,
            };
            let count = count.ok_or_else(|| wrong_type("a whole number"))?;
            Ok(Condition::MessageCount { ordering, count })
        }
        "title" => {
            let text = match &value {
                Literal::Text(text) | Literal::Word(text) | Literal::Number(text) => {
                    Some(text.clone())
                }
                Literal::Star => None,
            };
            match (comparator, text) {
                (Comparator::Has, None) => Ok(Condition::TitlePresent),
                (Comparator::Has, Some(text)) => Ok(Condition::TitleContains(text)),
                (Comparator::Equal | Comparator::NotEqual, Some(title)) => {
                    Ok(Condition::TitleEquals { equal: comparator == Comparator::Equal, title })
                }
                (Comparator::Equal | Comparator::NotEqual, None) => Err(wrong_type("a string")),
                _ => Err(refuse_operator("=, != or :")),
            }
        }
        _ => Err(FilterError::new(field_at, Problem::UnknownField(name))),
    }
}

fn context_condition(
    path: Vec<String>,
    comparator: Comparator,
    value: Literal,
) -> Option<Condition> {
    match (comparator, value) {
        (Comparator::Has, Literal::Star) => Some(Condition::ContextPresent { path }),
        (_, Literal::Star) => None,
        (Comparator::Has, value) => Some(Condition::ContextHas { path, value: json_value(value)? }),
        (Comparator::Equal | Comparator::NotEqual, value) => Some(Condition::ContextEquals {
            path,
            equal: comparator == Comparator::Equal,
            value: json_value(value)?,
        }),
        (comparator, value) => {
            let bound = match json_value(value)? {
                Value::Number(number) => ContextBound::Number(number),
                Value::String(text) => ContextBound::Text(text),
                _ => return None,
            };
            Some(Condition::ContextOrdered { path, ordering: ordering(comparator)?, bound })
        }
    }
}

/// A literal as the JSON value a context holds: unquoted `true`, `false` and `null` are
/// those values, other unquoted words are strings.
fn json_value(literal: Literal) -> Option<Value> {
    match literal {
        Literal::Text(text) => Some(Value::String(text)),
        Literal::Word(word) => Some(match word.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => Value::String(word),
        }),
        Literal::Number(number) => match number.parse::<i64>() {
            Ok(integer) => Some(Value::from(integer)),
            Err(_) => number.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number),
        },
        Literal::Star => None,
    }
}

fn ordering(comparator: Comparator) -> Option<Ordering> {
    Some(match comparator {
        Comparator::Equal => Ordering::Equal,
        Comparator::NotEqual => Ordering::NotEqual,
        Comparator::Less => Ordering::Less,
        Comparator::LessOrEqual => Ordering::LessOrEqual,
        Comparator::Greater => Ordering::Greater,
        Comparator::GreaterOrEqual => Ordering::GreaterOrEqual,
        Comparator::Has => return None,
    })
}

/// Names a value of a closed set may be written as: the stored name, or the protobuf enum's.
type NamedValues<T> = &'static [(&'static str, &'static str, T)];

const MODES: NamedValues<Mode> = &[
    ("analysis", "MODE_ANALYSIS", Mode::Analysis),
    ("psychology", "MODE_PSYCHOLOGY", Mode::Psychology),
    ("training", "MODE_TRAINING", Mode::Training),
    ("planning", "MODE_PLANNING", Mode::Planning),
];

const STATUSES: NamedValues<Status> = &[
    ("active", "STATUS_ACTIVE", Status::Active),
    ("archived", "STATUS_ARCHIVED", Status::Archived),
    ("deleted", "STATUS_DELETED", Status::Deleted),
];

fn named_value<T: Copy>(
    literal: &Literal,
    field: &'static str,
    names: NamedValues<T>,
    value_at: usize,
) -> Result<T, FilterError> {
    let written = match literal {
        Literal::Text(text) | Literal::Word(text) | Literal::Number(text) => text.as_str(),
        Literal::Star => "*",
    };
    let allowed = if field == "mode" {
        "analysis, psychology, training, planning (or MODE_ANALYSIS and so on)"
    } else {
        "active, archived, deleted (or STATUS_ACTIVE and so on)"
    };
    names
        .iter()
        .find(|(stored, proto, _)| written == *stored || written == *proto)
        .map(|(_, _, value)| *value)
        .ok_or_else(|| {
            FilterError::new(
                value_at,
                Problem::UnknownValue { field, value: written.to_owned(), allowed },
            )
        })
}

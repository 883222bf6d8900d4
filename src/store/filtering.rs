//! Compiles a listing's filter and order into SQL with bound parameters only: every value a
//! client wrote, and every key of a context path, travels as a parameter; the SQL text holds
//! nothing but fixed column names and operators chosen from closed sets.
//!
//! Context conditions are written so that the GIN index on `context_data` can serve them:
//! equality and "has" become containment (`@>`) of a JSON document built here, and presence of
//! a top-level key becomes `?`. Conditions on nullable values are made two-valued (true or
//! false, never NULL) so that NOT means "every other conversation".

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};

use super::ConversationRecord;
use super::conversations::ConversationFilter;
use crate::domain::filter::{Condition, ContextBound, FilterExpression, Ordering, TimeField};
use crate::domain::{ListOrder, Position, SortKey};

type Query = QueryBuilder<Postgres>;

/// Appends the filter's conditions, each starting with ` AND `, to a statement whose WHERE
/// clause already restricts it to the caller's conversations.
pub(super) fn push_conversation_filter(query: &mut Query, filter: &ConversationFilter) {
    if let Some(mode) = filter.mode {
        query.push(" AND mode = ").push_bind(mode.as_str());
    }

    let statuses: Vec<&'static str> =
        filter.statuses.iter().map(|status| status.as_str()).collect();
    query.push(" AND status = ANY(").push_bind(statuses).push(")");

    if let Some(expression) = &filter.expression {
        query.push(" AND ");
        push_expression(query, expression);
    }
}

fn push_expression(query: &mut Query, expression: &FilterExpression) {
    match expression {
        FilterExpression::All(items) => push_joined(query, items, " AND "),
        FilterExpression::Any(items) => push_joined(query, items, " OR "),
        FilterExpression::Not(inner) => {
            query.push("NOT (");
            push_expression(query, inner);
            query.push(")");
        }
        FilterExpression::Condition(condition) => push_condition(query, condition),
    }
}

fn push_joined(query: &mut Query, items: &[FilterExpression], separator: &'static str) {
    query.push("(");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            query.push(separator);
        }
        push_expression(query, item);
    }
    query.push(")");
}

fn push_condition(query: &mut Query, condition: &Condition) {
    match condition {
        Condition::Mode { equal, mode } => {
            query.push(if *equal { "mode = " } else { "mode <> " }).push_bind(mode.as_str());
        }
        Condition::Status { equal, status } => {
            query.push(if *equal { "status = " } else { "status <> " }).push_bind(status.as_str());
        }
        Condition::Time { field: TimeField::LastMessageAt, ordering, at } => {
            push_nullable_comparison(query, "last_message_at", *ordering);
            query.push_bind(*at).push(closing_of(*ordering));
        }
        Condition::Time { field, ordering, at } => {
            let column = if *field == TimeField::CreatedAt { "created_at" } else { "updated_at" };
            query.push(column).push(operator(*ordering)).push_bind(*at);
        }
        Condition::MessageCount { ordering, count } => {
            query.push("message_count").push(operator(*ordering)).push_bind(*count);
        }
        Condition::TitleEquals { equal, title } => {
            let ordering = if *equal { Ordering::Equal } else { Ordering::NotEqual };
            push_nullable_comparison(query, "title", ordering);
            query.push_bind(title.clone()).push(closing_of(ordering));
        }
        Condition::TitleContains(text) => {
            // strpos rather than LIKE, so that % and _ in the text are plain characters.
            query.push("COALESCE(strpos(lower(title), lower(").push_bind(text.clone());
            query.push(")) > 0, false)");
        }
        Condition::TitlePresent => {
            query.push("title IS NOT NULL");
        }
        Condition::ContextEquals { path, equal, value } => {
            query.push(if *equal { "" } else { "NOT " });
            query.push("context_data @> ").push_bind(Json(nested(path, value.clone())));
        }
        Condition::ContextHas { path, value } => {
            let in_array = nested(path, Value::Array(vec![value.clone()]));
            query.push("(context_data @> ").push_bind(Json(in_array));
            query.push(" OR context_data @> ").push_bind(Json(nested(path, value.clone())));
            query.push(")");
        }
        Condition::ContextPresent { path } => match path.as_slice() {
            [key] => {
                query.push("context_data ? ").push_bind(key.clone());
            }
            _ => {
                query.push("context_data #> ").push_bind(path.clone()).push(" IS NOT NULL");
            }
        },
        Condition::ContextOrdered { path, ordering, bound } => {
            push_context_ordered(query, path, *ordering, bound);
        }
    }
}

/// `COALESCE(column <op> ` for =, <, <= and so on, so that a NULL column compares as false;
/// `column IS DISTINCT FROM ` for !=, so that NULL counts as different from any value.
fn push_nullable_comparison(query: &mut Query, column: &'static str, ordering: Ordering) {
    if ordering == Ordering::NotEqual {
        query.push(column).push(" IS DISTINCT FROM ");
    } else {
        query.push("COALESCE(").push(column).push(operator(ordering));
    }
}

fn closing_of(ordering: Ordering) -> &'static str {
    if ordering == Ordering::NotEqual { "" } else { ", false)" }
}

/// A number compares numerically with stored numbers, a string by code point with stored
/// strings; a value of any other type, or none, does not match. CASE guarantees that the cast
/// runs only on a number.
fn push_context_ordered(
    query: &mut Query,
    path: &[String],
    ordering: Ordering,
    bound: &ContextBound,
) {
    let stored_type = match bound {
        ContextBound::Number(_) => "number",
        ContextBound::Text(_) => "string",
    };
    query.push("COALESCE(CASE WHEN jsonb_typeof(context_data #> ").push_bind(path.to_vec());
    query.push(") = ").push_bind(stored_type);
    match bound {
        ContextBound::Number(number) => {
            query.push(" THEN (context_data #>> ").push_bind(path.to_vec());
            query.push(")::float8").push(operator(ordering));
            query.push_bind(number.as_f64().unwrap_or(f64::NAN));
        }
        ContextBound::Text(text) => {
            query.push(" THEN (context_data #>> ").push_bind(path.to_vec());
            query.push(") COLLATE \"C\"").push(operator(ordering)).push_bind(text.clone());
        }
    }
    query.push(" END, false)");
}

fn operator(ordering: Ordering) -> &'static str {
    match ordering {
        Ordering::Equal => " = ",
        Ordering::NotEqual => " <> ",
        Ordering::Less => " < ",
        Ordering::LessOrEqual => " <= ",
        Ordering::Greater => " > ",
        Ordering::GreaterOrEqual => " >= ",
    }
}

/// `{"a": {"b": value}}` for the path `a.b`: the document containment looks for.
fn nested(path: &[String], value: Value) -> Value {
    path.iter().rev().fold(value, |inner, key| {
        let mut object = serde_json::Map::new();
        object.insert(key.clone(), inner);
        Value::Object(object)
    })
}

/// The column of a sort key; each leads an index after user_id (see the list_orderings
/// migration). last_activity_at is stored as COALESCE(last_message_at, created_at).
fn sort_expression(key: SortKey) -> &'static str {
    match key {
        SortKey::UpdatedAt => "updated_at",
        SortKey::CreatedAt => "created_at",
        SortKey::LastActivity => "last_activity_at",
    }
}

/// Restricts the statement to rows after `after` in `order`.
pub(super) fn push_keyset(query: &mut Query, order: ListOrder, after: Position) {
    let comparison = if order.descending { ") < (" } else { ") > (" };
    query.push(" AND (").push(sort_expression(order.key)).push(", id").push(comparison);
    query.push_bind(after.at).push(", ").push_bind(after.id).push(")");
}

/// ` ORDER BY <key> <direction>, id <direction>`.
pub(super) fn push_order_by(query: &mut Query, order: ListOrder) {
    let direction = if order.descending { " DESC" } else { " ASC" };
    query.push(" ORDER BY ").push(sort_expression(order.key)).push(direction);
    query.push(", id").push(direction);
}

impl ConversationRecord {
    /// Where this conversation stands in a listing sorted by `order`: the value of its sort
    /// key and its id, as a page token records them.
    pub fn position_in(&self, order: ListOrder) -> Position {
        let at = match order.key {
            SortKey::UpdatedAt => self.updated_at,
            SortKey::CreatedAt => self.created_at,
            SortKey::LastActivity => self.last_message_at.unwrap_or(self.created_at),
        };
        Position { at, id: self.id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;

    fn sql_of(filter_text: &str) -> String {
        let filter = ConversationFilter {
            mode: None,
            statuses: vec![Status::Active],
            expression: FilterExpression::parse(filter_text).unwrap(),
        };
        let mut query = Query::new("SELECT 1 FROM conversations WHERE true");
        push_conversation_filter(&mut query, &filter);
        query.into_sql().as_str().to_owned()
    }

    #[test]
    fn values_and_path_keys_are_bound_never_written_into_the_sql() {
        let sql = sql_of("title = \"x' OR 1=1 --\" AND context_data.k = \"v'; DROP TABLE x\"");
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert!(!sql.contains("DROP") && !sql.contains("'x"), "{sql}");
    }

    #[test]
    fn or_groups_inside_and_as_the_grammar_says() {
        let sql = sql_of("mode = analysis AND status = active OR status = archived");
        assert!(sql.ends_with("AND (mode = $2 AND (status = $3 OR status = $4))"), "{sql}");
    }

    #[test]
    fn context_equality_is_containment_of_a_nested_document() {
        assert_eq!(
            nested(&["risk".into(), "max_loss".into()], Value::from(250)),
            serde_json::json!({"risk": {"max_loss": 250}})
        );
        assert!(sql_of("context_data.risk.max_loss = 250").ends_with("context_data @> $2"));
    }

    #[test]
    fn presence_of_a_top_level_key_uses_the_key_operator() {
        assert!(sql_of("context_data.coaching_focus:*").ends_with("context_data ? $2"));
        assert!(sql_of("context_data.a.b:*").ends_with("context_data #> $2 IS NOT NULL"));
    }
}

//! Whole expressions through lexer, parser and typing: what each field accepts and refuses.

use serde_json::json;

use super::*;
use crate::domain::{Mode, Status};

fn condition(text: &str) -> Condition {
    match FilterExpression::parse(text) {
        Ok(Some(FilterExpression::Condition(condition))) => condition,
        other => panic!("{text:?} is not one condition: {other:?}"),
    }
}

fn refused(text: &str) -> FilterError {
    FilterExpression::parse(text).expect_err(text)
}

fn path(segments: &[&str]) -> Vec<String> {
    segments.iter().map(|segment| segment.to_string()).collect()
}

#[test]
fn an_empty_or_blank_filter_means_no_filter() {
    assert_eq!(FilterExpression::parse("").unwrap(), None);
    assert_eq!(FilterExpression::parse(" \t\n").unwrap(), None);
}

#[test]
fn modes_and_statuses_take_stored_or_protobuf_names() {
    assert_eq!(
        condition("mode = psychology"),
        Condition::Mode { equal: true, mode: Mode::Psychology }
    );
    assert_eq!(
        condition("mode != MODE_PLANNING"),
        Condition::Mode { equal: false, mode: Mode::Planning }
    );
    assert_eq!(
        condition("status = \"archived\""),
        Condition::Status { equal: true, status: Status::Archived }
    );
}

#[test]
fn an_unknown_mode_is_refused_at_its_value() {
    let error = refused("mode = gossip");
    assert_eq!(error.position, 7);
    assert!(matches!(error.problem, Problem::UnknownValue { .. }));
}

#[test]
fn timestamps_take_quoted_rfc_3339() {
    let Condition::Time { field, ordering, at } =
        condition("created_at >= \"2026-01-31T09:30:00+01:00\"")
    else {
        panic!("a time condition");
    };
    assert_eq!((field, ordering), (TimeField::CreatedAt, Ordering::GreaterOrEqual));
    assert_eq!(at.to_rfc3339(), "2026-01-31T08:30:00+00:00");
}

#[test]
fn a_timestamp_of_the_wrong_shape_is_refused_at_its_value() {
    let error = refused("updated_at < \"yesterday\"");
    assert_eq!(error.position, 13);
    assert!(matches!(error.problem, Problem::WrongValueType { .. }));
    assert!(matches!(refused("updated_at < 2026").problem, Problem::WrongValueType { .. }));
}

#[test]
fn message_count_takes_whole_numbers() {
    assert_eq!(
        condition("message_count > 3"),
        Condition::MessageCount { ordering: Ordering::Greater, count: 3 }
    );
    assert!(matches!(refused("message_count > 3.5").problem, Problem::WrongValueType { .. }));
    assert!(matches!(refused("message_count > \"3\"").problem, Problem::WrongValueType { .. }));
}

#[test]
fn title_has_exact_substring_and_presence_forms() {
    assert_eq!(
        condition("title = \"NQ open\""),
        Condition::TitleEquals { equal: true, title: "NQ open".into() }
    );
    assert_eq!(condition("title : overtrad"), Condition::TitleContains("overtrad".into()));
    assert_eq!(condition("title:*"), Condition::TitlePresent);
}

#[test]
fn context_paths_become_typed_json_values() {
    assert_eq!(
        condition("context_data.market_hours = true"),
        Condition::ContextEquals { path: path(&["market_hours"]), equal: true, value: json!(true) }
    );
    assert_eq!(
        condition("context_data.risk.max_loss != 250"),
        Condition::ContextEquals {
            path: path(&["risk", "max_loss"]),
            equal: false,
            value: json!(250)
        }
    );
    assert_eq!(
        condition("context_data.trading_instruments:\"ES\""),
        Condition::ContextHas { path: path(&["trading_instruments"]), value: json!("ES") }
    );
    assert_eq!(
        condition("context_data.coaching_focus:*"),
        Condition::ContextPresent { path: path(&["coaching_focus"]) }
    );
    assert_eq!(
        condition("context_data.risk.max_loss >= -2.5"),
        Condition::ContextOrdered {
            path: path(&["risk", "max_loss"]),
            ordering: Ordering::GreaterOrEqual,
            bound: ContextBound::Number(serde_json::Number::from_f64(-2.5).unwrap()),
        }
    );
}

#[test]
fn an_ordering_comparison_on_context_needs_a_number_or_a_string() {
    let error = refused("context_data.market_hours > true");
    assert_eq!(error.position, 28);
    assert!(matches!(error.problem, Problem::WrongValueType { .. }));
}

#[test]
fn unknown_fields_are_refused_at_their_name() {
    assert_eq!(
        refused("mode = analysis AND colour = red"),
        FilterError::new(20, Problem::UnknownField("colour".into()))
    );
    assert_eq!(
        refused("mode.x = analysis"),
        FilterError::new(0, Problem::UnknownField("mode.x".into()))
    );
    assert_eq!(refused("context_data = 1"), FilterError::new(0, Problem::BareContextField));
}

#[test]
fn an_operator_a_field_does_not_support_is_refused_at_the_operator() {
    let error = refused("mode > analysis");
    assert_eq!(error.position, 5);
    assert!(matches!(error.problem, Problem::OperatorNotAllowed { .. }));
    assert!(matches!(refused("created_at : \"x\"").problem, Problem::OperatorNotAllowed { .. }));
    assert!(matches!(refused("title < \"b\"").problem, Problem::OperatorNotAllowed { .. }));
}

#[test]
fn a_star_is_only_a_presence_test() {
    assert!(matches!(refused("context_data.x = *").problem, Problem::WrongValueType { .. }));
}

#[test]
fn a_filter_longer_than_the_limit_is_refused_at_the_first_character_too_many() {
    let long = format!("title = \"{}\"", "x".repeat(MAX_FILTER_CHARS));
    assert_eq!(
        refused(&long),
        FilterError::new(MAX_FILTER_CHARS, Problem::TooLong { limit: MAX_FILTER_CHARS })
    );
}

#[test]
fn a_status_condition_anywhere_is_noticed() {
    let filter = FilterExpression::parse("mode = training OR NOT status = deleted").unwrap();
    assert!(filter.unwrap().mentions_status());
    let filter = FilterExpression::parse("mode = training").unwrap();
    assert!(!filter.unwrap().mentions_status());
}

#[test]
fn errors_read_with_their_position() {
    let error = refused("mode = analysis AND (");
    assert_eq!(
        error.to_string(),
        "at byte 21: expected a condition, found the end of the expression"
    );
}

#[test]
fn no_input_makes_the_parser_panic() {
    let pieces = [
        "é",
        "😀",
        "title",
        ":",
        "=",
        "!=",
        "<=",
        "\"",
        "\\",
        "(",
        ")",
        "-",
        "NOT",
        "AND",
        "OR",
        "context_data.",
        "context_data.é",
        "1e309",
        "-0",
        "2026-13-45T25:61:61Z",
        "*",
        " ",
        "\t",
    ];
    // Every ordered pair and triple of awkward pieces, glued with and without spaces.
    for a in pieces {
        for b in pieces {
            for c in pieces {
                for glue in ["", " "] {
                    let text = [a, b, c].join(glue);
                    let _ = FilterExpression::parse(&text);
                    let _ = ListOrder::parse(&text);
                }
            }
        }
    }
}

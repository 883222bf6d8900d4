//! A conversation's trading context: a JSON object that PostgreSQL stores as `jsonb`.
//!
//! The limits keep one conversation's context from growing without bound and keep deeply
//! nested input from costing the server stack or time: at most 64 KiB encoded, nesting at most
//! 32 levels. NUL is refused anywhere in it because `jsonb` cannot store `\u0000`.

use serde_json::{Map, Value};

use super::InvalidInput;

pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;
pub const MAX_CONTEXT_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct ContextData(Map<String, Value>);

impl ContextData {
    pub fn empty() -> Self {
        Self(Map::new())
    }

    pub fn parse(field: &str, value: Value) -> Result<Self, InvalidInput> {
        let Value::Object(object) = value else {
            return Err(InvalidInput::field(field, "must be a JSON object"));
        };

        let depth = depth_of(&Value::Object(object.clone()));
        if depth > MAX_CONTEXT_DEPTH {
            return Err(InvalidInput::field(
                field,
                format!("must nest at most {MAX_CONTEXT_DEPTH} levels deep, got {depth}"),
            ));
        }

        if contains_nul(&object) {
            return Err(InvalidInput::field(field, "must not contain NUL characters"));
        }

        let encoded = serde_json::to_vec(&object).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
        if encoded > MAX_CONTEXT_BYTES {
            return Err(InvalidInput::field(
                field,
                format!("must be at most {MAX_CONTEXT_BYTES} bytes as JSON, got {encoded}"),
            ));
        }

        Ok(Self(object))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Levels of nesting: a scalar is 0, `{}` and `[]` are 1, `{"a": []}` is 2. Iterative, so
/// that hostile input cannot overflow the stack before the limit is checked.
fn depth_of(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0)];

    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(object) => Box::new(object.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        deepest = deepest.max(depth + 1);
        pending.extend(children.map(|child| (child, depth + 1)));
    }

    deepest
}

fn contains_nul(object: &Map<String, Value>) -> bool {
    let mut pending: Vec<&Value> = object.values().collect();
    if object.keys().any(|key| key.contains('\0')) {
        return true;
    }

    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return true,
            Value::Object(inner) => {
                if inner.keys().any(|key| key.contains('\0')) {
                    return true;
                }
                pending.extend(inner.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }

    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested(levels: usize) -> Value {
        (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
    }

    #[test]
    fn the_spec_example_context_is_accepted() {
        let context = json!({
            "trading_session_id": "7d1f3c9e-2f4b-4a55-9b7e-0c2d7b1f4a10",
            "market_hours": true,
            "trading_instruments": ["ES", "NQ"],
            "session_type": "live_trading",
            "coaching_focus": ["discipline", "risk_management"],
        });
        assert!(ContextData::parse("context_data", context).is_ok());
    }

    #[test]
    fn context_nested_exactly_32_levels_is_accepted() {
        assert_eq!(depth_of(&nested(32)), 32);
        assert!(ContextData::parse("context_data", nested(32)).is_ok());
    }

    #[test]
    fn context_nested_33_levels_is_refused() {
        assert!(ContextData::parse("context_data", nested(33)).is_err());
    }

    #[test]
    fn context_that_is_not_an_object_is_refused() {
        assert!(ContextData::parse("context_data", json!(["ES"])).is_err());
    }

    #[test]
    fn context_with_nul_in_a_nested_key_is_refused() {
        assert!(ContextData::parse("context_data", json!({"a": {"b\u{0}": 1}})).is_err());
    }

    #[test]
    fn context_over_64_kib_is_refused() {
        let big = json!({ "notes": "x".repeat(MAX_CONTEXT_BYTES) });
        assert!(ContextData::parse("context_data", big).is_err());
    }
}

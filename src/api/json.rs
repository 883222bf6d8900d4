//! `google.protobuf.Struct`, the API's JSON object, to and from `serde_json`.
//!
//! Protobuf numbers are doubles; a whole number that a double holds exactly is stored as a
//! JSON integer so that `{"count": 3}` reads back as 3, not 3.0. NaN and infinities have no
//! JSON form and are refused.

use prost_types::{ListValue, Struct, Value as ProtoValue, value::Kind};
use serde_json::{Map, Number, Value};

/// Largest integer magnitude a double represents exactly (2^53).
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

#[derive(Debug, thiserror::Error)]
#[error("numbers must be finite")]
pub struct NotFinite;

pub fn struct_to_json(object: Struct) -> Result<Value, NotFinite> {
    object
        .fields
        .into_iter()
        .map(|(key, value)| Ok((key, value_to_json(value)?)))
        .collect::<Result<Map<_, _>, _>>()
        .map(Value::Object)
}

fn value_to_json(value: ProtoValue) -> Result<Value, NotFinite> {
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(flag)) => Value::Bool(flag),
        Some(Kind::StringValue(text)) => Value::String(text),
        Some(Kind::NumberValue(number)) => number_to_json(number)?,
        Some(Kind::StructValue(object)) => struct_to_json(object)?,
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.into_iter().map(value_to_json).collect::<Result<_, _>>()?)
        }
    })
}

fn number_to_json(number: f64) -> Result<Value, NotFinite> {
    if !number.is_finite() {
        return Err(NotFinite);
    }

    if number.fract() == 0.0 && number.abs() <= EXACT_INTEGER_LIMIT {
        return Ok(Value::Number(Number::from(number as i64)));
    }

    Number::from_f64(number).map(Value::Number).ok_or(NotFinite)
}

pub fn json_to_struct(object: &Map<String, Value>) -> Struct {
    Struct {
        fields: object.iter().map(|(key, value)| (key.clone(), json_to_value(value))).collect(),
    }
}

fn json_to_value(value: &Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(flag) => Kind::BoolValue(*flag),
        Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or_default()),
        Value::String(text) => Kind::StringValue(text.clone()),
        Value::Array(items) => {
            Kind::ListValue(ListValue { values: items.iter().map(json_to_value).collect() })
        }
        Value::Object(object) => Kind::StructValue(json_to_struct(object)),
    };
    ProtoValue { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_survives_a_round_trip_through_struct() {
        let original = json!({
            "market_hours": true,
            "trading_instruments": ["ES", "NQ"],
            "risk": {"max_loss": 250, "ratio": 1.5, "note": null},
        });
        let Value::Object(object) = original.clone() else { unreachable!() };
        assert_eq!(struct_to_json(json_to_struct(&object)).unwrap(), original);
    }

    #[test]
    fn a_nan_number_is_refused() {
        let mut object = Struct::default();
        object.fields.insert("x".into(), ProtoValue { kind: Some(Kind::NumberValue(f64::NAN)) });
        assert!(struct_to_json(object).is_err());
    }
}

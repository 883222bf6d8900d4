//! A client's idempotency key: a retry that carries the same key gets the first result.

use super::InvalidInput;

pub const MAX_REQUEST_ID_CHARS: usize = 36;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// An empty value means the request is not idempotent.
    pub fn parse_optional(field: &str, value: &str) -> Result<Option<Self>, InvalidInput> {
        if value.is_empty() {
            return Ok(None);
        }

        if value.chars().count() > MAX_REQUEST_ID_CHARS {
            return Err(InvalidInput::field(
                field,
                format!("must be at most {MAX_REQUEST_ID_CHARS} characters"),
            ));
        }

        if value.contains('\0') {
            return Err(InvalidInput::field(field, "must not contain NUL characters"));
        }

        Ok(Some(Self(value.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

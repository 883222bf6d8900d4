//! The text of a message: 1 character to 256 KiB of UTF-8, without NUL.

use super::InvalidInput;

pub const MAX_CONTENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(field: &str, value: String) -> Result<Self, InvalidInput> {
        if value.is_empty() {
            return Err(InvalidInput::field(field, "is required"));
        }

        if value.len() > MAX_CONTENT_BYTES {
            return Err(InvalidInput::field(
                field,
                format!("must be at most {MAX_CONTENT_BYTES} bytes, got {}", value.len()),
            ));
        }

        if value.contains('\0') {
            return Err(InvalidInput::field(field, "must not contain NUL characters"));
        }

        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_of_exactly_256_kib_is_accepted() {
        assert!(MessageContent::parse("content", "x".repeat(MAX_CONTENT_BYTES)).is_ok());
    }

    #[test]
    fn content_one_byte_over_256_kib_is_refused() {
        assert!(MessageContent::parse("content", "x".repeat(MAX_CONTENT_BYTES + 1)).is_err());
    }

    #[test]
    fn empty_content_is_refused() {
        assert!(MessageContent::parse("content", String::new()).is_err());
    }
}

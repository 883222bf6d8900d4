//! A conversation's title: 1 to 255 characters as PostgreSQL counts them (Unicode code
//! points in a UTF-8 database), without NUL, which PostgreSQL text cannot hold.

use super::InvalidInput;

pub const MAX_TITLE_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Validates a title; `field` names it in the violation.
    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() {
            return Err(InvalidInput::field(field, "must not be empty"));
        }

        let chars = value.chars().count();
        if chars > MAX_TITLE_CHARS {
            return Err(InvalidInput::field(
                field,
                format!("must be at most {MAX_TITLE_CHARS} characters, got {chars}"),
            ));
        }

        if value.contains('\0') {
            return Err(InvalidInput::field(field, "must not contain NUL characters"));
        }

        Ok(Self(value.to_owned()))
    }

    /// An empty value means "untitled"; anything else must be a valid title.
    pub fn parse_optional(field: &str, value: &str) -> Result<Option<Self>, InvalidInput> {
        if value.is_empty() { Ok(None) } else { Self::parse(field, value).map(Some) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_of_exactly_255_characters_is_accepted() {
        let title = "é".repeat(255);
        assert!(Title::parse("title", &title).is_ok());
    }

    #[test]
    fn a_title_of_256_characters_is_refused() {
        let error = Title::parse("title", &"a".repeat(256)).unwrap_err();
        assert_eq!(error.violations()[0].field, "title");
    }

    #[test]
    fn a_title_with_nul_is_refused() {
        assert!(Title::parse("title", "a\0b").is_err());
    }

    #[test]
    fn an_empty_optional_title_means_untitled() {
        assert_eq!(Title::parse_optional("title", "").unwrap(), None);
    }
}

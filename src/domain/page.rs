//! How much one listing call returns: the size of each streamed page and how many pages.

use super::InvalidInput;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;

/// Rows per streamed page, between 1 and 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(i64);

impl PageSize {
    /// 0 means the default; above the maximum is reduced to it; negative is refused.
    pub fn parse(field: &str, value: i32) -> Result<Self, InvalidInput> {
        match i64::from(value) {
            negative if negative < 0 => Err(InvalidInput::field(field, "must not be negative")),
            0 => Ok(Self(DEFAULT_PAGE_SIZE)),
            size => Ok(Self(size.min(MAX_PAGE_SIZE))),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// How many pages a stream sends before it stops; `None` streams them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(Option<u32>);

impl PageLimit {
    pub fn parse(field: &str, value: i32) -> Result<Self, InvalidInput> {
        match u32::try_from(value) {
            Ok(0) => Ok(Self(None)),
            Ok(pages) => Ok(Self(Some(pages))),
            Err(_) => Err(InvalidInput::field(field, "must not be negative")),
        }
    }

    /// Whether a stream that has sent `sent` pages may send another.
    pub fn allows(self, sent: u32) -> bool {
        self.0.is_none_or(|limit| sent < limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_page_size_means_the_default() {
        assert_eq!(PageSize::parse("page_size", 0).unwrap().get(), DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn a_page_size_above_the_maximum_is_clamped() {
        assert_eq!(PageSize::parse("page_size", 501).unwrap().get(), MAX_PAGE_SIZE);
    }

    #[test]
    fn a_negative_page_size_is_refused() {
        assert!(PageSize::parse("page_size", -1).is_err());
    }

    #[test]
    fn a_page_limit_of_two_allows_two_pages() {
        let limit = PageLimit::parse("max_pages", 2).unwrap();
        assert!(limit.allows(0) && limit.allows(1) && !limit.allows(2));
    }
}

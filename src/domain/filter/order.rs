//! The order of a conversation listing, from the request's `order_by`: one field, then an
//! optional `asc` or `desc`, as Google AIP-132 writes it.

use super::error::{FilterError, Problem};

/// The timestamp a listing sorts by; the conversation's id breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    UpdatedAt,
    CreatedAt,
    /// The last message's time, or the creation time of a conversation without messages.
    LastActivity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOrder {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for ListOrder {
    /// Most recently updated first.
    fn default() -> Self {
        Self { key: SortKey::UpdatedAt, descending: true }
    }
}

impl ListOrder {
    /// Reads `order_by`; empty means the default. The direction defaults to descending, the
    /// order a client browsing its history expects.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let mut words = text.split_whitespace();
        let Some(field) = words.next() else {
            return Ok(Self::default());
        };
        let at = |word: &str| word.as_ptr() as usize - text.as_ptr() as usize;

        let key = match field {
            "updated_at" => SortKey::UpdatedAt,
            "created_at" => SortKey::CreatedAt,
            "last_message_at" => SortKey::LastActivity,
            other => {
                let problem = if other.contains(',') {
                    Problem::OrderTooLong
                } else {
                    Problem::UnknownOrderField(other.to_owned())
                };
                return Err(FilterError::new(at(other), problem));
            }
        };

        let descending = match words.next() {
            None => true,
            Some(direction) if direction.eq_ignore_ascii_case("desc") => true,
            Some(direction) if direction.eq_ignore_ascii_case("asc") => false,
            Some(direction) if direction.starts_with(',') => {
                return Err(FilterError::new(at(direction), Problem::OrderTooLong));
            }
            Some(direction) => {
                let problem = Problem::UnknownDirection(direction.to_owned());
                return Err(FilterError::new(at(direction), problem));
            }
        };

        if let Some(extra) = words.next() {
            return Err(FilterError::new(at(extra), Problem::OrderTooLong));
        }
        Ok(Self { key, descending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_order_is_most_recently_updated_first() {
        assert_eq!(ListOrder::parse("  ").unwrap(), ListOrder::default());
    }

    #[test]
    fn each_field_takes_either_direction() {
        let order = ListOrder::parse("last_message_at asc").unwrap();
        assert_eq!(order, ListOrder { key: SortKey::LastActivity, descending: false });
        let order = ListOrder::parse("created_at DESC").unwrap();
        assert_eq!(order, ListOrder { key: SortKey::CreatedAt, descending: true });
    }

    #[test]
    fn an_unknown_field_or_direction_is_refused_where_it_stands() {
        assert_eq!(ListOrder::parse("title").unwrap_err().position, 0);
        assert_eq!(ListOrder::parse("created_at up").unwrap_err().position, 11);
        let error = ListOrder::parse("created_at desc, id").unwrap_err();
        assert_eq!(error.problem, Problem::UnknownDirection("desc,".into()));
    }

    #[test]
    fn a_second_field_is_refused() {
        let error = ListOrder::parse("created_at desc id").unwrap_err();
        assert_eq!(error, FilterError::new(16, Problem::OrderTooLong));
    }
}

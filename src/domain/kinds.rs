//! The closed sets of the data model: a conversation's mode and status and a message's
//! author. Each has the text PostgreSQL stores, which the schema's CHECK constraints list.

use std::fmt;

/// The coaching mode of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Analysis,
    Psychology,
    Training,
    Planning,
}

/// Where a conversation is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Active,
    Archived,
    Deleted,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    User,
    Assistant,
    System,
}

/// A stored value that is not one of the names of its set: the database holds something
/// the schema's CHECK constraint should have refused.
#[derive(Debug, thiserror::Error)]
#[error("unknown stored value {value:?}")]
pub struct UnknownStoredValue {
    pub value: String,
}

macro_rules! stored_names {
    ($kind:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $kind {
            /// The name the database stores.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }

            /// Reads a name the database stored.
            pub fn from_stored(value: &str) -> Result<Self, UnknownStoredValue> {
                match value {
                    $($name => Ok(Self::$variant),)+
                    other => Err(UnknownStoredValue { value: other.to_owned() }),
                }
            }
        }

        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_names!(Mode {
    Analysis => "analysis",
    Psychology => "psychology",
    Training => "training",
    Planning => "planning",
});

stored_names!(Status {
    Active => "active",
    Archived => "archived",
    Deleted => "deleted",
});

stored_names!(MessageType {
    User => "user",
    Assistant => "assistant",
    System => "system",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_name_reads_back_as_its_variant() {
        for mode in [Mode::Analysis, Mode::Psychology, Mode::Training, Mode::Planning] {
            assert_eq!(Mode::from_stored(mode.as_str()).unwrap(), mode);
        }
        for status in [Status::Active, Status::Archived, Status::Deleted] {
            assert_eq!(Status::from_stored(status.as_str()).unwrap(), status);
        }
        for kind in [MessageType::User, MessageType::Assistant, MessageType::System] {
            assert_eq!(MessageType::from_stored(kind.as_str()).unwrap(), kind);
        }
    }

    #[test]
    fn an_unknown_stored_name_is_an_error() {
        assert!(Mode::from_stored("gossip").is_err());
    }
}

//! Input that failed validation, described field by field so that a client can fix every
//! problem of a request at once.

use std::fmt;

/// One field of a request and why its value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request, such as `conversation.title`.
    pub field: String,
    /// What is wrong, in words a client developer can act on.
    pub description: String,
}

/// Every violation found in one request; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvalidInput {
    violations: Vec<FieldViolation>,
}

impl InvalidInput {
    pub fn new() -> Self {
        Self::default()
    }

    /// A single violation, for checks that stand alone.
    pub fn field(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut invalid = Self::new();
        invalid.add(field, description);
        invalid
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations
            .push(FieldViolation { field: field.into(), description: description.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn violations(&self) -> &[FieldViolation] {
        &self.violations
    }

    /// `Ok(())` when nothing was recorded, the collected violations otherwise.
    pub fn into_result(self) -> Result<(), InvalidInput> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let described: Vec<String> = self
            .violations
            .iter()
            .map(|violation| format!("{}: {}", violation.field, violation.description))
            .collect();
        write!(f, "invalid request: {}", described.join("; "))
    }
}

impl std::error::Error for InvalidInput {}

/// Joins independent checks: the values of all when all passed, otherwise every violation of
/// every check that failed. Implemented for tuples of up to six results.
pub trait AllValid {
    type Output;

    fn all_valid(self) -> Result<Self::Output, InvalidInput>;
}

macro_rules! all_valid_for_tuple {
    ($($value:ident: $kind:ident),+) => {
        impl<$($kind),+> AllValid for ($(Result<$kind, InvalidInput>,)+) {
            type Output = ($($kind,)+);

            fn all_valid(self) -> Result<Self::Output, InvalidInput> {
                match self {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => {
                        let mut invalid = InvalidInput::new();
                        $(
                            if let Err(failed) = $value {
                                invalid.violations.extend(failed.violations);
                            }
                        )+
                        Err(invalid)
                    }
                }
            }
        }
    };
}

all_valid_for_tuple!(a: A, b: B);
all_valid_for_tuple!(a: A, b: B, c: C);
all_valid_for_tuple!(a: A, b: B, c: C, d: D);
all_valid_for_tuple!(a: A, b: B, c: C, d: D, e: E);
all_valid_for_tuple!(a: A, b: B, c: C, d: D, e: E, f: F);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_valid_reports_every_failed_check() {
        let checks: (Result<u8, _>, Result<u8, _>, Result<u8, _>) =
            (Err(InvalidInput::field("a", "bad")), Ok(1), Err(InvalidInput::field("c", "bad")));
        let fields: Vec<String> =
            checks.all_valid().unwrap_err().violations().iter().map(|v| v.field.clone()).collect();
        assert_eq!(fields, ["a", "c"]);
    }
}

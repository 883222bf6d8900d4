//! The spans that traces are made of: one per call (opened by the RPC layer) and one per SQL
//! statement below it. User ids never enter a span as they are; a call carries a short hash
//! of its caller's id, enough to group one user's calls without naming the user.

use std::future::Future;

use sha2::{Digest, Sha256};
use tracing::Span;
use tracing::instrument::{Instrument, Instrumented};
use uuid::Uuid;

/// Runs a store future inside a span of its own, named after its SQL statement, such as
/// `SELECT conversations`.
pub trait TracedStatement: Future + Sized {
    fn traced(self, statement: &'static str) -> Instrumented<Self> {
        self.instrument(tracing::info_span!(
            "postgresql",
            otel.name = statement,
            otel.kind = "client",
            db.system = "postgresql",
            db.statement.summary = statement,
        ))
    }
}

impl<F: Future> TracedStatement for F {}

/// Records who is calling on the current call's span, hashed.
pub fn record_caller(user_id: Uuid) {
    let span = Span::current();
    if !span.is_disabled() {
        span.record("user.hash", hashed_user_id(user_id).as_str());
    }
}

/// The first 16 hex digits of the SHA-256 of the id: stable, so one user's calls group
/// together, and not the id itself.
fn hashed_user_id(user_id: Uuid) -> String {
    let digest = Sha256::digest(user_id.as_bytes());
    digest[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_user_id_is_stable_short_and_not_the_id() {
        let user_id = Uuid::new_v4();

        let hashed = hashed_user_id(user_id);

        assert_eq!(hashed, hashed_user_id(user_id));
        assert_eq!(hashed.len(), 16);
        assert!(!user_id.simple().to_string().contains(&hashed));
        assert_ne!(hashed, hashed_user_id(Uuid::new_v4()));
    }
}

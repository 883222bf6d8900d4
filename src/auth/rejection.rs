//! Why a bearer token was refused. Every variant becomes UNAUTHENTICATED with its text as the
//! message, so each one says what the caller's developer should change. None of them repeats
//! anything taken from the token itself, which keeps attacker-chosen text out of the logs.

use super::TokenAlgorithm;

#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token is malformed: expected three base64url parts and a JSON header with alg")]
    Malformed,
    #[error("the token is unsigned (alg none), which is never accepted")]
    Unsigned,
    #[error("the token's alg ({algorithm}) is not accepted here; sign with one of: {allowed}")]
    AlgorithmNotAllowed { algorithm: String, allowed: String },
    #[error(
        "the token's kid names no key this service has; check that the issuer's current keys \
         are configured (keys from a PEM file are known by their RFC 7638 thumbprint)"
    )]
    UnknownKid,
    #[error("the key the token's kid names is not a {0} key")]
    KidOfAnotherAlgorithm(TokenAlgorithm),
    #[error("this service has no {0} key to verify the token with")]
    NoKeyForAlgorithm(TokenAlgorithm),
    #[error("the token's signature does not verify with any of this service's keys")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("the token's issuer is not the one this service trusts")]
    WrongIssuer,
    #[error("the token's audience does not include this service")]
    WrongAudience,
    #[error("the token lacks the required claim {0}")]
    MissingClaim(String),
    #[error("the token's {0} claim has the wrong type")]
    InvalidClaim(String),
    #[error("the token's sub claim must be the user's UUID")]
    SubjectNotUuid,
}

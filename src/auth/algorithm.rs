//! The signing algorithms a bearer token may use here, and how they are named in settings and
//! in a token's `alg` header.

use std::fmt;
use std::str::FromStr;

/// A JWS algorithm this service can verify. Each one is tied to exactly one kind of key, so a
/// key of one kind never checks a signature made for another: that is what defeats algorithm
/// confusion, such as an HS256 token whose "secret" is an RSA public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenAlgorithm {
    /// HMAC with SHA-256, verified with the shared secret.
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, verified with an RSA public key.
    Rs256,
    /// ECDSA on the P-256 curve with SHA-256, verified with an EC public key.
    Es256,
}

impl TokenAlgorithm {
    pub const ALL: [TokenAlgorithm; 3] =
        [TokenAlgorithm::Hs256, TokenAlgorithm::Rs256, TokenAlgorithm::Es256];

    /// The name used in a token's header and in settings.
    pub fn name(self) -> &'static str {
        match self {
            TokenAlgorithm::Hs256 => "HS256",
            TokenAlgorithm::Rs256 => "RS256",
            TokenAlgorithm::Es256 => "ES256",
        }
    }

    /// Whether tokens of this algorithm are checked with public keys rather than the secret.
    pub fn uses_public_keys(self) -> bool {
        self != TokenAlgorithm::Hs256
    }

    /// The algorithm a token's `alg` header names. JWS algorithm names are case-sensitive
    /// (RFC 7515), so `hs256` in a token is not HS256.
    pub(super) fn from_header(alg: &str) -> Option<Self> {
        TokenAlgorithm::ALL.into_iter().find(|algorithm| algorithm.name() == alg)
    }

    pub(super) fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            TokenAlgorithm::Hs256 => jsonwebtoken::Algorithm::HS256,
            TokenAlgorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
            TokenAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

impl fmt::Display for TokenAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A setting names an algorithm this service does not verify.
#[derive(Debug, thiserror::Error)]
#[error("unknown token algorithm {0:?}; choose from HS256, RS256, ES256")]
pub struct UnknownAlgorithm(String);

impl FromStr for TokenAlgorithm {
    type Err = UnknownAlgorithm;

    /// Settings are forgiving about case, unlike token headers: `rs256` is RS256.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.trim();
        TokenAlgorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownAlgorithm(name.to_owned()))
    }
}

/// Algorithms as a reader expects them in a message: `RS256, ES256`.
pub(super) fn listed(algorithms: &[TokenAlgorithm]) -> String {
    let names: Vec<&str> = algorithms.iter().map(|algorithm| algorithm.name()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_algorithms_in_any_case() {
        assert_eq!("rs256".parse::<TokenAlgorithm>().unwrap(), TokenAlgorithm::Rs256);
        assert_eq!(" ES256 ".parse::<TokenAlgorithm>().unwrap(), TokenAlgorithm::Es256);
        assert!("none".parse::<TokenAlgorithm>().is_err());
        assert!("HS512".parse::<TokenAlgorithm>().is_err());
    }

    #[test]
    fn token_headers_name_algorithms_exactly() {
        assert_eq!(TokenAlgorithm::from_header("HS256"), Some(TokenAlgorithm::Hs256));
        assert_eq!(TokenAlgorithm::from_header("hs256"), None);
        assert_eq!(TokenAlgorithm::from_header("none"), None);
    }
}

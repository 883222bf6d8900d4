//! One public key that verifies tokens: its algorithm, fixed by the kind of key, and its kid.
//!
//! A key without a kid of its own (every key from a PEM file, and a JWKS entry without one) is
//! known by its RFC 7638 thumbprint, the kid many issuers put into their tokens anyway.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest, Sha256};

use super::TokenAlgorithm;

/// RSA keys shorter than this are refused when a key file is read (NIST SP 800-131A).
pub(super) const MIN_RSA_BITS: u32 = 2048;

#[derive(Clone)]
pub(super) struct PublicKey {
    kid: String,
    algorithm: TokenAlgorithm,
    key: DecodingKey,
}

impl PublicKey {
    /// An RS256 key; the caller has already checked its length against [`MIN_RSA_BITS`].
    pub(super) fn rsa(public_key: &rsa::PublicKey, kid: Option<String>) -> Self {
        let modulus = public_key.n_bytes();
        let exponent = public_key.e_bytes();

        let kid = kid.unwrap_or_else(|| {
            // RFC 7638: the required members only, in lexicographic order, without whitespace.
            thumbprint(&format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(&exponent),
                URL_SAFE_NO_PAD.encode(&modulus),
            ))
        });

        let key = DecodingKey::from_rsa_raw_components(&modulus, &exponent);
        Self { kid, algorithm: TokenAlgorithm::Rs256, key }
    }

    /// An ES256 key.
    pub(super) fn p256(public_key: &p256::PublicKey, kid: Option<String>) -> Self {
        let point = public_key.to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            unreachable!("an uncompressed point that is not the identity has both coordinates")
        };

        let kid = kid.unwrap_or_else(|| {
            thumbprint(&format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(x),
                URL_SAFE_NO_PAD.encode(y),
            ))
        });

        // jsonwebtoken's ECDSA verifier reads the SEC1 point itself, whatever the name of
        // this constructor suggests; `from_ec_pem` ends up with the same bytes.
        let key = DecodingKey::from_ec_der(point.as_bytes());
        Self { kid, algorithm: TokenAlgorithm::Es256, key }
    }

    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    pub(super) fn algorithm(&self) -> TokenAlgorithm {
        self.algorithm
    }

    pub(super) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

fn thumbprint(canonical_jwk: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical_jwk.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 7638, section 3.1.
    #[test]
    fn an_rsa_key_without_a_kid_is_known_by_its_rfc_7638_thumbprint() {
        let modulus = URL_SAFE_NO_PAD
            .decode(
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR\
                 1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h\
                 4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91Cb\
                 OpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-cs\
                 FCur-kEgU8awapJzKnqDKgw",
            )
            .unwrap();
        let public_key = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&modulus),
            rsa::BoxedUint::from_be_slice_vartime(&[1, 0, 1]),
        )
        .unwrap();

        let key = PublicKey::rsa(&public_key, None);

        assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(key.algorithm(), TokenAlgorithm::Rs256);
    }

    #[test]
    fn a_kid_of_its_own_wins_over_the_thumbprint() {
        let secret = p256::SecretKey::from_slice(&[7; 32]).unwrap();

        let key = PublicKey::p256(&secret.public_key(), Some("signing-2026".into()));

        assert_eq!(key.kid(), "signing-2026");
        assert_eq!(key.algorithm(), TokenAlgorithm::Es256);
    }
}

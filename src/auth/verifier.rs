//! Verifying a bearer token: its header picks the algorithm and the keys to try, a key must
//! verify the signature, then the claims are checked and become the [`Caller`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

use super::algorithm::listed;
use super::key_set::SharedKeySet;
use super::{Caller, JwtSettings, TokenAlgorithm, TokenRejection};

type Claims = serde_json::Map<String, serde_json::Value>;

pub(super) struct Verifier {
    allowed: Vec<TokenAlgorithm>,
    /// One per allowed algorithm: jsonwebtoken wants every algorithm of a validation to be of
    /// the key's kind.
    validations: Vec<(TokenAlgorithm, Validation)>,
    secret: Option<DecodingKey>,
    public_keys: SharedKeySet,
    roles_claim: String,
}

/// The members of a token's header that choose how it is verified.
#[derive(Deserialize)]
struct TokenHeader {
    alg: String,
    kid: Option<String>,
}

impl Verifier {
    /// `allowed` has been checked against the keys: HS256 only with a secret, RS256 and ES256
    /// only with public keys.
    pub(super) fn new(
        settings: &JwtSettings,
        allowed: Vec<TokenAlgorithm>,
        public_keys: SharedKeySet,
    ) -> Self {
        let validations = allowed
            .iter()
            .map(|algorithm| {
                let mut validation = Validation::new(algorithm.jsonwebtoken());
                validation.set_issuer(&[&settings.issuer]);
                validation.set_audience(&[&settings.audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                validation.leeway = settings.leeway.as_secs();
                validation.validate_nbf = true;
                (*algorithm, validation)
            })
            .collect();

        let secret = settings.secret.as_deref().and_then(|secret| {
            // Only an empty secret is refused, and the settings check has ruled that out.
            DecodingKey::from_secret(secret).ok()
        });

        Self {
            allowed,
            validations,
            secret,
            public_keys,
            roles_claim: settings.roles_claim.clone(),
        }
    }

    pub(super) fn verify(&self, token: &str) -> Result<Caller, TokenRejection> {
        let header = read_header(token)?;
        let algorithm = self.accepted_algorithm(&header.alg)?;

        // The kid chooses among public keys only. There is a single secret, so the kid of an
        // HS256 token has nothing to choose from and is not held against it.
        let public_keys = self.public_keys.current();
        let candidates = match algorithm {
            TokenAlgorithm::Hs256 => self.secret.iter().collect(),
            _ => public_keys.candidates(algorithm, header.kid.as_deref())?,
        };

        let claims = self.verified_claims(token, algorithm, &candidates)?;
        self.caller(&claims)
    }

    fn accepted_algorithm(&self, alg: &str) -> Result<TokenAlgorithm, TokenRejection> {
        if alg.eq_ignore_ascii_case("none") {
            return Err(TokenRejection::Unsigned);
        }

        match TokenAlgorithm::from_header(alg) {
            Some(algorithm) if self.allowed.contains(&algorithm) => Ok(algorithm),
            _ => Err(TokenRejection::AlgorithmNotAllowed {
                algorithm: nameable(alg),
                allowed: listed(&self.allowed),
            }),
        }
    }

    /// The claims, checked, of the first key the signature verifies with.
    fn verified_claims(
        &self,
        token: &str,
        algorithm: TokenAlgorithm,
        candidates: &[&DecodingKey],
    ) -> Result<Claims, TokenRejection> {
        // Every allowed algorithm has a validation; refusing beats panicking in an interceptor
        // should that ever stop being true.
        let Some((_, validation)) = self.validations.iter().find(|(of, _)| *of == algorithm) else {
            return Err(TokenRejection::AlgorithmNotAllowed {
                algorithm: format!("{algorithm:?}"),
                allowed: listed(&self.allowed),
            });
        };

        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(error) if made_with_another_key(&error) => continue,
                Err(error) => return Err(rejection(error)),
            }
        }
        Err(TokenRejection::BadSignature)
    }

    fn caller(&self, claims: &Claims) -> Result<Caller, TokenRejection> {
        let user_id = claims
            .get("sub")
            .and_then(|sub| sub.as_str())
            .and_then(|sub| Uuid::parse_str(sub).ok())
            .ok_or(TokenRejection::SubjectNotUuid)?;

        let roles = match claims.get(&self.roles_claim) {
            Some(serde_json::Value::Array(roles)) => {
                roles.iter().filter_map(|role| role.as_str().map(str::to_owned)).collect()
            }
            Some(serde_json::Value::String(role)) => vec![role.clone()],
            _ => Vec::new(),
        };

        Ok(Caller { user_id, roles })
    }
}

fn read_header(token: &str) -> Result<TokenHeader, TokenRejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };

    let json = URL_SAFE_NO_PAD.decode(header).map_err(|_| TokenRejection::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenRejection::Malformed)
}

/// A registered JWS algorithm name as it is, anything else as "unrecognised": the name ends
/// up in a message and a log line, where text of the caller's choosing does not belong.
fn nameable(alg: &str) -> String {
    match alg.parse::<jsonwebtoken::Algorithm>() {
        Ok(_) => alg.to_owned(),
        Err(_) => "unrecognised".to_owned(),
    }
}

/// Errors that mean "not this key": the next candidate may still verify the signature.
fn made_with_another_key(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEcdsaKey
    )
}

fn rejection(error: Error) -> TokenRejection {
    match error.into_kind() {
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => TokenRejection::MissingClaim(claim),
        ErrorKind::InvalidClaimFormat(claim) => TokenRejection::InvalidClaim(claim),
        _ => TokenRejection::Malformed,
    }
}

#[cfg(test)]
mod tests {

    use jsonwebtoken::{EncodingKey, Header};
    use p256::pkcs8::EncodePrivateKey as _;
    use serde_json::json;

    use super::*;
    use crate::auth::key_set::KeySet;
    use crate::auth::public_key::PublicKey;

    const SECRET: &[u8] = b"a unit test secret of thirty-two bytes or more";

    fn settings() -> JwtSettings {
        JwtSettings { secret: Some(SECRET.to_vec()), ..JwtSettings::without_keys() }
    }

    fn claims() -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "sub": Uuid::new_v4().to_string(),
            "iss": "tradecoach",
            "aud": "conversation-service",
            "exp": now + 600,
            "roles": ["admin"],
        })
    }

    /// An ES256 signing key and the verifier that knows its public half as `kid`.
    fn es256_verifier(kid: &str) -> (EncodingKey, Verifier) {
        let secret = p256::SecretKey::from_slice(&[9; 32]).unwrap();
        let der = secret.to_pkcs8_der().unwrap();
        let public_key = PublicKey::p256(&secret.public_key(), Some(kid.into()));

        let keys = SharedKeySet::default();
        keys.replace(KeySet::new(vec![public_key]));
        let allowed = vec![TokenAlgorithm::Hs256, TokenAlgorithm::Es256];
        (EncodingKey::from_ec_der(der.as_bytes()), Verifier::new(&settings(), allowed, keys))
    }

    fn es256_token(key: &EncodingKey, kid: Option<&str>) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims(), key).unwrap()
    }

    #[test]
    fn an_es256_token_names_its_caller_and_roles() {
        let (key, verifier) = es256_verifier("k1");

        let caller = verifier.verify(&es256_token(&key, Some("k1"))).unwrap();

        assert_eq!(caller.roles, ["admin"]);
    }

    #[test]
    fn an_unknown_kid_is_refused_before_any_signature_is_checked() {
        let (key, verifier) = es256_verifier("k1");

        let outcome = verifier.verify(&es256_token(&key, Some("k2")));

        assert!(matches!(outcome, Err(TokenRejection::UnknownKid)));
    }

    #[test]
    fn an_hs256_token_may_carry_a_kid() {
        let (_, verifier) = es256_verifier("k1");
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("whatever".into());
        let key = EncodingKey::from_secret(SECRET).unwrap();
        let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();

        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn unsigned_and_unlisted_algorithms_are_refused_by_name() {
        let (_, verifier) = es256_verifier("k1");
        let body = URL_SAFE_NO_PAD.encode(claims().to_string());
        let with_alg = |alg: &str| {
            format!("{}.{body}.c2ln", URL_SAFE_NO_PAD.encode(json!({ "alg": alg }).to_string()))
        };

        let none = verifier.verify(&with_alg("none"));
        let rs256 = verifier.verify(&with_alg("RS256"));
        let invented = verifier.verify(&with_alg("<script>"));

        assert!(matches!(none, Err(TokenRejection::Unsigned)));
        assert_eq!(
            rs256.unwrap_err().to_string(),
            "the token's alg (RS256) is not accepted here; sign with one of: HS256, ES256"
        );
        assert!(invented.unwrap_err().to_string().contains("(unrecognised)"));
    }

    #[test]
    fn a_token_that_is_not_three_parts_is_malformed() {
        let (_, verifier) = es256_verifier("k1");

        for token in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig"] {
            assert!(matches!(verifier.verify(token), Err(TokenRejection::Malformed)), "{token}");
        }
    }
}

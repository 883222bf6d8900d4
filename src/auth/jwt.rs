//! HS256 JSON Web Tokens: verifying the bearer tokens callers present, and issuing tokens for
//! the `token` command of the embedded mode.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Caller;

/// Clock difference between token issuer and service that is still accepted for `exp`.
const LEEWAY_SECONDS: u64 = 30;

/// What a token must carry and how it is signed.
#[derive(Clone)]
pub struct JwtSettings {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    /// The claim that lists the caller's roles.
    pub roles_claim: String,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("roles_claim", &self.roles_claim)
            .finish()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// Why a token was refused, worded for the developer of the calling service.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("the token's issuer is not the one this service trusts")]
    WrongIssuer,
    #[error("the token's audience does not include this service")]
    WrongAudience,
    #[error("the token's signature does not verify with this service's key")]
    BadSignature,
    #[error("the token is not signed with an accepted algorithm (HS256)")]
    WrongAlgorithm,
    #[error("the token lacks the required claim {0}")]
    MissingClaim(String),
    #[error("the token's sub claim must be the user's UUID")]
    SubjectNotUuid,
    #[error("the token is malformed")]
    Malformed,
}

pub(super) struct Verifier {
    key: DecodingKey,
    validation: Validation,
    roles_claim: String,
}

impl Verifier {
    pub(super) fn new(settings: &JwtSettings) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;

        Ok(Self {
            key: DecodingKey::from_secret(&settings.secret)?,
            validation,
            roles_claim: settings.roles_claim.clone(),
        })
    }

    pub(super) fn verify(&self, token: &str) -> Result<Caller, TokenRejection> {
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &self.key,
            &self.validation,
        )
        .map_err(|error| match error.kind() {
            ErrorKind::ExpiredSignature => TokenRejection::Expired,
            ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
            ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
            ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
            ErrorKind::InvalidSignature => TokenRejection::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenRejection::WrongAlgorithm
            }
            ErrorKind::MissingRequiredClaim(claim) => TokenRejection::MissingClaim(claim.clone()),
            _ => TokenRejection::Malformed,
        })?;

        let claims = data.claims;
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

/// Signs tokens the way the service verifies them; used by the `token` command and tests.
pub struct TokenIssuer {
    settings: JwtSettings,
}

impl TokenIssuer {
    pub fn new(settings: JwtSettings) -> Self {
        Self { settings }
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        roles: &[String],
        lifetime: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut extra = serde_json::Map::new();
        if !roles.is_empty() {
            extra.insert(self.settings.roles_claim.clone(), roles.into());
        }

        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            exp: now + lifetime.as_secs(),
            iat: now,
            extra,
        };

        let key = EncodingKey::from_secret(&self.settings.secret)?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
    }
}

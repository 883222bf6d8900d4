//! Signing HS256 tokens the way the service verifies them: for the `token` command of the
//! embedded mode and for tests. Tokens signed with private keys come from the identity
//! provider, never from this service.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use uuid::Uuid;

use super::JwtSettings;

#[derive(Serialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("tokens are signed with the HS256 secret, and none is configured")]
    NoSecret,
    #[error("signing the token: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

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
    ) -> Result<String, IssueError> {
        let secret = self.settings.secret.as_deref().ok_or(IssueError::NoSecret)?;
        let key = EncodingKey::from_secret(secret)?;

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

        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)?)
    }
}

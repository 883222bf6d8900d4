//! What a token must carry and which keys may sign it, as configured; and the refusal to start
//! with settings under which an allowed algorithm could never verify a token.

use std::path::PathBuf;
use std::time::Duration;

use super::TokenAlgorithm;
use super::algorithm::listed;
use super::key_file::{KeyFile, KeyFileError, KeyFileFormat};

#[derive(Clone)]
pub struct JwtSettings {
    /// The HS256 secret, when tokens may be signed with one.
    pub secret: Option<Vec<u8>>,
    /// A PEM file of RSA and EC P-256 public keys.
    pub public_keys_file: Option<PathBuf>,
    /// A JSON Web Key Set file.
    pub jwks_file: Option<PathBuf>,
    /// The algorithms a token may be signed with; empty for the default, which follows from
    /// the keys configured.
    pub algorithms: Vec<TokenAlgorithm>,
    pub issuer: String,
    pub audience: String,
    /// The claim that lists the caller's roles.
    pub roles_claim: String,
    /// Clock difference between token issuer and service still accepted for exp and nbf.
    pub leeway: Duration,
    /// How often the key files are checked for changes; zero turns reloading off.
    pub keys_reload_interval: Duration,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("public_keys_file", &self.public_keys_file)
            .field("jwks_file", &self.jwks_file)
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("roles_claim", &self.roles_claim)
            .field("leeway", &self.leeway)
            .field("keys_reload_interval", &self.keys_reload_interval)
            .finish()
    }
}

/// Settings that cannot work, found at startup.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "nothing can verify tokens: configure an HS256 secret, a public keys file or a JWKS file"
    )]
    NoVerificationKeys,
    #[error("the HS256 secret is empty")]
    EmptySecret,
    #[error("HS256 is an allowed algorithm but no HS256 secret is configured")]
    Hs256WithoutSecret,
    #[error("{0} is an allowed algorithm but neither a public keys file nor a JWKS file is set")]
    NoPublicKeys(TokenAlgorithm),
    #[error("public keys are configured but the allowed algorithms ({0}) use none of them")]
    PublicKeysUnused(String),
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
}

impl JwtSettings {
    /// The algorithms in force: the configured ones, or else HS256 when there is a secret and
    /// RS256 and ES256 when there are public keys.
    pub fn allowed_algorithms(&self) -> Vec<TokenAlgorithm> {
        if !self.algorithms.is_empty() {
            let mut allowed = Vec::new();
            for algorithm in &self.algorithms {
                if !allowed.contains(algorithm) {
                    allowed.push(*algorithm);
                }
            }
            return allowed;
        }

        TokenAlgorithm::ALL
            .into_iter()
            .filter(|algorithm| {
                if algorithm.uses_public_keys() {
                    self.has_public_keys()
                } else {
                    self.secret.is_some()
                }
            })
            .collect()
    }

    /// The allowed algorithms, once each is known to have a key to verify with.
    pub(super) fn checked_algorithms(&self) -> Result<Vec<TokenAlgorithm>, SetupError> {
        let allowed = self.allowed_algorithms();
        if allowed.is_empty() {
            return Err(SetupError::NoVerificationKeys);
        }
        if self.secret.as_ref().is_some_and(Vec::is_empty) {
            return Err(SetupError::EmptySecret);
        }

        for algorithm in &allowed {
            if !algorithm.uses_public_keys() && self.secret.is_none() {
                return Err(SetupError::Hs256WithoutSecret);
            }
            if algorithm.uses_public_keys() && !self.has_public_keys() {
                return Err(SetupError::NoPublicKeys(*algorithm));
            }
        }

        if self.has_public_keys() && !allowed.iter().any(|algorithm| algorithm.uses_public_keys()) {
            return Err(SetupError::PublicKeysUnused(listed(&allowed)));
        }
        Ok(allowed)
    }

    pub(super) fn key_files(&self) -> Vec<KeyFile> {
        let pem = self.public_keys_file.iter().map(|path| (path, KeyFileFormat::Pem));
        let jwks = self.jwks_file.iter().map(|path| (path, KeyFileFormat::Jwks));
        pem.chain(jwks).map(|(path, format)| KeyFile { path: path.clone(), format }).collect()
    }

    fn has_public_keys(&self) -> bool {
        self.public_keys_file.is_some() || self.jwks_file.is_some()
    }
}

#[cfg(test)]
impl JwtSettings {
    /// The defaults of the command line with no keys at all, for unit tests to adjust.
    pub(super) fn without_keys() -> Self {
        Self {
            secret: None,
            public_keys_file: None,
            jwks_file: None,
            algorithms: Vec::new(),
            issuer: "tradecoach".into(),
            audience: "conversation-service".into(),
            roles_claim: "roles".into(),
            leeway: Duration::from_secs(30),
            keys_reload_interval: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings::without_keys()
    }

    fn with_secret() -> JwtSettings {
        JwtSettings { secret: Some(b"a secret".to_vec()), ..settings() }
    }

    fn with_public_keys() -> JwtSettings {
        JwtSettings { jwks_file: Some("jwks.json".into()), ..settings() }
    }

    #[test]
    fn the_default_algorithms_follow_the_keys_configured() {
        use TokenAlgorithm::*;

        let both = JwtSettings { secret: Some(b"a secret".to_vec()), ..with_public_keys() };

        assert_eq!(with_secret().allowed_algorithms(), [Hs256]);
        assert_eq!(with_public_keys().allowed_algorithms(), [Rs256, Es256]);
        assert_eq!(both.allowed_algorithms(), [Hs256, Rs256, Es256]);
    }

    #[test]
    fn an_allowed_algorithm_without_a_key_is_refused_at_start() {
        use TokenAlgorithm::*;

        let hs256_without_secret = JwtSettings { algorithms: vec![Hs256], ..with_public_keys() };
        let rs256_without_keys = JwtSettings { algorithms: vec![Rs256], ..with_secret() };
        let keys_unused = JwtSettings { algorithms: vec![Hs256], ..with_public_keys() };

        assert!(matches!(settings().checked_algorithms(), Err(SetupError::NoVerificationKeys)));
        assert!(matches!(
            hs256_without_secret.checked_algorithms(),
            Err(SetupError::Hs256WithoutSecret)
        ));
        assert!(matches!(
            rs256_without_keys.checked_algorithms(),
            Err(SetupError::NoPublicKeys(Rs256))
        ));
        assert!(matches!(
            JwtSettings { secret: Some(b"a secret".to_vec()), ..keys_unused }.checked_algorithms(),
            Err(SetupError::PublicKeysUnused(_))
        ));
    }
}

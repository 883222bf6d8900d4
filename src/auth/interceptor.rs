//! The gRPC interceptor in front of the conversation service: small and synchronous, it only
//! turns metadata into a [`Caller`].

use std::sync::Arc;

use tonic::{Request, Status, service::Interceptor};
use uuid::Uuid;

use super::key_watch::{KeyFileWatch, KeyWatcher};
use super::verifier::Verifier;
use super::{Caller, JwtSettings, SetupError};
use crate::observability;

const TRUSTED_USER_HEADER: &str = "x-user-id";

#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<Verifier>,
    key_watcher: Arc<KeyWatcher>,
    trust_user_id_header: bool,
}

impl Authenticator {
    /// Reads the key files, so settings that cannot verify any token fail here, at startup.
    ///
    /// `trust_user_id_header` accepts `x-user-id` without a token: only for a mesh that has
    /// already authenticated the caller and strips the header from outside traffic.
    pub fn new(settings: &JwtSettings, trust_user_id_header: bool) -> Result<Self, SetupError> {
        let allowed = settings.checked_algorithms()?;
        let key_watcher =
            KeyWatcher::load(settings.key_files(), &allowed, settings.keys_reload_interval)?;
        let verifier = Verifier::new(settings, allowed, key_watcher.keys());

        Ok(Self {
            verifier: Arc::new(verifier),
            key_watcher: Arc::new(key_watcher),
            trust_user_id_header,
        })
    }

    /// Starts reloading the key files when they change, for as long as the returned value is
    /// kept. Needs a Tokio runtime; without key files there is nothing to watch.
    pub fn watch_key_files(&self) -> KeyFileWatch {
        KeyWatcher::clone(&self.key_watcher).spawn()
    }

    fn authenticate(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Caller, Status> {
        if let Some(value) = metadata.get("authorization") {
            let token = value.to_str().ok().and_then(bearer_token).ok_or_else(|| {
                Status::unauthenticated("authorization must be \"Bearer <token>\"")
            })?;

            return self.verifier.verify(token.trim()).map_err(|rejection| {
                tracing::debug!(reason = %rejection, "bearer token refused");
                Status::unauthenticated(rejection.to_string())
            });
        }

        if self.trust_user_id_header
            && let Some(value) = metadata.get(TRUSTED_USER_HEADER)
        {
            let user_id = value
                .to_str()
                .ok()
                .and_then(|header| Uuid::parse_str(header.trim()).ok())
                .ok_or_else(|| Status::unauthenticated("x-user-id must be a UUID"))?;
            return Ok(Caller { user_id, roles: Vec::new() });
        }

        Err(Status::unauthenticated("missing credentials: send authorization: Bearer <token>"))
    }
}

/// The token of an `authorization` value; the scheme name is case-insensitive (RFC 7235).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = self.authenticate(request.metadata())?;
        observability::record_caller(caller.user_id);
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

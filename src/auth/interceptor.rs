//! The gRPC interceptor in front of the conversation service: small and synchronous, it only
//! turns metadata into a [`Caller`].

use std::sync::Arc;

use tonic::{Request, Status, service::Interceptor};
use uuid::Uuid;

use super::jwt::Verifier;
use super::{Caller, JwtSettings};

const TRUSTED_USER_HEADER: &str = "x-user-id";

#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<Verifier>,
    trust_user_id_header: bool,
}

impl Authenticator {
    /// `trust_user_id_header` accepts `x-user-id` without a token: only for a mesh that has
    /// already authenticated the caller and strips the header from outside traffic.
    pub fn new(
        settings: &JwtSettings,
        trust_user_id_header: bool,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let verifier = Arc::new(Verifier::new(settings)?);
        Ok(Self { verifier, trust_user_id_header })
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
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

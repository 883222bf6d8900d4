//! The authenticated identity a request runs as.

use tonic::{Request, Status};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user every statement of the request is scoped to.
    pub user_id: Uuid,
    /// Roles granted by the token, such as `admin`; empty for the trusted-header mode.
    pub roles: Vec<String>,
}

impl Caller {
    /// The caller the interceptor put into `request`. Every authenticated route has one; a
    /// request without it reached a handler unauthenticated, which is refused all the same.
    pub fn of<T>(request: &Request<T>) -> Result<Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
    }
}

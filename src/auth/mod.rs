//! Who is calling: credentials in request metadata become a [`Caller`] in the request's
//! extensions, or the request is refused with UNAUTHENTICATED before any handler runs.
//! Nothing here touches the database.

mod caller;
mod interceptor;
mod jwt;

pub use caller::Caller;
pub use interceptor::Authenticator;
pub use jwt::{JwtSettings, TokenIssuer};

//! Who is calling: credentials in request metadata become a [`Caller`] in the request's
//! extensions, or the request is refused with UNAUTHENTICATED before any handler runs.
//! Nothing here touches the database; the only I/O is reading the key files, once at startup
//! and then from the background task of [`Authenticator::watch_key_files`].

mod algorithm;
mod caller;
mod interceptor;
mod issuer;
mod key_file;
mod key_set;
mod key_watch;
mod public_key;
mod rejection;
mod settings;
mod verifier;

pub use algorithm::{TokenAlgorithm, UnknownAlgorithm};
pub use caller::Caller;
pub use interceptor::Authenticator;
pub use issuer::{IssueError, TokenIssuer};
pub use key_file::KeyFileError;
pub use key_watch::KeyFileWatch;
pub use rejection::TokenRejection;
pub use settings::{JwtSettings, SetupError};

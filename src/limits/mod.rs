//! Protection against one caller taking more than its share: a per-user request rate, and
//! (configured on the server in `server.rs`) a per-connection concurrency limit with load
//! shedding and a server-side timeout.

mod rate;

pub use rate::{RateLimited, UserRateLimiter};

//! The gRPC surface: requests are validated into domain types, handed to the store, and the
//! store's records are turned back into protobuf. No SQL lives here.

mod conversions;
mod deadline;
mod error;
mod handlers;
mod json;
mod paging;
mod requests;
mod search;
mod stats;

pub use error::ApiError;
pub use handlers::ConversationApi;

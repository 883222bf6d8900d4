//! Validated values of the service: whatever crosses from the API into the store is one of
//! these types, so the store never sees an unchecked title, context or page token.
//! Nothing here does I/O.

mod content;
mod context;
pub mod filter;
mod invalid;
mod kinds;
mod page;
mod page_token;
mod request_id;
mod title;

pub use content::MessageContent;
pub use context::ContextData;
pub use filter::{FilterExpression, ListOrder, SortKey};
pub use invalid::{AllValid, FieldViolation, InvalidInput};
pub use kinds::{MessageType, Mode, Status};
pub use page::{PageLimit, PageSize};
pub use page_token::{PageTokenKey, Position, ScorePosition, TokenPosition};
pub use request_id::RequestId;
pub use title::Title;

//! Rows as the store returns them: plain Rust values, no SQL and no protobuf.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{MessageType, Mode, Status};

/// The columns every conversation query returns, as a literal so that statements stay
/// `&'static str` (sqlx accepts only those, or strings explicitly audited, as SQL).
macro_rules! conversation_columns {
    () => {
        "id, user_id, title, mode, status, context_data, last_message_at, message_count, \
         created_at, updated_at, archived_at, revision"
    };
}

macro_rules! message_columns {
    () => {
        "id, conversation_id, type, content, created_at"
    };
}

pub(super) use {conversation_columns, message_columns};

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: Option<String>,
    pub mode: Mode,
    pub status: Status,
    pub context_data: Value,
    pub last_message_at: Option<DateTime<Utc>>,
    pub message_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    /// Grows by one on every change of the row; the API's etag.
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub message_type: MessageType,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ConversationRow {
    id: Uuid,
    user_id: Uuid,
    title: Option<String>,
    mode: String,
    status: String,
    context_data: Json<Value>,
    last_message_at: Option<DateTime<Utc>>,
    message_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
    revision: i64,
}

impl TryFrom<ConversationRow> for ConversationRecord {
    type Error = StoreError;

    fn try_from(row: ConversationRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            user_id: row.user_id,
            title: row.title,
            mode: Mode::from_stored(&row.mode).map_err(corrupt)?,
            status: Status::from_stored(&row.status).map_err(corrupt)?,
            context_data: row.context_data.0,
            last_message_at: row.last_message_at,
            message_count: i64::from(row.message_count),
            created_at: row.created_at,
            updated_at: row.updated_at,
            archived_at: row.archived_at,
            revision: row.revision,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: Uuid,
    conversation_id: Uuid,
    #[sqlx(rename = "type")]
    message_type: String,
    content: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for MessageRecord {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            conversation_id: row.conversation_id,
            message_type: MessageType::from_stored(&row.message_type).map_err(corrupt)?,
            content: row.content,
            created_at: row.created_at,
        })
    }
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(error.to_string())
}

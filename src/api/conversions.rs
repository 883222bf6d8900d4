//! Store records to protobuf messages.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use serde_json::Value;

use super::json::json_to_struct;
use crate::domain;
use crate::pb;
use crate::store::{ConversationRecord, MessageRecord};

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }
}

pub fn mode_to_proto(mode: domain::Mode) -> pb::Mode {
    match mode {
        domain::Mode::Analysis => pb::Mode::Analysis,
        domain::Mode::Psychology => pb::Mode::Psychology,
        domain::Mode::Training => pb::Mode::Training,
        domain::Mode::Planning => pb::Mode::Planning,
    }
}

pub fn status_to_proto(status: domain::Status) -> pb::Status {
    match status {
        domain::Status::Active => pb::Status::Active,
        domain::Status::Archived => pb::Status::Archived,
        domain::Status::Deleted => pb::Status::Deleted,
    }
}

pub fn message_type_to_proto(message_type: domain::MessageType) -> pb::MessageType {
    match message_type {
        domain::MessageType::User => pb::MessageType::User,
        domain::MessageType::Assistant => pb::MessageType::Assistant,
        domain::MessageType::System => pb::MessageType::System,
    }
}

/// The etag of a revision. Opaque to clients; only ever compared.
pub fn etag(revision: i64) -> String {
    revision.to_string()
}

impl From<ConversationRecord> for pb::Conversation {
    fn from(record: ConversationRecord) -> Self {
        let context = match &record.context_data {
            Value::Object(object) => json_to_struct(object),
            _ => prost_types::Struct::default(),
        };

        Self {
            id: record.id.to_string(),
            user_id: record.user_id.to_string(),
            title: record.title.unwrap_or_default(),
            mode: mode_to_proto(record.mode).into(),
            status: status_to_proto(record.status).into(),
            context_data: Some(context),
            last_message_at: record.last_message_at.map(timestamp),
            message_count: record.message_count,
            created_at: Some(timestamp(record.created_at)),
            updated_at: Some(timestamp(record.updated_at)),
            archived_at: record.archived_at.map(timestamp),
            etag: etag(record.revision),
        }
    }
}

impl From<MessageRecord> for pb::Message {
    fn from(record: MessageRecord) -> Self {
        Self {
            id: record.id.to_string(),
            conversation_id: record.conversation_id.to_string(),
            r#type: message_type_to_proto(record.message_type).into(),
            content: record.content,
            created_at: Some(timestamp(record.created_at)),
        }
    }
}

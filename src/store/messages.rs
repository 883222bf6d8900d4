//! Statements on the `messages` table. The conversation's statistics are kept by the
//! `update_conversation_stats` trigger, in the same transaction as each insert.

use sqlx::{Postgres, QueryBuilder};
use tracing::instrument;

use crate::observability::TracedStatement;
use uuid::Uuid;

use super::conversations::{claim_request_id, select_conversation};
use super::records::{MessageRow, message_columns};
use super::{MessageRecord, Scope, Store, StoreError, StoreResult};
use crate::domain::{MessageContent, MessageType, Position, RequestId};

const APPEND_OPERATION: &str = "append_message";

/// A message to append, already validated.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_type: MessageType,
    pub content: MessageContent,
}

impl Store {
    /// Appends a message to an active conversation. With a request id seen before, returns the
    /// message that request appended.
    #[instrument(skip_all, fields(conversation.id = %conversation_id))]
    pub async fn append_message(
        &self,
        scope: &Scope,
        conversation_id: Uuid,
        new: NewMessage,
        request_id: Option<&RequestId>,
    ) -> StoreResult<MessageRecord> {
        let (user_id, id) = (scope.user_id, Uuid::now_v7());
        let mut tx = self.begin(scope).await?;

        if let Some(request_id) = request_id {
            let first = claim_request_id(&mut tx, user_id, APPEND_OPERATION, request_id, id).await;
            if let Some(existing) = first? {
                let message = select_message(&mut tx, user_id, existing).await?;
                if message.conversation_id != conversation_id {
                    return Err(StoreError::RequestIdReused);
                }
                tx.commit().traced("COMMIT").await?;
                return Ok(message);
            }
        }

        // Inserting through a SELECT of the conversation checks ownership and status in the
        // same statement: no row is written unless the caller's conversation is active. The
        // row lock makes a concurrent Archive or Delete wait, or makes this append see it and
        // write nothing, so that no message lands in a conversation that is no longer active.
        let sql = concat!(
            "INSERT INTO messages (id, conversation_id, user_id, type, content) ",
            "SELECT $1, c.id, c.user_id, $4, $5 FROM conversations c ",
            "WHERE c.user_id = $2 AND c.id = $3 AND c.status = 'active' ",
            "FOR NO KEY UPDATE RETURNING ",
            message_columns!()
        );
        let inserted: Option<MessageRow> = sqlx::query_as(sql)
            .bind(id)
            .bind(user_id)
            .bind(conversation_id)
            .bind(new.message_type.as_str())
            .bind(new.content.as_str())
            .fetch_optional(&mut *tx)
            .traced("INSERT messages")
            .await?;

        let Some(row) = inserted else {
            let conversation = select_conversation(&mut *tx, user_id, conversation_id).await?;
            return Err(StoreError::WrongStatus { current: conversation.status });
        };

        tx.commit().traced("COMMIT").await?;
        row.try_into()
    }

    /// One page of a conversation's messages after `after`, oldest first. A missing
    /// conversation, or another user's, is NotFound.
    #[instrument(
        skip_all,
        fields(conversation.id = %conversation_id, limit)
    )]
    pub async fn list_messages(
        &self,
        scope: &Scope,
        conversation_id: Uuid,
        after: Option<Position>,
        limit: i64,
    ) -> StoreResult<Vec<MessageRecord>> {
        let mut tx = self.begin(scope).await?;
        if after.is_none() {
            select_conversation(&mut *tx, scope.user_id, conversation_id).await?;
        }

        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE user_id = "
        ));
        query.push_bind(scope.user_id).push(" AND conversation_id = ").push_bind(conversation_id);

        if let Some(after) = after {
            query.push(" AND (created_at, id) > (").push_bind(after.at);
            query.push(", ").push_bind(after.id).push(")");
        }

        query.push(" ORDER BY created_at, id LIMIT ").push_bind(limit);

        let rows: Vec<MessageRow> =
            query.build_query_as().fetch_all(&mut *tx).traced("SELECT messages").await?;
        tx.commit().traced("COMMIT").await?;

        rows.into_iter().map(TryInto::try_into).collect()
    }
}

async fn select_message(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    id: Uuid,
) -> StoreResult<MessageRecord> {
    let sql =
        concat!("SELECT ", message_columns!(), " FROM messages WHERE user_id = $1 AND id = $2");
    let row: Option<MessageRow> = sqlx::query_as(sql)
        .bind(user_id)
        .bind(id)
        .fetch_optional(tx)
        .traced("SELECT messages")
        .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

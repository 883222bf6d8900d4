//! Statements on the `conversations` table.

use sqlx::{Postgres, QueryBuilder, types::Json};
use tracing::instrument;

use crate::observability::TracedStatement;
use uuid::Uuid;

use super::filtering::{push_conversation_filter, push_keyset, push_order_by};
use super::records::{ConversationRow, conversation_columns};
use super::{ConversationRecord, Scope, Store, StoreError, StoreResult};
use crate::domain::{
    ContextData, FilterExpression, ListOrder, Mode, Position, RequestId, Status, Title,
};

const CREATE_OPERATION: &str = "create_conversation";

/// A conversation to create, already validated.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub title: Option<Title>,
    pub mode: Mode,
    pub context_data: ContextData,
}

/// The fields an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConversationChanges {
    pub title: Option<Title>,
    pub mode: Option<Mode>,
    pub context_data: Option<ContextData>,
}

/// Which conversations a listing returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationFilter {
    pub mode: Option<Mode>,
    /// The statuses to include; never empty.
    pub statuses: Vec<Status>,
    /// The request's filter expression, when it has one; it narrows the fields above.
    pub expression: Option<FilterExpression>,
}

/// A lifecycle move, with the statuses it starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Archive,
    Unarchive,
    Delete,
    Undelete,
}

impl Transition {
    fn applies_to(self) -> &'static [&'static str] {
        match self {
            Self::Archive => &["active"],
            Self::Unarchive => &["archived"],
            Self::Delete => &["active", "archived"],
            Self::Undelete => &["deleted"],
        }
    }

    /// The statement of the move. A deleted conversation keeps its archived_at, so that
    /// undeleting it returns it to where it was: the archive or the active list.
    fn statement(self) -> &'static str {
        macro_rules! transition {
            ($assignments:literal) => {
                concat!(
                    "UPDATE conversations SET ",
                    $assignments,
                    " WHERE user_id = $1 AND id = $2 AND status = ANY($3) ",
                    "AND ($4::bigint IS NULL OR revision = $4) RETURNING ",
                    conversation_columns!()
                )
            };
        }

        match self {
            Self::Archive => transition!("status = 'archived', archived_at = now()"),
            Self::Unarchive => transition!("status = 'active', archived_at = NULL"),
            Self::Delete => transition!("status = 'deleted'"),
            Self::Undelete => transition!(
                "status = CASE WHEN archived_at IS NULL THEN 'active' ELSE 'archived' END"
            ),
        }
    }
}

impl Store {
    /// Creates a conversation and, on the caller's first write, the caller's user row. With a
    /// request id seen before, returns the conversation that request created.
    #[instrument(skip_all)]
    pub async fn create_conversation(
        &self,
        scope: &Scope,
        new: NewConversation,
        request_id: Option<&RequestId>,
    ) -> StoreResult<ConversationRecord> {
        let (user_id, id) = (scope.user_id, Uuid::now_v7());
        let mut tx = self.begin(scope).await?;

        sqlx::query("INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(user_id)
            .execute(&mut *tx)
            .traced("INSERT users")
            .await?;

        if let Some(request_id) = request_id {
            let first =
                claim_request_id(&mut tx, user_id, CREATE_OPERATION, request_id, id).await?;
            if let Some(existing) = first {
                let conversation = select_conversation(&mut *tx, user_id, existing).await?;
                tx.commit().traced("COMMIT").await?;
                return Ok(conversation);
            }
        }

        let sql = concat!(
            "INSERT INTO conversations (id, user_id, title, mode, context_data) ",
            "VALUES ($1, $2, $3, $4, $5) RETURNING ",
            conversation_columns!()
        );
        let row: ConversationRow = sqlx::query_as(sql)
            .bind(id)
            .bind(user_id)
            .bind(new.title.as_ref().map(Title::as_str))
            .bind(new.mode.as_str())
            .bind(Json(new.context_data.as_map()))
            .fetch_one(&mut *tx)
            .traced("INSERT conversations")
            .await?;

        tx.commit().traced("COMMIT").await?;
        row.try_into()
    }

    #[instrument(skip_all, fields(conversation.id = %id))]
    pub async fn get_conversation(
        &self,
        scope: &Scope,
        id: Uuid,
    ) -> StoreResult<ConversationRecord> {
        // The hottest call: one statement that sets the caller and reads the row (migration
        // 20261204000001), where BEGIN, SELECT and COMMIT would be three round trips.
        let sql = concat!("SELECT ", conversation_columns!(), " FROM get_conversation($1, $2, $3)");
        let mut connection = self.acquire().await?;
        let row: Option<ConversationRow> = sqlx::query_as(sql)
            .bind(scope.user_id)
            .bind(id)
            .bind(self.timeout_ms(scope))
            .fetch_optional(&mut *connection)
            .traced("SELECT conversations")
            .await?;
        connection.release();

        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Applies `changes` in one statement. Switching to another mode also records the time of
    /// the switch in the context as `last_mode_switch`. Deleted conversations are read-only.
    #[instrument(skip_all, fields(conversation.id = %id))]
    pub async fn update_conversation(
        &self,
        scope: &Scope,
        id: Uuid,
        changes: ConversationChanges,
        expected_revision: Option<i64>,
    ) -> StoreResult<ConversationRecord> {
        let mode = changes.mode.map(Mode::as_str);
        let sql = concat!(
            "UPDATE conversations SET ",
            "title = CASE WHEN $3 THEN $4 ELSE title END, ",
            "mode = COALESCE($5, mode), ",
            "context_data = CASE WHEN $6 THEN $7 ELSE context_data END ",
            "  || CASE WHEN $5 IS NOT NULL AND $5 <> mode ",
            "       THEN jsonb_build_object('last_mode_switch', ",
            "              to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) ",
            "       ELSE '{}'::jsonb END ",
            "WHERE user_id = $1 AND id = $2 AND status <> 'deleted' ",
            "  AND ($8::bigint IS NULL OR revision = $8) ",
            "RETURNING ",
            conversation_columns!()
        );
        let mut tx = self.begin(scope).await?;
        let updated: Option<ConversationRow> = sqlx::query_as(sql)
            .bind(scope.user_id)
            .bind(id)
            .bind(changes.title.is_some())
            .bind(changes.title.as_ref().map(Title::as_str))
            .bind(mode)
            .bind(changes.context_data.is_some())
            .bind(changes.context_data.as_ref().map(|context| Json(context.as_map())))
            .bind(expected_revision)
            .fetch_optional(&mut *tx)
            .traced("UPDATE conversations")
            .await?;

        let Some(row) = updated else {
            let allowed = ["active", "archived"];
            return Err(explain_miss(&mut tx, scope.user_id, id, expected_revision, &allowed).await);
        };
        tx.commit().traced("COMMIT").await?;
        row.try_into()
    }

    /// Moves a conversation through its lifecycle, or explains why the move does not apply.
    #[instrument(skip_all, fields(conversation.id = %id, ?transition))]
    pub async fn transition(
        &self,
        scope: &Scope,
        id: Uuid,
        transition: Transition,
        expected_revision: Option<i64>,
    ) -> StoreResult<ConversationRecord> {
        let mut tx = self.begin(scope).await?;
        let updated: Option<ConversationRow> = sqlx::query_as(transition.statement())
            .bind(scope.user_id)
            .bind(id)
            .bind(transition.applies_to())
            .bind(expected_revision)
            .fetch_optional(&mut *tx)
            .traced("UPDATE conversations")
            .await?;

        let Some(row) = updated else {
            let allowed = transition.applies_to();
            return Err(explain_miss(&mut tx, scope.user_id, id, expected_revision, allowed).await);
        };
        tx.commit().traced("COMMIT").await?;
        row.try_into()
    }

    /// One page of conversations after `after`, in `order`.
    #[instrument(skip_all, fields(limit, ?order))]
    pub async fn list_conversations(
        &self,
        scope: &Scope,
        filter: &ConversationFilter,
        order: ListOrder,
        after: Option<Position>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations WHERE user_id = "
        ));
        query.push_bind(scope.user_id);
        push_conversation_filter(&mut query, filter);

        if let Some(after) = after {
            push_keyset(&mut query, order, after);
        }

        push_order_by(&mut query, order);
        query.push(" LIMIT ").push_bind(limit);

        let mut tx = self.begin(scope).await?;
        let rows: Vec<ConversationRow> =
            query.build_query_as().fetch_all(&mut *tx).traced("SELECT conversations").await?;
        tx.commit().traced("COMMIT").await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}

/// Why an UPDATE that matched no row matched none: the conversation is missing (or another
/// user's), its etag moved on, or its status does not allow the change.
async fn explain_miss(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    id: Uuid,
    expected_revision: Option<i64>,
    allowed: &[&str],
) -> StoreError {
    let current = match select_conversation(tx, user_id, id).await {
        Ok(current) => current,
        Err(error) => return error,
    };

    if !allowed.contains(&current.status.as_str()) {
        return StoreError::WrongStatus { current: current.status };
    }

    if expected_revision.is_some_and(|expected| expected != current.revision) {
        return StoreError::EtagMismatch;
    }

    // The row changed between the UPDATE and this look; the caller may retry.
    StoreError::Conflict
}

pub(super) async fn select_conversation<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    user_id: Uuid,
    id: Uuid,
) -> StoreResult<ConversationRecord> {
    let sql = concat!(
        "SELECT ",
        conversation_columns!(),
        " FROM conversations WHERE user_id = $1 AND id = $2"
    );
    let row: Option<ConversationRow> = sqlx::query_as(sql)
        .bind(user_id)
        .bind(id)
        .fetch_optional(executor)
        .traced("SELECT conversations")
        .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// Records that `request_id` produced `resource_id`, or returns the resource an earlier
/// request with the same id produced. A concurrent twin waits on the key's row lock and then
/// sees the winner's resource.
pub(super) async fn claim_request_id(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    operation: &str,
    request_id: &RequestId,
    resource_id: Uuid,
) -> StoreResult<Option<Uuid>> {
    let claimed: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO request_ids (user_id, operation, request_id, resource_id) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING resource_id",
    )
    .bind(user_id)
    .bind(operation)
    .bind(request_id.as_str())
    .bind(resource_id)
    .fetch_optional(&mut *tx)
    .traced("INSERT request_ids")
    .await?;

    if claimed.is_some() {
        return Ok(None);
    }

    let (existing,): (Uuid,) = sqlx::query_as(
        "SELECT resource_id FROM request_ids \
         WHERE user_id = $1 AND operation = $2 AND request_id = $3",
    )
    .bind(user_id)
    .bind(operation)
    .bind(request_id.as_str())
    .fetch_one(&mut *tx)
    .traced("SELECT request_ids")
    .await?;

    Ok(Some(existing))
}

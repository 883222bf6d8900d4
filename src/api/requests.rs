//! Protobuf requests to validated domain inputs. Each function checks every field and
//! reports all violations at once, named by their path in the request.

use uuid::Uuid;

use super::json::struct_to_json;
use crate::domain::{
    AllValid, ContextData, FilterExpression, InvalidInput, ListOrder, MessageContent, MessageType,
    Mode, PageLimit, PageSize, PageTokenKey, Position, RequestId, Status, Title, TokenPosition,
};
use crate::pb;
use crate::store::{ConversationChanges, ConversationFilter, NewConversation, NewMessage};

/// The fields UpdateConversation can change, as update_mask paths.
const UPDATABLE_FIELDS: [&str; 3] = ["title", "mode", "context_data"];

/// A UUID in its canonical hyphenated form, as the service returns ids.
pub fn id(field: &str, value: &str) -> Result<Uuid, InvalidInput> {
    if value.is_empty() {
        return Err(InvalidInput::field(field, "is required"));
    }
    let refused =
        || InvalidInput::field(field, "must be a UUID like 3f2b8c1e-9a4d-4e7b-8c2f-1d5e6a7b8c9d");
    if value.len() != 36 {
        return Err(refused());
    }
    Uuid::parse_str(value).map_err(|_| refused())
}

/// An optional etag: empty means "whatever the current revision is".
pub fn etag(field: &str, value: &str) -> Result<Option<i64>, InvalidInput> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<i64>()
        .map(Some)
        .map_err(|_| InvalidInput::field(field, "is not an etag this service issued"))
}

/// A mode; `None` when unspecified.
pub fn mode(field: &str, value: i32) -> Result<Option<Mode>, InvalidInput> {
    match pb::Mode::try_from(value) {
        Ok(pb::Mode::Unspecified) => Ok(None),
        Ok(pb::Mode::Analysis) => Ok(Some(Mode::Analysis)),
        Ok(pb::Mode::Psychology) => Ok(Some(Mode::Psychology)),
        Ok(pb::Mode::Training) => Ok(Some(Mode::Training)),
        Ok(pb::Mode::Planning) => Ok(Some(Mode::Planning)),
        Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn status(field: &str, value: i32) -> Result<Option<Status>, InvalidInput> {
    match pb::Status::try_from(value) {
        Ok(pb::Status::Unspecified) => Ok(None),
        Ok(pb::Status::Active) => Ok(Some(Status::Active)),
        Ok(pb::Status::Archived) => Ok(Some(Status::Archived)),
        Ok(pb::Status::Deleted) => Ok(Some(Status::Deleted)),
        Err(_) => Err(unknown_enum(field, value)),
    }
}

fn message_type(field: &str, value: i32) -> Result<MessageType, InvalidInput> {
    match pb::MessageType::try_from(value) {
        Ok(pb::MessageType::Unspecified) => Err(InvalidInput::field(field, "is required")),
        Ok(pb::MessageType::User) => Ok(MessageType::User),
        Ok(pb::MessageType::Assistant) => Ok(MessageType::Assistant),
        Ok(pb::MessageType::System) => Ok(MessageType::System),
        Err(_) => Err(unknown_enum(field, value)),
    }
}

fn unknown_enum(field: &str, value: i32) -> InvalidInput {
    InvalidInput::field(field, format!("{value} is not a known value"))
}

fn context(field: &str, value: Option<prost_types::Struct>) -> Result<ContextData, InvalidInput> {
    let Some(object) = value else {
        return Ok(ContextData::empty());
    };
    let json =
        struct_to_json(object).map_err(|error| InvalidInput::field(field, error.to_string()))?;
    ContextData::parse(field, json)
}

pub fn new_conversation(
    request: pb::CreateConversationRequest,
) -> Result<(NewConversation, Option<RequestId>), InvalidInput> {
    let conversation = request.conversation.unwrap_or_default();

    let (title, mode, context_data, request_id) = (
        Title::parse_optional("conversation.title", &conversation.title),
        mode("conversation.mode", conversation.mode),
        context("conversation.context_data", conversation.context_data),
        RequestId::parse_optional("request_id", &request.request_id),
    )
        .all_valid()?;

    let new = NewConversation { title, mode: mode.unwrap_or(Mode::Analysis), context_data };
    Ok((new, request_id))
}

/// The validated parts of an UpdateConversation request.
pub struct Update {
    pub id: Uuid,
    pub changes: ConversationChanges,
    pub expected_revision: Option<i64>,
}

pub fn update(request: pb::UpdateConversationRequest) -> Result<Update, InvalidInput> {
    let Some(conversation) = request.conversation else {
        return Err(InvalidInput::field("conversation", "is required"));
    };
    let paths = update_paths(request.update_mask.as_ref(), &conversation);
    let changed = paths.as_deref().unwrap_or_default();

    let (id, expected_revision, _, title, mode, context_data) = (
        id("conversation.id", &conversation.id),
        etag("conversation.etag", &conversation.etag),
        paths.as_ref().map(drop).map_err(Clone::clone),
        optional_change(changed, "title", || {
            Title::parse("conversation.title", &conversation.title)
        }),
        optional_change(changed, "mode", || {
            mode("conversation.mode", conversation.mode)?.ok_or_else(|| {
                InvalidInput::field("conversation.mode", "must be set when it is updated")
            })
        }),
        optional_change(changed, "context_data", || {
            context("conversation.context_data", conversation.context_data.clone())
        }),
    )
        .all_valid()?;

    let changes = ConversationChanges { title, mode, context_data };
    Ok(Update { id, changes, expected_revision })
}

/// Validates a field only when the update changes it.
fn optional_change<T>(
    paths: &[&str],
    field: &str,
    validate: impl FnOnce() -> Result<T, InvalidInput>,
) -> Result<Option<T>, InvalidInput> {
    if paths.contains(&field) { validate().map(Some) } else { Ok(None) }
}

/// The fields to change. An empty mask means every updatable field set in the request.
fn update_paths(
    mask: Option<&prost_types::FieldMask>,
    conversation: &pb::Conversation,
) -> Result<Vec<&'static str>, InvalidInput> {
    let paths = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();

    if paths.is_empty() {
        let set = [
            !conversation.title.is_empty(),
            conversation.mode != 0,
            conversation.context_data.is_some(),
        ];
        let implied: Vec<&str> = UPDATABLE_FIELDS
            .into_iter()
            .zip(set)
            .filter_map(|(field, set)| set.then_some(field))
            .collect();
        if implied.is_empty() {
            return Err(InvalidInput::field(
                "update_mask",
                "names no field, and the conversation sets none of title, mode, context_data",
            ));
        }
        return Ok(implied);
    }

    let mut invalid = InvalidInput::new();
    let mut chosen = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        if path == "*" {
            chosen.extend(UPDATABLE_FIELDS);
        } else if let Some(field) = UPDATABLE_FIELDS.into_iter().find(|field| field == path) {
            chosen.push(field);
        } else {
            invalid.add(
                format!("update_mask.paths[{index}]"),
                format!("{path:?} cannot be updated; use title, mode, context_data or *"),
            );
        }
    }
    invalid.into_result()?;

    Ok(chosen)
}

/// The id and optional etag of a lifecycle request.
pub fn lifecycle(id_value: &str, etag_value: &str) -> Result<(Uuid, Option<i64>), InvalidInput> {
    (id("id", id_value), etag("etag", etag_value)).all_valid()
}

/// The validated parts of a ListConversations request.
pub struct ListConversations {
    pub filter: ConversationFilter,
    pub page_size: PageSize,
    pub page_limit: PageLimit,
    /// Where the listing resumes; `None` from the start.
    pub start_after: Option<Position>,
    pub order: ListOrder,
}

pub fn list_conversations(
    request: &pb::ListConversationsRequest,
    pages: &PageTokens,
) -> Result<ListConversations, InvalidInput> {
    let binding = conversations_binding(request);

    let (page_size, page_limit, mode, status, start_after, (expression, order)) = (
        PageSize::parse("page_size", request.page_size),
        PageLimit::parse("max_pages", request.max_pages),
        mode("mode", request.mode),
        status("status", request.status),
        pages.resume_point(binding, &request.page_token),
        (
            FilterExpression::parse_field("filter", &request.filter),
            ListOrder::parse_field("order_by", &request.order_by),
        )
            .all_valid(),
    )
        .all_valid()?;

    // A filter that names the status decides about deleted conversations itself.
    let show_deleted =
        request.show_deleted || expression.as_ref().is_some_and(|e| e.mentions_status());
    let statuses = match (status, show_deleted) {
        (Some(status), _) => vec![status],
        (None, false) => vec![Status::Active, Status::Archived],
        (None, true) => vec![Status::Active, Status::Archived, Status::Deleted],
    };

    let filter = ConversationFilter { mode, statuses, expression };
    Ok(ListConversations { filter, page_size, page_limit, start_after, order })
}

/// The validated parts of a ListMessages request.
pub struct ListMessages {
    pub conversation_id: Uuid,
    pub page_size: PageSize,
    pub page_limit: PageLimit,
    pub start_after: Option<Position>,
}

pub fn list_messages(
    request: &pb::ListMessagesRequest,
    pages: &PageTokens,
) -> Result<ListMessages, InvalidInput> {
    let binding = messages_binding(request);

    let (conversation_id, page_size, page_limit, start_after) = (
        id("conversation_id", &request.conversation_id),
        PageSize::parse("page_size", request.page_size),
        PageLimit::parse("max_pages", request.max_pages),
        pages.resume_point(binding, &request.page_token),
    )
        .all_valid()?;

    Ok(ListMessages { conversation_id, page_size, page_limit, start_after })
}

/// What a conversation listing's page tokens are bound to: its filters, taken as sent, so
/// that a token can be checked even when another field of the request is invalid. The page
/// size may change between calls.
pub fn conversations_binding(request: &pb::ListConversationsRequest) -> String {
    // Debug formatting quotes and escapes the texts, so that no filter can pass for another
    // filter and order_by pair.
    format!(
        "conversations|mode={}|status={}|deleted={}|filter={:?}|order_by={:?}",
        request.mode, request.status, request.show_deleted, request.filter, request.order_by
    )
}

pub fn messages_binding(request: &pb::ListMessagesRequest) -> String {
    format!("messages|{}", request.conversation_id)
}

/// Page tokens of one caller: each token is bound to the caller and to the request's
/// filters, as the listing describes them in its binding.
#[derive(Clone)]
pub struct PageTokens {
    pub key: PageTokenKey,
    pub user_id: Uuid,
}

impl PageTokens {
    pub fn resume_point<P: TokenPosition>(
        &self,
        binding: String,
        token: &str,
    ) -> Result<Option<P>, InvalidInput> {
        if token.is_empty() {
            return Ok(None);
        }
        self.key.verify("page_token", self.user_id, &binding, token).map(Some)
    }

    /// The token that resumes a listing of `binding` after `position`.
    pub fn issue<P: TokenPosition>(&self, binding: &str, position: P) -> String {
        self.key.issue(self.user_id, binding, position)
    }
}

pub fn new_message(
    request: pb::AppendMessageRequest,
) -> Result<(Uuid, NewMessage, Option<RequestId>), InvalidInput> {
    let message = match request.message {
        Some(message) => (
            message_type("message.type", message.r#type),
            MessageContent::parse("message.content", message.content),
        )
            .all_valid(),
        None => Err(InvalidInput::field("message", "is required")),
    };

    let (conversation_id, (message_type, content), request_id) = (
        id("conversation_id", &request.conversation_id),
        message,
        RequestId::parse_optional("request_id", &request.request_id),
    )
        .all_valid()?;

    Ok((conversation_id, NewMessage { message_type, content }, request_id))
}

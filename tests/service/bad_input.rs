//! The bad-input matrix. Every RPC refuses each kind of malformed or out-of-range input with
//! INVALID_ARGUMENT, names exactly the offending fields in the BadRequest details, and leaves
//! the database as it was.
//!
//! Each RPC has a table with one line per case; its test sends the whole table to one server
//! and reports every case that went wrong, not only the first. The limits are DESIGN.md's:
//! titles of 1 to 255 characters, content up to 256 KiB, context up to 64 KiB encoded and 32
//! levels deep, request ids up to 36 characters, and no NUL wherever PostgreSQL would store it.

use conversation_service::pb;
use prost_types::value::Kind;
use prost_types::{FieldMask, Struct};
use serde_json::{Value, json};
use tonic::{Code, Status};

use crate::support::{
    Client, TestApp, TestUser, bearer_token, context, user_message, violated_fields,
};

const NOT_A_UUID: &str = "not-a-uuid";
const MAX_TITLE_CHARS: usize = 255;
const MAX_CONTENT_BYTES: usize = 256 * 1024;
const MAX_CONTEXT_BYTES: usize = 64 * 1024;
const MAX_CONTEXT_DEPTH: usize = 32;
const MAX_REQUEST_ID_CHARS: usize = 36;

/// The request fields that refusals name, one each.
const ID: &[&str] = &["id"];
const CONVERSATION_ID: &[&str] = &["conversation_id"];
const TITLE: &[&str] = &["conversation.title"];
const MODE: &[&str] = &["conversation.mode"];
const CONTEXT: &[&str] = &["conversation.context_data"];
const FIRST_MASK_PATH: &[&str] = &["update_mask.paths[0]"];
const SECOND_MASK_PATH: &[&str] = &["update_mask.paths[1]"];
const REQUEST_ID: &[&str] = &["request_id"];
const PAGE_SIZE: &[&str] = &["page_size"];
const MAX_PAGES: &[&str] = &["max_pages"];
const PAGE_TOKEN: &[&str] = &["page_token"];
const CONTENT: &[&str] = &["message.content"];
const MESSAGE_TYPE: &[&str] = &["message.type"];

/// A request to any RPC of the service.
enum Call {
    Create(pb::CreateConversationRequest),
    Get(pb::GetConversationRequest),
    Update(pb::UpdateConversationRequest),
    Archive(pb::ArchiveConversationRequest),
    Unarchive(pb::UnarchiveConversationRequest),
    Delete(pb::DeleteConversationRequest),
    Undelete(pb::UndeleteConversationRequest),
    ListConversations(pb::ListConversationsRequest),
    Append(pb::AppendMessageRequest),
    ListMessages(pb::ListMessagesRequest),
}

impl Call {
    /// Sends the request. A listing's error is the call's own: the service reads the first
    /// page before it starts the stream.
    async fn send(self, client: &mut Client) -> Result<(), Status> {
        match self {
            Self::Create(request) => client.create_conversation(request).await.map(drop),
            Self::Get(request) => client.get_conversation(request).await.map(drop),
            Self::Update(request) => client.update_conversation(request).await.map(drop),
            Self::Archive(request) => client.archive_conversation(request).await.map(drop),
            Self::Unarchive(request) => client.unarchive_conversation(request).await.map(drop),
            Self::Delete(request) => client.delete_conversation(request).await.map(drop),
            Self::Undelete(request) => client.undelete_conversation(request).await.map(drop),
            Self::ListConversations(request) => client.list_conversations(request).await.map(drop),
            Self::Append(request) => client.append_message(request).await.map(drop),
            Self::ListMessages(request) => client.list_messages(request).await.map(drop),
        }
    }
}

/// One bad request, who sends it, and every field its refusal must name.
struct Case {
    what: &'static str,
    call: Call,
    fields: &'static [&'static str],
    sent_by_another_user: bool,
}

fn refused(what: &'static str, call: Call, fields: &'static [&'static str]) -> Case {
    Case { what, call, fields, sent_by_another_user: false }
}

impl Case {
    fn sent_by_another_user(self) -> Self {
        Self { sent_by_another_user: true, ..self }
    }
}

/// Alice with two conversations, messages in the first, and real page tokens of her listings.
struct World {
    app: TestApp,
    alice: TestUser,
    conversation_id: String,
    other_conversation_id: String,
    conversations_token: String,
    messages_token: String,
}

async fn arrange() -> World {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let conversation_id = alice.create_titled("Opening range breakouts").await.id;
    let other_conversation_id = alice.create_titled("Risk plan for the week").await.id;
    alice.append(&conversation_id, "I chased the first candle again").await;
    alice.append(&conversation_id, "and stopped out twice").await;

    let one_page =
        pb::ListConversationsRequest { page_size: 1, max_pages: 1, ..Default::default() };
    let conversation_pages = alice.list_pages(one_page).await.expect("listing succeeds");
    let one_page = pb::ListMessagesRequest {
        conversation_id: conversation_id.clone(),
        page_size: 1,
        max_pages: 1,
        ..Default::default()
    };
    let message_pages = alice.message_pages(one_page).await.expect("listing succeeds");

    World {
        app,
        alice,
        conversation_id,
        other_conversation_id,
        conversations_token: next_page_token(&conversation_pages[0].next_page_token),
        messages_token: next_page_token(&message_pages[0].next_page_token),
    }
}

fn next_page_token(token: &str) -> String {
    assert!(!token.is_empty(), "the first of several pages has a next_page_token");
    token.to_owned()
}

/// Sends every case, then fails naming each case that was not refused as it should have been,
/// and if the database changed.
async fn assert_each_refused(world: &mut World, cases: Vec<Case>) {
    let before = world.app.snapshot().await;
    let mut stranger = world.app.user();

    let mut wrong = Vec::new();
    for case in cases {
        let client =
            if case.sent_by_another_user { &mut stranger.client } else { &mut world.alice.client };
        let outcome = case.call.send(client).await;
        if let Some(problem) = mismatch(outcome, case.fields) {
            wrong.push(format!("{}: {problem}", case.what));
        }
    }
    let after = world.app.snapshot().await;

    assert!(wrong.is_empty(), "cases not refused as expected:\n{}", wrong.join("\n"));
    assert_eq!(after, before, "a refused request changed the database");
}

/// What is wrong with the outcome of a bad request, if anything.
fn mismatch(outcome: Result<(), Status>, fields: &[&str]) -> Option<String> {
    let Err(status) = outcome else {
        return Some("accepted".into());
    };

    let mut named = violated_fields(&status);
    named.sort();
    let mut expected: Vec<String> = fields.iter().map(|field| field.to_string()).collect();
    expected.sort();

    if status.code() == Code::InvalidArgument && named == expected {
        return None;
    }
    Some(format!(
        "expected INVALID_ARGUMENT naming {expected:?}, got {:?} naming {named:?} ({:?})",
        status.code(),
        status.message(),
    ))
}

// Builders of requests with one thing set, named so that each case of a table fits one line.

fn create(conversation: pb::Conversation) -> Call {
    Call::Create(pb::CreateConversationRequest {
        conversation: Some(conversation),
        request_id: String::new(),
    })
}

fn create_titled(title: &str) -> Call {
    create(pb::Conversation { title: title.into(), ..Default::default() })
}

fn create_in_mode(mode: i32) -> Call {
    create(pb::Conversation { mode, ..Default::default() })
}

fn create_with(context_data: Value) -> Call {
    create(pb::Conversation { context_data: Some(context(context_data)), ..Default::default() })
}

fn create_with_number(number: f64) -> Call {
    create(pb::Conversation { context_data: Some(number_context(number)), ..Default::default() })
}

fn create_with_request_id(request_id: &str) -> Call {
    Call::Create(pb::CreateConversationRequest {
        conversation: Some(pb::Conversation { title: "Idempotent".into(), ..Default::default() }),
        request_id: request_id.into(),
    })
}

fn update(id: &str, conversation: pb::Conversation, paths: &[&str]) -> Call {
    Call::Update(pb::UpdateConversationRequest {
        conversation: Some(pb::Conversation { id: id.into(), ..conversation }),
        update_mask: Some(FieldMask { paths: paths.iter().map(|path| path.to_string()).collect() }),
    })
}

/// A valid title change, with these update_mask paths.
fn update_masked(id: &str, paths: &[&str]) -> Call {
    update(id, pb::Conversation { title: "Fine".into(), ..Default::default() }, paths)
}

fn update_title(id: &str, title: &str) -> Call {
    update(id, pb::Conversation { title: title.into(), ..Default::default() }, &["title"])
}

fn update_mode(id: &str, mode: i32) -> Call {
    update(id, pb::Conversation { mode, ..Default::default() }, &["mode"])
}

fn update_context(id: &str, context_data: Value) -> Call {
    let conversation =
        pb::Conversation { context_data: Some(context(context_data)), ..Default::default() };
    update(id, conversation, &["context_data"])
}

fn update_number(id: &str, number: f64) -> Call {
    let conversation =
        pb::Conversation { context_data: Some(number_context(number)), ..Default::default() };
    update(id, conversation, &["context_data"])
}

fn conversations(change: impl FnOnce(&mut pb::ListConversationsRequest)) -> Call {
    let mut request = pb::ListConversationsRequest::default();
    change(&mut request);
    Call::ListConversations(request)
}

/// A listing of conversations that resumes from `token` after `change` to its filters.
fn resumed(token: &str, change: impl FnOnce(&mut pb::ListConversationsRequest)) -> Call {
    conversations(|request| {
        request.page_token = token.to_owned();
        change(request);
    })
}

fn messages(conversation_id: &str, change: impl FnOnce(&mut pb::ListMessagesRequest)) -> Call {
    let mut request =
        pb::ListMessagesRequest { conversation_id: conversation_id.into(), ..Default::default() };
    change(&mut request);
    Call::ListMessages(request)
}

/// A listing of a conversation's messages that resumes from `token`.
fn messages_from(conversation_id: &str, token: &str) -> Call {
    messages(conversation_id, |request| request.page_token = token.into())
}

fn append(conversation_id: &str, message: Option<pb::Message>) -> Call {
    Call::Append(pb::AppendMessageRequest {
        conversation_id: conversation_id.into(),
        message,
        request_id: String::new(),
    })
}

fn append_with_request_id(conversation_id: &str, request_id: &str) -> Call {
    Call::Append(pb::AppendMessageRequest {
        conversation_id: conversation_id.into(),
        message: Some(user_message("Idempotent")),
        request_id: request_id.into(),
    })
}

fn message(r#type: i32, content: &str) -> Option<pb::Message> {
    Some(pb::Message { r#type, content: content.into(), ..Default::default() })
}

fn user_says(content: &str) -> Option<pb::Message> {
    Some(user_message(content))
}

/// A context whose JSON encoding is exactly `bytes` long: `{"notes":"xx...x"}`.
fn json_of_encoded_size(bytes: usize) -> Value {
    let frame = r#"{"notes":""}"#.len();
    json!({ "notes": "x".repeat(bytes - frame) })
}

/// A context `levels` deep as the service counts: `{}` is one level, `{"a": {}}` two.
fn json_nested(levels: usize) -> Value {
    (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
}

/// A context holding a number, which may be one that JSON cannot represent.
fn number_context(number: f64) -> Struct {
    let value = prost_types::Value { kind: Some(Kind::NumberValue(number)) };
    Struct { fields: [("max_loss".to_owned(), value)].into() }
}

/// The token with its middle character replaced by another base64url character.
fn tampered(token: &str) -> String {
    let middle = token.len() / 2;
    let replacement = if &token[middle..=middle] == "A" { "B" } else { "A" };
    format!("{}{replacement}{}", &token[..middle], &token[middle + 1..])
}

#[tokio::test]
async fn create_conversation_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let too_long = "a".repeat(MAX_TITLE_CHARS + 1);
    let too_long_accented = "é".repeat(MAX_TITLE_CHARS + 1);
    let too_large = json_of_encoded_size(MAX_CONTEXT_BYTES + 1);
    let too_deep = json_nested(MAX_CONTEXT_DEPTH + 1);
    let long_request_id = "r".repeat(MAX_REQUEST_ID_CHARS + 1);
    let all_bad = pb::Conversation {
        title: too_long.clone(),
        mode: 99,
        context_data: Some(number_context(f64::NAN)),
        ..Default::default()
    };

    let cases = vec![
        refused("a 256-character title", create_titled(&too_long), TITLE),
        refused("a 256-character title of é", create_titled(&too_long_accented), TITLE),
        refused("a title with a NUL", create_titled("Risk\0plan"), TITLE),
        refused("an unknown mode", create_in_mode(99), MODE),
        refused("a context over 64 KiB", create_with(too_large), CONTEXT),
        refused("a context 33 levels deep", create_with(too_deep), CONTEXT),
        refused("a NaN in the context", create_with_number(f64::NAN), CONTEXT),
        refused("an infinity in the context", create_with_number(f64::INFINITY), CONTEXT),
        refused("a NUL in a context string", create_with(json!({"note": "a\0b"})), CONTEXT),
        refused("a NUL in a context key", create_with(json!({"a\0b": 1})), CONTEXT),
        refused("a NUL in a nested context key", create_with(json!({"a": {"b\0": 1}})), CONTEXT),
        refused("a NUL in a context list", create_with(json!({"a": ["b\0"]})), CONTEXT),
        refused("a 37-character request id", create_with_request_id(&long_request_id), REQUEST_ID),
        refused("a request id with a NUL", create_with_request_id("retry\0one"), REQUEST_ID),
        refused(
            "a title, mode and context all bad",
            create(all_bad),
            &["conversation.title", "conversation.mode", "conversation.context_data"],
        ),
    ];

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn get_conversation_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let get = |id: &str| Call::Get(pb::GetConversationRequest { id: id.into() });
    let id_with_suffix = format!("{}x", world.conversation_id);

    let cases = vec![
        refused("an empty id", get(""), ID),
        refused("a malformed id", get(NOT_A_UUID), ID),
        refused("an id with a character too many", get(&id_with_suffix), ID),
        refused("an id that is a NUL", get("\0"), ID),
    ];

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn update_conversation_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let id = world.conversation_id.clone();
    let too_long = "a".repeat(MAX_TITLE_CHARS + 1);
    let too_large = json_of_encoded_size(MAX_CONTEXT_BYTES + 1);
    let too_deep = json_nested(MAX_CONTEXT_DEPTH + 1);
    let titled = |title: &str| pb::Conversation { title: title.into(), ..Default::default() };
    let unknown_mode = pb::Conversation { mode: 99, ..Default::default() };
    let bad_etag = pb::Conversation { etag: "yesterday".into(), ..titled("Fine") };
    let no_conversation = pb::UpdateConversationRequest { conversation: None, update_mask: None };
    let all_bad = pb::Conversation {
        mode: 99,
        context_data: Some(context(json_nested(MAX_CONTEXT_DEPTH + 1))),
        ..titled(&too_long)
    };

    let cases = vec![
        refused("a missing conversation", Call::Update(no_conversation), &["conversation"]),
        refused("an empty id", update_title("", "Fine"), &["conversation.id"]),
        refused("a malformed id", update_title(NOT_A_UUID, "Fine"), &["conversation.id"]),
        refused("an etag never issued", update(&id, bad_etag.clone(), &[]), &["conversation.etag"]),
        refused("a 256-character title", update_title(&id, &too_long), TITLE),
        refused("a 256-character title, implied", update(&id, titled(&too_long), &[]), TITLE),
        refused("an empty title in the mask", update_title(&id, ""), TITLE),
        refused("a title with a NUL", update_title(&id, "Risk\0plan"), TITLE),
        refused("an unknown mode", update_mode(&id, 99), MODE),
        refused("an unknown mode, implied", update(&id, unknown_mode, &[]), MODE),
        refused("an unspecified mode in the mask", update_mode(&id, 0), MODE),
        refused("a context over 64 KiB", update_context(&id, too_large), CONTEXT),
        refused("a context 33 levels deep", update_context(&id, too_deep), CONTEXT),
        refused("a NaN in the context", update_number(&id, f64::NAN), CONTEXT),
        refused("a NUL in a context key", update_context(&id, json!({"a\0": 1})), CONTEXT),
        refused("a mask naming status", update_masked(&id, &["status"]), FIRST_MASK_PATH),
        refused("a mask naming user_id", update_masked(&id, &["user_id"]), FIRST_MASK_PATH),
        refused("a mask naming nonsense", update_masked(&id, &["nonsense"]), FIRST_MASK_PATH),
        refused("a bad second mask path", update_masked(&id, &["title", "etag"]), SECOND_MASK_PATH),
        refused("no mask and no field set", update(&id, titled(""), &[]), &["update_mask"]),
        refused(
            "an id, etag and mask all bad",
            update(NOT_A_UUID, bad_etag, &["id"]),
            &["conversation.id", "conversation.etag", "update_mask.paths[0]"],
        ),
        refused(
            "a title, mode and context all bad",
            update(&id, all_bad, &["*"]),
            &["conversation.title", "conversation.mode", "conversation.context_data"],
        ),
    ];

    assert_each_refused(&mut world, cases).await;
}

/// The cases every lifecycle RPC shares, whose request is an id and an optional etag.
fn lifecycle_cases(request: impl Fn(String, String) -> Call, id: &str) -> Vec<Case> {
    let call = |id: &str, etag: &str| request(id.into(), etag.into());
    vec![
        refused("an empty id", call("", ""), ID),
        refused("a malformed id", call(NOT_A_UUID, ""), ID),
        refused("an etag never issued", call(id, "yesterday"), &["etag"]),
        refused("a malformed id and a bad etag", call(NOT_A_UUID, "x"), &["id", "etag"]),
    ]
}

#[tokio::test]
async fn archive_conversation_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let archive = |id, etag| Call::Archive(pb::ArchiveConversationRequest { id, etag });

    let cases = lifecycle_cases(archive, &world.conversation_id);

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn unarchive_conversation_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let unarchive = |id, etag| Call::Unarchive(pb::UnarchiveConversationRequest { id, etag });

    let cases = lifecycle_cases(unarchive, &world.conversation_id);

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn delete_conversation_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let delete = |id, etag| Call::Delete(pb::DeleteConversationRequest { id, etag });

    let cases = lifecycle_cases(delete, &world.conversation_id);

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn undelete_conversation_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let undelete = |id, etag| Call::Undelete(pb::UndeleteConversationRequest { id, etag });

    let cases = lifecycle_cases(undelete, &world.conversation_id);

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn list_conversations_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let token = world.conversations_token.clone();
    let messages_token = world.messages_token.clone();
    let planning = pb::Mode::Planning.into();
    let archived = pb::Status::Archived.into();

    let cases = vec![
        refused("a negative page size", conversations(|r| r.page_size = -1), PAGE_SIZE),
        refused("the lowest page size", conversations(|r| r.page_size = i32::MIN), PAGE_SIZE),
        refused("a negative max_pages", conversations(|r| r.max_pages = -1), MAX_PAGES),
        refused("an unknown mode", conversations(|r| r.mode = 99), &["mode"]),
        refused("an unknown status", conversations(|r| r.status = 99), &["status"]),
        refused("a tampered token", resumed(&tampered(&token), |_| {}), PAGE_TOKEN),
        refused("a token that is not base64", resumed("%%not base64%%", |_| {}), PAGE_TOKEN),
        refused("a token too short", resumed("AAAA", |_| {}), PAGE_TOKEN),
        refused("a token of a messages listing", resumed(&messages_token, |_| {}), PAGE_TOKEN),
        refused("a token plus a mode", resumed(&token, |r| r.mode = planning), PAGE_TOKEN),
        refused("a token plus a status", resumed(&token, |r| r.status = archived), PAGE_TOKEN),
        refused(
            "a token plus show_deleted",
            resumed(&token, |r| r.show_deleted = true),
            PAGE_TOKEN,
        ),
        refused("a token of another user", resumed(&token, |_| {}), PAGE_TOKEN)
            .sent_by_another_user(),
        refused(
            "a page size, max_pages, mode and status all bad",
            Call::ListConversations(pb::ListConversationsRequest {
                page_size: -1,
                max_pages: -1,
                mode: 99,
                status: 99,
                ..Default::default()
            }),
            &["page_size", "max_pages", "mode", "status"],
        ),
    ];

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn append_message_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let id = world.conversation_id.clone();
    let too_long = "x".repeat(MAX_CONTENT_BYTES + 1);
    let long_request_id = "r".repeat(MAX_REQUEST_ID_CHARS + 1);
    let all_bad = pb::AppendMessageRequest {
        conversation_id: NOT_A_UUID.into(),
        message: message(0, ""),
        request_id: long_request_id.clone(),
    };

    let cases = vec![
        refused("an empty conversation id", append("", user_says("Hi")), CONVERSATION_ID),
        refused(
            "a malformed conversation id",
            append(NOT_A_UUID, user_says("Hi")),
            CONVERSATION_ID,
        ),
        refused("a missing message", append(&id, None), &["message"]),
        refused("an unspecified message type", append(&id, message(0, "Hi")), MESSAGE_TYPE),
        refused("an unknown message type", append(&id, message(99, "Hi")), MESSAGE_TYPE),
        refused("empty content", append(&id, user_says("")), CONTENT),
        refused("content with a NUL", append(&id, user_says("a\0b")), CONTENT),
        refused("content over 256 KiB", append(&id, user_says(&too_long)), CONTENT),
        refused(
            "a 37-character request id",
            append_with_request_id(&id, &long_request_id),
            REQUEST_ID,
        ),
        refused("a request id with a NUL", append_with_request_id(&id, "retry\0one"), REQUEST_ID),
        refused(
            "an id, type, content and request id all bad",
            Call::Append(all_bad),
            &["conversation_id", "message.type", "message.content", "request_id"],
        ),
    ];

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn list_messages_refuses_each_bad_input_naming_its_field() {
    let mut world = arrange().await;
    let id = world.conversation_id.clone();
    let other_id = world.other_conversation_id.clone();
    let token = world.messages_token.clone();
    let conv_token = world.conversations_token.clone();

    let cases = vec![
        refused("an empty conversation id", messages("", |_| {}), CONVERSATION_ID),
        refused("a malformed conversation id", messages(NOT_A_UUID, |_| {}), CONVERSATION_ID),
        refused("a negative page size", messages(&id, |r| r.page_size = -1), PAGE_SIZE),
        refused("a negative max_pages", messages(&id, |r| r.max_pages = -1), MAX_PAGES),
        refused("a tampered token", messages_from(&id, &tampered(&token)), PAGE_TOKEN),
        refused("a token that is not base64", messages_from(&id, "%%not base64%%"), PAGE_TOKEN),
        refused("a token of another conversation", messages_from(&other_id, &token), PAGE_TOKEN),
        refused("a token of a conversations listing", messages_from(&id, &conv_token), PAGE_TOKEN),
        refused("a token of another user", messages_from(&id, &token), PAGE_TOKEN)
            .sent_by_another_user(),
        refused(
            "an id, page size and max_pages all bad",
            messages(NOT_A_UUID, |r| (r.page_size, r.max_pages) = (-1, -1)),
            &["conversation_id", "page_size", "max_pages"],
        ),
    ];

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn an_update_with_a_bad_id_and_a_bad_title_names_both() {
    let mut world = arrange().await;
    let too_long = "a".repeat(MAX_TITLE_CHARS + 1);

    let cases = vec![refused(
        "a malformed id and a 256-character title",
        update_title(NOT_A_UUID, &too_long),
        &["conversation.id", "conversation.title"],
    )];

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn a_listing_with_a_bad_page_size_and_a_bad_page_token_names_both() {
    let mut world = arrange().await;
    let id = world.conversation_id.clone();
    let garbage = "%%not base64%%";

    let cases = vec![
        refused(
            "conversations: a negative page size and a garbage token",
            resumed(garbage, |r| r.page_size = -1),
            &["page_size", "page_token"],
        ),
        refused(
            "messages: a negative page size and a garbage token",
            messages(&id, |r| (r.page_size, r.page_token) = (-1, garbage.into())),
            &["page_size", "page_token"],
        ),
    ];

    assert_each_refused(&mut world, cases).await;
}

#[tokio::test]
async fn input_exactly_at_each_limit_is_accepted() {
    let mut world = arrange().await;
    let id = world.conversation_id.clone();
    let longest_title = "a".repeat(MAX_TITLE_CHARS);
    let longest_title_accented = "é".repeat(MAX_TITLE_CHARS);
    let largest_context = json_of_encoded_size(MAX_CONTEXT_BYTES);
    let deepest_context = json_nested(MAX_CONTEXT_DEPTH);
    let largest_content = "x".repeat(MAX_CONTENT_BYTES);
    let longest_request_id = "r".repeat(MAX_REQUEST_ID_CHARS);

    let calls = vec![
        ("a 255-character title on create", create_titled(&longest_title)),
        ("a 255-character title of é on create", create_titled(&longest_title_accented)),
        ("a 255-character title on update", update_title(&id, &longest_title)),
        ("a context of exactly 64 KiB on create", create_with(largest_context.clone())),
        ("a context of exactly 64 KiB on update", update_context(&id, largest_context)),
        ("a context 32 levels deep on create", create_with(deepest_context.clone())),
        ("a context 32 levels deep on update", update_context(&id, deepest_context)),
        ("a 36-character request id on create", create_with_request_id(&longest_request_id)),
        ("a 36-character request id on append", append_with_request_id(&id, &longest_request_id)),
        ("content of exactly 256 KiB", append(&id, user_says(&largest_content))),
        ("a page size above the maximum", conversations(|r| r.page_size = i32::MAX)),
        ("a messages page size above the maximum", messages(&id, |r| r.page_size = i32::MAX)),
    ];

    let mut refusals = Vec::new();
    for (what, call) in calls {
        if let Err(status) = call.send(&mut world.alice.client).await {
            refusals.push(format!("{what}: {:?} {:?}", status.code(), status.message()));
        }
    }

    assert!(refusals.is_empty(), "refused at the limit:\n{}", refusals.join("\n"));
}

// Requests that are not valid protobuf for their RPC never reach validation. They are still
// the client's fault, and DESIGN.md allows nothing a client sends to become INTERNAL.

/// A GetConversationRequest whose id is raw bytes, to send a string field that is not UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawGetConversationRequest {
    #[prost(bytes = "vec", tag = "1")]
    id: Vec<u8>,
}

#[tokio::test]
async fn a_string_field_that_is_not_utf8_is_invalid_argument_not_internal() {
    let app = TestApp::spawn().await;
    let mut grpc = tonic::client::Grpc::new(app.channel());
    let path = "/tradecoach.conversations.v1.ConversationService/GetConversation";
    let mut request = tonic::Request::new(RawGetConversationRequest { id: vec![0xff, 0xfe] });
    let authorization = format!("Bearer {}", bearer_token(uuid::Uuid::new_v4()));
    request.metadata_mut().insert("authorization", authorization.parse().unwrap());

    grpc.ready().await.expect("the channel is ready");
    let outcome: Result<tonic::Response<pb::Conversation>, Status> =
        grpc.unary(request, path.parse().unwrap(), tonic_prost::ProstCodec::default()).await;

    let status = outcome.expect_err("a request that does not decode is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn a_context_nested_too_deep_to_decode_is_invalid_argument_not_internal() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let before = app.snapshot().await;

    // Each JSON level is two protobuf messages (Struct, Value); prost stops decoding at 100.
    let outcome = create_with(json_nested(60)).send(&mut alice.client).await;

    let status = outcome.expect_err("a context 60 levels deep is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(app.snapshot().await, before);
}

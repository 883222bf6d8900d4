//! The authorization matrix: every RPC of ConversationService, called by every kind of caller
//! on every kind of conversation, and the gRPC code each call must answer. All of it is
//! generated from one table, `MATRIX`, with a row per RPC; the RPCs themselves are read from
//! the service's descriptor, so an RPC added to the proto fails here until it has its row.
//!
//! The callers are user A, who owns the arranged conversations; user B, another valid user
//! with one conversation of their own; and seven kinds of bad credentials. Each bad token names
//! user A and has exactly one flaw, so a service that overlooked the flaw would act as A and
//! answer OK where the matrix expects UNAUTHENTICATED.
//!
//! The objects are A's active, archived and deleted conversations, B's conversation and a
//! random id. Another user's conversation is NOT_FOUND whatever its status, exactly like a
//! missing one, and that is decided before any status is looked at.

use std::collections::BTreeSet;
use std::fmt;

use conversation_service::pb;
use jsonwebtoken::Algorithm;
use prost::Message as _;
use serde_json::{Value, json};
use tonic::{Code, Status};
use uuid::Uuid;

use crate::support::{
    AN_HOUR, Client, SECRET, TestApp, TestUser, good_claims, signed, unsigned, user_message,
};

const OK: Code = Code::Ok;
const NOT_FOUND: Code = Code::NotFound;
const PRECONDITION: Code = Code::FailedPrecondition;
const UNAUTHENTICATED: Code = Code::Unauthenticated;

/// What one RPC answers. The columns of `owner` and `other_user` follow `rpc.objects()`: the
/// five objects for an RPC that names a conversation, a single column for one that names none.
struct Row {
    rpc: Rpc,
    /// User A, who owns the three arranged conversations of A.
    owner: &'static [Code],
    /// User B, another valid user, for whom only B's own conversation is in reach.
    other_user: &'static [Code],
    /// Each of the seven kinds of bad credentials, on every object.
    bad_credentials: Code,
}

/// The whole matrix. Columns of an RPC that names a conversation, in this order:
/// A's active, A's archived, A's deleted, B's conversation, a random id.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    Row {
        rpc: Rpc::CreateConversation,
        owner:      &[OK],
        other_user: &[OK],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::GetConversation,
        owner:      &[OK,        OK,           OK,           NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND, NOT_FOUND,    NOT_FOUND,    OK,           NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::UpdateConversation,
        owner:      &[OK,        OK,           PRECONDITION, NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND, NOT_FOUND,    NOT_FOUND,    OK,           NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::ArchiveConversation,
        owner:      &[OK,        PRECONDITION, PRECONDITION, NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND, NOT_FOUND,    NOT_FOUND,    OK,           NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::UnarchiveConversation,
        owner:      &[PRECONDITION, OK,        PRECONDITION, NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND,    NOT_FOUND, NOT_FOUND,    PRECONDITION, NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::DeleteConversation,
        owner:      &[OK,        OK,           PRECONDITION, NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND, NOT_FOUND,    NOT_FOUND,    OK,           NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::UndeleteConversation,
        owner:      &[PRECONDITION, PRECONDITION, OK,        NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND,    NOT_FOUND,    NOT_FOUND, PRECONDITION, NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::ListConversations,
        owner:      &[OK],
        other_user: &[OK],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::AppendMessage,
        owner:      &[OK,        PRECONDITION, PRECONDITION, NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND, NOT_FOUND,    NOT_FOUND,    OK,           NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::ListMessages,
        owner:      &[OK,        OK,           OK,           NOT_FOUND,    NOT_FOUND],
        other_user: &[NOT_FOUND, NOT_FOUND,    NOT_FOUND,    OK,           NOT_FOUND],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::GetConversationStats,
        owner:      &[OK],
        other_user: &[OK],
        bad_credentials: UNAUTHENTICATED,
    },
    Row {
        rpc: Rpc::SearchConversations,
        owner:      &[OK],
        other_user: &[OK],
        bad_credentials: UNAUTHENTICATED,
    },
];

impl Row {
    /// The codes `caller` must get, one per object of the row's RPC.
    fn expected_for(&self, caller: Caller) -> Vec<Code> {
        match caller {
            Caller::Owner => self.owner.to_vec(),
            Caller::OtherUser => self.other_user.to_vec(),
            _ => vec![self.bad_credentials; self.rpc.objects().len()],
        }
    }

    /// Every cell of the row with the code it expects.
    fn cells(&self) -> Vec<(Cell, Code)> {
        let mut cells = Vec::new();
        for caller in Caller::ALL {
            let objects = self.rpc.objects().iter().copied();
            for (object, expected) in objects.zip(self.expected_for(caller)) {
                cells.push((Cell { rpc: self.rpc, caller, object }, expected));
            }
        }
        cells
    }
}

/// The RPCs of ConversationService, each variant named exactly as its method in the proto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateConversation,
    GetConversation,
    UpdateConversation,
    ArchiveConversation,
    UnarchiveConversation,
    DeleteConversation,
    UndeleteConversation,
    ListConversations,
    AppendMessage,
    ListMessages,
    GetConversationStats,
    SearchConversations,
}

impl Rpc {
    fn name(self) -> String {
        format!("{self:?}")
    }

    /// The objects the RPC is called on: one that is no conversation when it names none.
    fn objects(self) -> &'static [Object] {
        match self {
            Rpc::CreateConversation
            | Rpc::ListConversations
            | Rpc::GetConversationStats
            | Rpc::SearchConversations => &[Object::NoConversation],
            _ => &Object::NAMED,
        }
    }

    fn names_a_conversation(self) -> bool {
        !self.objects().contains(&Object::NoConversation)
    }
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Owner,
    OtherUser,
    NoToken,
    MalformedToken,
    ExpiredToken,
    WrongAudience,
    WrongIssuer,
    WrongKey,
    UnsignedToken,
}

impl Caller {
    const ALL: [Caller; 9] = [
        Caller::Owner,
        Caller::OtherUser,
        Caller::NoToken,
        Caller::MalformedToken,
        Caller::ExpiredToken,
        Caller::WrongAudience,
        Caller::WrongIssuer,
        Caller::WrongKey,
        Caller::UnsignedToken,
    ];
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Caller::Owner => "user A",
            Caller::OtherUser => "user B",
            Caller::NoToken => "a caller without a token",
            Caller::MalformedToken => "a malformed token",
            Caller::ExpiredToken => "an expired token",
            Caller::WrongAudience => "a token for another audience",
            Caller::WrongIssuer => "a token from another issuer",
            Caller::WrongKey => "a token signed with another key",
            Caller::UnsignedToken => "an unsigned token (alg none)",
        })
    }
}

/// What a call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    OwnersActive,
    OwnersArchived,
    OwnersDeleted,
    OtherUsers,
    RandomId,
    NoConversation,
}

impl Object {
    /// The columns of an RPC that names a conversation, in the order of the matrix.
    const NAMED: [Object; 5] = [
        Object::OwnersActive,
        Object::OwnersArchived,
        Object::OwnersDeleted,
        Object::OtherUsers,
        Object::RandomId,
    ];
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Object::OwnersActive => "A's active conversation",
            Object::OwnersArchived => "A's archived conversation",
            Object::OwnersDeleted => "A's deleted conversation",
            Object::OtherUsers => "B's conversation",
            Object::RandomId => "a random id",
            Object::NoConversation => "no conversation",
        })
    }
}

/// One call of the matrix, named the way a mismatch is reported.
#[derive(Debug, Clone, Copy)]
struct Cell {
    rpc: Rpc,
    caller: Caller,
    object: Object,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by {} on {}", self.rpc.name(), self.caller, self.object)
    }
}

/// Fresh users A and B with their conversations, arranged through the API itself. Each
/// conversation holds a message written while it was active, so that a ListMessages reaching
/// into it would have something to leak.
struct World {
    a: TestUser,
    b: TestUser,
    a_active: String,
    a_archived: String,
    a_deleted: String,
    b_conversation: String,
    random_id: String,
}

impl World {
    async fn arrange(app: &TestApp) -> Self {
        let mut a = app.user();
        let mut b = app.user();

        let a_active = with_a_message(&mut a, "A's active").await;
        let a_archived = with_a_message(&mut a, "A's archived").await;
        let a_deleted = with_a_message(&mut a, "A's deleted").await;
        let b_conversation = with_a_message(&mut b, "B's").await;

        let archive = pb::ArchiveConversationRequest { id: a_archived.clone(), etag: "".into() };
        a.client.archive_conversation(archive).await.expect("A archives a conversation");
        let delete = pb::DeleteConversationRequest { id: a_deleted.clone(), etag: "".into() };
        a.client.delete_conversation(delete).await.expect("A deletes a conversation");

        let random_id = Uuid::new_v4().to_string();
        World { a, b, a_active, a_archived, a_deleted, b_conversation, random_id }
    }

    /// The id a call on `object` sends; empty for an RPC that names no conversation.
    fn id_of(&self, object: Object) -> String {
        match object {
            Object::OwnersActive => self.a_active.clone(),
            Object::OwnersArchived => self.a_archived.clone(),
            Object::OwnersDeleted => self.a_deleted.clone(),
            Object::OtherUsers => self.b_conversation.clone(),
            Object::RandomId => self.random_id.clone(),
            Object::NoConversation => String::new(),
        }
    }

    fn client_for(&self, app: &TestApp, caller: Caller) -> Client {
        match caller {
            Caller::Owner => self.a.client.clone(),
            Caller::OtherUser => self.b.client.clone(),
            Caller::NoToken => app.client_with(Vec::new()),
            flawed => {
                let authorization = format!("Bearer {}", flawed_token(flawed, self.a.id));
                app.client_with(vec![("authorization", authorization)])
            }
        }
    }

    /// The user a caller with valid credentials is, and the conversations arranged for them.
    fn identity_of(&self, caller: Caller) -> Option<(Uuid, BTreeSet<String>)> {
        match caller {
            Caller::Owner => {
                let own = [&self.a_active, &self.a_archived, &self.a_deleted];
                Some((self.a.id, own.into_iter().cloned().collect()))
            }
            Caller::OtherUser => Some((self.b.id, BTreeSet::from([self.b_conversation.clone()]))),
            _ => None,
        }
    }

    /// Everything wrong with how a cell went: a code other than the expected one, or an OK
    /// answer that shows a conversation of someone else's.
    fn judge(&self, cell: Cell, expected: Code, outcome: Outcome) -> Vec<String> {
        let returned = match outcome {
            Err(status) if status.code() == expected => return Vec::new(),
            Err(status) => {
                let got = format!("{:?} ({:?})", status.code(), status.message());
                return vec![format!("{cell}: expected {expected:?}, got {got}")];
            }
            Ok(_) if expected != OK => {
                return vec![format!("{cell}: expected {expected:?}, got Ok")];
            }
            Ok(returned) => returned,
        };
        let Some((user_id, own)) = self.identity_of(cell.caller) else {
            return Vec::new();
        };

        let mut leaks: Vec<String> = returned
            .iter()
            .filter(|conversation| conversation.user_id != user_id.to_string())
            .map(|conversation| {
                format!("{cell}: answered with {}'s conversation", conversation.user_id)
            })
            .collect();
        if cell.rpc == Rpc::ListConversations {
            let listed: BTreeSet<String> = returned.into_iter().map(|c| c.id).collect();
            if listed != own {
                leaks.push(format!("{cell}: listed {listed:?}, not exactly its own {own:?}"));
            }
        }
        leaks
    }
}

async fn with_a_message(user: &mut TestUser, title: &str) -> String {
    let id = user.create_titled(title).await.id;
    user.append(&id, "a message only its owner may read").await;
    id
}

/// The conversations an OK answer carries, or the status of a failed call.
type Outcome = Result<Vec<pb::Conversation>, Status>;

/// Calls `rpc` on conversation `id` with a request that the owner of an active conversation
/// would succeed with, reading a stream to its end, since a stream may fail after it starts.
async fn call(rpc: Rpc, client: &mut Client, id: &str) -> Outcome {
    let id = id.to_owned();
    let etag = String::new();
    let answer = match rpc {
        Rpc::CreateConversation => {
            let conversation = pb::Conversation { title: "New".into(), ..Default::default() };
            let request = pb::CreateConversationRequest {
                conversation: Some(conversation),
                request_id: String::new(),
            };
            client.create_conversation(request).await?
        }
        Rpc::GetConversation => client.get_conversation(pb::GetConversationRequest { id }).await?,
        Rpc::UpdateConversation => {
            let conversation =
                pb::Conversation { id, title: "Renamed".into(), ..Default::default() };
            let request = pb::UpdateConversationRequest {
                conversation: Some(conversation),
                update_mask: None,
            };
            client.update_conversation(request).await?
        }
        Rpc::ArchiveConversation => {
            client.archive_conversation(pb::ArchiveConversationRequest { id, etag }).await?
        }
        Rpc::UnarchiveConversation => {
            client.unarchive_conversation(pb::UnarchiveConversationRequest { id, etag }).await?
        }
        Rpc::DeleteConversation => {
            client.delete_conversation(pb::DeleteConversationRequest { id, etag }).await?
        }
        Rpc::UndeleteConversation => {
            client.undelete_conversation(pb::UndeleteConversationRequest { id, etag }).await?
        }
        Rpc::ListConversations => {
            let request = pb::ListConversationsRequest { show_deleted: true, ..Default::default() };
            let mut pages = client.list_conversations(request).await?.into_inner();
            let mut listed = Vec::new();
            while let Some(page) = pages.message().await? {
                listed.extend(page.conversations);
            }
            return Ok(listed);
        }
        Rpc::AppendMessage => {
            let message = Some(user_message("written by whoever called"));
            let request = pb::AppendMessageRequest {
                conversation_id: id,
                message,
                request_id: String::new(),
            };
            client.append_message(request).await?;
            return Ok(Vec::new());
        }
        Rpc::ListMessages => {
            let request = pb::ListMessagesRequest { conversation_id: id, ..Default::default() };
            let mut pages = client.list_messages(request).await?.into_inner();
            while pages.message().await?.is_some() {}
            return Ok(Vec::new());
        }
        Rpc::GetConversationStats => {
            // Whose conversations the numbers count is checked by its own test below.
            let request = pb::GetConversationStatsRequest { include_deleted: true };
            client.get_conversation_stats(request).await?;
            return Ok(Vec::new());
        }
        Rpc::SearchConversations => {
            // Every arranged conversation holds a message with this word, the caller's and
            // everyone else's: only the caller's may come back.
            let request =
                pb::SearchConversationsRequest { query: "owner".into(), ..Default::default() };
            let mut pages = client.search_conversations(request).await?.into_inner();
            let mut found = Vec::new();
            while let Some(page) = pages.message().await? {
                found.extend(page.hits.into_iter().filter_map(|hit| hit.conversation));
            }
            return Ok(found);
        }
    };
    Ok(vec![answer.into_inner()])
}

const ANOTHER_SECRET: &[u8] = b"another secret that is also at least thirty-two bytes long";

fn claims_with(user_id: Uuid, name: &str, value: Value) -> Value {
    let mut claims = good_claims(user_id);
    claims[name] = value;
    claims
}

/// The bearer token of a caller with flawed credentials: a token for `user_id` with exactly
/// the caller's one flaw.
fn flawed_token(caller: Caller, user_id: Uuid) -> String {
    let an_hour_ago = jsonwebtoken::get_current_timestamp() - AN_HOUR;
    match caller {
        Caller::MalformedToken => "not-a-jwt".to_owned(),
        Caller::ExpiredToken => {
            signed(&claims_with(user_id, "exp", json!(an_hour_ago)), SECRET, Algorithm::HS256)
        }
        Caller::WrongAudience => {
            signed(&claims_with(user_id, "aud", json!("billing-service")), SECRET, Algorithm::HS256)
        }
        Caller::WrongIssuer => {
            signed(&claims_with(user_id, "iss", json!("mallory")), SECRET, Algorithm::HS256)
        }
        Caller::WrongKey => signed(&good_claims(user_id), ANOTHER_SECRET, Algorithm::HS256),
        Caller::UnsignedToken => unsigned(&good_claims(user_id)),
        Caller::Owner | Caller::OtherUser | Caller::NoToken => {
            unreachable!("{caller} sends no flawed token")
        }
    }
}

/// The names of the methods of ConversationService, as its own descriptor lists them.
fn methods_of_the_service() -> BTreeSet<String> {
    let descriptors = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET)
        .expect("the service's descriptor set decodes");
    let (package, service) = pb::SERVICE_NAME.rsplit_once('.').expect("a qualified name");

    descriptors
        .file
        .iter()
        .filter(|file| file.package() == package)
        .flat_map(|file| &file.service)
        .filter(|descriptor| descriptor.name() == service)
        .flat_map(|descriptor| &descriptor.method)
        .map(|method| method.name().to_owned())
        .collect()
}

/// Fails unless the service's every method has exactly one row, every row is of a method the
/// service has, and every row has a column per object of its RPC.
fn assert_the_matrix_covers_the_service() {
    let methods = methods_of_the_service();
    assert!(!methods.is_empty(), "the descriptor set lists no method of {}", pb::SERVICE_NAME);

    let mut problems = Vec::new();
    for method in &methods {
        let rows = MATRIX.iter().filter(|row| row.rpc.name() == *method).count();
        if rows != 1 {
            problems.push(format!("{method} has {rows} rows in the matrix instead of one"));
        }
    }
    for row in MATRIX {
        let name = row.rpc.name();
        if !methods.contains(&name) {
            problems.push(format!("{name} has a row but is no method of the service"));
        }
        let columns = row.rpc.objects().len();
        if row.owner.len() != columns || row.other_user.len() != columns {
            problems.push(format!("{name} needs {columns} columns for each user"));
        }
    }

    assert!(problems.is_empty(), "the matrix does not match the service:\n{}", problems.join("\n"));
}

#[test]
fn every_rpc_of_the_service_has_exactly_one_row_in_the_matrix() {
    assert_the_matrix_covers_the_service();
}

#[tokio::test]
async fn every_rpc_answers_every_caller_on_every_object_as_the_matrix_says() {
    assert_the_matrix_covers_the_service();
    let app = TestApp::spawn().await;
    let mut cells = 0;
    let mut mismatches = Vec::new();

    for row in MATRIX {
        for caller in Caller::ALL {
            // A world per row and caller: each object is then named by one cell only, so no
            // cell sees what another cell changed.
            let world = World::arrange(&app).await;
            let mut client = world.client_for(&app, caller);

            let objects = row.rpc.objects().iter().copied();
            for (object, expected) in objects.zip(row.expected_for(caller)) {
                let cell = Cell { rpc: row.rpc, caller, object };
                let outcome = call(cell.rpc, &mut client, &world.id_of(cell.object)).await;
                cells += 1;
                mismatches.extend(world.judge(cell, expected, outcome));
            }
        }
    }

    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ from the matrix:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// User B's calls and those with bad credentials leave every row of the database as it was.
/// Left out are the cells where the matrix expects OK: B's create, B's listing, and B's own
/// changes to B's own conversation.
#[tokio::test]
async fn no_call_by_another_user_or_with_bad_credentials_changes_the_database() {
    let app = TestApp::spawn().await;
    let mut changes = Vec::new();

    for row in MATRIX {
        let world = World::arrange(&app).await;
        let refused = row
            .cells()
            .into_iter()
            .filter(|(cell, expected)| cell.caller != Caller::Owner && *expected != OK);

        for (cell, _) in refused {
            let mut client = world.client_for(&app, cell.caller);
            let before = app.snapshot().await;

            let _ = call(cell.rpc, &mut client, &world.id_of(cell.object)).await;

            if app.snapshot().await != before {
                changes.push(format!("{cell} changed the database"));
            }
        }
    }

    assert!(changes.is_empty(), "refused calls changed data:\n{}", changes.join("\n"));
}

/// A failed call's code, message and details as a client sees them; None when it succeeded.
fn failure_body(outcome: Outcome) -> Option<(Code, String, Vec<u8>)> {
    let status = outcome.err()?;
    Some((status.code(), status.message().to_owned(), status.details().to_vec()))
}

#[tokio::test]
async fn another_users_conversation_fails_exactly_like_a_missing_one_on_every_rpc() {
    let app = TestApp::spawn().await;
    let world = World::arrange(&app).await;
    let foreign = [
        (Caller::Owner, Object::OtherUsers),
        (Caller::OtherUser, Object::OwnersActive),
        (Caller::OtherUser, Object::OwnersArchived),
        (Caller::OtherUser, Object::OwnersDeleted),
    ];
    let mut differences = Vec::new();

    for rpc in MATRIX.iter().map(|row| row.rpc).filter(|rpc| rpc.names_a_conversation()) {
        for (caller, object) in foreign {
            let mut client = world.client_for(&app, caller);
            let cell = Cell { rpc, caller, object };

            let theirs = failure_body(call(rpc, &mut client, &world.id_of(object)).await);
            let missing =
                failure_body(call(rpc, &mut client, &world.id_of(Object::RandomId)).await);

            if theirs.is_none() || theirs != missing {
                differences.push(format!("{cell}: {theirs:?}\n  a random id: {missing:?}"));
            }
        }
    }

    assert!(differences.is_empty(), "bodies differ:\n{}", differences.join("\n"));
}

/// The matrix checks who may call GetConversationStats; this checks whose rows it counts. In
/// the arranged world every conversation holds one message, A has three and B one.
#[tokio::test]
async fn each_users_statistics_count_only_their_own_conversations() {
    let app = TestApp::spawn().await;
    let world = World::arrange(&app).await;
    let expectations = [(Caller::Owner, 3), (Caller::OtherUser, 1)];
    let mut wrong = Vec::new();

    for (caller, own) in expectations {
        let mut client = world.client_for(&app, caller);
        let request = pb::GetConversationStatsRequest { include_deleted: true };
        let stats = client.get_conversation_stats(request).await.expect("stats succeed");
        let stats = stats.into_inner();

        let statuses: i64 =
            stats.conversations_by_status.iter().map(|s| s.conversation_count).sum();
        let counted = [stats.total_conversations, stats.total_messages, statuses];
        if counted != [own; 3] {
            wrong.push(format!("{caller}: counted {counted:?}, owns {own} with a message each"));
        }
    }

    assert!(wrong.is_empty(), "statistics reach beyond their caller:\n{}", wrong.join("\n"));
}

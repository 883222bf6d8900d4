//! Archive, unarchive, delete and undelete: which moves apply from which status, and
//! archived_at kept right through all of them.

use conversation_service::pb;
use tonic::Code;

use crate::support::{TestApp, TestUser};

#[derive(Debug, Clone, Copy)]
enum Move {
    Archive,
    Unarchive,
    Delete,
    Undelete,
}

async fn apply(
    user: &mut TestUser,
    id: &str,
    action: Move,
) -> Result<pb::Conversation, tonic::Status> {
    apply_with_etag(user, id, "", action).await
}

async fn apply_with_etag(
    user: &mut TestUser,
    id: &str,
    etag: &str,
    action: Move,
) -> Result<pb::Conversation, tonic::Status> {
    let (id, etag) = (id.to_string(), etag.to_string());
    let client = &mut user.client;
    let response = match action {
        Move::Archive => {
            client.archive_conversation(pb::ArchiveConversationRequest { id, etag }).await
        }
        Move::Unarchive => {
            client.unarchive_conversation(pb::UnarchiveConversationRequest { id, etag }).await
        }
        Move::Delete => {
            client.delete_conversation(pb::DeleteConversationRequest { id, etag }).await
        }
        Move::Undelete => {
            client.undelete_conversation(pb::UndeleteConversationRequest { id, etag }).await
        }
    };
    response.map(tonic::Response::into_inner)
}

/// A conversation of `user` brought into `status` by the API itself.
async fn conversation_in(user: &mut TestUser, status: pb::Status) -> pb::Conversation {
    let created = user.create_titled("lifecycle").await;
    match status {
        pb::Status::Active | pb::Status::Unspecified => created,
        pb::Status::Archived => apply(user, &created.id, Move::Archive).await.unwrap(),
        pb::Status::Deleted => apply(user, &created.id, Move::Delete).await.unwrap(),
    }
}

#[tokio::test]
async fn every_move_applies_exactly_where_the_lifecycle_allows_it() {
    use pb::Status::{Active, Archived, Deleted};
    let table = [
        (Active, Move::Archive, Some(Archived)),
        (Archived, Move::Archive, None),
        (Deleted, Move::Archive, None),
        (Active, Move::Unarchive, None),
        (Archived, Move::Unarchive, Some(Active)),
        (Deleted, Move::Unarchive, None),
        (Active, Move::Delete, Some(Deleted)),
        (Archived, Move::Delete, Some(Deleted)),
        (Deleted, Move::Delete, None),
        (Active, Move::Undelete, None),
        (Archived, Move::Undelete, None),
        (Deleted, Move::Undelete, Some(Active)),
    ];
    let app = TestApp::spawn().await;
    let mut alice = app.user();

    for (from, action, expected) in table {
        let conversation = conversation_in(&mut alice, from).await;

        let result = apply(&mut alice, &conversation.id, action).await;

        match expected {
            Some(to) => {
                let moved =
                    result.unwrap_or_else(|status| panic!("{action:?} from {from:?}: {status:?}"));
                assert_eq!(moved.status(), to, "{action:?} from {from:?}");
            }
            None => {
                let status = result.expect_err("the move does not apply");
                assert_eq!(status.code(), Code::FailedPrecondition, "{action:?} from {from:?}");
                assert_eq!(alice.get(&conversation.id).await.unwrap(), conversation);
            }
        }
    }
}

#[tokio::test]
async fn archiving_sets_archived_at_and_unarchiving_clears_it() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("to archive").await;

    let archived = apply(&mut alice, &created.id, Move::Archive).await.unwrap();
    let unarchived = apply(&mut alice, &created.id, Move::Unarchive).await.unwrap();

    assert!(archived.archived_at.is_some());
    assert!(unarchived.archived_at.is_none());
}

#[tokio::test]
async fn undeleting_an_archived_conversation_returns_it_to_the_archive() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let archived = conversation_in(&mut alice, pb::Status::Archived).await;

    let deleted = apply(&mut alice, &archived.id, Move::Delete).await.unwrap();
    let restored = apply(&mut alice, &archived.id, Move::Undelete).await.unwrap();

    assert_eq!(deleted.archived_at, archived.archived_at);
    assert_eq!(restored.status(), pb::Status::Archived);
    assert_eq!(restored.archived_at, archived.archived_at);
}

#[tokio::test]
async fn a_deleted_conversation_can_still_be_read() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let deleted = conversation_in(&mut alice, pb::Status::Deleted).await;

    let read = alice.get(&deleted.id).await.unwrap();

    assert_eq!(read.status(), pb::Status::Deleted);
}

#[tokio::test]
async fn a_lifecycle_move_with_a_stale_etag_is_aborted_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("etag").await;
    alice.append(&created.id, "a message moves the etag on").await;

    let status =
        apply_with_etag(&mut alice, &created.id, &created.etag, Move::Archive).await.unwrap_err();

    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(alice.get(&created.id).await.unwrap().status(), pb::Status::Active);
}

#[tokio::test]
async fn a_lifecycle_move_with_the_current_etag_succeeds() {
    let app = TestApp::spawn().await;
    let mut alice = app.user();
    let created = alice.create_titled("etag").await;

    let archived =
        apply_with_etag(&mut alice, &created.id, &created.etag, Move::Archive).await.unwrap();

    assert_eq!(archived.status(), pb::Status::Archived);
}

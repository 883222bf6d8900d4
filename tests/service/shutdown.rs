//! SIGTERM to the real process, as Kubernetes sends it: health turns NOT_SERVING at once, new
//! calls are still served for the pause, then refused, and open streams get the grace to
//! finish (or are cut when it ends) before the process exits with status 0.

use std::collections::HashSet;
use std::error::Error;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use conversation_service::pb;
use tokio::time::{Instant, sleep, timeout};
use tonic::transport::Channel;
use tonic::{Code, Streaming};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

use crate::process::{ServiceOptions, ServiceProcess, endpoint};
use crate::support::{fresh_database, signed_in_client, user_message};

/// A conversation whose listing is many pages, and far more bytes than the narrow client
/// windows and the server's few buffered pages hold together: a listing open at SIGTERM is
/// still being produced when the drain begins.
const MESSAGES: usize = 40;
const MESSAGE_BYTES: usize = 48 * 1024;
const PAGE_SIZE: i32 = 4;

/// HTTP/2 flow-control windows of the listing's connection: a client that stops reading
/// holds the server's stream back after a few pages instead of buffering all of it.
const NARROW_WINDOW: u32 = 64 * 1024;

/// Longest wait for something that should come at once; a bound, not a measure.
const PROMPTLY: Duration = Duration::from_secs(10);

/// A user and a conversation of theirs with [`MESSAGES`] large messages, whose ids it returns.
async fn long_conversation(service: &ServiceProcess) -> (Uuid, String, Vec<String>) {
    let user_id = Uuid::new_v4();
    let channel = service.endpoint().connect().await.expect("the service accepts connections");
    let mut client = signed_in_client(channel, user_id);
    let create = pb::CreateConversationRequest { conversation: None, request_id: String::new() };
    let conversation = client.create_conversation(create).await.unwrap().into_inner();

    let mut message_ids = Vec::new();
    for index in 0..MESSAGES {
        let content =
            format!("{index:02} {}", "words of a long message ".repeat(MESSAGE_BYTES / 24));
        let append = pb::AppendMessageRequest {
            conversation_id: conversation.id.clone(),
            message: Some(user_message(&content)),
            request_id: String::new(),
        };
        message_ids.push(client.append_message(append).await.unwrap().into_inner().id);
    }
    (user_id, conversation.id, message_ids)
}

/// Opens a listing of the conversation's messages over a connection of its own with narrow
/// windows, and reads its first page.
async fn open_listing(
    service: &ServiceProcess,
    user_id: Uuid,
    conversation_id: &str,
) -> (Streaming<pb::ListMessagesResponse>, pb::ListMessagesResponse) {
    let channel = service
        .endpoint()
        .initial_stream_window_size(NARROW_WINDOW)
        .initial_connection_window_size(NARROW_WINDOW)
        .connect()
        .await
        .expect("the service accepts connections");
    let request = pb::ListMessagesRequest {
        conversation_id: conversation_id.into(),
        page_size: PAGE_SIZE,
        ..Default::default()
    };
    let mut listing =
        signed_in_client(channel, user_id).list_messages(request).await.unwrap().into_inner();
    let first_page = listing.message().await.unwrap().expect("a first page");
    (listing, first_page)
}

/// Opens a new connection and checks health over it, again and again, while the service
/// still takes new calls. The first caller that is not served must be turned away in a way
/// a client can retry elsewhere: its connection refused (or reset, when it was still waiting
/// to be accepted as the port closed), its call UNAVAILABLE, or its call failed by the client
/// itself as the connection closed under it. `Err` describes any other answer, such as an
/// error status the server sent.
async fn first_caller_not_served_is_turned_away(address: SocketAddr) -> Result<(), String> {
    let give_up_at = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = match endpoint(address).connect().await {
            Err(error) if turned_away(&error) => return Ok(()),
            Err(error) => return Err(format!("the connection failed: {error:?}")),
            Ok(channel) => HealthClient::new(channel).check(HealthCheckRequest::default()).await,
        };
        match attempt {
            Err(status) if status.code() == Code::Unavailable || status.source().is_some() => {
                return Ok(());
            }
            Err(status) => return Err(format!("the call failed: {status:?}")),
            Ok(_) => {}
        }
        assert!(Instant::now() < give_up_at, "new calls were still served after a minute");
        sleep(Duration::from_millis(50)).await;
    }
}

fn turned_away(error: &tonic::transport::Error) -> bool {
    let mut cause: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset);
        }
        cause = current.source();
    }
    false
}

async fn health_over(channel: Channel) -> Option<ServingStatus> {
    let response = HealthClient::new(channel).check(HealthCheckRequest::default()).await.ok()?;
    Some(response.into_inner().status())
}

/// Reads a listing's remaining pages until it ends, and how it ended: `Ok` at its normal end,
/// the status when it was cut.
async fn read_to_the_end(
    listing: &mut Streaming<pb::ListMessagesResponse>,
) -> (Vec<pb::ListMessagesResponse>, Result<(), tonic::Status>) {
    let mut pages = Vec::new();
    loop {
        match timeout(PROMPTLY, listing.message()).await.expect("the next page or the end comes") {
            Ok(Some(page)) => pages.push(page),
            Ok(None) => return (pages, Ok(())),
            Err(status) => return (pages, Err(status)),
        }
    }
}

#[tokio::test]
async fn sigterm_serves_new_calls_through_the_pause_then_refuses_them_while_open_streams_finish() {
    let options = ServiceOptions {
        shutdown_pause: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(30),
        ..ServiceOptions::new(fresh_database().await)
    };
    let mut service = ServiceProcess::start(options).await;
    let (user_id, conversation_id, appended) = long_conversation(&service).await;
    let (mut listing, first_page) = open_listing(&service, user_id, &conversation_id).await;
    let watch_channel = service.endpoint().connect().await.unwrap();
    let mut watch = HealthClient::new(watch_channel)
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    let before = watch.message().await.unwrap().expect("a first health status").status();

    service.terminate();
    let after = timeout(PROMPTLY, watch.message()).await.expect("health changes at once");
    let pause_channel = service.endpoint().connect().await.expect("the pause accepts connections");
    let health_in_pause = health_over(pause_channel.clone()).await;
    let get = pb::GetConversationRequest { id: conversation_id.clone() };
    let served_in_pause = signed_in_client(pause_channel, user_id).get_conversation(get).await;
    let turned_away_after_pause = first_caller_not_served_is_turned_away(service.address()).await;
    let running_when_turned_away = service.is_running();
    // A watch never ends by itself; the drain ends it rather than wait the grace out for it.
    let watch_ending = timeout(PROMPTLY, watch.message()).await.expect("the watch ends at once");
    let (rest, ending) = read_to_the_end(&mut listing).await;
    let exit = service.wait_for_exit().await;

    assert_eq!(before, ServingStatus::Serving);
    let after = after.unwrap().expect("a health status after SIGTERM").status();
    assert_eq!(after, ServingStatus::NotServing);
    assert_eq!(health_in_pause, Some(ServingStatus::NotServing));
    let served = served_in_pause.expect("a new call is served during the pause").into_inner();
    assert_eq!(served.message_count, MESSAGES as i64);
    turned_away_after_pause.expect("after the pause a new caller is turned away");
    assert!(running_when_turned_away, "new callers are turned away while the process drains");
    assert!(matches!(watch_ending, Ok(None)), "the watch ended cleanly: {watch_ending:?}");
    let pages: Vec<_> = std::iter::once(first_page).chain(rest).collect();
    let listed: Vec<String> =
        pages.iter().flat_map(|page| page.messages.iter().map(|m| m.id.clone())).collect();
    if let Err(status) = ending {
        panic!("the open stream was cut after {} of {MESSAGES} messages: {status:?}", listed.len());
    }
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no message is listed twice");
    assert_eq!(unique, appended.iter().collect(), "every message is listed");
    assert!(pages.len() >= MESSAGES / PAGE_SIZE as usize);
    assert!(exit.success(), "the service exited with {exit}");
}

#[tokio::test]
async fn a_stream_the_client_stops_reading_is_cut_at_the_grace_and_the_process_still_exits_zero() {
    let options = ServiceOptions {
        shutdown_pause: Duration::from_millis(500),
        shutdown_grace: Duration::from_secs(2),
        ..ServiceOptions::new(fresh_database().await)
    };
    let mut service = ServiceProcess::start(options).await;
    let (user_id, conversation_id, appended) = long_conversation(&service).await;
    let (mut stalled, first_page) = open_listing(&service, user_id, &conversation_id).await;

    service.terminate();
    let exit = service.wait_for_exit().await;
    let (rest, ending) = read_to_the_end(&mut stalled).await;

    assert!(exit.success(), "the service exited with {exit}");
    assert!(ending.is_err(), "the stalled stream was completed instead of cut");
    let received =
        first_page.messages.len() + rest.iter().map(|page| page.messages.len()).sum::<usize>();
    assert!(received < appended.len(), "all {received} messages arrived: nothing was held back");
}

//! The repository's Rust chat client (`crates/client`) against this server: requests matched
//! to their answers, reconnect with a fresh token after the server closes the socket (a
//! restart of the real binary, session expiry by the server's clock), kicks, deletes, room
//! deletion, order and backpressure. No test asserts on time; waits are bounded by a guard.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ivschat::types::ChatTokenCapability;
use common::process::{free_port, Node};
use common::TestServer;
use ivschat_client::{
    ChatClient, ChatToken, ClientBuilder, Disconnect, Error, Reconnect, SendMessage, Update,
};

/// Guards against a hung test only.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Mints tokens for one user through the control plane, counting the calls.
#[derive(Clone)]
struct Minter {
    sdk: aws_sdk_ivschat::Client,
    room: String,
    user: String,
    capabilities: Vec<ChatTokenCapability>,
    session_minutes: Option<i32>,
    calls: Arc<AtomicUsize>,
}

impl Minter {
    fn new(sdk: aws_sdk_ivschat::Client, room: &str, user: &str, capabilities: &[&str]) -> Minter {
        Minter {
            sdk,
            room: room.to_string(),
            user: user.to_string(),
            capabilities: capabilities
                .iter()
                .map(|c| ChatTokenCapability::from(*c))
                .collect(),
            session_minutes: None,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A client builder for `url` whose token provider is this minter.
    fn builder(&self, url: &str) -> ClientBuilder {
        let minter = self.clone();
        ChatClient::builder(url)
            .reconnect(
                Reconnect::default().delays(Duration::from_millis(20), Duration::from_millis(200)),
            )
            .token_provider(move || {
                let minter = minter.clone();
                async move {
                    minter.calls.fetch_add(1, Ordering::SeqCst);
                    let token = minter
                        .sdk
                        .create_chat_token()
                        .room_identifier(&minter.room)
                        .user_id(&minter.user)
                        .set_capabilities(Some(minter.capabilities.clone()))
                        .set_session_duration_in_minutes(minter.session_minutes)
                        .send()
                        .await
                        .map_err(aws_sdk_ivschat::Error::from)?
                        .token
                        .unwrap_or_default();
                    Ok::<_, aws_sdk_ivschat::Error>(
                        ChatToken::new(token).with_user_id(&minter.user),
                    )
                }
            })
    }
}

async fn next(client: &mut ChatClient) -> Option<Update> {
    tokio::time::timeout(HANG_GUARD, client.recv())
        .await
        .expect("no update within the hang guard")
}

/// Reads until an update `pick` accepts, skipping others.
async fn until<T>(client: &mut ChatClient, mut pick: impl FnMut(Update) -> Option<T>) -> T {
    loop {
        let update = next(client).await.expect("the client stopped");
        if let Some(found) = pick(update) {
            return found;
        }
    }
}

fn url(server: &TestServer) -> String {
    format!("ws://{}", server.addr)
}

#[tokio::test]
async fn requests_resolve_on_their_own_answers_and_refusals_are_errors() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let moderator = Minter::new(
        server.client(),
        &room,
        "mod",
        &["SEND_MESSAGE", "DELETE_MESSAGE"],
    );
    let viewer = Minter::new(server.client(), &room, "viewer", &[]);
    let mut moderator = moderator.builder(&url(&server)).connect().await.unwrap();
    let mut viewer = viewer.builder(&url(&server)).connect().await.unwrap();

    let sent = moderator
        .send_message(SendMessage::new("hello").attribute("kind", "greeting"))
        .await
        .unwrap();
    assert_eq!(
        (sent.content.as_str(), sent.sender.user_id.as_str()),
        ("hello", "mod")
    );
    let seen = until(&mut viewer, |u| match u {
        Update::Message(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(
        (seen.id.as_str(), seen.attributes["kind"].as_str()),
        (sent.id.as_str(), "greeting")
    );

    let deleted = moderator
        .delete_message(&sent.id, Some("oops"))
        .await
        .unwrap();
    assert_eq!(deleted.deleted_message_id(), Some(sent.id.as_str()));
    let seen = until(&mut viewer, |u| match u {
        Update::Event(e) => Some(e),
        _ => None,
    })
    .await;
    assert_eq!(
        (seen.deleted_message_id(), seen.reason()),
        (Some(sent.id.as_str()), Some("oops"))
    );

    // Without the capability: the ERROR settles the request (and only the request).
    let refused = viewer.send_message("may I?").await.unwrap_err();
    assert!(
        matches!(refused, Error::Refused(ref e) if e.error_code == 403),
        "{refused:?}"
    );
    let refused = moderator.disconnect_user("viewer", None).await.unwrap_err();
    assert!(
        matches!(refused, Error::Refused(ref e) if e.error_code == 403),
        "{refused:?}"
    );
    // Both still connected: the moderator's own echoes come before anything else.
    moderator.send_message("still here").await.unwrap();
    let mut contents = Vec::new();
    while contents.len() < 3 {
        match next(&mut moderator).await.unwrap() {
            Update::Message(m) => contents.push(m.content),
            Update::Event(e) => contents.push(e.event_name),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(contents, ["hello", "aws:DELETE_MESSAGE", "still here"]);
}

/// The real binary stops gracefully (close 1001 to every connection) and starts again on the
/// same port: the client reports the disconnection, mints a new token and reconnects.
#[tokio::test]
async fn reconnects_with_a_fresh_token_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--data-dir".to_string(), dir.path().display().to_string()];
    let port = free_port();
    let mut node = Node::start_on(port, &args, &[]);
    let room = node
        .client()
        .create_room()
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let minter = Minter::new(node.client(), &room, "bot", &["SEND_MESSAGE"]);
    let mut client = minter
        .builder(&format!("ws://127.0.0.1:{port}"))
        .reconnect(
            Reconnect::default()
                .max_attempts(None)
                .delays(Duration::from_millis(20), Duration::from_millis(200)),
        )
        .connect()
        .await
        .unwrap();
    assert_eq!(minter.calls(), 1);

    node.terminate();
    let cause = until(&mut client, |u| match u {
        Update::Disconnected {
            cause,
            reconnect_in,
        } => Some((cause, reconnect_in)),
        _ => None,
    })
    .await;
    assert_eq!(
        cause.0,
        Disconnect::ServerClosed {
            code: 1001,
            reason: "server shutting down".into()
        }
    );
    assert!(cause.1.is_some(), "a restart is retried");
    // A request made while the server is down waits for the next connection.
    let sender = client.sender();
    let queued = tokio::spawn(async move { sender.send_message("queued while down").await });
    let _node = Node::start_on(port, &args, &[]);
    until(&mut client, |u| {
        matches!(u, Update::Reconnected).then_some(())
    })
    .await;
    assert!(
        minter.calls() >= 2,
        "every connection has a token of its own"
    );
    assert_eq!(queued.await.unwrap().unwrap().content, "queued while down");
    let sent = client.send_message("back").await.unwrap();
    assert_eq!(sent.content, "back");
}

/// Session expiry, reached by moving the server's clock past a one-minute session (not further:
/// SigV4 refuses requests more than 5 minutes off the server's clock): ERROR 401 and close,
/// then a new token and a new connection, and requests work again.
#[tokio::test]
async fn session_expiry_reconnects_with_a_new_token() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut minter = Minter::new(server.client(), &room, "u", &["SEND_MESSAGE"]);
    minter.session_minutes = Some(1);
    let mut client = minter.builder(&url(&server)).connect().await.unwrap();
    server.clock.advance(Duration::from_secs(61));
    let cause = until(&mut client, |u| match u {
        Update::Disconnected {
            cause,
            reconnect_in,
        } => Some((cause, reconnect_in.is_some())),
        _ => None,
    })
    .await;
    assert_eq!(cause, (Disconnect::SessionExpired, true));
    until(&mut client, |u| {
        matches!(u, Update::Reconnected).then_some(())
    })
    .await;
    assert_eq!(minter.calls(), 2);
    client.send_message("renewed").await.unwrap();
}

#[tokio::test]
async fn a_kick_is_final_unless_the_policy_says_otherwise() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let spammer = Minter::new(server.client(), &room, "spammer", &["SEND_MESSAGE"]);
    let mut kicked = spammer.builder(&url(&server)).connect().await.unwrap();
    let mut stubborn = spammer
        .builder(&url(&server))
        .reconnect(
            Reconnect::default()
                .after_kick(true)
                .delays(Duration::from_millis(20), Duration::from_millis(200)),
        )
        .connect()
        .await
        .unwrap();
    let moderator = Minter::new(server.client(), &room, "mod", &["DISCONNECT_USER"]);
    let moderator = moderator.builder(&url(&server)).connect().await.unwrap();
    let event = moderator
        .disconnect_user("spammer", Some("spam"))
        .await
        .unwrap();
    assert_eq!(event.disconnected_user_id(), Some("spammer"));

    let ended = until(&mut kicked, |u| match u {
        Update::Disconnected {
            cause,
            reconnect_in,
        } => Some((cause, reconnect_in)),
        _ => None,
    })
    .await;
    assert_eq!(
        ended,
        (
            Disconnect::Kicked {
                reason: Some("spam".into())
            },
            None
        )
    );
    assert_eq!(
        next(&mut kicked).await,
        None,
        "a final disconnection ends the queue"
    );
    assert!(matches!(
        kicked.send_message("hi").await,
        Err(Error::Closed)
    ));

    let ended = until(&mut stubborn, |u| match u {
        Update::Disconnected {
            cause,
            reconnect_in,
        } => Some((cause, reconnect_in.is_some())),
        _ => None,
    })
    .await;
    assert_eq!(
        ended,
        (
            Disconnect::Kicked {
                reason: Some("spam".into())
            },
            true
        )
    );
    until(&mut stubborn, |u| {
        matches!(u, Update::Reconnected).then_some(())
    })
    .await;
    stubborn.send_message("back").await.unwrap();
}

#[tokio::test]
async fn a_deleted_room_ends_the_client() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let minter = Minter::new(server.client(), &room, "u", &[]);
    let mut client = minter.builder(&url(&server)).connect().await.unwrap();
    server
        .client()
        .delete_room()
        .identifier(&room)
        .send()
        .await
        .unwrap();
    let ended = until(&mut client, |u| match u {
        Update::Disconnected {
            cause,
            reconnect_in,
        } => Some((cause, reconnect_in)),
        _ => None,
    })
    .await;
    assert_eq!(ended, (Disconnect::RoomDeleted, None));
}

/// One token opens one connection: a client given a single token cannot come back.
#[tokio::test]
async fn a_single_token_client_cannot_reconnect() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let token = server.token_with(&room, "u", &[], Some(1), &[]).await;
    let mut client = ChatClient::builder(&url(&server))
        .token(token)
        .connect()
        .await
        .unwrap();
    server.clock.advance(Duration::from_secs(2 * 60));
    let mut causes = Vec::new();
    while let Some(update) = next(&mut client).await {
        if let Update::Disconnected { cause, .. } = update {
            causes.push(cause);
        }
    }
    assert_eq!(causes, [Disconnect::SessionExpired, Disconnect::TokenSpent]);
}

/// 1,000 frames arrive in the room's order through a receive queue of 8, which the test does
/// not read until all were sent: the client stops reading its socket instead of dropping.
#[tokio::test]
async fn a_thousand_frames_arrive_in_order_through_a_small_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.quotas.send_event_per_second = 1_000_000;
    let server = TestServer::start_with(config).await;
    let room = server.room().await;
    let room_id = room.rsplit('/').next().unwrap().to_string();
    let minter = Minter::new(server.client(), &room, "reader", &[]);
    let mut client = minter
        .builder(&url(&server))
        .receive_queue(8)
        .connect()
        .await
        .unwrap();
    let total = 1_000;
    for i in 0..total {
        server
            .app
            .chat
            .send_event(
                ivschat_server::chat::RoomRef {
                    id: &room_id,
                    account: "",
                    logging_ids: &[],
                    history: None,
                },
                format!("e{i}"),
                Default::default(),
            )
            .await
            .unwrap();
    }
    for i in 0..total {
        match next(&mut client).await {
            Some(Update::Event(e)) => assert_eq!(e.event_name, format!("e{i}")),
            other => panic!("frame {i}: {other:?}"),
        }
    }
}

/// While the application does not read and the queue is full, answers wait in the socket: a
/// request times out (it was carried out, and its MESSAGE comes through the queue later).
#[tokio::test]
async fn an_unread_full_queue_holds_answers_back_until_their_timeout() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let room_id = room.rsplit('/').next().unwrap().to_string();
    let minter = Minter::new(server.client(), &room, "u", &["SEND_MESSAGE"]);
    let mut client = minter
        .builder(&url(&server))
        .receive_queue(1)
        .request_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    server
        .app
        .chat
        .send_event(
            ivschat_server::chat::RoomRef {
                id: &room_id,
                account: "",
                logging_ids: &[],
                history: None,
            },
            "fills-the-queue".into(),
            Default::default(),
        )
        .await
        .unwrap();
    // Only once the event is in the queue is the queue full; the first recv would take it.
    // Wait for it by sending: the answer cannot be read while the event waits.
    let outcome = client.send_message("held").await;
    assert_eq!(
        outcome.unwrap_err(),
        Error::Timeout(Duration::from_millis(500))
    );
    match next(&mut client).await {
        Some(Update::Event(e)) => assert_eq!(e.event_name, "fills-the-queue"),
        other => panic!("{other:?}"),
    }
    match next(&mut client).await {
        Some(Update::Message(m)) => assert_eq!(m.content, "held"),
        other => panic!("{other:?}"),
    }
    // Reading again, requests are answered again.
    client.send_message("flowing").await.unwrap();
}

#[tokio::test]
async fn close_ends_the_queue_and_later_requests() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let minter = Minter::new(server.client(), &room, "u", &["SEND_MESSAGE"]);
    let mut client = minter.builder(&url(&server)).connect().await.unwrap();
    let sender = client.sender();
    sender.close().await;
    assert_eq!(
        next(&mut client).await,
        Some(Update::Disconnected {
            cause: Disconnect::ClosedByClient,
            reconnect_in: None
        })
    );
    assert_eq!(next(&mut client).await, None);
    assert_eq!(
        sender.send_message("late").await.unwrap_err(),
        Error::Closed
    );
}

/// A refused first handshake (a spent token: 401) is retried with new tokens up to the
/// policy's bound, then `connect` fails with the last cause.
#[tokio::test]
async fn connect_fails_after_the_policy_gives_up() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let token = server.token(&room, "u", &[]).await;
    let first = ChatClient::builder(&url(&server))
        .token(token.clone())
        .connect()
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let refused = ChatClient::builder(&url(&server))
        .reconnect(
            Reconnect::default()
                .max_attempts(Some(2))
                .delays(Duration::from_millis(10), Duration::from_millis(20)),
        )
        .token_provider(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            let token = token.clone();
            async move { Ok::<_, std::convert::Infallible>(token) }
        })
        .connect()
        .await
        .unwrap_err();
    assert_eq!(refused, Error::Connect(Disconnect::Refused { status: 401 }));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the first attempt and 2 retries"
    );
    drop(first);
}

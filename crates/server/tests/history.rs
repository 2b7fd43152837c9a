//! Room history and replay on join (issue 22, README "Extensions (not AWS)"): one conformance
//! suite run against both modes. Embedded: one in-process server (in-memory ring, history.db).
//! Scale-out: two in-process nodes sharing the environment's PostgreSQL and Redis (Redis
//! Streams), each test under its own cluster name (its schema and keys are removed at the end;
//! without the services these skip, see `common/services.rs`). Senders and joiners are on
//! different nodes there, so replay and the live stream meet across the bus.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::chat::ChatClient;
use common::raw;
use common::TestServer;
use futures_util::StreamExt;
use ivschat_server::config::{Config, Secret};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Embedded,
    ScaleOut,
}

/// The nodes of one deployment: one embedded server, or two scale-out nodes.
struct Deployment {
    nodes: Vec<TestServer>,
    cluster: Option<(String, String, String)>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Deployment {
    async fn start(mode: Mode) -> Option<Deployment> {
        match mode {
            Mode::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                let server = TestServer::start_with(Config::for_tests(dir.path())).await;
                Some(Deployment {
                    nodes: vec![server],
                    cluster: None,
                    _dirs: vec![dir],
                })
            }
            Mode::ScaleOut => {
                let database_url = common::services::database_url()?;
                let redis_url = common::services::redis_url()?;
                let name = format!("h_{}", uuid::Uuid::new_v4().simple());
                let mut nodes = Vec::new();
                let mut dirs = Vec::new();
                for _ in 0..2 {
                    let dir = tempfile::tempdir().unwrap();
                    let mut config = Config::for_tests(dir.path());
                    config.database_url = Some(Secret::new(database_url.clone()));
                    config.bus_url = Some(Secret::new(redis_url.clone()));
                    config.cluster_name = name.clone();
                    nodes.push(TestServer::start_with(config).await);
                    dirs.push(dir);
                }
                Some(Deployment {
                    nodes,
                    cluster: Some((name, database_url, redis_url)),
                    _dirs: dirs,
                })
            }
        }
    }

    /// The node a second party uses (the other node in scale-out).
    fn other(&self) -> &TestServer {
        self.nodes.last().unwrap()
    }

    fn first(&self) -> &TestServer {
        &self.nodes[0]
    }

    async fn stop(mut self) {
        for node in self.nodes.drain(..) {
            node.stop().await;
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let Some((name, database_url, redis_url)) = self.cluster.take() else {
            return;
        };
        common::services::remove_cluster(&name, &database_url, &redis_url);
    }
}

/// Runs a conformance test against both modes.
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Mode::Embedded).await;
                }
            )*
        }
        mod scale_out {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Mode::ScaleOut).await;
                }
            )*
        }
    };
}

both_modes!(
    replay_is_the_kept_frames_byte_for_byte_then_the_live_stream,
    concurrent_senders_leave_no_gap_and_no_duplicate_at_the_seam,
    a_deleted_message_is_gone_from_history_and_its_deletion_kept,
    a_message_the_review_refused_is_not_kept,
    list_room_messages_pages_and_follows_since,
    a_reconnecting_client_gets_only_what_followed_since,
    delete_room_forgets_the_history,
    a_room_without_our_tags_keeps_and_replays_nothing,
);

const SEND: &[&str] = &["SEND_MESSAGE"];
const ALL: &[&str] = &["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"];

/// A room with our options as tags; its ARN.
async fn room_with(server: &TestServer, tags: &[(&str, &str)]) -> String {
    let mut create = server
        .client()
        .create_room()
        .maximum_message_rate_per_second(100);
    for (key, value) in tags {
        create = create.tags(*key, *value);
    }
    create.send().await.unwrap().arn.unwrap()
}

async fn replaying_room(server: &TestServer, keep: &str) -> String {
    room_with(
        server,
        &[
            ("ivschat-server:history", keep),
            ("ivschat-server:replay", "on"),
        ],
    )
    .await
}

/// The next text frame, exactly as received.
async fn text(client: &mut ChatClient) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), client.ws.next())
            .await
            .expect("no frame within the hang guard")
        {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Sends a message and returns its MESSAGE frame as the sender received it.
async fn say(client: &mut ChatClient, content: &str) -> String {
    client
        .send(json!({"Action": "SEND_MESSAGE", "RequestId": content, "Content": content}))
        .await;
    loop {
        let frame = text(client).await;
        if parse(&frame)["RequestId"] == content {
            return frame;
        }
    }
}

/// Connects with `?ivschat-server-since=<since>` on the URL.
async fn connect_since(server: &TestServer, token: &str, since: &str) -> ChatClient {
    let mut request = format!("ws://{}/?ivschat-server-since={since}", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", token.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ChatClient { ws, protocol: None }
}

async fn list(server: &TestServer, body: Value) -> raw::RawResponse {
    raw::send(
        &server.endpoint(),
        "POST",
        "/ivschat-server/ListRoomMessages",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}

fn contents(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f["Type"].as_str() {
            Some("MESSAGE") => f["Content"].as_str().unwrap().to_string(),
            _ => f["EventName"].as_str().unwrap().to_string(),
        })
        .collect()
}

async fn replay_is_the_kept_frames_byte_for_byte_then_the_live_stream(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    let room = replaying_room(d.first(), "3").await;
    let token = d
        .first()
        .token_with(&room, "alice", SEND, None, &[("color", "blue")])
        .await;
    let mut alice = ChatClient::connect(d.first().addr, &token).await.unwrap();
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(say(&mut alice, &format!("m{n}")).await);
    }
    // An EVENT is kept too.
    d.first()
        .client()
        .send_event()
        .room_identifier(&room)
        .event_name("score")
        .attributes("home", "1")
        .send()
        .await
        .unwrap();
    let event = text(&mut alice).await;

    let mut bob = d.other().join(&room, "bob", &[]).await;
    // The last three, exactly as they went out live (Id, SendTime, Sender, Attributes).
    assert_eq!(text(&mut bob).await, sent[3]);
    assert_eq!(text(&mut bob).await, sent[4]);
    assert_eq!(text(&mut bob).await, event);
    let live = say(&mut alice, "after").await;
    assert_eq!(text(&mut bob).await, live);
    d.stop().await;
}

async fn concurrent_senders_leave_no_gap_and_no_duplicate_at_the_seam(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    const SENDERS: usize = 3;
    const EACH: usize = 10;
    const JOINERS: usize = 6;
    let total = SENDERS * EACH;
    let room = replaying_room(d.first(), "1000").await;
    // Joined before anything is sent: its order is the room's.
    let mut observer = d.first().join(&room, "observer", &[]).await;
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let server = if s % 2 == 0 { d.first() } else { d.other() };
        senders.push(server.join(&room, &format!("s{s}"), SEND).await);
    }
    let mut joiner_tokens = Vec::new();
    for j in 0..JOINERS {
        joiner_tokens.push(d.other().token(&room, &format!("j{j}"), &[]).await);
    }
    // Each sender sends all its messages at once (within its burst), then reads them back.
    let sending: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, mut client)| {
            tokio::spawn(async move {
                for n in 0..EACH {
                    let content = format!("s{s}-{n}");
                    client
                        .send(json!({"Action": "SEND_MESSAGE", "RequestId": content, "Content": content}))
                        .await;
                }
                let mut echoes = 0;
                while echoes < EACH {
                    if parse(&text(&mut client).await)["RequestId"]
                        .as_str()
                        .is_some_and(|id| id.starts_with(&format!("s{s}-")))
                    {
                        echoes += 1;
                    }
                }
                client
            })
        })
        .collect();
    // Joiners arrive while the messages flow: one each time the observer has seen a few more.
    let addr = d.other().addr;
    let mut tokens = joiner_tokens.into_iter();
    let mut joining = Vec::new();
    let mut order = Vec::new();
    while order.len() < total {
        if order.len() % (total / JOINERS) == 0 {
            if let Some(token) = tokens.next() {
                joining.push(tokio::spawn(async move {
                    let mut joiner = ChatClient::connect(addr, &token).await.unwrap();
                    let mut seen = Vec::new();
                    while seen.len() < total {
                        seen.push(text(&mut joiner).await);
                    }
                    seen
                }));
            }
        }
        order.push(text(&mut observer).await);
    }
    for sender in sending {
        sender.await.unwrap();
    }
    assert_eq!(order.iter().collect::<HashSet<_>>().len(), total);
    for (j, joiner) in joining.into_iter().enumerate() {
        let seen = joiner.await.unwrap();
        assert_eq!(
            seen, order,
            "joiner {j} saw a gap, a duplicate or another order"
        );
    }
    d.stop().await;
}

async fn a_deleted_message_is_gone_from_history_and_its_deletion_kept(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    let room = replaying_room(d.first(), "10").await;
    let mut alice = d.first().join(&room, "alice", ALL).await;
    let first = parse(&say(&mut alice, "first").await);
    let second = say(&mut alice, "second").await;
    let deletion_id = d
        .first()
        .client()
        .delete_message()
        .room_identifier(&room)
        .id(first["Id"].as_str().unwrap())
        .reason("spam")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    let deletion = text(&mut alice).await;
    assert_eq!(parse(&deletion)["Id"], deletion_id);

    let mut bob = d.other().join(&room, "bob", &[]).await;
    assert_eq!(text(&mut bob).await, second);
    assert_eq!(text(&mut bob).await, deletion);
    let listed = list(d.other(), json!({"roomIdentifier": room})).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let messages = listed.json()["messages"].as_array().unwrap().clone();
    assert_eq!(contents(&messages), ["second", "aws:DELETE_MESSAGE"]);
    assert_eq!(messages[1]["Attributes"]["MessageID"], first["Id"]);
    d.stop().await;
}

async fn a_message_the_review_refused_is_not_kept(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    // No Lambda endpoint is configured, so the fallback (DENY) decides every message.
    let room = d
        .first()
        .client()
        .create_room()
        .tags("ivschat-server:history", "10")
        .tags("ivschat-server:replay", "on")
        .message_review_handler(
            aws_sdk_ivschat::types::MessageReviewHandler::builder()
                .uri("arn:aws:lambda:us-east-1:000000000000:function:review")
                .fallback_result(aws_sdk_ivschat::types::FallbackResult::Deny)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut alice = d.first().join(&room, "alice", SEND).await;
    alice
        .send(json!({"Action": "SEND_MESSAGE", "RequestId": "r", "Content": "refused"}))
        .await;
    let refused = alice.frame_of("ERROR").await;
    assert_eq!(refused["RequestId"], "r");
    let listed = list(d.first(), json!({"roomIdentifier": room})).await;
    assert_eq!(listed.json(), json!({"messages": []}));
    d.stop().await;
}

async fn list_room_messages_pages_and_follows_since(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    let room = room_with(d.first(), &[("ivschat-server:history", "4")]).await;
    let mut alice = d.first().join(&room, "alice", SEND).await;
    let mut sent = Vec::new();
    for n in 0..6 {
        sent.push(parse(&say(&mut alice, &format!("m{n}")).await));
    }
    let mut pages = Vec::new();
    let mut next = None;
    loop {
        let mut body = json!({"roomIdentifier": room, "maxResults": 3});
        if let Some(token) = &next {
            body["nextToken"] = json!(token);
        }
        let page = list(d.other(), body).await.json();
        pages.push(contents(page["messages"].as_array().unwrap()));
        next = page["nextToken"].as_str().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    // Only the last 4 are kept; oldest first.
    assert_eq!(pages, [vec!["m2", "m3", "m4"], vec!["m5"]]);
    let page = list(
        d.other(),
        json!({"roomIdentifier": room, "since": sent[3]["Id"]}),
    )
    .await
    .json();
    assert_eq!(contents(page["messages"].as_array().unwrap()), ["m4", "m5"]);
    // The frames are the delivered ones.
    assert_eq!(page["messages"][1], sent[5]);

    // The same error shapes as AWS's operations.
    let elsewhere = format!("{}/AAAAAAAAAAAA", room.rsplit_once('/').unwrap().0);
    let missing = list(d.first(), json!({"roomIdentifier": elsewhere})).await;
    assert_eq!(missing.error_type(), "ResourceNotFoundException");
    let bad = list(d.first(), json!({"roomIdentifier": room, "maxResults": 0})).await;
    assert_eq!(bad.error_type(), "ValidationException");
    let bad = list(
        d.first(),
        json!({"roomIdentifier": room, "nextToken": "nope"}),
    )
    .await;
    assert_eq!(bad.error_type(), "ValidationException");
    d.stop().await;
}

async fn a_reconnecting_client_gets_only_what_followed_since(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    let room = replaying_room(d.first(), "10").await;
    let mut alice = d.first().join(&room, "alice", SEND).await;
    let mut sent = Vec::new();
    for n in 0..4 {
        sent.push(say(&mut alice, &format!("m{n}")).await);
    }
    let seen_up_to = parse(&sent[1])["Id"].as_str().unwrap().to_string();
    let token = d.other().token(&room, "bob", &[]).await;
    let mut bob = connect_since(d.other(), &token, &seen_up_to).await;
    assert_eq!(text(&mut bob).await, sent[2]);
    assert_eq!(text(&mut bob).await, sent[3]);
    let live = say(&mut alice, "live").await;
    assert_eq!(text(&mut bob).await, live);
    // An id that is not kept (any more) gets everything kept.
    let token = d.other().token(&room, "carol", &[]).await;
    let mut carol = connect_since(d.other(), &token, "unknownId").await;
    assert_eq!(text(&mut carol).await, sent[0]);
    d.stop().await;
}

async fn delete_room_forgets_the_history(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    let room = replaying_room(d.first(), "10").await;
    let room_id = room.rsplit('/').next().unwrap().to_string();
    let mut alice = d.first().join(&room, "alice", SEND).await;
    say(&mut alice, "m").await;
    let history = d.first().app.chat.history().clone();
    let retention = ivschat_server::room::options::Retention {
        count: 10,
        max_age: Duration::from_secs(60),
    };
    assert_eq!(history.read(&room_id, retention).await.unwrap().len(), 1);
    d.first()
        .client()
        .delete_room()
        .identifier(&room)
        .send()
        .await
        .unwrap();
    assert!(history.read(&room_id, retention).await.unwrap().is_empty());
    d.stop().await;
}

async fn a_room_without_our_tags_keeps_and_replays_nothing(mode: Mode) {
    let Some(d) = Deployment::start(mode).await else {
        return;
    };
    let room = room_with(d.first(), &[("ivschat-server:replay", "on")]).await;
    let mut alice = d.first().join(&room, "alice", SEND).await;
    say(&mut alice, "before").await;
    let mut bob = d.other().join(&room, "bob", &[]).await;
    let live = say(&mut alice, "after").await;
    // Bob's first frame is the live one: nothing was replayed.
    assert_eq!(text(&mut bob).await, live);
    let listed = list(d.first(), json!({"roomIdentifier": room})).await;
    assert_eq!(listed.json(), json!({"messages": []}));
    d.stop().await;
}

// Scale-out only.

/// Issue 22 leftover: a reconnecting client with `since` cost a read of the room's whole
/// stream (history=1000: 1000 entries per join). The Redis history now reads newest first
/// only back to `since`'s entry (kept, so the caller learns the newest id), still within the
/// count and age limits, and everything kept when `since` is not kept
/// (docs/protocol/messaging.md §13). The stream is filled directly (1000 sends would take a
/// rate limit's worth of seconds), after 3 entries older than the age limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_out_since_read_reads_only_back_to_since() {
    use ivschat_server::room::options::Retention;
    let Some(d) = Deployment::start(Mode::ScaleOut).await else {
        return;
    };
    let (cluster, _, redis_url) = d.cluster.clone().unwrap();
    let room = room_with(d.first(), &[("ivschat-server:history", "1000")]).await;
    let room_id = room.rsplit('/').next().unwrap().to_string();
    let stream = format!("{cluster}:history:{room_id}");
    let frame = |id: &str| {
        json!({"Type": "MESSAGE", "Id": id, "RequestId": "", "Content": id, "Attributes": {},
               "SendTime": "2026-01-01T00:00:00.000Z", "Sender": {"UserId": "u", "Attributes": {}}})
        .to_string()
    };
    let mut redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut fill = redis::pipe();
    for n in 1..=3 {
        let old = format!("old{n}");
        fill.cmd("XADD")
            .arg(&stream)
            .arg(format!("{n}-0"))
            .arg("m")
            .arg(&old)
            .arg("f")
            .arg(frame(&old))
            .ignore();
    }
    for n in 0..1000 {
        let id = format!("m{n}");
        fill.cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("m")
            .arg(&id)
            .arg("f")
            .arg(frame(&id))
            .ignore();
    }
    let () = fill.query_async(&mut redis).await.unwrap();

    let history = d.first().app.chat.history().clone();
    let retention = Retention {
        count: 1000,
        max_age: Duration::from_secs(86_400),
    };
    let ids = |kept: Vec<ivschat_server::history::Kept>| -> Vec<String> {
        kept.iter().map(|k| k.message_id.to_string()).collect()
    };
    let all: Vec<String> = (0..1000).map(|n| format!("m{n}")).collect();
    assert_eq!(
        ids(history.read(&room_id, retention).await.unwrap()),
        all,
        "everything young enough, oldest first"
    );
    let since = |since: &'static str, retention: Retention| {
        let (history, room_id) = (history.clone(), room_id.clone());
        async move {
            ids(history
                .read_since(&room_id, retention, Some(since))
                .await
                .unwrap())
        }
    };
    // Only back to `since` (included): 11 entries, not 1000.
    assert_eq!(since("m989", retention).await, all[989..]);
    assert_eq!(since("m999", retention).await, ["m999"]);
    // Deep in the stream, across several of the doubling pages.
    assert_eq!(since("m3", retention).await, all[3..]);
    // Not kept (too old, or unknown): everything kept.
    assert_eq!(since("old2", retention).await, all);
    assert_eq!(since("nope", retention).await, all);
    // A lowered count bounds the read, `since` or not.
    let five = Retention {
        count: 5,
        ..retention
    };
    assert_eq!(since("m989", five).await, all[995..]);
    assert_eq!(ids(history.read(&room_id, five).await.unwrap()), all[995..]);

    // ListRoomMessages with `since` on the other node: what follows it, oldest first.
    let page = list(d.other(), json!({"roomIdentifier": room, "since": "m989"}))
        .await
        .json();
    let listed = contents(page["messages"].as_array().unwrap());
    assert_eq!(listed, all[990..]);
    d.stop().await;
}

// Embedded only.

/// History is persisted: a restarted server replays what it kept.
#[tokio::test]
async fn history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path()).await;
    let room = replaying_room(&server, "5").await;
    let mut alice = server.join(&room, "alice", SEND).await;
    let kept = say(&mut alice, "kept").await;
    drop(alice);
    server.stop().await;

    let server = TestServer::start_in(dir.path()).await;
    let mut bob = server.join(&room, "bob", &[]).await;
    assert_eq!(text(&mut bob).await, kept);
    server.stop().await;
}

/// Frames older than `ivschat-server:history-max-age` are not replayed.
#[tokio::test]
async fn frames_past_the_age_limit_are_dropped() {
    let server = TestServer::start().await;
    let room = room_with(
        &server,
        &[
            ("ivschat-server:history", "10"),
            ("ivschat-server:history-max-age", "60"),
            ("ivschat-server:replay", "on"),
        ],
    )
    .await;
    let mut alice = server.join(&room, "alice", SEND).await;
    say(&mut alice, "old").await;
    server.clock.advance(Duration::from_secs(61));
    let young = say(&mut alice, "young").await;
    let mut bob = server.join(&room, "bob", &[]).await;
    assert_eq!(text(&mut bob).await, young);
    server.stop().await;
}

/// Bad values of our keys are refused like any invalid input; other tags are untouched.
#[tokio::test]
async fn invalid_option_values_are_validation_errors() {
    let server = TestServer::start().await;
    for (key, value) in [
        ("ivschat-server:history", "0"),
        ("ivschat-server:history", "1001"),
        ("ivschat-server:history-max-age", "604801"),
        ("ivschat-server:replay", "yes"),
        ("ivschat-server:presence-events", "true"),
    ] {
        let e = server
            .client()
            .create_room()
            .tags(key, value)
            .send()
            .await
            .unwrap_err();
        let e = e.into_service_error();
        assert!(e.is_validation_exception(), "{key}={value}: {e:?}");
        assert!(format!("{e:?}").contains(key), "{e:?}");
    }
    let room = server.room().await;
    let e = server
        .client()
        .tag_resource()
        .resource_arn(&room)
        .tags("ivschat-server:history", "lots")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    server
        .client()
        .tag_resource()
        .resource_arn(&room)
        .tags("ivschat-server:mine", "anything")
        .tags("app", "web")
        .send()
        .await
        .unwrap();
    server.stop().await;
}

/// TagResource turns history on for a room with live connections, at once; UntagResource
/// turns it off.
#[tokio::test]
async fn tag_changes_reach_live_rooms() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut alice = server.join(&room, "alice", SEND).await;
    say(&mut alice, "unkept").await;
    server
        .client()
        .tag_resource()
        .resource_arn(&room)
        .tags("ivschat-server:history", "10")
        .send()
        .await
        .unwrap();
    say(&mut alice, "kept").await;
    let listed = list(&server, json!({"roomIdentifier": room})).await.json();
    assert_eq!(contents(listed["messages"].as_array().unwrap()), ["kept"]);
    server
        .client()
        .untag_resource()
        .resource_arn(&room)
        .tag_keys("ivschat-server:history")
        .send()
        .await
        .unwrap();
    let listed = list(&server, json!({"roomIdentifier": room})).await.json();
    assert_eq!(listed["messages"], json!([]));
    // Turned on again, it starts afresh: what was kept before went with the untagging.
    server
        .client()
        .tag_resource()
        .resource_arn(&room)
        .tags("ivschat-server:history", "10")
        .send()
        .await
        .unwrap();
    let listed = list(&server, json!({"roomIdentifier": room})).await.json();
    assert_eq!(listed["messages"], json!([]));
    server.stop().await;
}

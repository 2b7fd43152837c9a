//! Presence (issue 22; README "Extensions (not AWS)"): `POST /ivschat-server/GetRoomPresence`
//! and `ListRoomUsers`, and the `ivschat-server:JOIN` / `LEAVE` events of rooms tagged
//! `ivschat-server:presence-events=on`, on both modes: embedded (in-process) and scale-out
//! (one node on the environment's PostgreSQL and Redis, which the tests skip without; see
//! `common/services.rs`). Three nodes are in `cluster.rs`.

mod common;

use std::time::Duration;

use common::chat::ChatClient;
use common::raw::{send, RawResponse};
use common::services::remove_cluster;
use common::TestServer;
use ivschat_server::config::{Config, Secret};
use serde_json::{json, Value};

const PRESENCE_EVENTS: &str = "ivschat-server:presence-events";

#[derive(Clone, Copy, Debug)]
enum Mode {
    Embedded,
    ScaleOut,
}

/// A server in `mode`, with what must be removed after it; `None` when scale-out has no
/// PostgreSQL or Redis in the environment (skipped, and said so).
struct Server {
    server: TestServer,
    scale_out: Option<(String, String, String)>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(mode: Mode) -> Option<Server> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path());
        let scale_out = match mode {
            Mode::Embedded => None,
            Mode::ScaleOut => {
                let database_url = common::services::database_url()?;
                let redis_url = common::services::redis_url()?;
                config.database_url = Some(Secret::new(database_url.clone()));
                config.bus_url = Some(Secret::new(redis_url.clone()));
                config.cluster_name = format!("t_{}", uuid::Uuid::new_v4().simple());
                Some((config.cluster_name.clone(), database_url, redis_url))
            }
        };
        Some(Server {
            server: TestServer::start_with(config).await,
            scale_out,
            _dir: dir,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((name, database_url, redis_url)) = self.scale_out.take() {
            remove_cluster(&name, &database_url, &redis_url);
        }
    }
}

/// `POST /ivschat-server/<operation>`, signed with the default key.
async fn extension(endpoint: &str, operation: &str, body: Value) -> RawResponse {
    send(
        endpoint,
        "POST",
        &format!("/ivschat-server/{operation}"),
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}

/// GetRoomPresence: (connections, users).
async fn presence(endpoint: &str, room: &str) -> (u64, u64) {
    let reply = extension(endpoint, "GetRoomPresence", json!({"roomIdentifier": room})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    (
        body["connections"].as_u64().unwrap(),
        body["users"].as_u64().unwrap(),
    )
}

/// Polls GetRoomPresence until it answers `want`: the condition is awaited, bounded (10 s),
/// never slept for.
async fn await_presence(endpoint: &str, room: &str, want: (u64, u64)) {
    let mut last = (0, 0);
    for _ in 0..200 {
        last = presence(endpoint, room).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("presence of {room} at {endpoint} stayed {last:?}, expected {want:?}");
}

/// Closes the client and reads until the server has closed too: its session has ended.
async fn leave(mut client: ChatClient) {
    use futures_util::StreamExt;
    let _ = client.ws.close(None).await;
    let drained = async { while let Some(Ok(_)) = client.ws.next().await {} };
    tokio::time::timeout(Duration::from_secs(10), drained)
        .await
        .expect("the server did not close within the hang guard");
}

/// The next EVENT this client receives whose name is one of ours (other frames skipped).
async fn presence_event(client: &mut ChatClient) -> (String, Vec<String>, u64) {
    loop {
        let frame = client.frame_of("EVENT").await;
        let name = frame["EventName"].as_str().unwrap().to_string();
        if name.starts_with("ivschat-server:") {
            let ids =
                serde_json::from_str(frame["Attributes"]["userIds"].as_str().unwrap()).unwrap();
            let count = frame["Attributes"]["count"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            return (name, ids, count);
        }
    }
}

async fn room_with_tags(server: &TestServer, tags: &[(&str, &str)]) -> String {
    let mut request = server.client().create_room();
    for (k, v) in tags {
        request = request.tags(*k, *v);
    }
    request.send().await.unwrap().arn.unwrap()
}

async fn counts_and_pages(mode: Mode) {
    let Some(server) = Server::start(mode).await else {
        return;
    };
    let server = &server.server;
    let endpoint = server.endpoint();
    let room = server.room().await;
    assert_eq!(presence(&endpoint, &room).await, (0, 0));

    let a_token = |attrs: &'static [(&'static str, &'static str)]| {
        let room = room.clone();
        async move { server.token_with(&room, "a", &[], None, attrs).await }
    };
    let a1 = ChatClient::connect(server.addr, &a_token(&[("name", "Ann")]).await)
        .await
        .unwrap();
    let a2 = ChatClient::connect(server.addr, &a_token(&[("name", "Ann")]).await)
        .await
        .unwrap();
    let b = server.join(&room, "b", &[]).await;
    let c = server.join(&room, "c", &[]).await;
    await_presence(&endpoint, &room, (4, 3)).await;

    // Pages in user-id order; the token carries on where the last page ended.
    let first = extension(
        &endpoint,
        "ListRoomUsers",
        json!({"roomIdentifier": room, "maxResults": 2}),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    assert_eq!(
        first["users"],
        json!([
            {"userId": "a", "attributes": {"name": "Ann"}, "connections": 2},
            {"userId": "b", "attributes": {}, "connections": 1},
        ])
    );
    let token = first["nextToken"].as_str().unwrap();
    let second = extension(
        &endpoint,
        "ListRoomUsers",
        json!({"roomIdentifier": room, "maxResults": 2, "nextToken": token}),
    )
    .await
    .json();
    assert_eq!(
        second["users"],
        json!([{"userId": "c", "attributes": {}, "connections": 1}])
    );
    assert!(second.get("nextToken").is_none(), "{second}");

    // A user's second connection leaving leaves the user in the room.
    leave(a1).await;
    await_presence(&endpoint, &room, (3, 3)).await;
    leave(a2).await;
    await_presence(&endpoint, &room, (2, 2)).await;
    leave(b).await;
    leave(c).await;
    await_presence(&endpoint, &room, (0, 0)).await;
}

#[tokio::test]
async fn counts_and_pages_embedded() {
    counts_and_pages(Mode::Embedded).await;
}

#[tokio::test]
async fn counts_and_pages_scale_out() {
    counts_and_pages(Mode::ScaleOut).await;
}

/// Join and leave events: none while the tag is off; once TagResource turns them on (live
/// rooms follow), only a user's first connection is a join and their last a leave.
async fn join_and_leave_events(mode: Mode) {
    let Some(server) = Server::start(mode).await else {
        return;
    };
    let server = &server.server;
    let endpoint = server.endpoint();
    let room = server.room().await;
    let mut observer = server.join(&room, "observer", &[]).await;
    let x = server.join(&room, "x", &[]).await;
    // Counted (in scale-out: written to Redis by the pump) before the events go on.
    await_presence(&endpoint, &room, (2, 2)).await;
    server
        .client()
        .tag_resource()
        .resource_arn(&room)
        .tags(PRESENCE_EVENTS, "on")
        .send()
        .await
        .unwrap();

    let y1 = server.join(&room, "y", &[]).await;
    // x arrived while the events were off: the first event is y's.
    assert_eq!(
        presence_event(&mut observer).await,
        ("ivschat-server:JOIN".to_string(), vec!["y".to_string()], 1)
    );
    let y2 = server.join(&room, "y", &[]).await;
    let z = server.join(&room, "z", &[]).await;
    // y's second connection was no join.
    assert_eq!(
        presence_event(&mut observer).await,
        ("ivschat-server:JOIN".to_string(), vec!["z".to_string()], 1)
    );
    leave(y1).await;
    await_presence(&endpoint, &room, (4, 4)).await;
    leave(z).await;
    // y still has a connection: the first leave is z's.
    assert_eq!(
        presence_event(&mut observer).await,
        ("ivschat-server:LEAVE".to_string(), vec!["z".to_string()], 1)
    );
    leave(y2).await;
    assert_eq!(
        presence_event(&mut observer).await,
        ("ivschat-server:LEAVE".to_string(), vec!["y".to_string()], 1)
    );
    leave(x).await;
    assert_eq!(presence_event(&mut observer).await.1, ["x"]);
}

#[tokio::test]
async fn join_and_leave_events_embedded() {
    join_and_leave_events(Mode::Embedded).await;
}

#[tokio::test]
async fn join_and_leave_events_scale_out() {
    join_and_leave_events(Mode::ScaleOut).await;
}

/// Issue 22: a join storm makes a few events, each listing at most 100 users and counting
/// all. 300 connections opened at once: every one is counted in some JOIN, and the events are
/// far fewer than the joins (one per room per 250 ms pass at most).
async fn a_join_storm_is_coalesced(mode: Mode) {
    let Some(server) = Server::start(mode).await else {
        return;
    };
    let server = &server.server;
    let room = room_with_tags(server, &[(PRESENCE_EVENTS, "on")]).await;
    let mut observer = server.join(&room, "observer", &[]).await;
    assert_eq!(presence_event(&mut observer).await.1, ["observer"]);
    const JOINS: u64 = 300;
    let mut tokens = Vec::new();
    for i in 0..JOINS {
        tokens.push(server.token(&room, &format!("viewer-{i:03}"), &[]).await);
    }
    let clients = futures_util::future::join_all(
        tokens
            .iter()
            .map(|token| ChatClient::connect(server.addr, token)),
    )
    .await;
    assert!(clients.iter().all(Result::is_ok));
    let (mut counted, mut events) = (0, 0);
    while counted < JOINS {
        let (name, ids, count) = presence_event(&mut observer).await;
        assert_eq!(name, "ivschat-server:JOIN");
        assert!(ids.len() as u64 == count.min(100), "{count} {ids:?}");
        counted += count;
        events += 1;
    }
    assert_eq!(counted, JOINS);
    assert!(
        events * 10 <= JOINS,
        "{events} events for {JOINS} joins: not coalesced"
    );
}

#[tokio::test]
async fn a_join_storm_is_coalesced_embedded() {
    a_join_storm_is_coalesced(Mode::Embedded).await;
}

#[tokio::test]
async fn a_join_storm_is_coalesced_scale_out() {
    a_join_storm_is_coalesced(Mode::ScaleOut).await;
}

/// Bad input gets AWS's error shapes; our operations are at our paths only; our tag's values
/// are checked.
#[tokio::test]
async fn errors_use_the_aws_shapes() {
    let server = TestServer::start().await;
    let endpoint = server.endpoint();
    let room = server.room().await;

    let missing = extension(&endpoint, "GetRoomPresence", json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.error_type(), "ValidationException");
    assert_eq!(missing.json()["fieldList"][0]["name"], "/roomIdentifier");

    let unknown = room.replace(&room[room.len() - 12..], "AAAAAAAAAAAA");
    let gone = extension(
        &endpoint,
        "GetRoomPresence",
        json!({"roomIdentifier": unknown}),
    )
    .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_type(), "ResourceNotFoundException");

    for body in [
        json!({"roomIdentifier": room, "maxResults": 0}),
        json!({"roomIdentifier": room, "maxResults": 101}),
        json!({"roomIdentifier": room, "nextToken": "not-a-token"}),
    ] {
        let bad = extension(&endpoint, "ListRoomUsers", body.clone()).await;
        assert_eq!(bad.status, 400, "{body}");
        assert_eq!(bad.error_type(), "ValidationException", "{body}");
    }
    let wrong_type = extension(
        &endpoint,
        "ListRoomUsers",
        json!({"roomIdentifier": room, "maxResults": "2"}),
    )
    .await;
    assert_eq!(wrong_type.error_type(), "SerializationException");

    // Not at AWS's single-segment paths, and POST only.
    let aws_path = common::raw::post_json(
        &endpoint,
        "GetRoomPresence",
        &json!({"roomIdentifier": room}).to_string(),
    )
    .await;
    assert_eq!(aws_path.status, 404, "{}", aws_path.body);
    assert_eq!(aws_path.error_type(), "UnknownOperationException");
    let get = send(
        &endpoint,
        "GET",
        "/ivschat-server/GetRoomPresence",
        &[],
        b"",
    )
    .await;
    assert_ne!(get.status, 200);

    // Our tag's values are checked on CreateRoom and TagResource; other tags are not.
    let refused = server
        .client()
        .create_room()
        .tags(PRESENCE_EVENTS, "yes")
        .send()
        .await
        .unwrap_err();
    let refused = refused.into_service_error();
    assert!(refused.is_validation_exception(), "{refused:?}");
    assert!(
        refused
            .to_string()
            .contains("ivschat-server:presence-events")
            && refused.to_string().contains("on or off"),
        "{refused:?}"
    );
    let refused = server
        .client()
        .tag_resource()
        .resource_arn(&room)
        .tags(PRESENCE_EVENTS, "ON")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refused.is_validation_exception(), "{refused:?}");
    server
        .client()
        .tag_resource()
        .resource_arn(&room)
        .tags("ivschat-server:something-else", "anything")
        .tags("team", "x")
        .send()
        .await
        .unwrap();
}

/// Scale-out: a node's presence entries lost in Redis (expired while Redis was away, or
/// removed) are written again at its next renewal, within about a second: the counts come back
/// without any connection changing.
#[tokio::test]
async fn lost_presence_entries_are_written_again() {
    let Some(server) = Server::start(Mode::ScaleOut).await else {
        return;
    };
    let (cluster, _, redis_url) = server.scale_out.clone().unwrap();
    let server = &server.server;
    let endpoint = server.endpoint();
    let room = server.room().await;
    let _a = server.join(&room, "a", &[]).await;
    let _b = server.join(&room, "b", &[]).await;
    await_presence(&endpoint, &room, (2, 2)).await;

    let mut redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{cluster}:presence:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    await_presence(&endpoint, &room, (2, 2)).await;
}

//! The chat WebSocket API (`docs/protocol/messaging.md`) over a real WebSocket client against an
//! in-process server: handshake, every action and frame, every error code and rule.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::chat::ChatClient;
use common::TestServer;
use ivschat_server::domain::token::{TokenClaims, TokenKey};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const ALL: &[&str] = &["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"];

fn is_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 12 && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Go's RFC3339Nano in UTC: `2023-01-05T14:33:32.894089757Z`, trailing zeros trimmed.
fn is_rfc3339_nano(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    let parsed = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339);
    parsed.is_ok() && s.ends_with('Z') && !s.contains(".0Z") && !s.ends_with("0Z")
}

#[tokio::test]
async fn two_users_chat() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let token = server
        .token_with(
            &room,
            "alice",
            &["SEND_MESSAGE"],
            None,
            &[("displayName", "Alice")],
        )
        .await;
    let mut alice = ChatClient::connect(server.addr, &token).await.unwrap();
    assert_eq!(
        alice.protocol.as_deref(),
        Some(token.as_str()),
        "the token is echoed"
    );
    let mut bob = server.join(&room, "bob", &[]).await;

    alice
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"req-1","Content":"hello 👋","Attributes":{"kind":"greeting"}}))
        .await;
    let to_alice = alice.frame_of("MESSAGE").await;
    let to_bob = bob.frame_of("MESSAGE").await;
    assert_eq!(to_alice, to_bob, "one frame for everyone, sender included");
    assert!(is_id(&to_bob["Id"]));
    assert_eq!(to_bob["RequestId"], "req-1");
    assert_eq!(to_bob["Content"], "hello 👋");
    assert_eq!(to_bob["Attributes"], json!({"kind":"greeting"}));
    assert_eq!(
        to_bob["Sender"],
        json!({"UserId":"alice","Attributes":{"displayName":"Alice"}})
    );
    assert!(
        is_rfc3339_nano(&to_bob["SendTime"]),
        "{}",
        to_bob["SendTime"]
    );
    let keys: Vec<&str> = to_bob
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "Attributes",
        "Content",
        "Id",
        "RequestId",
        "SendTime",
        "Sender",
        "Type",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);

    // Without a RequestId the frame carries "".
    alice
        .send(json!({"Action":"SEND_MESSAGE","Content":"again"}))
        .await;
    assert_eq!(bob.frame_of("MESSAGE").await["RequestId"], "");
}

#[tokio::test]
async fn handshake_refuses_bad_tokens() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let token = server.token(&room, "u", &[]).await;

    // No token, garbage, tampered.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/",
            server.addr
        ))
        .unwrap();
    request.headers_mut().remove("sec-websocket-protocol");
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(
        ChatClient::connect(server.addr, "garbage").await.err(),
        Some(401)
    );
    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        ChatClient::connect(server.addr, &tampered).await.err(),
        Some(401)
    );

    // A token from another deployment (other key) is foreign.
    let other = TestServer::start().await;
    let other_room = other.room().await;
    let foreign = other.token(&other_room, "u", &[]).await;
    assert_eq!(
        ChatClient::connect(server.addr, &foreign).await.err(),
        Some(401)
    );

    // Single use.
    let first = ChatClient::connect(server.addr, &token).await;
    assert!(first.is_ok());
    assert_eq!(
        ChatClient::connect(server.addr, &token).await.err(),
        Some(401)
    );

    // Valid for 60 seconds.
    let late = server.token(&room, "late", &[]).await;
    server.clock.advance(Duration::from_secs(61));
    assert_eq!(
        ChatClient::connect(server.addr, &late).await.err(),
        Some(401)
    );

    // The room was deleted after the token was made.
    let doomed = server.room().await;
    let token = server.token(&doomed, "u", &[]).await;
    server
        .client()
        .delete_room()
        .identifier(&doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ChatClient::connect(server.addr, &token).await.err(),
        Some(404)
    );
}

/// The key of `generation` in a data directory's key file (`<generation> <key> …` lines).
fn key_in_file(data_dir: &std::path::Path, generation: &str) -> TokenKey {
    let text = std::fs::read_to_string(data_dir.join("chat-token.key")).unwrap();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(generation))
        .unwrap_or_else(|| panic!("no generation {generation} in {text}"));
    let hex = line.split_whitespace().nth(1).unwrap();
    TokenKey::from_hex(hex, "us-east-1", "000000000000").unwrap()
}

/// A token sealed by `key` for `room_arn` that would not expire for an hour: refused only if
/// the key is.
fn sealed_by(key: &TokenKey, room_arn: &str, user: &str, now: i64) -> String {
    key.seal(&TokenClaims {
        room: room_arn.rsplit('/').next().unwrap().to_string(),
        account: String::new(),
        user_id: user.to_string(),
        capabilities: Vec::new(),
        attributes: Default::default(),
        token_expires: now + 3_600_000_000,
        session_expires: now + 3_600_000_000,
        token_id: format!("forged-{user}"),
    })
}

/// Issue 18: `ivschat-server rotate-token-key` on the data directory of a running embedded
/// server. Without a restart the server opens tokens of the new key at once, seals with it
/// once it activates, keeps opening tokens of the previous key for the overlap (a token minted
/// before the rotation, and one sealed with the old key while it overlaps), and refuses them
/// once it is retired. The clock is moved, not waited for.
#[tokio::test]
async fn a_rotated_token_key_seals_new_tokens_and_the_old_one_opens_until_retired() {
    use ivschat_server::domain::key_ring::{ACTIVATION_DELAY, OVERLAP};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path()).await;
    let room = server.room().await;
    let before = server.token(&room, "before", &[]).await;
    let mut changes = server.app.token_keys.changes();

    let rotated = std::process::Command::new(common::process::BIN)
        .arg("rotate-token-key")
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("IVSCHAT_TOKEN_KEY")
        .env_remove("IVSCHAT_DATABASE_URL")
        .env_remove("IVSCHAT_CONFIG")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(said.contains("generation 2"), "{said}");
    let (old_key, new_key) = (key_in_file(dir.path(), "1"), key_in_file(dir.path(), "2"));
    // The server reads the file again within its poll interval (2 s).
    tokio::time::timeout(Duration::from_secs(10), changes.changed())
        .await
        .expect("the server did not pick up the rotated key")
        .unwrap();
    let now = server.clock.now_micros();
    let new_already_opens = sealed_by(&new_key, &room, "new-early", now);
    ChatClient::connect(server.addr, &new_already_opens)
        .await
        .unwrap();
    // Until it activates the new key only opens: tokens are still sealed with the old one.
    let early = server.token(&room, "early", &[]).await;
    assert!(old_key.open(&early).is_ok());

    server.clock.advance(ACTIVATION_DELAY);
    let after = server.token(&room, "after", &[]).await;
    assert!(new_key.open(&after).is_ok(), "not sealed with the new key");
    assert!(old_key.open(&after).is_err());
    ChatClient::connect(server.addr, &after).await.unwrap();
    // The overlap: the old key still opens, a token minted before the rotation included.
    ChatClient::connect(server.addr, &before).await.unwrap();
    let now = server.clock.now_micros();
    let old_in_overlap = sealed_by(&old_key, &room, "old-in-overlap", now);
    ChatClient::connect(server.addr, &old_in_overlap)
        .await
        .unwrap();

    // Retired: a token of the old key is refused even though it has not expired.
    server.clock.advance(OVERLAP);
    let now = server.clock.now_micros();
    let old_after = sealed_by(&old_key, &room, "old-after", now);
    assert_eq!(
        ChatClient::connect(server.addr, &old_after).await.err(),
        Some(401)
    );
    let late = server.token(&room, "late", &[]).await;
    ChatClient::connect(server.addr, &late).await.unwrap();
}

#[tokio::test]
async fn capabilities_are_enforced() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut viewer = server.join(&room, "viewer", &[]).await;
    for (action, extra) in [
        ("SEND_MESSAGE", json!({"Content":"hi"})),
        ("DELETE_MESSAGE", json!({"Id":"AAAAAAAAAAAA"})),
        ("DISCONNECT_USER", json!({"UserId":"x"})),
    ] {
        let mut request = json!({"Action": action, "RequestId": format!("r-{action}")});
        request
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        viewer.send(request).await;
        let error = viewer.frame_of("ERROR").await;
        assert_eq!(error["ErrorCode"], 403, "{action}");
        assert_eq!(error["RequestId"], format!("r-{action}"));
        assert!(error["ErrorMessage"].as_str().unwrap().contains(action));
        assert!(is_id(&error["Id"]));
    }
}

#[tokio::test]
async fn delete_message_and_disconnect_user_over_the_socket() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut moderator = server.join(&room, "mod", ALL).await;
    let mut target_a = server.join(&room, "troll", &["SEND_MESSAGE"]).await;
    let mut target_b = server.join(&room, "troll", &[]).await;

    target_a
        .send(json!({"Action":"SEND_MESSAGE","Content":"spam"}))
        .await;
    let message = moderator.frame_of("MESSAGE").await;
    target_a.frame_of("MESSAGE").await;
    target_b.frame_of("MESSAGE").await;

    moderator
        .send(json!({"Action":"DELETE_MESSAGE","RequestId":"del-1","Id":message["Id"],"Reason":"spam"}))
        .await;
    let event = moderator.frame_of("EVENT").await;
    assert_eq!(event["EventName"], "aws:DELETE_MESSAGE");
    assert_eq!(event["RequestId"], "del-1");
    assert_eq!(
        event["Attributes"],
        json!({"MessageID": message["Id"], "MessageId": message["Id"], "Reason": "spam"})
    );
    assert!(is_id(&event["Id"]) && event["Id"] != message["Id"]);
    assert!(is_rfc3339_nano(&event["SendTime"]));
    assert_eq!(target_b.frame_of("EVENT").await, event);
    target_a.frame_of("EVENT").await;

    moderator
        .send(json!({"Action":"DISCONNECT_USER","RequestId":"kick-1","UserId":"troll","Reason":"be nice"}))
        .await;
    let kick = moderator.frame_of("EVENT").await;
    assert_eq!(kick["EventName"], "aws:DISCONNECT_USER");
    assert_eq!(kick["RequestId"], "kick-1");
    assert_eq!(
        kick["Attributes"],
        json!({"UserId":"troll","Reason":"be nice"})
    );
    // Every connection of the user sees the event, then is closed with 1001.
    for target in [&mut target_a, &mut target_b] {
        assert_eq!(target.frame_of("EVENT").await, kick);
        let closed = target.closed().await;
        assert_eq!((closed.code, closed.reason.as_str()), (1001, "be nice"));
    }
    // The moderator stays connected.
    moderator
        .send(json!({"Action":"SEND_MESSAGE","Content":"still here"}))
        .await;
    moderator.frame_of("MESSAGE").await;
}

#[tokio::test]
async fn control_plane_twins_reach_clients_with_the_returned_ids() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = server.room().await;
    let mut viewer = server.join(&room, "viewer", &[]).await;
    let mut kicked = server.join(&room, "kicked", &[]).await;

    let sent = client
        .send_event()
        .room_identifier(&room)
        .event_name("app:poll")
        .attributes("question", "tea?")
        .send()
        .await
        .unwrap();
    let event = viewer.frame_of("EVENT").await;
    assert_eq!(event["Id"], sent.id().unwrap());
    assert_eq!(event["EventName"], "app:poll");
    assert_eq!(event["RequestId"], "");
    assert_eq!(event["Attributes"], json!({"question":"tea?"}));
    kicked.frame_of("EVENT").await;

    let deleted = client
        .delete_message()
        .room_identifier(&room)
        .id("AbCdEfGhIjKl")
        .send()
        .await
        .unwrap();
    let event = viewer.frame_of("EVENT").await;
    assert_eq!(event["Id"], deleted.id().unwrap());
    assert_eq!(
        event["Attributes"],
        json!({"MessageID":"AbCdEfGhIjKl","MessageId":"AbCdEfGhIjKl"})
    );
    kicked.frame_of("EVENT").await;

    client
        .disconnect_user()
        .room_identifier(&room)
        .user_id("kicked")
        .reason("bye")
        .send()
        .await
        .unwrap();
    let event = viewer.frame_of("EVENT").await;
    assert_eq!(event["EventName"], "aws:DISCONNECT_USER");
    assert_eq!(
        event["Attributes"],
        json!({"UserId":"kicked","Reason":"bye"})
    );
    assert_eq!(kicked.frame_of("EVENT").await, event);
    assert_eq!(kicked.closed().await.code, 1001);
}

#[tokio::test]
async fn message_length_and_attribute_limits_follow_live_room_updates() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = client
        .create_room()
        .maximum_message_length(5)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;

    user.send(json!({"Action":"SEND_MESSAGE","RequestId":"long","Content":"123456"}))
        .await;
    let error = user.frame_of("ERROR").await;
    assert_eq!(
        (error["ErrorCode"].as_u64(), error["RequestId"].as_str()),
        (Some(400), Some("long"))
    );
    // Code points, not bytes: five emoji fit.
    user.send(json!({"Action":"SEND_MESSAGE","Content":"👍👍👍👍👍"}))
        .await;
    user.frame_of("MESSAGE").await;
    user.send(json!({"Action":"SEND_MESSAGE","RequestId":"empty","Content":""}))
        .await;
    assert_eq!(user.frame_of("ERROR").await["ErrorCode"], 400);
    let big = "x".repeat(1100);
    user.send(
        json!({"Action":"SEND_MESSAGE","RequestId":"big","Content":"ok","Attributes":{"a": big}}),
    )
    .await;
    let error = user.frame_of("ERROR").await;
    assert_eq!(
        (error["ErrorCode"].as_u64(), error["RequestId"].as_str()),
        (Some(413), Some("big"))
    );

    client
        .update_room()
        .identifier(&room)
        .maximum_message_length(10)
        .send()
        .await
        .unwrap();
    user.send(json!({"Action":"SEND_MESSAGE","RequestId":"now-ok","Content":"123456"}))
        .await;
    assert_eq!(user.frame_of("MESSAGE").await["RequestId"], "now-ok");
}

#[tokio::test]
async fn room_rate_limit_is_shared_by_all_clients_and_follows_updates() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = server.room().await;
    let mut a = server.join(&room, "a", &["SEND_MESSAGE"]).await;
    let mut b = server.join(&room, "b", &["SEND_MESSAGE"]).await;
    // Lower the room's rate while both are connected.
    client
        .update_room()
        .identifier(&room)
        .maximum_message_rate_per_second(1)
        .send()
        .await
        .unwrap();
    a.send(json!({"Action":"SEND_MESSAGE","RequestId":"a1","Content":"1"}))
        .await;
    let first = a.frame_of("MESSAGE").await;
    assert_eq!(first["RequestId"], "a1");
    assert_eq!(b.frame_of("MESSAGE").await["RequestId"], "a1");
    b.send(json!({"Action":"SEND_MESSAGE","RequestId":"b1","Content":"2"}))
        .await;
    let error = b.frame_of("ERROR").await;
    assert_eq!(
        (error["ErrorCode"].as_u64(), error["RequestId"].as_str()),
        (Some(429), Some("b1"))
    );
    a.send(json!({"Action":"SEND_MESSAGE","RequestId":"a2","Content":"3"}))
        .await;
    assert_eq!(a.frame_of("ERROR").await["ErrorCode"], 429);
    // Rejections do not disconnect: an HTTP event still arrives.
    client
        .send_event()
        .room_identifier(&room)
        .event_name("ping")
        .send()
        .await
        .unwrap();
    assert_eq!(a.frame_of("EVENT").await["EventName"], "ping");
    assert_eq!(b.frame_of("EVENT").await["EventName"], "ping");
}

#[tokio::test]
async fn ten_requests_per_second_per_connection() {
    let server = TestServer::start().await;
    let client = server.client();
    let room = client
        .create_room()
        .maximum_message_rate_per_second(100)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;
    // 30 requests at once: the bucket holds 10, and refills at 10/s while they arrive.
    for i in 0..30 {
        user.send(json!({"Action":"SEND_MESSAGE","RequestId":format!("r{i}"),"Content":"x"}))
            .await;
    }
    let mut answered = HashSet::new();
    let mut refused = 0;
    for _ in 0..30 {
        let frame = user.frame().await;
        answered.insert(frame["RequestId"].as_str().unwrap().to_string());
        if frame["Type"] == "ERROR" {
            assert_eq!(frame["ErrorCode"], 429);
            refused += 1;
        }
    }
    assert_eq!(answered.len(), 30, "every request gets exactly one answer");
    assert!((15..=20).contains(&refused), "{refused} refused");
    // Still connected.
    user.send(json!({"Action":"SEND_MESSAGE","RequestId":"after","Content":"x"}))
        .await;
    let frame = user.frame().await;
    assert_eq!(frame["RequestId"], "after");
}

#[tokio::test]
async fn session_expiry_sends_401_then_closes() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let token = server
        .token_with(&room, "u", &["SEND_MESSAGE"], Some(1), &[])
        .await;
    let mut user = ChatClient::connect(server.addr, &token).await.unwrap();
    server.clock.advance(Duration::from_secs(61));
    let error = user.frame_of("ERROR").await;
    assert_eq!(error["ErrorCode"], 401);
    assert!(error.get("RequestId").is_none());
    let closed = user.closed().await;
    assert_eq!(closed.code, 1000);
    let reason: Value = serde_json::from_str(&closed.reason).unwrap();
    assert_eq!(reason["ErrorCode"], 401);
}

#[tokio::test]
async fn room_deletion_sends_404_then_closes() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut user = server.join(&room, "u", &[]).await;
    server
        .client()
        .delete_room()
        .identifier(&room)
        .send()
        .await
        .unwrap();
    assert_eq!(user.frame_of("ERROR").await["ErrorCode"], 404);
    assert_eq!(user.closed().await.code, 1000);
}

#[tokio::test]
async fn malformed_requests_get_400_and_keys_are_case_insensitive() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;
    user.send_raw(Message::Text("not json".into())).await;
    let error = user.frame_of("ERROR").await;
    assert_eq!(error["ErrorCode"], 400);
    assert!(error.get("RequestId").is_none());
    user.send(json!({"Action":"SHOUT","RequestId":"r1"})).await;
    let error = user.frame_of("ERROR").await;
    assert_eq!(
        (error["ErrorCode"].as_u64(), error["RequestId"].as_str()),
        (Some(400), Some("r1"))
    );
    user.send(json!({"Action":"SEND_MESSAGE","RequestId":"r2","Content":"x","Attributes":{"n":1}}))
        .await;
    assert_eq!(user.frame_of("ERROR").await["ErrorCode"], 400);
    user.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(user.frame_of("ERROR").await["ErrorCode"], 400);
    // The sample apps' camelCase keys, and nulls, are accepted.
    user.send(
        json!({"action":"SEND_MESSAGE","requestId":"r3","content":"camel","attributes":null}),
    )
    .await;
    let message = user.frame_of("MESSAGE").await;
    assert_eq!(
        (message["RequestId"].as_str(), message["Content"].as_str()),
        (Some("r3"), Some("camel"))
    );
    assert_eq!(message["Attributes"], json!({}));
}

#[tokio::test]
async fn every_frame_has_a_fresh_id_and_pings_are_answered() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;
    let mut ids = HashSet::new();
    for i in 0..5 {
        user.send(json!({"Action":"SEND_MESSAGE","RequestId":format!("m{i}"),"Content":"x"}))
            .await;
        user.send(json!({"Action":"NOPE","RequestId":format!("e{i}")}))
            .await;
        ids.insert(user.frame().await["Id"].as_str().unwrap().to_string());
        ids.insert(user.frame().await["Id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 10);
    use futures_util::StreamExt;
    user.send_raw(Message::Ping(b"are you there".to_vec().into()))
        .await;
    match user.ws.next().await {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_a_close_frame() {
    let server = TestServer::start().await;
    let room = server.room().await;
    let mut a = server.join(&room, "a", &[]).await;
    let mut b = server.join(&room, "b", &[]).await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(a.closed().await.code, 1001);
    assert_eq!(b.closed().await.code, 1001);
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_others_get_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.chat.write_timeout_ms = 500;
    config.quotas.send_event_per_second = 1_000_000;
    let server = TestServer::start_with(config).await;
    let room = server.room().await;
    let room_id = room.rsplit('/').next().unwrap().to_string();
    let mut stalled = server.join(&room, "stalled", &[]).await;
    let mut reader = server.join(&room, "reader", &[]).await;
    let padding = "p".repeat(1000);
    let total = 12_000;
    // Publish in steps the healthy reader keeps up with; the stalled one never reads.
    for step in 0..total / 500 {
        for i in 0..500 {
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
                    format!("e{}", step * 500 + i),
                    [("pad".to_string(), padding.clone())].into(),
                )
                .await
                .unwrap();
        }
        for i in 0..500 {
            let frame = reader.frame_of("EVENT").await;
            assert_eq!(frame["EventName"], format!("e{}", step * 500 + i));
        }
    }
    // The stalled client's socket is full, so the close frame (1008 "too slow: …") reaches it
    // only if there was room left for it; otherwise it sees the connection reset.
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stalled.ws.next())
            .await
            .expect("the stalled client was never disconnected")
        {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1008);
                assert!(frame.reason.starts_with("too slow"), "{frame:?}");
                break;
            }
            Some(Err(_)) | None | Some(Ok(Message::Close(None))) => break,
            Some(Ok(_)) => continue,
        }
    }
    assert_eq!(
        server
            .app
            .chat
            .stats
            .slow_disconnects
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

/// A client that stops reading for a while, long enough for its socket to fill and frames to
/// queue on the server, then reads again, gets every frame once and in order.
#[tokio::test]
async fn a_client_that_pauses_reading_gets_every_frame_in_order_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.quotas.send_event_per_second = 1_000_000;
    config.chat.write_timeout_ms = 60_000;
    let server = TestServer::start_with(config).await;
    let room = server.room().await;
    let room_id = room.rsplit('/').next().unwrap().to_string();
    let mut paused = server.join(&room, "paused", &[]).await;
    // 300 frames of 64 KiB: far more than the loopback socket buffers hold, far fewer than
    // the backlog a connection may have.
    let padding = "p".repeat(64 * 1024);
    let total = 300;
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
                [("pad".to_string(), padding.clone())].into(),
            )
            .await
            .unwrap();
    }
    for i in 0..total {
        let frame = paused.frame_of("EVENT").await;
        assert_eq!(frame["EventName"], format!("e{i}"));
        assert_eq!(
            frame["Attributes"]["pad"].as_str().map(str::len),
            Some(64 * 1024)
        );
    }
    // Still connected and served: a frame sent now arrives too.
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
            "after".to_string(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(paused.frame_of("EVENT").await["EventName"], "after");
    assert_eq!(
        server
            .app
            .chat
            .stats
            .slow_disconnects
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn account_rate_quotas_answer_429_and_throttling_exception() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.quotas.delete_message_per_second = 1;
    config.quotas.send_event_per_second = 1;
    config.quotas.disconnect_user_per_second = 1;
    let server = TestServer::start_with(config).await;
    let client = server.client_without_retries();
    let room = server.room().await;
    let mut moderator = server.join(&room, "mod", ALL).await;

    // DeleteMessage counts WebSocket and HTTP requests together.
    moderator
        .send(json!({"Action":"DELETE_MESSAGE","RequestId":"d1","Id":"AAAAAAAAAAAA"}))
        .await;
    assert_eq!(moderator.frame_of("EVENT").await["RequestId"], "d1");
    let err = client
        .delete_message()
        .room_identifier(&room)
        .id("AAAAAAAAAAAA")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 429);
    let err = err.into_service_error();
    let aws_sdk_ivschat::operation::delete_message::DeleteMessageError::ThrottlingException(t) =
        err
    else {
        panic!("expected ThrottlingException, got {err:?}");
    };
    assert_eq!(t.limit(), 1);
    moderator
        .send(json!({"Action":"DELETE_MESSAGE","RequestId":"d2","Id":"AAAAAAAAAAAA"}))
        .await;
    let error = moderator.frame_of("ERROR").await;
    assert_eq!(
        (error["ErrorCode"].as_u64(), error["RequestId"].as_str()),
        (Some(429), Some("d2"))
    );

    client
        .send_event()
        .room_identifier(&room)
        .event_name("e")
        .send()
        .await
        .unwrap();
    moderator.frame_of("EVENT").await;
    let err = client
        .send_event()
        .room_identifier(&room)
        .event_name("e")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");

    client
        .disconnect_user()
        .room_identifier(&room)
        .user_id("x")
        .send()
        .await
        .unwrap();
    moderator.frame_of("EVENT").await;
    moderator
        .send(json!({"Action":"DISCONNECT_USER","RequestId":"k2","UserId":"x"}))
        .await;
    assert_eq!(moderator.frame_of("ERROR").await["ErrorCode"], 429);
}

#[tokio::test]
async fn the_concurrent_connection_quota_refuses_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.quotas.concurrent_connections = 1;
    let server = TestServer::start_with(config).await;
    let room = server.room().await;
    let mut first = server.join(&room, "a", &["SEND_MESSAGE"]).await;
    // The session is registered once it answers a request.
    first
        .send(json!({"Action":"SEND_MESSAGE","Content":"x"}))
        .await;
    first.frame_of("MESSAGE").await;
    let token = server.token(&room, "b", &[]).await;
    assert_eq!(
        ChatClient::connect(server.addr, &token).await.err(),
        Some(429)
    );
}

#[tokio::test]
async fn a_connection_receives_everything_sent_once_its_socket_is_open() {
    let server = TestServer::start().await;
    let room = server
        .client()
        .create_room()
        .maximum_message_rate_per_second(100)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    for round in 0..20 {
        // A fresh sender each round keeps within the 10 requests/s per connection.
        let mut sender = server.join(&room, &format!("sender{round}"), ALL).await;
        let mut newcomer = server.join(&room, &format!("new{round}"), &[]).await;
        sender
            .send(json!({"Action":"SEND_MESSAGE","RequestId":format!("r{round}"),"Content":"hi"}))
            .await;
        assert_eq!(
            newcomer.frame_of("MESSAGE").await["RequestId"],
            format!("r{round}")
        );
        sender.frame_of("MESSAGE").await;
        // A kick sent right after the connect lands too.
        let mut victim = server.join(&room, &format!("victim{round}"), &[]).await;
        sender
            .send(json!({"Action":"DISCONNECT_USER","UserId":format!("victim{round}")}))
            .await;
        assert_eq!(
            victim.frame_of("EVENT").await["EventName"],
            "aws:DISCONNECT_USER"
        );
        assert_eq!(victim.closed().await.code, 1001);
        sender.frame_of("EVENT").await;
        newcomer.frame_of("EVENT").await;
    }
}

#[tokio::test]
async fn a_message_over_the_configured_size_gets_413_then_close_1009() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.chat.max_message_bytes = 8 * 1024;
    let server = TestServer::start_with(config).await;
    let room = server.room().await;
    let mut sender = server.join(&room, "big", &["SEND_MESSAGE"]).await;
    let mut other = server.join(&room, "other", &["SEND_MESSAGE"]).await;
    // Just under the limit is an ordinary (if invalid) request: answered, connection kept.
    let under = serde_json::json!({"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "x".repeat(7 * 1024)});
    sender.send(under).await;
    let error = sender.frame_of("ERROR").await;
    assert_eq!(error["RequestId"], "r1", "{error}");
    assert_eq!(error["ErrorCode"], 400, "{error}");
    // Over the limit: ERROR 413, then close 1009; the rest of the room is unaffected.
    let over = serde_json::json!({"Action": "SEND_MESSAGE", "RequestId": "r2", "Content": "x".repeat(9 * 1024)});
    sender.send(over).await;
    let error = sender.frame_of("ERROR").await;
    assert_eq!(error["ErrorCode"], 413, "{error}");
    let closed = sender.closed().await;
    assert_eq!(closed.code, 1009, "{closed:?}");
    other
        .send(serde_json::json!({"Action": "SEND_MESSAGE", "RequestId": "r3", "Content": "still here"}))
        .await;
    assert_eq!(other.frame_of("MESSAGE").await["Content"], "still here");
}

/// A client may send its first frame in the same TCP segment as the upgrade request: the bytes
/// hyper read past the request must reach the session (the server writes its own 101 and takes
/// the socket over from hyper).
#[tokio::test]
async fn a_frame_sent_together_with_the_upgrade_request_is_not_lost() {
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::protocol::Role;

    let server = TestServer::start().await;
    let room = server.room().await;
    let token = server.token(&room, "eager", ALL).await;
    let request =
        json!({"Action":"SEND_MESSAGE","RequestId":"eager-1","Content":"first"}).to_string();
    assert!(request.len() < 126);
    let mut bytes = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {token}\r\n\r\n",
        server.addr
    )
    .into_bytes();
    // A masked text frame (a zero mask key leaves the payload as it is).
    bytes.extend([0x81, 0x80 | request.len() as u8, 0, 0, 0, 0]);
    bytes.extend(request.as_bytes());
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    // The 101, then whatever followed it in the same read.
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed before the 101: {}",
            String::from_utf8_lossy(&head)
        );
        head.extend_from_slice(&chunk[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let response = String::from_utf8_lossy(&head[..end]).to_string();
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{response}"
    );
    let rest = head[end..].to_vec();
    let mut ws =
        tokio_tungstenite::WebSocketStream::from_partially_read(stream, rest, Role::Client, None)
            .await;
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    if frame["Type"] == "MESSAGE" {
                        return frame;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    })
    .await
    .expect("the pipelined message was never delivered");
    assert_eq!(frame["RequestId"], "eager-1");
    assert_eq!(frame["Content"], "first");
}

/// A connection's answers keep the order of its requests: when the first of two quick messages
/// is delivered and the second refused by the room's rate, the sender gets the MESSAGE first,
/// then the ERROR (the official JS SDK's users await them in that order). The answer travels
/// in the room's order, behind the frame the fan-out writes.
#[tokio::test]
async fn answers_keep_the_order_of_the_requests() {
    let server = TestServer::start().await;
    for round in 0..20 {
        let room = server
            .client()
            .create_room()
            .maximum_message_rate_per_second(1)
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        let mut sender = server.join(&room, &format!("s{round}"), ALL).await;
        // Both requests in one TCP write, so the server reads them together.
        use futures_util::SinkExt;
        for (id, content) in [("one", "1"), ("two", "2")] {
            let request = json!({"Action":"SEND_MESSAGE","RequestId":id,"Content":content});
            sender
                .ws
                .feed(Message::Text(request.to_string().into()))
                .await
                .unwrap();
        }
        sender.ws.flush().await.unwrap();
        let first = sender.frame().await;
        assert_eq!(
            (first["Type"].as_str(), first["RequestId"].as_str()),
            (Some("MESSAGE"), Some("one")),
            "round {round}: {first}"
        );
        let second = sender.frame().await;
        assert_eq!(
            (second["Type"].as_str(), second["RequestId"].as_str()),
            (Some("ERROR"), Some("two")),
            "round {round}: {second}"
        );
        assert_eq!(second["ErrorCode"], 429);
    }
}

//! The real binary against hostile clients on raw sockets: connections that never speak, stop
//! inside the HTTP/2 handshake or idle on it, oversized HTTP/2 headers, too many HTTP/2
//! streams, every RFC 6455 violation a server must fail the connection for, and a chat client
//! that answers no ping. Each limit is set short in the test's `--config` file, and each test
//! awaits the server's answer (a close, a frame) rather than sleeping; the hang guard only
//! stops a test whose server never answers.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::process::Node;
use common::raw_h2::{self, Answer};
use common::raw_ws::{self, Frame};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Stops a test whose server never answers; no test asserts on time.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// The binary with this `--config` file, in its own data directory.
fn node(config: &str) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let node = Node::start(
        &[
            "--config".to_string(),
            path.display().to_string(),
            "--data-dir".to_string(),
            dir.path().display().to_string(),
        ],
        &[],
    );
    (node, dir)
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Reads until the server closes the connection; what it sent on the way.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut out))
        .await
        .expect("the server never closed the connection")
        .ok();
    out
}

// One SDK client per test, so the control plane keeps to one connection: the ping test
// allows one per address.
async fn create_room(api: &aws_sdk_ivschat::Client) -> String {
    api.create_room().send().await.unwrap().arn.unwrap()
}

async fn token(
    api: &aws_sdk_ivschat::Client,
    room: &str,
    user: &str,
    capabilities: &[&str],
) -> String {
    let mut request = api.create_chat_token().room_identifier(room).user_id(user);
    for c in capabilities {
        request = request.capabilities(aws_sdk_ivschat::types::ChatTokenCapability::from(*c));
    }
    request.send().await.unwrap().token.unwrap()
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed_at_the_header_timeout() {
    let (node, _dir) = node("[limits]\nheader_timeout_ms = 300\n");
    let mut silent = TcpStream::connect(node.addr()).await.unwrap();
    assert!(until_closed(&mut silent).await.is_empty());
    // A client that speaks is served as before.
    let mut prompt = TcpStream::connect(node.addr()).await.unwrap();
    prompt
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(until_closed(&mut prompt).await.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn an_http2_preface_then_silence_is_closed() {
    let (node, _dir) = node("[limits]\nheader_timeout_ms = 300\n");
    // Part of the preface: the server cannot tell HTTP/1 from HTTP/2 yet.
    let mut partial = TcpStream::connect(node.addr()).await.unwrap();
    partial.write_all(&raw_h2::PREFACE[..10]).await.unwrap();
    until_closed(&mut partial).await;
    // The whole preface, then nothing: HTTP/2 is chosen, the handshake never completes.
    let mut preface = TcpStream::connect(node.addr()).await.unwrap();
    preface.write_all(raw_h2::PREFACE).await.unwrap();
    until_closed(&mut preface).await;
    // The handshake, then no request.
    let mut handshake = TcpStream::connect(node.addr()).await.unwrap();
    raw_h2::handshake(&mut handshake).await;
    until_closed(&mut handshake).await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let (node, _dir) = node("[limits]\nidle_timeout_ms = 300\n");
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    raw_h2::handshake(&mut stream).await;
    stream
        .write_all(&raw_h2::request(1, "GET", "/health", &[], true))
        .await
        .unwrap();
    assert_eq!(raw_h2::answer(&mut stream, 1).await, Answer::Status(200));
    // Then nothing: the server says GOAWAY and closes.
    assert!(matches!(
        tokio::time::timeout(HANG_GUARD, raw_h2::answer(&mut stream, 3))
            .await
            .expect("the idle connection was never closed"),
        Answer::GoAway(_) | Answer::Closed
    ));
    tokio::time::timeout(
        HANG_GUARD,
        raw_h2::until_closed_answering_pings(&mut stream),
    )
    .await
    .expect("the idle connection was never closed");
}

#[tokio::test]
async fn http2_headers_over_the_head_size_limit_are_refused() {
    // hyper's HTTP/2 default was 16 KiB whatever `max_header_bytes` said.
    let (node, _dir) = node("[limits]\nmax_header_bytes = 4096\n");
    let big = "a".repeat(8 * 1024);
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    raw_h2::handshake(&mut stream).await;
    stream
        .write_all(&raw_h2::request(
            1,
            "GET",
            "/health",
            &[("x-big", &big)],
            true,
        ))
        .await
        .unwrap();
    let answer = tokio::time::timeout(HANG_GUARD, raw_h2::answer(&mut stream, 1))
        .await
        .unwrap();
    assert!(
        matches!(answer, Answer::Status(431) | Answer::Reset(_)),
        "an 8 KiB header under a 4 KiB limit got {answer:?}"
    );
    // Under the limit, the same request is served.
    let small = "a".repeat(1024);
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    raw_h2::handshake(&mut stream).await;
    stream
        .write_all(&raw_h2::request(
            1,
            "GET",
            "/health",
            &[("x-small", &small)],
            true,
        ))
        .await
        .unwrap();
    assert_eq!(raw_h2::answer(&mut stream, 1).await, Answer::Status(200));
}

#[tokio::test]
async fn http2_streams_over_the_limit_are_refused() {
    let (node, _dir) = node("[limits]\nmax_streams_per_connection = 2\n");
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    raw_h2::handshake(&mut stream).await;
    // Two requests whose bodies never come hold their streams open (until the body timeout).
    for id in [1, 3] {
        let open = raw_h2::request(
            id,
            "POST",
            "/ListRooms",
            &[
                ("content-type", "application/json"),
                ("content-length", "100"),
            ],
            false,
        );
        stream.write_all(&open).await.unwrap();
    }
    stream
        .write_all(&raw_h2::request(5, "GET", "/health", &[], true))
        .await
        .unwrap();
    let answer = tokio::time::timeout(HANG_GUARD, raw_h2::answer(&mut stream, 5))
        .await
        .unwrap();
    assert_eq!(answer, Answer::Reset(raw_h2::REFUSED_STREAM));
}

/// Each RFC 6455 case where the server must fail the connection, with the close code it must
/// send first (`chat/session/violation.rs`).
#[tokio::test]
async fn each_rfc6455_violation_is_answered_with_its_close_code() {
    let (node, _dir) = node("");
    let api = node.client();
    let room = create_room(&api).await;
    let text = raw_ws::TEXT;
    let cases: Vec<(&str, Vec<Frame>, u16)> = vec![
        (
            "invalid UTF-8 in a text frame",
            vec![Frame::new(text, [0xff, 0xfe, 0xfd])],
            1007,
        ),
        (
            "invalid UTF-8 across fragments",
            vec![
                Frame::new(text, [b'a', 0xc3]).not_final(),
                Frame::new(raw_ws::CONTINUATION, [0x28]),
            ],
            1007,
        ),
        (
            "invalid UTF-8 in a close reason",
            vec![Frame::close(1000, &[0xff])],
            1007,
        ),
        (
            "a reserved bit set",
            vec![Frame::new(text, "{}").rsv1()],
            1002,
        ),
        (
            "an unmasked frame",
            vec![Frame::new(text, "{}").unmasked()],
            1002,
        ),
        (
            "a fragmented ping",
            vec![Frame::new(raw_ws::PING, "x").not_final()],
            1002,
        ),
        (
            "a ping over 125 bytes",
            vec![Frame::new(raw_ws::PING, vec![b'x'; 126])],
            1002,
        ),
        (
            "a close payload of 1 byte",
            vec![Frame::new(raw_ws::CLOSE, [0x03])],
            1002,
        ),
        (
            "close code 1005 (never sent)",
            vec![Frame::close(1005, b"")],
            1002,
        ),
        ("close code 999", vec![Frame::close(999, b"")], 1002),
        (
            "close code 2000 (reserved)",
            vec![Frame::close(2000, b"")],
            1002,
        ),
        ("close code 5000", vec![Frame::close(5000, b"")], 1002),
        (
            "a continuation with no message open",
            vec![Frame::new(raw_ws::CONTINUATION, "x")],
            1002,
        ),
        (
            "a new message while a fragmented one is open",
            vec![Frame::new(text, "a").not_final(), Frame::new(text, "b")],
            1002,
        ),
        ("unknown data opcode 3", vec![Frame::new(0x3, "x")], 1002),
        (
            "unknown control opcode 0xB",
            vec![Frame::new(0xb, "x")],
            1002,
        ),
        // Not a violation: the closing handshake, echoed.
        ("a normal close", vec![Frame::close(1000, b"bye")], 1000),
    ];
    let mut wrong = Vec::new();
    for (case, frames, expected) in cases {
        let token = token(&api, &room, "u", &["SEND_MESSAGE"]).await;
        let mut ws = raw_ws::connect(loopback(1), node.addr(), &token)
            .await
            .unwrap_or_else(|status| panic!("{case}: handshake refused: {status}"));
        for frame in &frames {
            // The server may close before the last frame is written.
            let _ = ws.write_all(&frame.encode()).await;
        }
        let ending = tokio::time::timeout(HANG_GUARD, raw_ws::ending(&mut ws))
            .await
            .unwrap_or_else(|_| panic!("{case}: the server never closed"));
        if ending.close_code != Some(expected) {
            wrong.push(format!(
                "{case}: expected close {expected}, got {:?}",
                ending.close_code
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A chat client (tokio-tungstenite, which answers pings as browsers and `ws` do) from its
/// own loopback address, read by a task that forwards the room's text frames.
async fn innocent(
    node: &Node,
    from: IpAddr,
    token: &str,
) -> (
    futures_util::stream::SplitSink<tokio_tungstenite::WebSocketStream<TcpStream>, Message>,
    tokio::sync::mpsc::UnboundedReceiver<Result<String, String>>,
) {
    let stream = raw_ws::tcp_from(from, node.addr()).await;
    let mut request = format!("ws://{}/", node.addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", token.parse().unwrap());
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let (sink, mut source) = ws.split();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Reading is what makes tungstenite answer the server's pings.
        while let Some(message) = source.next().await {
            let forwarded = match message {
                Ok(Message::Text(text)) => Ok(text.to_string()),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                other => Err(format!("{other:?}")),
            };
            if tx.send(forwarded).is_err() {
                return;
            }
        }
        let _ = tx.send(Err("the connection ended".into()));
    });
    (sink, rx)
}

#[tokio::test]
async fn a_client_that_answers_no_ping_is_closed_and_its_slots_are_freed() {
    // One connection per address and three in the account: the attacker's second connection is
    // admitted only once its first has given back both slots.
    let (node, _dir) = node(
        "[limits]\nmax_connections_per_ip = 1\n\
         [quotas]\nconcurrent_connections = 3\n\
         [chat]\nping_interval_ms = 200\npong_timeout_ms = 400\n",
    );
    // Everything from the control plane first: it speaks from 127.0.0.1, the chat clients each
    // from an address of their own.
    let api = node.client();
    let room = create_room(&api).await;
    let sender_token = token(&api, &room, "sender", &["SEND_MESSAGE"]).await;
    let viewer_token = token(&api, &room, "viewer", &[]).await;
    let attacker_tokens = [
        token(&api, &room, "attacker", &[]).await,
        token(&api, &room, "attacker", &[]).await,
    ];
    let (mut sender, mut sender_frames) = innocent(&node, loopback(3), &sender_token).await;
    let (_viewer, mut viewer_frames) = innocent(&node, loopback(4), &viewer_token).await;

    // Reads everything, answers nothing.
    let mut attacker = raw_ws::connect(loopback(2), node.addr(), &attacker_tokens[0])
        .await
        .unwrap();
    let ending = tokio::time::timeout(HANG_GUARD, raw_ws::ending(&mut attacker))
        .await
        .expect("a client that answers no ping was never closed");
    assert!(ending.pings >= 1, "{ending:?}");
    assert_eq!(ending.close_code, Some(1001), "{ending:?}");

    // Its per-address slot and its quota slot are free again.
    let again = raw_ws::connect(loopback(2), node.addr(), &attacker_tokens[1]).await;
    assert!(again.is_ok(), "reconnecting was refused: {:?}", again.err());

    // The innocent members, pinged all along, are still there and receive.
    sender
        .send(Message::Text(
            serde_json::json!({"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "still here"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    for frames in [&mut sender_frames, &mut viewer_frames] {
        let frame = tokio::time::timeout(HANG_GUARD, frames.recv())
            .await
            .expect("no message within the hang guard")
            .unwrap()
            .unwrap_or_else(|e| panic!("an innocent member lost its connection: {e}"));
        let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(frame["Type"], "MESSAGE", "{frame}");
        assert_eq!(frame["Content"], "still here", "{frame}");
    }
}

/// The binary with this `--config` file and its metrics on their own port (returned).
fn node_with_metrics(config: &str) -> (Node, tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let metrics_port = common::process::free_port();
    let node = Node::start(
        &[
            "--config".to_string(),
            path.display().to_string(),
            "--data-dir".to_string(),
            dir.path().display().to_string(),
            "--metrics-listen".to_string(),
            format!("127.0.0.1:{metrics_port}"),
        ],
        &[],
    );
    (node, dir, metrics_port)
}

async fn metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The close frame's code and reason, reading (and discarding) everything before it.
async fn close_of(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<(u16, String)> {
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, raw_ws::read_frame(stream))
            .await
            .expect("the server never closed the connection")?;
        if frame.opcode == raw_ws::CLOSE {
            let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
            return Some((
                code,
                String::from_utf8_lossy(&frame.payload[2..]).into_owned(),
            ));
        }
    }
}

/// A viewer token (no capabilities) sending thousands of tiny binary frames, reading and
/// discarding the answers, used to get every other member closed "too slow: fell too far
/// behind the room": each answer went through the room's shared channel. Now its frame budget
/// closes it (1008, counted), and the others receive every message, in order, and stay.
#[tokio::test]
async fn a_viewer_flooding_junk_frames_is_closed_and_the_room_is_unaffected() {
    let (node, _dir, metrics_port) = node_with_metrics("");
    let api = node.client();
    let room = api
        .create_room()
        .maximum_message_rate_per_second(100)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let reader_token = token(&api, &room, "reader", &[]).await;
    let sender_token = token(&api, &room, "sender", &["SEND_MESSAGE"]).await;
    let abuser_token = token(&api, &room, "abuser", &[]).await;
    let (_reader_sink, mut reader) = innocent(&node, loopback(31), &reader_token).await;
    let (mut sender, mut sender_frames) = innocent(&node, loopback(32), &sender_token).await;
    let abuser = raw_ws::connect(loopback(33), node.addr(), &abuser_token)
        .await
        .unwrap();
    let (mut abuser_in, mut abuser_out) = abuser.into_split();
    let flood = tokio::spawn(async move {
        let junk = raw_ws::Frame::new(0x2, vec![0u8]).encode();
        let all: Vec<u8> = junk
            .iter()
            .copied()
            .cycle()
            .take(junk.len() * 5000)
            .collect();
        // The server closes it part way: the write may fail.
        let _ = abuser_out.write_all(&all).await;
        abuser_out
    });
    // The room's messages go out while the flood is on its way in.
    for i in 0..10 {
        let request = serde_json::json!({"Action": "SEND_MESSAGE", "RequestId": format!("r{i}"), "Content": format!("m{i}")});
        sender
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
    }
    let (code, reason) = close_of(&mut abuser_in)
        .await
        .expect("the abuser got no close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("too many frames"), "{reason}");
    drop(flood);
    for member in [&mut reader, &mut sender_frames] {
        for i in 0..10 {
            let frame = tokio::time::timeout(HANG_GUARD, member.recv())
                .await
                .unwrap()
                .unwrap()
                .expect("an innocent member was closed");
            let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
            assert_eq!(frame["Type"], "MESSAGE", "{frame}");
            assert_eq!(frame["Content"], format!("m{i}"), "{frame}");
        }
    }
    let text = metrics(metrics_port).await;
    assert!(
        text.contains("ivschat_chat_abuse_disconnects_total 1"),
        "{text}"
    );
    assert!(
        text.contains("ivschat_chat_slow_disconnects_total 0"),
        "{text}"
    );
}

/// A used token replayed again and again is refused 401 before the handshake reads the store:
/// with its room deleted since, a replay that read the store would get 404 instead. Each
/// replay is counted as refused before any work.
#[tokio::test]
async fn a_spent_token_replayed_is_refused_before_any_store_read() {
    let (node, _dir, metrics_port) = node_with_metrics("");
    let api = node.client();
    let room = create_room(&api).await;
    let used = token(&api, &room, "viewer", &[]).await;
    let mut first = raw_ws::connect(loopback(41), node.addr(), &used)
        .await
        .unwrap();
    first.shutdown().await.unwrap();
    until_closed(&mut first).await;
    api.delete_room().identifier(&room).send().await.unwrap();
    let replays = 40;
    for _ in 0..replays {
        let refused = raw_ws::connect(loopback(41), node.addr(), &used)
            .await
            .unwrap_err();
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    }
    let text = metrics(metrics_port).await;
    assert!(
        text.contains(&format!(
            "ivschat_chat_handshakes_spent_token_total {replays}"
        )),
        "{text}"
    );
}

/// Upgrade attempts from one address beyond `[limits] handshakes_per_second` (a bucket of
/// `handshake_burst`) are answered 429 before the token is looked at; other addresses are not
/// affected, and the address is served again once its bucket refills.
#[tokio::test]
async fn handshakes_over_the_per_address_rate_get_429_and_recover() {
    let (node, _dir, metrics_port) =
        node_with_metrics("[limits]\nhandshakes_per_second = 5\nhandshake_burst = 2\n");
    let bogus = "not-a-token";
    for _ in 0..2 {
        let refused = raw_ws::connect(loopback(51), node.addr(), bogus)
            .await
            .unwrap_err();
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    }
    let limited = raw_ws::connect(loopback(51), node.addr(), bogus)
        .await
        .unwrap_err();
    assert!(limited.starts_with("HTTP/1.1 429"), "{limited}");
    let other = raw_ws::connect(loopback(52), node.addr(), bogus)
        .await
        .unwrap_err();
    assert!(other.starts_with("HTTP/1.1 401"), "{other}");
    // Refills at 5/s: waiting for time to pass is the event itself here.
    let recovered = tokio::time::timeout(HANG_GUARD, async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let answer = raw_ws::connect(loopback(51), node.addr(), bogus)
                .await
                .unwrap_err();
            if !answer.starts_with("HTTP/1.1 429") {
                return answer;
            }
        }
    })
    .await
    .expect("the address was never served again");
    assert!(recovered.starts_with("HTTP/1.1 401"), "{recovered}");
    let text = metrics(metrics_port).await;
    assert!(
        !text.contains("ivschat_chat_handshakes_rate_limited_total 0"),
        "{text}"
    );
}

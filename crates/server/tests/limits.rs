//! Hostile and broken clients at the listener: slow request heads (slowloris), oversized
//! heads, slow bodies, and too many connections in total or from one address. Each limit is
//! set small in the test's configuration and answered with the documented error.

mod common;

use std::time::Duration;

use common::TestServer;
use ivschat_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    adjust(&mut config);
    let server = TestServer::start_with(config).await;
    std::mem::forget(dir);
    server
}

/// Reads until the server closes the connection (hang-guarded); returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server never closed the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_request_head_that_never_finishes_is_cut_off() {
    let server = server(|c| c.limits.header_timeout_ms = 300).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // No blank line ever comes: the server gives up and closes.
    read_to_close(&mut stream).await;
    // A prompt client on the same server is fine.
    let mut ok = TcpStream::connect(server.addr).await.unwrap();
    ok.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut ok).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let server = server(|c| c.limits.max_header_bytes = 16 * 1024).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = stream.write_all(big.as_bytes()).await;
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.100}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let server = server(|c| c.limits.body_timeout_ms = 300).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The body is read before the signature is checked (the signature covers it).
    stream
        .write_all(
            b"POST /ListRooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\nConnection: close\r\n\r\n{\"max",
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: requesttimeoutexception"),
        "{answer}"
    );
}

#[tokio::test]
async fn connections_per_address_and_in_total_are_capped() {
    let server = server(|c| c.limits.max_connections_per_ip = 2).await;
    let _a = TcpStream::connect(server.addr).await.unwrap();
    let _b = TcpStream::connect(server.addr).await.unwrap();
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let answer = read_to_close(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many connections from this address"));
    // Closing one frees its slot.
    drop(_a);
    let mut again = connect_until_admitted(&server).await;
    again
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut again).await.starts_with("HTTP/1.1 200"));

    let server = server_total(1).await;
    let _held = TcpStream::connect(server.addr).await.unwrap();
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    assert!(read_to_close(&mut refused)
        .await
        .contains("the server's connection limit is reached"));
}

async fn server_total(max: usize) -> TestServer {
    server(|c| c.limits.max_connections = max).await
}

/// The server notices a closed connection asynchronously; retry the connect (bounded) until
/// the freed slot is reused, instead of sleeping a guessed amount.
async fn connect_until_admitted(server: &TestServer) -> TcpStream {
    for _ in 0..100 {
        let stream = TcpStream::connect(server.addr).await.unwrap();
        let mut probe = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(200), stream.peek(&mut probe)).await {
            // Nothing said: admitted (a refused connection gets its 503 at once).
            Err(_) => return stream,
            Ok(_) => continue,
        }
    }
    panic!("the freed slot was never reused");
}

#[tokio::test]
async fn a_chat_session_keeps_its_connection_slot() {
    let server = server(|c| c.limits.max_connections_per_ip = 2).await;
    // Raw one-shot requests: their client (and connection) is gone when they return.
    let room = common::raw::post_json(&server.endpoint(), "CreateRoom", "{}")
        .await
        .json();
    let body = serde_json::json!({"roomIdentifier": room["arn"], "userId": "u"}).to_string();
    let token = common::raw::post_json(&server.endpoint(), "CreateChatToken", &body)
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // The server frees the last request's slot when it sees the close; retry (bounded).
    let mut chat = None;
    for _ in 0..100 {
        match common::chat::ChatClient::connect(server.addr, &token).await {
            Ok(c) => {
                chat = Some(c);
                break;
            }
            Err(503) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    let _chat = chat.expect("the chat connection was never admitted");
    // One more connection fits (once the token requests' slots are freed)...
    let _second = connect_until_admitted(&server).await;
    // ...and then the address is full: the chat session still holds its slot.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    assert!(read_to_close(&mut third).await.starts_with("HTTP/1.1 503"));
}

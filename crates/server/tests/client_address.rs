//! Client addresses behind proxies, with the real binary: PROXY protocol v1 and v2 headers and
//! a trusted proxy's `X-Forwarded-For` give the address that the per-address connection limit
//! counts and that the review handler receives as `Sender.Ip`; an untrusted peer's header is
//! ignored; a connection without a valid PROXY header is closed alone, logged and counted.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_ivschat::types::MessageReviewHandler;
use common::chat::ChatClient;
use common::lambda::{function_server, Invocations};
use common::process::{free_port, Node};
use common::proxy_forwarder::{self, Forwarder};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:review";

/// Starts the binary with a `[limits]` section and `args`; the directory holds its data.
fn node(dir: &std::path::Path, limits: &str, args: &[&str]) -> Node {
    let config = dir.join("config.toml");
    std::fs::write(&config, format!("[limits]\n{limits}\n")).unwrap();
    let mut all = vec![
        "--data-dir".to_string(),
        dir.join("data").display().to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    Node::start(&all, &[])
}

fn client_at(endpoint: &str) -> aws_sdk_ivschat::Client {
    use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_ivschat::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_ivschat::Client::from_conf(config)
}

/// A room whose messages go to the review handler, and `count` chat tokens for it.
async fn reviewed_room_tokens(api: &aws_sdk_ivschat::Client, count: usize) -> Vec<String> {
    let room = api
        .create_room()
        .message_review_handler(MessageReviewHandler::builder().uri(FUNCTION).build())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut tokens = Vec::new();
    for i in 0..count {
        let token = api
            .create_chat_token()
            .room_identifier(&room)
            .user_id(format!("user-{i}"))
            .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::SendMessage)
            .send()
            .await
            .unwrap()
            .token
            .unwrap();
        tokens.push(token);
    }
    tokens
}

/// Sends a message and returns the `Sender.Ip` the review handler received with it.
async fn reviewed_sender_ip(chat: &mut ChatClient, seen: &Invocations) -> String {
    let before = seen.0.lock().unwrap().len();
    chat.send(json!({"Action":"SEND_MESSAGE","Content":"hello"}))
        .await;
    assert_eq!(
        chat.frame_of("MESSAGE").await["Content"],
        "hello [reviewed]"
    );
    let invocations = seen.0.lock().unwrap();
    assert_eq!(invocations.len(), before + 1);
    let event = &invocations[before].1;
    event["Sender"]["Ip"].as_str().unwrap().to_string()
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

/// `GET /health` on a kept-alive connection; returns the status line's code.
async fn health(stream: &mut TcpStream) -> u16 {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    // The whole response is the head and a 2-byte body ("ok"), or a refusal and a close.
    while !answer.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
            .await
            .expect("no answer within the hang guard")
            .unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

/// A connection to `node` that starts with `header`.
async fn connect_with_header(node: &Node, header: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(node.addr()).await.unwrap();
    stream.write_all(header).await.unwrap();
    stream
}

fn address(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn proxy_protocol_addresses_are_the_ones_limited_and_reviewed() {
    let (lambda, seen) = function_server().await;
    let dir = tempfile::tempdir().unwrap();
    let server = node(
        dir.path(),
        "max_connections_per_ip = 2",
        &[
            "--proxy-protocol",
            "--proxy-protocol-from",
            "127.0.0.0/8",
            "--lambda-endpoint",
            &lambda,
        ],
    );
    let to = server.addr();

    // Every connection below comes from 127.0.0.1; only the headers differ.
    let one = address("203.0.113.1:40001");
    let mut first = connect_with_header(&server, &proxy_forwarder::v1(one, to)).await;
    assert_eq!(health(&mut first).await, 200);
    let mut second = connect_with_header(&server, &proxy_forwarder::v2(one, to)).await;
    assert_eq!(health(&mut second).await, 200);
    // A third from the same header address is over the limit of 2...
    let mut third = connect_with_header(&server, &proxy_forwarder::v2(one, to)).await;
    let refusal = read_to_close(&mut third).await;
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(refusal.contains("too many connections from this address"));
    // ...and other header addresses are not counted with it, v1 or v2, IPv4 or IPv6.
    for other in ["203.0.113.2:40002", "[2001:db8::2]:40003"] {
        let other = address(other);
        let destination = SocketAddr::new(
            if other.is_ipv4() {
                "127.0.0.1".parse().unwrap()
            } else {
                "::1".parse().unwrap()
            },
            to.port(),
        );
        for header in [
            proxy_forwarder::v1(other, destination),
            proxy_forwarder::v2(other, destination),
        ] {
            let mut stream = connect_with_header(&server, &header).await;
            assert_eq!(health(&mut stream).await, 200, "{other}");
        }
    }

    // The AWS SDK and a chat client through balancers that say which client they carry.
    let api_balancer =
        Forwarder::start(to, proxy_forwarder::v2(address("192.0.2.10:5000"), to)).await;
    let chat_v1 = Forwarder::start(to, proxy_forwarder::v1(address("198.51.100.7:5555"), to)).await;
    let chat_v2 = Forwarder::start(
        to,
        proxy_forwarder::v2(address("[2001:db8::7]:5555"), address("[::1]:8080")),
    )
    .await;
    let tokens = reviewed_room_tokens(&client_at(&api_balancer.endpoint()), 2).await;
    let mut viewer = ChatClient::connect(chat_v1.addr, &tokens[0]).await.unwrap();
    assert_eq!(reviewed_sender_ip(&mut viewer, &seen).await, "198.51.100.7");
    let mut viewer = ChatClient::connect(chat_v2.addr, &tokens[1]).await.unwrap();
    assert_eq!(reviewed_sender_ip(&mut viewer, &seen).await, "2001:db8::7");
}

#[tokio::test]
async fn a_connection_without_a_valid_proxy_header_is_closed_alone_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_port();
    let server = node(
        dir.path(),
        "",
        &[
            "--proxy-protocol",
            "--metrics-listen",
            &format!("127.0.0.1:{metrics}"),
        ],
    );
    let to = server.addr();
    let mut held = connect_with_header(
        &server,
        &proxy_forwarder::v1(address("203.0.113.1:40001"), to),
    )
    .await;
    assert_eq!(health(&mut held).await, 200);

    // No header at all, a broken v1 header, a v2 header of the wrong version: each is closed
    // without an answer.
    let mut broken_v2 = proxy_forwarder::v2(address("203.0.113.2:1"), to);
    broken_v2[12] = 0x31;
    for garbage in [
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"PROXY TCP4 203.0.113.2 nonsense 1 2\r\nGET /health HTTP/1.1\r\n\r\n".to_vec(),
        broken_v2,
    ] {
        let mut stream = TcpStream::connect(to).await.unwrap();
        let _ = stream.write_all(&garbage).await;
        let answer = read_to_close(&mut stream).await;
        assert_eq!(answer, "", "{garbage:?}");
    }
    // The connection opened before them is unaffected, and a new good one is served.
    assert_eq!(health(&mut held).await, 200);
    let mut fresh = connect_with_header(
        &server,
        &proxy_forwarder::v2(address("203.0.113.3:40003"), to),
    )
    .await;
    assert_eq!(health(&mut fresh).await, 200);

    let text = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("ivschat_proxy_protocol_rejected_connections_total{reason=\"invalid\"} 3"),
        "{text}"
    );
}

#[tokio::test]
async fn a_trusted_proxys_x_forwarded_for_moves_the_address_and_an_untrusted_one_is_ignored() {
    let (lambda, seen) = function_server().await;
    let dir = tempfile::tempdir().unwrap();
    // The tests' own address, 127.0.0.1, is the trusted proxy.
    let behind_proxy = node(
        dir.path(),
        "max_connections_per_ip = 1",
        &[
            "--trusted-proxies",
            "127.0.0.1",
            "--lambda-endpoint",
            &lambda,
        ],
    );
    let tokens = reviewed_room_tokens(&behind_proxy.client(), 3).await;
    let client = [("x-forwarded-for", "192.0.2.1, 203.0.113.50")];
    let mut viewer = ChatClient::connect_with(behind_proxy.addr(), &tokens[0], &client)
        .await
        .unwrap();
    assert_eq!(reviewed_sender_ip(&mut viewer, &seen).await, "203.0.113.50");
    // The chat session counts under its client's address: a second one from it is over the
    // limit of 1, while another client behind the same proxy gets in.
    assert_eq!(
        ChatClient::connect_with(behind_proxy.addr(), &tokens[1], &client)
            .await
            .err(),
        Some(503)
    );
    let other = [("x-forwarded-for", "203.0.113.51")];
    let mut neighbour = ChatClient::connect_with(behind_proxy.addr(), &tokens[1], &other)
        .await
        .unwrap();
    assert_eq!(
        reviewed_sender_ip(&mut neighbour, &seen).await,
        "203.0.113.51"
    );
    // A malformed header: the connection's own address.
    let garbage = [("x-forwarded-for", "203.0.113.52, not-an-address")];
    let mut unknown = ChatClient::connect_with(behind_proxy.addr(), &tokens[2], &garbage)
        .await
        .unwrap();
    assert_eq!(reviewed_sender_ip(&mut unknown, &seen).await, "127.0.0.1");

    // Where 127.0.0.1 is not a trusted proxy, the same header is the client's own claim.
    let dir = tempfile::tempdir().unwrap();
    let direct = node(
        dir.path(),
        "",
        &[
            "--trusted-proxies",
            "10.0.0.0/8",
            "--lambda-endpoint",
            &lambda,
        ],
    );
    let tokens = reviewed_room_tokens(&direct.client(), 1).await;
    let mut liar = ChatClient::connect_with(direct.addr(), &tokens[0], &client)
        .await
        .unwrap();
    assert_eq!(reviewed_sender_ip(&mut liar, &seen).await, "127.0.0.1");
}

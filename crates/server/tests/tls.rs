//! The real binary with `--tls-cert`/`--tls-key` and a certificate authority the test makes
//! (rcgen): the control plane over https (SigV4-signed, HTTP/1.1 and HTTP/2 chosen by ALPN),
//! chat over wss, a certificate swapped on disk or reloaded by SIGHUP while a chat connection
//! stays open, a bad pair that leaves the old one serving, and the clients TLS refuses: TLS
//! 1.1, plain HTTP, and one that never finishes its handshake. Each test awaits what the
//! server does (the certificate it serves, a counter on /metrics, a close); the hang guard
//! only stops a test whose server never does it.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::process::{free_port, Node};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Stops a test whose server never does what it awaits; no test asserts on time.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// A certificate authority, and server certificates it signs for `localhost` and 127.0.0.1.
struct Pki {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// One server certificate and its key.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        Pki { ca, ca_key }
    }

    /// A new server certificate (each has its own key and serial number).
    fn leaf(&self) -> Leaf {
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Leaf {
            // The chain: the server's certificate, then the CA's (as an intermediate would be).
            cert_pem: format!("{}{}", cert.pem(), self.ca.pem()),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client trusting only this CA, offering these ALPN protocols.
    fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// The certificate files the server is given, replaced the way a renewal tool does (a new
/// file renamed over the old, so the server never reads half of one).
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn write(&self, leaf: &Leaf) {
        replace(&self.key, &leaf.key_pem);
        replace(&self.cert, &leaf.cert_pem);
    }
}

fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("new");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

struct TlsNode {
    node: Node,
    metrics: SocketAddr,
    files: Files,
    _dir: tempfile::TempDir,
}

/// The binary serving `leaf` over TLS, with `config` as its `--config` file.
fn start(leaf: &Leaf, config: &str) -> TlsNode {
    let dir = tempfile::tempdir().unwrap();
    let files = Files {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    files.write(leaf);
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let node = Node::start(
        &[
            "--config".to_string(),
            config_path.display().to_string(),
            "--data-dir".to_string(),
            dir.path().display().to_string(),
            "--tls-cert".to_string(),
            files.cert.display().to_string(),
            "--tls-key".to_string(),
            files.key.display().to_string(),
            "--metrics-listen".to_string(),
            metrics.to_string(),
        ],
        &[],
    );
    TlsNode {
        node,
        metrics,
        files,
        _dir: dir,
    }
}

impl TlsNode {
    fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.node.port)
    }

    async fn connect(&self, pki: &Pki, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.node.addr()).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(HANG_GUARD, pki.client(alpn).connect(name, tcp))
            .await
            .expect("TLS handshake hung")
            .expect("TLS handshake failed")
    }

    /// The certificate a new connection is served.
    async fn served(&self, pki: &Pki) -> Vec<u8> {
        let stream = self.connect(pki, &[b"http/1.1"]).await;
        served_leaf(&stream)
    }

    /// Waits until new connections are served `leaf` (the server reloads on its own schedule).
    async fn until_served(&self, pki: &Pki, leaf: &Leaf) {
        tokio::time::timeout(HANG_GUARD, async {
            while self.served(pki).await != leaf.der {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the new certificate was never served");
    }

    async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until /metrics shows `line`.
    async fn until_metric(&self, line: &str) {
        tokio::time::timeout(HANG_GUARD, async {
            while !self.metrics_text().await.contains(line) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("/metrics never showed {line:?}"));
    }

    fn sighup(&self) {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.node.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// A SigV4-signed control-plane request over TLS, HTTP/1.1 or HTTP/2 as `alpn` says.
    async fn call(&self, pki: &Pki, alpn: &[u8], operation: &str, body: Value) -> (u16, Value) {
        let stream = self.connect(pki, &[alpn]).await;
        assert_eq!(
            stream.get_ref().1.alpn_protocol(),
            Some(alpn),
            "ALPN chose the protocol"
        );
        let request = common::raw::signed_request(
            &self.endpoint(),
            ("test", "test"),
            "POST",
            &format!("/{operation}"),
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        let (response, version) = send(stream, request, alpn == b"h2").await;
        assert_eq!(
            version,
            if alpn == b"h2" {
                http::Version::HTTP_2
            } else {
                http::Version::HTTP_11
            }
        );
        response
    }

    /// Opens a chat connection over wss with a new token for `user` in `room`.
    async fn chat(
        &self,
        pki: &Pki,
        room: &str,
        user: &str,
    ) -> WebSocketStream<TlsStream<TcpStream>> {
        let (status, token) = self
            .call(
                pki,
                b"http/1.1",
                "CreateChatToken",
                json!({"roomIdentifier": room, "userId": user, "capabilities": ["SEND_MESSAGE"]}),
            )
            .await;
        assert_eq!(status, 200, "{token}");
        let token = token["token"].as_str().unwrap();
        let tcp = TcpStream::connect(self.node.addr()).await.unwrap();
        self.chat_on(pki, tcp, token).await
    }

    /// Opens a chat connection with `token` over wss on `tcp`.
    async fn chat_on(
        &self,
        pki: &Pki,
        tcp: TcpStream,
        token: &str,
    ) -> WebSocketStream<TlsStream<TcpStream>> {
        let name = ServerName::try_from("localhost").unwrap();
        let stream = pki.client(&[b"http/1.1"]).connect(name, tcp).await.unwrap();
        let mut request = format!("wss://localhost:{}/", self.node.port)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", token.parse().unwrap());
        let (ws, response) =
            tokio::time::timeout(HANG_GUARD, tokio_tungstenite::client_async(request, stream))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(response.status(), 101);
        ws
    }

    async fn room(&self, pki: &Pki) -> String {
        let (status, room) = self.call(pki, b"http/1.1", "CreateRoom", json!({})).await;
        assert_eq!(status, 200, "{room}");
        room["arn"].as_str().unwrap().to_string()
    }
}

fn served_leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Sends `request` on `stream` with hyper's client; the status, JSON body and HTTP version.
async fn send(
    stream: TlsStream<TcpStream>,
    request: http::Request<Vec<u8>>,
    http2: bool,
) -> ((u16, Value), http::Version) {
    let (mut parts, body) = request.into_parts();
    let request_body = Full::new(Bytes::from(body));
    let response = if http2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        sender
            .send_request(http::Request::from_parts(parts, request_body))
            .await
            .unwrap()
    } else {
        // HTTP/1.1: the path as the request target and the signed host as `Host`.
        let authority = parts.uri.authority().unwrap().to_string();
        parts
            .headers
            .insert(http::header::HOST, authority.parse().unwrap());
        parts.uri = parts
            .uri
            .path_and_query()
            .unwrap()
            .as_str()
            .parse()
            .unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender
            .send_request(http::Request::from_parts(parts, request_body))
            .await
            .unwrap()
    };
    let status = response.status().as_u16();
    let version = response.version();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    ((status, json), version)
}

/// Sends a message on `ws` and waits for its MESSAGE back (the connection works).
async fn round_trip(ws: &mut WebSocketStream<TlsStream<TcpStream>>, content: &str) {
    let request = json!({"Action": "SEND_MESSAGE", "RequestId": content, "Content": content});
    ws.send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, ws.next())
            .await
            .expect("no frame within the hang guard");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(frame["Type"], "MESSAGE", "{frame}");
                assert_eq!(frame["Content"], content);
                return;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a MESSAGE, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn control_plane_over_https_with_http1_and_http2_and_chat_over_wss() {
    let pki = Pki::new();
    let leaf = pki.leaf();
    let server = start(&leaf, "");
    assert_eq!(server.served(&pki).await, leaf.der);

    // HTTP/1.1 and HTTP/2, each chosen by ALPN, each with a signed request.
    let room = server.room(&pki).await;
    let (status, got) = server
        .call(&pki, b"h2", "GetRoom", json!({"identifier": room}))
        .await;
    assert_eq!((status, got["arn"].as_str()), (200, Some(room.as_str())));
    let (status, _) = server.call(&pki, b"h2", "ListRooms", json!({})).await;
    assert_eq!(status, 200);

    // Chat: two viewers over wss, each gets the other's message (the fan-out's writes are
    // encrypted like the session's own).
    let mut alice = server.chat(&pki, &room, "alice").await;
    let mut bob = server.chat(&pki, &room, "bob").await;
    round_trip(&mut alice, "hello over tls").await;
    let to_bob = tokio::time::timeout(HANG_GUARD, bob.next()).await.unwrap();
    let Some(Ok(Message::Text(text))) = to_bob else {
        panic!("bob got {to_bob:?}")
    };
    assert!(text.contains("hello over tls"), "{text}");
    // Several at once (within the connection's request rate): each reaches bob, in order.
    let content = "x".repeat(400);
    for i in 0..8 {
        let request =
            json!({"Action": "SEND_MESSAGE", "RequestId": format!("r{i}"), "Content": content});
        alice
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
    }
    let mut seen = 0;
    while seen < 8 {
        match tokio::time::timeout(HANG_GUARD, bob.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(frame["Type"], "MESSAGE", "{frame}");
                assert_eq!(frame["RequestId"], format!("r{seen}"), "{frame}");
                seen += 1;
            }
            Some(Ok(_)) => continue,
            other => panic!("bob's connection failed: {other:?}"),
        }
    }
}

/// The Rust client (`crates/client`) over wss, trusting the private CA it is given and no other
/// root; without that CA it refuses the server's certificate.
#[tokio::test]
async fn the_rust_client_trusts_a_private_ca_it_is_given_and_only_then() {
    let pki = Pki::new();
    let server = start(&pki.leaf(), "");
    let room = server.room(&pki).await;
    let mint = || async {
        let (status, token) = server
            .call(
                &pki,
                b"http/1.1",
                "CreateChatToken",
                json!({"roomIdentifier": room, "userId": "rusty", "capabilities": ["SEND_MESSAGE"]}),
            )
            .await;
        assert_eq!(status, 200, "{token}");
        token["token"].as_str().unwrap().to_string()
    };
    let url = format!("wss://localhost:{}", server.node.port);
    let refused = ivschat_client::ChatClient::builder(&url)
        .token(mint().await)
        .system_roots(false)
        .reconnect(ivschat_client::Reconnect::never())
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ivschat_client::Error::Connect(ivschat_client::Disconnect::ConnectFailed(why)) if why.contains("TLS")),
        "{refused:?}"
    );
    let client = ivschat_client::ChatClient::builder(&url)
        .token(mint().await)
        .system_roots(false)
        .webpki_roots(false)
        .add_root_certificates_pem(pki.ca.pem())
        .connect()
        .await
        .unwrap();
    let sent = client.send_message("hello over wss").await.unwrap();
    assert_eq!(sent.sender.user_id, "rusty");
}

#[tokio::test]
async fn a_certificate_swapped_on_disk_is_served_to_new_connections_and_open_ones_keep_going() {
    let pki = Pki::new();
    let (first, second) = (pki.leaf(), pki.leaf());
    assert_ne!(first.der, second.der);
    let server = start(&first, "tls_reload_poll_ms = 100\n");
    let room = server.room(&pki).await;
    let mut open = server.chat(&pki, &room, "viewer").await;
    round_trip(&mut open, "before").await;

    server.files.write(&second);
    server.until_served(&pki, &second).await;
    server
        .until_metric("ivschat_tls_reloads_total{outcome=\"loaded\"}")
        .await;
    // The connection opened with the first certificate goes on working.
    round_trip(&mut open, "after the swap").await;
    // And new connections work end to end with the new one.
    let mut fresh = server.chat(&pki, &room, "newcomer").await;
    round_trip(&mut fresh, "with the new certificate").await;
}

#[tokio::test]
async fn sighup_reloads_and_a_bad_pair_leaves_the_old_one_serving() {
    let pki = Pki::new();
    let (first, second, third) = (pki.leaf(), pki.leaf(), pki.leaf());
    // No polling: only SIGHUP reloads, so what each step serves is the signal's doing.
    let server = start(&first, "tls_reload_poll_ms = 0\n");
    let room = server.room(&pki).await;
    let mut open = server.chat(&pki, &room, "viewer").await;

    server.files.write(&second);
    assert_eq!(server.served(&pki).await, first.der, "not without a SIGHUP");
    server.sighup();
    server.until_served(&pki, &second).await;
    round_trip(&mut open, "after sighup").await;

    // A key that does not fit the certificate: refused, the second goes on serving.
    replace(&server.files.key, &third.key_pem);
    server.sighup();
    server
        .until_metric("ivschat_tls_reloads_total{outcome=\"refused\"} 1")
        .await;
    assert_eq!(server.served(&pki).await, second.der);
    // Not PEM at all: refused too.
    replace(&server.files.cert, "not a certificate\n");
    server.sighup();
    server
        .until_metric("ivschat_tls_reloads_total{outcome=\"refused\"} 2")
        .await;
    assert_eq!(server.served(&pki).await, second.der);
    round_trip(&mut open, "still here").await;

    // A good pair again is taken.
    server.files.write(&third);
    server.sighup();
    server.until_served(&pki, &third).await;
}

/// A TLS 1.1 ClientHello (legacy version 3.2, no supported_versions extension) offering
/// TLS_RSA_WITH_AES_128_CBC_SHA.
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend_from_slice(&[7; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // cipher suites
    hello.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut out))
        .await
        .expect("the server never closed the connection")
        .ok();
    out
}

#[tokio::test]
async fn tls_1_1_and_plain_http_are_refused_cleanly() {
    let pki = Pki::new();
    let leaf = pki.leaf();
    let server = start(&leaf, "");

    // TLS 1.1: a fatal alert record (type 21, level 2; rustls says handshake_failure), then
    // the close.
    let mut old = TcpStream::connect(server.node.addr()).await.unwrap();
    old.write_all(&tls11_client_hello()).await.unwrap();
    let answer = until_closed(&mut old).await;
    assert_eq!(answer.first(), Some(&21), "{answer:?}");
    assert_eq!(answer.len(), 7, "one alert record: {answer:?}");
    assert_eq!(answer[5], 2, "fatal: {answer:?}");

    // Plain HTTP on the TLS port: no HTTP answer, the connection is closed.
    let mut plain = TcpStream::connect(server.node.addr()).await.unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut plain).await;
    assert!(!answer.starts_with(b"HTTP"), "{answer:?}");
    server
        .until_metric("ivschat_tls_handshake_failures_total{reason=\"refused\"} 2")
        .await;
    // The server goes on serving TLS clients.
    assert_eq!(server.served(&pki).await, leaf.der);
}

#[tokio::test]
async fn a_silent_client_holds_a_connection_slot_until_the_handshake_deadline_closes_it() {
    let pki = Pki::new();
    let leaf = pki.leaf();
    let server = start(
        &leaf,
        "[limits]\nheader_timeout_ms = 2000\nmax_connections_per_ip = 1\n",
    );
    // The first connection of this server: it takes the address's only slot and says nothing.
    let mut silent = TcpStream::connect(server.node.addr()).await.unwrap();
    let mut turned_away = TcpStream::connect(server.node.addr()).await.unwrap();
    assert!(until_closed(&mut turned_away).await.is_empty());
    let mut byte = [0u8; 1];
    assert_eq!(
        silent.try_read(&mut byte).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the silent client is still open when the next one is turned away"
    );
    assert!(until_closed(&mut silent).await.is_empty());
    server
        .until_metric("ivschat_tls_handshake_failures_total{reason=\"timeout\"} 1")
        .await;
    // Its slot is free again (the task that held it ends just after the close).
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            let tcp = TcpStream::connect(server.node.addr()).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            if let Ok(stream) = pki.client(&[]).connect(name, tcp).await {
                return served_leaf(&stream);
            }
        }
    })
    .await
    .expect("the slot was never freed");
}

/// A viewer that stops reading while the room is busy (with a small receive window) gets
/// every message, in order, once it reads again, through a TLS stream that stays valid (a
/// record lost, cut or repeated would fail its authentication). On loopback the server's send
/// buffer may take all of it; the records kept back when it does not are tested on their own
/// in `chat/tls_socket.rs`.
#[tokio::test]
async fn a_viewer_that_stops_reading_gets_every_message_in_order_when_it_reads_again() {
    let pki = Pki::new();
    let server = start(&pki.leaf(), "");
    let (status, room) = server
        .call(
            &pki,
            b"http/1.1",
            "CreateRoom",
            json!({"maximumMessageRatePerSecond": 100}),
        )
        .await;
    assert_eq!(status, 200, "{room}");
    let room = room["arn"].as_str().unwrap().to_string();
    let (status, token) = server
        .call(
            &pki,
            b"http/1.1",
            "CreateChatToken",
            json!({"roomIdentifier": room, "userId": "slow"}),
        )
        .await;
    assert_eq!(status, 200);
    // A small receive window, so the server's side fills after a few hundred kilobytes.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.node.addr()).await.unwrap();
    let mut slow = server
        .chat_on(&pki, tcp, token["token"].as_str().unwrap())
        .await;

    // Ten senders, ten messages each of about 1.5 KB (within every rate limit).
    let attributes: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("k{i}"), Value::String("a".repeat(90))))
        .collect();
    let content = "c".repeat(500);
    let mut senders = Vec::new();
    for s in 0..10 {
        senders.push(server.chat(&pki, &room, &format!("sender{s}")).await);
    }
    for (s, sender) in senders.iter_mut().enumerate() {
        for m in 0..10 {
            let request = json!({"Action": "SEND_MESSAGE", "RequestId": format!("{s}-{m}"),
                "Content": content, "Attributes": attributes});
            sender
                .send(Message::Text(request.to_string().into()))
                .await
                .unwrap();
        }
    }
    // Each sender gets its own ten back: the room has sent all hundred to everyone.
    for sender in &mut senders {
        let mut echoed = 0;
        while echoed < 100 {
            match tokio::time::timeout(HANG_GUARD, sender.next())
                .await
                .unwrap()
            {
                Some(Ok(Message::Text(_))) => echoed += 1,
                Some(Ok(_)) => continue,
                other => panic!("a sender's connection failed: {other:?}"),
            }
        }
    }
    // Now the slow viewer reads: per sender, its messages in the order sent.
    let mut next = [0usize; 10];
    for _ in 0..100 {
        let frame = loop {
            match tokio::time::timeout(HANG_GUARD, slow.next()).await.unwrap() {
                Some(Ok(Message::Text(text))) => {
                    break serde_json::from_str::<Value>(&text).unwrap()
                }
                Some(Ok(_)) => continue,
                other => panic!("the slow viewer's connection failed: {other:?}"),
            }
        };
        assert_eq!(frame["Type"], "MESSAGE", "{frame}");
        let (s, m) = frame["RequestId"]
            .as_str()
            .unwrap()
            .split_once('-')
            .unwrap();
        let (s, m): (usize, usize) = (s.parse().unwrap(), m.parse().unwrap());
        assert_eq!(m, next[s], "sender {s}'s messages out of order");
        next[s] += 1;
    }
}

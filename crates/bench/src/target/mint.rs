//! CreateChatToken without the AWS SDK (`--mint fast`, the default; see [`super::MintMode`]
//! for why).
//!
//! The request is the one the SDK sends: `POST /CreateChatToken`, `content-type:
//! application/json`, the body `{"capabilities":["SEND_MESSAGE"],"roomIdentifier":…,"userId":…}`
//! (the SDK's field order; `capabilities` only for senders), signed with SigV4 for the current
//! second by [`FastSigner`] (per request: one SHA-256 of the body, one of the canonical request
//! and one HMAC; the day's signing key is cached). It goes over a pool of keep-alive HTTP/1.1
//! connections (hyper, as in `ivschat-cpbench`): a connection is taken from the pool for one
//! request, driven by the task that sends it (no task per connection, no cross-task wake-up)
//! and put back, so there are never more than `--connect-concurrency` of them. A pooled
//! connection the server closed meanwhile is replaced and the request sent once more.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::signer::{self, FastSigner, Signed, SigningIdentity, Template};

const PATH: &str = "/CreateChatToken";

/// The request body, fields in the order the SDK writes them.
#[derive(Serialize)]
struct Input<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<[&'static str; 1]>,
    #[serde(rename = "roomIdentifier")]
    room_identifier: &'a str,
    #[serde(rename = "userId")]
    user_id: &'a str,
}

/// The JSON body of a CreateChatToken request.
pub fn request_body(room_arn: &str, user_id: &str, can_send: bool) -> Vec<u8> {
    serde_json::to_vec(&Input {
        capabilities: can_send.then_some(["SEND_MESSAGE"]),
        room_identifier: room_arn,
        user_id,
    })
    .expect("a struct of strings always serializes")
}

#[derive(Deserialize)]
struct Output {
    token: String,
}

#[derive(Deserialize)]
struct ErrorOutput {
    #[serde(alias = "Message")]
    message: Option<String>,
}

type Body = Full<Bytes>;
/// Drives one HTTP/1.1 connection (polled by the task that uses it).
type Driver = Pin<Box<Connection<TokioIo<TcpStream>, Body>>>;

/// One pooled keep-alive connection, with its own signer (buffers and cached key).
struct MintConn {
    sender: SendRequest<Body>,
    /// `None` once it has ended (the server closed it).
    conn: Option<Driver>,
    signer: FastSigner,
    /// The second of the last signature and its `X-Amz-Date`.
    date: (u64, String),
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// `X-Amzn-Errortype` (non-2xx only), without any `:…` suffix.
    pub error_type: Option<String>,
    pub body: Bytes,
}

/// Mints tokens over a pool of signed keep-alive connections.
pub struct FastMint {
    addr: SocketAddr,
    host: HeaderValue,
    identity: SigningIdentity,
    /// Method, path and host of every mint (the body is each request's own).
    template: Template,
    uri: Uri,
    idle: Mutex<Vec<MintConn>>,
}

impl FastMint {
    /// `host` is the endpoint's `host:port` (the `Host` header, signed); `addr` where it is.
    /// Fails unless the signer agrees with `aws-sigv4` on a request of this shape.
    pub fn new(addr: SocketAddr, host: &str, identity: SigningIdentity) -> Result<FastMint> {
        let template = Template {
            method: "POST",
            raw_path: PATH.to_string(),
            host: host.to_string(),
            body: request_body(
                "arn:aws:ivschat:us-east-1:000000000000:room/abcdEFGH1234",
                "bench-0",
                true,
            ),
        };
        FastSigner::self_test(&identity, &template)
            .context("--mint fast: the SigV4 signer failed its self-test (try --mint sdk)")?;
        Ok(FastMint {
            addr,
            host: HeaderValue::from_str(host).context("the endpoint's host is not a header")?,
            identity,
            template,
            uri: Uri::from_static(PATH),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// A token for `user_id` in `room_arn` (with `SEND_MESSAGE` if `can_send`). Errors read
    /// `CreateChatToken: HTTP <status> <X-Amzn-Errortype>: <message>` or name the transport
    /// failure.
    pub async fn mint(&self, room_arn: &str, user_id: &str, can_send: bool) -> Result<String> {
        let body = Bytes::from(request_body(room_arn, user_id, can_send));
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let answer = match pooled {
            Some(mut conn) => match self.send(&mut conn, body.clone()).await {
                Ok(answer) => {
                    self.put_back(conn);
                    answer
                }
                // Most likely closed by the server while it sat in the pool.
                Err(_) => self.send_on_new(body).await?,
            },
            None => self.send_on_new(body).await?,
        };
        token(answer)
    }

    async fn send_on_new(&self, body: Bytes) -> Result<Answer> {
        let mut conn = self.open().await?;
        let answer = self
            .send(&mut conn, body)
            .await
            .map_err(|e| anyhow!("CreateChatToken: {e}"))?;
        self.put_back(conn);
        Ok(answer)
    }

    fn put_back(&self, conn: MintConn) {
        if conn.conn.is_some() && !conn.sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }

    async fn open(&self) -> Result<MintConn> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| anyhow!("CreateChatToken: connect: {}", e.kind()))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| anyhow!("CreateChatToken: handshake: {e}"))?;
        Ok(MintConn {
            sender,
            conn: Some(Box::pin(conn)),
            signer: FastSigner::new(self.identity.clone(), &self.template),
            date: (u64::MAX, String::new()),
        })
    }

    /// Signs and sends one request on `conn` and reads the whole answer; `Err` for transport
    /// failures only.
    async fn send(&self, conn: &mut MintConn, body: Bytes) -> Result<Answer, String> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if conn.date.0 != now {
            conn.date = (now, signer::amz_date(now));
        }
        let signed = conn.signer.sign_body(&conn.date.1, &body);
        let request = build_request(&self.uri, &self.host, body, signed);
        let sender = &mut conn.sender;
        let exchange = async {
            sender
                .ready()
                .await
                .map_err(|e| format!("connection not ready: {e}"))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let status = response.status().as_u16();
            let error_type = (!response.status().is_success()).then(|| {
                let value = response
                    .headers()
                    .get("x-amzn-errortype")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                value.split(':').next().unwrap_or("").to_string()
            });
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok(Answer {
                status,
                error_type,
                body,
            })
        };
        let Some(driver) = conn.conn.as_mut() else {
            return Err("the server closed the connection".to_string());
        };
        // The connection is driven here too, alongside the request (as in ivschat-cpbench).
        let mut exchange = std::pin::pin!(exchange);
        let closed = tokio::select! {
            biased;
            answer = &mut exchange => return answer,
            closed = driver => closed,
        };
        // It ended, perhaps right after a whole answer (`connection: close`): without the
        // connection the exchange ends at once, with that answer or with an error.
        conn.conn = None;
        match closed {
            Ok(()) => exchange
                .await
                .map_err(|e| format!("the server closed the connection ({e})")),
            Err(e) => Err(format!("connection: {e}")),
        }
    }
}

/// The signed request (`signed` for exactly this body, host and path).
fn build_request(uri: &Uri, host: &HeaderValue, body: Bytes, signed: Signed) -> Request<Body> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(HOST, host.clone());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Both are ASCII by construction (a date, and hex with fixed words around it).
    if let Ok(v) = HeaderValue::try_from(signed.amz_date) {
        headers.insert("x-amz-date", v);
    }
    if let Ok(v) = HeaderValue::try_from(signed.authorization) {
        headers.insert(AUTHORIZATION, v);
    }
    request
}

/// The token of a 200, or the error.
pub fn token(answer: Answer) -> Result<String> {
    if answer.status == 200 {
        return serde_json::from_slice::<Output>(&answer.body)
            .map(|out| out.token)
            .map_err(|e| anyhow!("CreateChatToken: HTTP 200 without a token: {e}"));
    }
    let message = serde_json::from_slice::<ErrorOutput>(&answer.body)
        .ok()
        .and_then(|e| e.message)
        .unwrap_or_default();
    let error_type = answer
        .error_type
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "(no x-amzn-errortype)".to_string());
    bail!(
        "CreateChatToken: HTTP {} {error_type}: {message}",
        answer.status
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const ARN: &str = "arn:aws:ivschat:us-east-1:123456789012:room/AbCdEf123456";

    fn identity() -> SigningIdentity {
        SigningIdentity {
            access_key: "test".into(),
            secret_key: "test".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn bodies_are_the_sdks() {
        assert_eq!(
            request_body(ARN, "bench-7", true),
            format!(
                r#"{{"capabilities":["SEND_MESSAGE"],"roomIdentifier":"{ARN}","userId":"bench-7"}}"#
            )
            .into_bytes()
        );
        assert_eq!(
            request_body(ARN, "bench-8", false),
            format!(r#"{{"roomIdentifier":"{ARN}","userId":"bench-8"}}"#).into_bytes()
        );
        // Escaped like any JSON string.
        let odd: serde_json::Value =
            serde_json::from_slice(&request_body(ARN, "a\"b\\c", false)).unwrap();
        assert_eq!(odd["userId"], "a\"b\\c");
    }

    #[test]
    fn requests_carry_a_signature_aws_sigv4_agrees_with() {
        let host = "127.0.0.1:18790";
        let template = |body: Vec<u8>| Template {
            method: "POST",
            raw_path: PATH.into(),
            host: host.into(),
            body,
        };
        let mut signer = FastSigner::new(identity(), &template(request_body(ARN, "x", true)));
        let seconds = 1_767_225_600 + 45_296;
        let body = request_body(ARN, "bench-12", false);
        let signed = signer.sign_body(&signer::amz_date(seconds), &body);
        let request = build_request(
            &Uri::from_static(PATH),
            &HeaderValue::from_static(host),
            Bytes::from(body.clone()),
            signed,
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), PATH);
        let h = request.headers();
        assert_eq!(h[HOST], host);
        assert_eq!(h[CONTENT_TYPE], "application/json");
        assert_eq!(h["x-amz-date"], "20260101T123456Z");
        let theirs = signer::sign_with_aws_sigv4(
            &identity(),
            &template(body),
            SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
        )
        .unwrap();
        assert_eq!(h[AUTHORIZATION], theirs.authorization.as_str());
        assert!(theirs
            .authorization
            .contains("SignedHeaders=content-type;host;x-amz-date"));
    }

    #[test]
    fn answers() {
        let ok = Answer {
            status: 200,
            error_type: None,
            body: Bytes::from_static(
                br#"{"token":"abc.def","tokenExpirationTime":"2026-01-01T00:00:00Z","sessionExpirationTime":"2026-01-01T01:00:00Z"}"#,
            ),
        };
        assert_eq!(token(ok).unwrap(), "abc.def");
        let throttled = Answer {
            status: 429,
            error_type: Some("ThrottlingException".into()),
            body: Bytes::from_static(br#"{"message":"Rate exceeded"}"#),
        };
        assert_eq!(
            token(throttled).unwrap_err().to_string(),
            "CreateChatToken: HTTP 429 ThrottlingException: Rate exceeded"
        );
        let bare = Answer {
            status: 502,
            error_type: Some(String::new()),
            body: Bytes::from_static(b"<html>"),
        };
        assert_eq!(
            token(bare).unwrap_err().to_string(),
            "CreateChatToken: HTTP 502 (no x-amzn-errortype): "
        );
        let no_token = Answer {
            status: 200,
            error_type: None,
            body: Bytes::from_static(b"{}"),
        };
        assert!(token(no_token).is_err());
    }

    /// One request as a test server saw it.
    #[derive(Debug)]
    struct Seen {
        head: String,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }
    }

    /// A keep-alive HTTP/1.1 server answering every request with `response`, reporting each
    /// request and each accepted connection (`None`).
    async fn server(
        response: String,
    ) -> (
        SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<Option<Seen>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let response: std::sync::Arc<str> = response.into();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let _ = tx.send(None);
                let tx = tx.clone();
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let mut seen = Seen {
                            head,
                            body: Vec::new(),
                        };
                        let length: usize = seen
                            .header("content-length")
                            .map_or(0, |v| v.parse().unwrap());
                        while buf.len() < end + 4 + length {
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        seen.body = buf[end + 4..end + 4 + length].to_vec();
                        buf.drain(..end + 4 + length);
                        let _ = tx.send(Some(seen));
                        if stream.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, rx)
    }

    /// `head` (status line and headers) with `body` and its length.
    fn response(head: &str, body: &str) -> String {
        format!("{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len())
    }

    fn token_200() -> String {
        response(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json",
            r#"{"token":"tok-1","tokenExpirationTime":"2026-01-01T00:00:00Z","sessionExpirationTime":"2026-01-01T01:00:00Z"}"#,
        )
    }

    /// The fast path sends what the SDK sends (method, path, body, content type, host), reuses
    /// one connection, and reads the same answer the same way.
    #[tokio::test]
    async fn fast_requests_match_the_sdks() {
        let (addr, mut seen) = server(token_200()).await;
        let host = addr.to_string();
        let fast = FastMint::new(addr, &host, identity()).unwrap();
        for (user, can_send) in [("bench-1", true), ("bench-2", false)] {
            assert_eq!(fast.mint(ARN, user, can_send).await.unwrap(), "tok-1");
        }
        assert!(seen.recv().await.unwrap().is_none(), "one connection");
        let fast_1 = seen.recv().await.unwrap().unwrap();
        let fast_2 = seen.recv().await.unwrap().unwrap();
        assert!(
            seen.try_recv().is_err(),
            "and only one: {:?}",
            seen.try_recv()
        );

        let sdk = aws_sdk_ivschat::Client::from_conf(
            aws_sdk_ivschat::Config::builder()
                .behavior_version(aws_sdk_ivschat::config::BehaviorVersion::latest())
                .region(aws_sdk_ivschat::config::Region::new("us-east-1"))
                .endpoint_url(format!("http://{host}"))
                .credentials_provider(aws_sdk_ivschat::config::Credentials::new(
                    "test", "test", None, None, "test",
                ))
                .build(),
        );
        let out = sdk
            .create_chat_token()
            .room_identifier(ARN)
            .user_id("bench-1")
            .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::SendMessage)
            .send()
            .await
            .unwrap();
        assert_eq!(out.token.as_deref(), Some("tok-1"));
        let sdk_1 = loop {
            if let Some(s) = seen.recv().await.unwrap() {
                break s;
            }
        };

        assert_eq!(fast_1.body, sdk_1.body);
        assert_eq!(
            fast_2.body,
            format!(r#"{{"roomIdentifier":"{ARN}","userId":"bench-2"}}"#).into_bytes()
        );
        let request_line = |s: &Seen| s.head.lines().next().unwrap().to_string();
        assert_eq!(request_line(&fast_1), "POST /CreateChatToken HTTP/1.1");
        assert_eq!(request_line(&fast_1), request_line(&sdk_1));
        for name in ["host", "content-type", "content-length"] {
            assert_eq!(fast_1.header(name), sdk_1.header(name), "{name}");
        }
        for s in [&fast_1, &fast_2] {
            let auth = s.header("authorization").unwrap();
            assert!(
                auth.starts_with("AWS4-HMAC-SHA256 Credential=test/"),
                "{auth}"
            );
            assert!(auth.contains("/us-east-1/ivschat/aws4_request"), "{auth}");
            assert!(s.header("x-amz-date").is_some());
        }
    }

    #[tokio::test]
    async fn errors_name_the_status_and_type() {
        let refused = response(
            "HTTP/1.1 404 Not Found\r\nx-amzn-errortype: ResourceNotFoundException:http://internal.amazon.com/coral/\r\ncontent-type: application/json",
            r#"{"message":"room not found"}"#,
        );
        let (addr, _seen) = server(refused).await;
        let fast = FastMint::new(addr, &addr.to_string(), identity()).unwrap();
        let e = fast.mint(ARN, "u", false).await.unwrap_err().to_string();
        assert_eq!(
            e,
            "CreateChatToken: HTTP 404 ResourceNotFoundException: room not found"
        );
    }

    /// A pooled connection the server closed is replaced, and the mint still succeeds.
    #[tokio::test]
    async fn a_closed_pooled_connection_is_replaced() {
        let once = response("HTTP/1.1 200 OK\r\nconnection: close", r#"{"token":"t2"}"#);
        let (addr, mut seen) = server(once).await;
        let fast = FastMint::new(addr, &addr.to_string(), identity()).unwrap();
        for _ in 0..3 {
            assert_eq!(fast.mint(ARN, "u", true).await.unwrap(), "t2");
        }
        let mut connections = 0;
        let mut requests = 0;
        while let Ok(item) = seen.try_recv() {
            match item {
                None => connections += 1,
                Some(_) => requests += 1,
            }
        }
        assert_eq!(requests, 3);
        assert!(connections >= 2, "{connections} connection(s)");
    }

    #[tokio::test]
    async fn nothing_listening_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let fast = FastMint::new(addr, &addr.to_string(), identity()).unwrap();
        let e = fast.mint(ARN, "u", true).await.unwrap_err().to_string();
        assert!(e.starts_with("CreateChatToken: connect:"), "{e}");
    }
}

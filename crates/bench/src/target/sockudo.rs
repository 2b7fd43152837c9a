//! Sockudo, a Pusher-protocol server in Rust, a peer that a team might pick instead for chat:
//! Pusher's protocol 7 over WebSocket (`/app/{key}?protocol=7`), one public channel per room,
//! every connection (senders too) subscribed to its room's channel.
//!
//! **How senders publish, and why.** A Pusher client cannot publish to a public channel: its
//! only way is a `client-` event on a private or presence channel, which needs an HMAC-signed
//! subscription from an auth endpoint, needs client events enabled on the app, and is *not*
//! delivered back to its sender. Pusher applications send chat messages the other way: the
//! client asks the application's backend, which publishes through the HTTP API
//! (`POST /apps/{id}/events`, signed with the app secret). The generator does the same: each
//! sender connection has an HTTP/1.1 keep-alive connection of its own to that API
//! ([`Publisher`]) and publishes its messages there, in order, one request at a time. The
//! event goes to every subscriber of the channel, the sender's own socket included (no
//! `socket_id` is given to exclude it), so the loss and order accounting is the same as for
//! the other targets: every connection of a room, senders included, must get every message.
//! The content is stamped when the send is due, so the latency counts the HTTP request as
//! well (its signing, the server's check of the signature and of the body's MD5), as a real
//! backend's publish would; a publish the API refuses (non-2xx) or that fails in transport
//! is counted as refused (`errors` shows the HTTP status; -1 for a transport failure).
//!
//! Frames are JSON objects `{"event":…,"channel":…,"data":…}`. The server's
//! `pusher:connection_established` comes first; the client then sends `pusher:subscribe` and
//! the connection counts as in on `pusher_internal:subscription_succeeded`. The server's
//! `pusher:ping` is answered with `pusher:pong`. A published event arrives as
//! `{"event":"bench","channel":"<room>","data":"<content>"}` (the HTTP API's `data` is a
//! string, and the generator's contents need no JSON escapes).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request as HttpRequest, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::uri::PathAndQuery;
use tokio_tungstenite::tungstenite::http::Uri as WsUri;

use super::{Incoming, RoomRef};
use crate::ws::{Event, WsClient, OP_TEXT};

/// The event name of the generator's messages.
pub const EVENT: &str = "bench";

/// The answer to the server's `pusher:ping`.
pub const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;

/// The Pusher app the generator uses (`--pusher-app-id`, `--pusher-key`, `--pusher-secret`;
/// bench/run-compare.sh configures Sockudo with the same three).
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    pub key: String,
    pub secret: String,
}

/// What every Sockudo connection shares: the app and where its HTTP API is.
#[derive(Debug)]
pub struct Sockudo {
    app: App,
    api_addr: SocketAddr,
    api_host: HeaderValue,
}

impl Sockudo {
    /// `api_host` is the HTTP API's `host:port` (the `Host` header), `api_addr` where it is.
    pub fn new(app: App, api_addr: SocketAddr, api_host: &str) -> Result<Sockudo> {
        Ok(Sockudo {
            app,
            api_addr,
            api_host: HeaderValue::try_from(api_host).context("the HTTP API's host")?,
        })
    }

    /// Points `request` (aimed at the server, whatever its URL's path) at the app's socket
    /// path: `/app/{key}?protocol=7&client=ivschat-bench&version=…`.
    pub fn route(&self, request: &mut Request) -> Result<()> {
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = Some(PathAndQuery::try_from(socket_path(&self.app.key))?);
        *request.uri_mut() = WsUri::from_parts(parts).context("Sockudo socket URL")?;
        Ok(())
    }

    /// A publisher for one sender of `room` (its own keep-alive connection, opened on the
    /// first publish).
    pub fn publisher(&self, room: &RoomRef) -> Publisher {
        Publisher::spawn(
            self.app.clone(),
            self.api_addr,
            self.api_host.clone(),
            room.id.clone(),
        )
    }
}

/// The socket path of app `key` (protocol 7, the Pusher protocol's current version).
pub fn socket_path(key: &str) -> String {
    format!(
        "/app/{key}?protocol=7&client=ivschat-bench&version={}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The channel of room `index` of run `run_id`: a public channel (no `private-` or
/// `presence-` prefix), distinct per run.
pub fn channel(run_id: &str, index: usize) -> String {
    format!("bench-{run_id}-{index}")
}

/// The HTTP API's body for one message: `{"name":"bench","channel":…,"data":"<content>"}`
/// (`content` is `[A-Za-z0-9.]`, safe in a JSON string).
pub fn event_body(channel: &str, content: &str) -> String {
    format!(r#"{{"name":"{EVENT}","channel":"{channel}","data":"{content}"}}"#)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The path and signed query of a `POST /apps/{id}/events` with `body` at `timestamp` (Unix
/// seconds), as Pusher's HTTP API defines it: the query is `auth_key`, `auth_timestamp`,
/// `auth_version=1.0` and `body_md5` (the body's MD5 in hex), sorted by name, and
/// `auth_signature` is the hex HMAC-SHA256, keyed with the app secret, of
/// `"POST\n<path>\n<that query>"`.
pub fn signed_events_target(app: &App, body: &[u8], timestamp: u64) -> String {
    let path = format!("/apps/{}/events", app.id);
    let query = format!(
        "auth_key={}&auth_timestamp={timestamp}&auth_version=1.0&body_md5={}",
        app.key,
        hex(&Md5::digest(body))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(app.secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("POST\n{path}\n{query}").as_bytes());
    let signature = hex(&mac.finalize().into_bytes());
    format!("{path}?{query}&auth_signature={signature}")
}

/// The value of the JSON string that follows `key` (which ends with its opening quote), up
/// to the next quote; `None` if it has an escape (never in the generator's contents).
fn string_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find(['"', '\\'])?;
    (text.as_bytes()[start + len] == b'"').then(|| &text[start..start + len])
}

fn number_after(text: &str, key: &str) -> Option<i64> {
    let start = text.find(key)? + key.len();
    let rest = text[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// What one frame from the server means to the generator.
pub fn classify(frame: &str) -> Incoming<'_> {
    let Some(event) = string_after(frame, "\"event\":\"") else {
        return Incoming::Other;
    };
    match event {
        "pusher:ping" => Incoming::Reply(PONG),
        "pusher:error" => Incoming::Error {
            request_id: None,
            code: number_after(frame, "\"code\":").unwrap_or(-1),
        },
        // A published event: the content is its data (a JSON string).
        EVENT => match string_after(frame, "\"data\":\"") {
            Some(content) => Incoming::Delivery {
                content: Cow::Borrowed(content),
                server_time: None,
            },
            None => Incoming::Other,
        },
        // pusher:connection_established, pusher_internal:subscription_succeeded, …
        _ => Incoming::Other,
    }
}

/// After the WebSocket handshake: waits for `pusher:connection_established`, subscribes to
/// the room's channel, and returns once `pusher_internal:subscription_succeeded` is in (the
/// subscription is registered before the connection counts as connected; nothing is
/// published before every connection is in).
pub async fn join(ws: &mut WsClient, room: &RoomRef) -> Result<(), String> {
    let handshake = async {
        let mut subscribed = false;
        loop {
            let event = match ws.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => match ws.read().await {
                    Ok(true) => continue,
                    Ok(false) => return Err("sockudo: stream ended during subscribe".into()),
                    Err(e) => return Err(format!("sockudo: {e}")),
                },
                Err(e) => return Err(format!("sockudo: {e}")),
            };
            let payload = match event {
                Event::Binary(p) | Event::Text(p) => p,
                Event::Close { code, reason } => {
                    return Err(format!("sockudo: closed during subscribe: {code} {reason}"))
                }
            };
            let text = String::from_utf8_lossy(ws.payload(&payload)).into_owned();
            let reply = match string_after(&text, "\"event\":\"") {
                Some("pusher:connection_established") if !subscribed => {
                    subscribed = true;
                    format!(
                        r#"{{"event":"pusher:subscribe","data":{{"channel":"{}"}}}}"#,
                        room.id
                    )
                }
                Some("pusher_internal:subscription_succeeded") => return Ok(()),
                Some("pusher:error") => return Err(format!("sockudo: {}", text.trim())),
                Some("pusher:ping") => PONG.to_string(),
                _ => continue,
            };
            ws.send(OP_TEXT, reply.as_bytes())
                .await
                .map_err(|e| format!("sockudo: {e}"))?;
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), handshake).await {
        Ok(result) => result,
        Err(_) => Err("sockudo: no subscription_succeeded within 30 s".into()),
    }
}

/// One message to publish: the generator's request id (`<seq>-<send_ns>`, for refusals)
/// and the content.
struct Publish {
    request_id: String,
    content: String,
}

/// One sender's publishing through the HTTP API: a task that owns a keep-alive HTTP/1.1
/// connection and sends the queued messages one after another, in order (so a sender's
/// messages reach the server in the order it sent them, as over a WebSocket). Queuing never
/// waits, so the sender's WebSocket keeps being read while a publish is in flight.
#[derive(Debug)]
pub struct Publisher {
    queue: mpsc::UnboundedSender<Publish>,
    task: JoinHandle<Vec<(String, i64)>>,
}

impl Publisher {
    fn spawn(app: App, addr: SocketAddr, host: HeaderValue, channel: String) -> Publisher {
        let (queue, mut queued) = mpsc::unbounded_channel::<Publish>();
        let task = tokio::spawn(async move {
            let mut refused = Vec::new();
            let mut conn: Option<SendRequest<Full<Bytes>>> = None;
            while let Some(publish) = queued.recv().await {
                let body = event_body(&channel, &publish.content);
                let status = publish_one(&mut conn, &app, addr, &host, body).await;
                if !(200..300).contains(&status) {
                    refused.push((publish.request_id, status));
                }
            }
            refused
        });
        Publisher { queue, task }
    }

    /// Queues `content` for publishing; `false` if the publisher is gone.
    pub fn publish(&self, request_id: String, content: &str) -> bool {
        self.queue
            .send(Publish {
                request_id,
                content: content.to_string(),
            })
            .is_ok()
    }

    /// Waits (up to `limit`) for the queue to drain; returns the publishes that were refused
    /// or failed, as (request id, HTTP status or -1).
    pub async fn finish(self, limit: Duration) -> Vec<(String, i64)> {
        let Publisher { queue, task } = self;
        drop(queue);
        let abort = task.abort_handle();
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(refused)) => refused,
            _ => {
                abort.abort();
                Vec::new()
            }
        }
    }
}

/// Sends one publish on `conn` (opening it first if there is none, or if it has closed) and
/// returns the HTTP status, or -1 when the request could not be sent or answered.
async fn publish_one(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    app: &App,
    addr: SocketAddr,
    host: &HeaderValue,
    body: String,
) -> i64 {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = open(addr).await.ok();
    }
    let Some(sender) = conn.as_mut() else {
        return -1;
    };
    if sender.ready().await.is_err() {
        // Closed between requests (nothing was sent on it): once more on a new connection.
        *conn = open(addr).await.ok();
        let Some(fresh) = conn.as_mut() else {
            return -1;
        };
        if fresh.ready().await.is_err() {
            *conn = None;
            return -1;
        }
    }
    let Some(sender) = conn.as_mut() else {
        return -1;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let target = signed_events_target(app, body.as_bytes(), now);
    let Ok(uri) = target.parse::<Uri>() else {
        return -1;
    };
    let mut request = HttpRequest::new(Full::new(Bytes::from(body)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    request.headers_mut().insert(HOST, host.clone());
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match sender.send_request(request).await {
        Ok(response) => {
            let status = i64::from(response.status().as_u16());
            // Read the answer whole, so the connection is ready for the next request.
            if response.into_body().collect().await.is_err() {
                *conn = None;
            }
            status
        }
        Err(_) => {
            *conn = None;
            -1
        }
    }
}

/// A new keep-alive connection to the HTTP API, driven by a task of its own.
async fn open(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pusher's worked example of an HTTP API signature (the REST API reference,
    /// "Worked authentication example").
    #[test]
    fn signature_matches_pushers_worked_example() {
        let app = App {
            id: "3".into(),
            key: "278d425bdf160c739803".into(),
            secret: "7ad3773142a6692b25b8".into(),
        };
        let body = r#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(
            signed_events_target(&app, body.as_bytes(), 1_353_088_179),
            "/apps/3/events?auth_key=278d425bdf160c739803&auth_timestamp=1353088179\
             &auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f\
             &auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn event_body_is_valid_json() {
        let body = event_body("bench-1-0", "0.1.2.xx");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["name"], EVENT);
        assert_eq!(v["channel"], "bench-1-0");
        assert_eq!(v["data"], "0.1.2.xx");
    }

    #[test]
    fn frames() {
        // As Sockudo 5.2.0 writes them (PusherMessage: event, channel, data).
        assert_eq!(
            classify(r#"{"event":"bench","channel":"bench-1-0","data":"0.7.123.xx"}"#),
            Incoming::Delivery {
                content: Cow::Borrowed("0.7.123.xx"),
                server_time: None
            }
        );
        assert_eq!(
            classify(r#"{"event":"pusher:ping"}"#),
            Incoming::Reply(PONG)
        );
        assert_eq!(
            classify(r#"{"event":"pusher:ping","data":{}}"#),
            Incoming::Reply(PONG)
        );
        assert_eq!(
            classify(r#"{"event":"pusher:error","data":{"code":4301,"message":"Over capacity"}}"#),
            Incoming::Error {
                request_id: None,
                code: 4301
            }
        );
        // Control events carry a JSON-encoded string as data: never a delivery.
        assert_eq!(
            classify(
                r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#
            ),
            Incoming::Other
        );
        assert_eq!(
            classify(
                r#"{"event":"pusher_internal:subscription_succeeded","channel":"bench-1-0","data":"{}"}"#
            ),
            Incoming::Other
        );
        // Another application's event, and what is not Pusher at all.
        assert_eq!(
            classify(r#"{"event":"other","channel":"c","data":"0.1.2.x"}"#),
            Incoming::Other
        );
        assert_eq!(classify("not json"), Incoming::Other);
        // A data string with an escape is not one of ours: not taken as a content.
        assert_eq!(
            classify(r#"{"event":"bench","channel":"c","data":"a\"b"}"#),
            Incoming::Other
        );
    }

    #[test]
    fn pong_and_subscribe_are_pusher_frames() {
        let v: serde_json::Value = serde_json::from_str(PONG).unwrap();
        assert_eq!(v["event"], "pusher:pong");
        assert_eq!(
            socket_path("k"),
            format!(
                "/app/k?protocol=7&client=ivschat-bench&version={}",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    /// A publisher sends its queued messages in order, each signed, one keep-alive
    /// connection for all; a refusal comes back with its request id and status.
    #[tokio::test]
    async fn publisher_sends_in_order_and_reports_refusals() {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(stream);
            let mut seen = Vec::new();
            for i in 0..3 {
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                let target = line.split(' ').nth(1).unwrap().to_string();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).await.unwrap();
                    if header == "\r\n" {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.unwrap();
                let body = String::from_utf8(body).unwrap();
                let timestamp: u64 = target
                    .split("auth_timestamp=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(
                    target,
                    signed_events_target(&app(), body.as_bytes(), timestamp)
                );
                seen.push(body);
                let status = if i == 1 {
                    "413 Payload Too Large"
                } else {
                    "200 OK"
                };
                reader
                    .get_mut()
                    .write_all(
                        format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}").as_bytes(),
                    )
                    .await
                    .unwrap();
            }
            seen
        });
        fn app() -> App {
            App {
                id: "app".into(),
                key: "key".into(),
                secret: "secret".into(),
            }
        }
        let sockudo = Sockudo::new(app(), addr, &addr.to_string()).unwrap();
        let publisher = sockudo.publisher(&RoomRef {
            id: "bench-1-0".into(),
        });
        for seq in 0..3 {
            assert!(publisher.publish(format!("{seq}-{}", 100 + seq), &format!("0.{seq}.1.x")));
        }
        let refused = publisher.finish(Duration::from_secs(10)).await;
        assert_eq!(refused, [("1-101".to_string(), 413)]);
        let seen = server.await.unwrap();
        assert_eq!(
            seen,
            (0..3)
                .map(|seq| event_body("bench-1-0", &format!("0.{seq}.1.x")))
                .collect::<Vec<_>>()
        );
    }
}

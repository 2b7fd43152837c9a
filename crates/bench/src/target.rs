//! The protocol-specific part of a run: how to set rooms up, how to get a connection in, what a
//! send looks like on the wire and how to recognise a delivery. Everything else (scheduling,
//! timing, loss accounting, reporting) is generic and lives in the other modules.
//!
//! Targets: [`ivschat`] (the server under test), [`bare`] (`bench/floor-server`, the floor of
//! our own stack), [`nats`] (NATS over its WebSocket listener, a baseline) and [`centrifugo`]
//! (Centrifugo's JSON protocol over WebSocket, a chat server a team might pick instead) and
//! [`sockudo`] (Pusher's protocol over WebSocket, senders publishing through the HTTP API). To add another:
//! a variant of [`TargetKind`] and [`Target`], and a module with the same operations.

pub mod bare;
pub mod centrifugo;
pub mod mint;
pub mod nats;
pub mod sockudo;

use std::borrow::Cow;
use std::net::SocketAddr;

use anyhow::Result;
use clap::ValueEnum;
use tokio_tungstenite::tungstenite::handshake::client::Request;

use crate::ws::{self, WsClient};

/// `--target`: which server protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// Amazon IVS Chat (control plane over SigV4, chat over WebSocket with a token).
    Ivschat,
    /// A bare fan-out (`bench/floor-server`): room = URL path `/room/<n>`, a send = its content
    /// as a text frame, a delivery = a whole text frame. No control plane.
    Bare,
    /// NATS over WebSocket: one subject per room, `SUB` on connect, `PUB` to send, `MSG`
    /// deliveries (several per binary frame, or one split across frames). No control plane.
    NatsWs,
    /// Centrifugo (JSON protocol over WebSocket, `client.insecure`): one channel per room,
    /// `connect` + `subscribe` on connect, client-side `publish` to send, publication pushes
    /// (several per frame, `\n`-separated). No control plane.
    Centrifugo,
    /// Sockudo (Pusher protocol 7 over WebSocket): one public channel per room,
    /// `pusher:subscribe` on connect, `pusher:ping`/`pong`, events as deliveries; senders
    /// publish through the signed HTTP API (`--endpoint`), which delivers to their own
    /// socket too. No control plane.
    Sockudo,
}

/// How incoming frames are parsed (`--parse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParseMode {
    /// Find only the fields needed (a substring search for `"Content":"`); errors and unknown
    /// frames fall back to a full parse.
    Fast,
    /// Parse every frame into a `serde_json::Value` (what a naive client does), to measure the
    /// cost of parsing.
    Full,
}

/// How an IVS connection gets its chat token (`--mint`).
///
/// The default is `fast` so that the generator, not the server, is cheap: the connections
/// benchmark measures how fast the *server* mints tokens and accepts WebSockets, and through
/// the AWS SDK the generator spent about twice the server's CPU per connection (its
/// orchestration, and a SigV4 signing key derived from scratch per request) and became the
/// limit on a small machine. The fast path still sends the same request body and a full,
/// per-request SigV4 signature that the server verifies as it would the SDK's; only the
/// client's work is cut (the signer is checked against `aws-sigv4` at start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MintMode {
    /// POST /CreateChatToken over a pool of keep-alive HTTP/1.1 connections (hyper), signed
    /// per request by the bench's own SigV4 signer (the day's signing key cached; checked
    /// against aws-sigv4 at start-up).
    Fast,
    /// The AWS SDK for Rust (`create_chat_token`), as a real backend would call it; to check
    /// the fast path against, and to see what the SDK costs a client.
    Sdk,
}

impl MintMode {
    pub fn name(self) -> &'static str {
        match self {
            MintMode::Fast => "fast",
            MintMode::Sdk => "sdk",
        }
    }
}

/// A room as the target knows it (IVS: the room ARN; bare: the number in the path; NATS: the
/// subject).
#[derive(Debug, Clone)]
pub struct RoomRef {
    pub id: String,
}

/// One incoming data frame.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// What (part of) an incoming frame means to the generator. A frame yields zero or more of
/// these (NATS packs several messages into one frame and splits others across frames).
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A chat message delivered to this connection, with the content the sender put in and,
    /// where the protocol has one (IVS Chat's `SendTime`), the server's own timestamp of it
    /// in Unix nanoseconds: when it accepted the request and handed it to the fan-out.
    Delivery {
        content: Cow<'a, str>,
        server_time: Option<u64>,
    },
    /// The server refused a request (`request_id` is ours when it names one).
    Error {
        request_id: Option<String>,
        code: i64,
    },
    /// The server wants this answer (NATS: `PONG` to its `PING`); send it with
    /// [`Target::message`].
    Reply(&'static str),
    /// Anything else (events, unknown frames).
    Other,
}

/// What a connection needs to remember between frames (NATS: an item split across frames).
#[derive(Debug, Default)]
pub struct ConnState {
    nats: nats::Decoder,
    /// Senders of a target that publishes over HTTP (Sockudo): their publisher.
    pub publisher: Option<sockudo::Publisher>,
}

/// The server protocol in use. An enum rather than a trait object: there are few targets and
/// the per-frame calls stay static.
pub enum Target {
    Ivschat(Box<ivschat::IvsChat>),
    Bare,
    NatsWs,
    Centrifugo,
    Sockudo(Box<sockudo::Sockudo>),
}

/// Settings every target gets.
pub struct TargetConfig {
    /// `http://host:port` of the control plane.
    pub endpoint: String,
    /// Its `host:port` (the `Host` header) and resolved (loopback) address.
    pub endpoint_host: String,
    pub endpoint_addr: SocketAddr,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub parse: ParseMode,
    pub mint: MintMode,
    /// Sockudo: the Pusher app (its HTTP API is `endpoint`).
    pub pusher: sockudo::App,
}

impl Target {
    /// Fails if the fast SigV4 signer disagrees with `aws-sigv4` (`--mint fast`).
    pub fn new(kind: TargetKind, config: TargetConfig) -> Result<Target> {
        Ok(match kind {
            TargetKind::Ivschat => Target::Ivschat(Box::new(ivschat::IvsChat::new(config)?)),
            TargetKind::Bare => Target::Bare,
            TargetKind::NatsWs => Target::NatsWs,
            TargetKind::Centrifugo => Target::Centrifugo,
            TargetKind::Sockudo => Target::Sockudo(Box::new(sockudo::Sockudo::new(
                config.pusher,
                config.endpoint_addr,
                &config.endpoint_host,
            )?)),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Target::Ivschat(_) => "ivschat",
            Target::Bare => "bare",
            Target::NatsWs => "nats-ws",
            Target::Centrifugo => "centrifugo",
            Target::Sockudo(_) => "sockudo",
        }
    }

    /// Creates `count` rooms that accept `rate_per_second` messages per second (only IVS has
    /// a control plane; the others just name their rooms), each with `tags` (IVS only).
    pub async fn create_rooms(
        &self,
        run_id: &str,
        count: usize,
        rate_per_second: u32,
        tags: &[(String, String)],
    ) -> Result<Vec<RoomRef>> {
        match self {
            Target::Ivschat(t) => t.create_rooms(run_id, count, rate_per_second, tags).await,
            Target::Bare => Ok((0..count).map(|i| RoomRef { id: i.to_string() }).collect()),
            Target::NatsWs => Ok((0..count)
                .map(|i| RoomRef {
                    id: nats::subject(run_id, i),
                })
                .collect()),
            Target::Centrifugo => Ok((0..count)
                .map(|i| RoomRef {
                    id: centrifugo::channel(run_id, i),
                })
                .collect()),
            Target::Sockudo(_) => Ok((0..count)
                .map(|i| RoomRef {
                    id: sockudo::channel(run_id, i),
                })
                .collect()),
        }
    }

    /// Deletes the rooms made by [`Target::create_rooms`]; returns how many could not be deleted.
    pub async fn delete_rooms(&self, rooms: &[RoomRef]) -> usize {
        match self {
            Target::Ivschat(t) => t.delete_rooms(rooms).await,
            Target::Bare | Target::NatsWs | Target::Centrifugo | Target::Sockudo(_) => 0,
        }
    }

    /// Completes one connection's WebSocket upgrade request, already aimed at its server
    /// (IVS: mints a single-use token and offers it as the subprotocol; bare: the room is the
    /// path; NATS: nothing, the room is a subject).
    pub async fn prepare_request(
        &self,
        room: &RoomRef,
        user_id: &str,
        can_send: bool,
        request: &mut Request,
    ) -> Result<()> {
        match self {
            Target::Ivschat(t) => t.prepare_request(room, user_id, can_send, request).await,
            Target::Bare => bare::route(room, request),
            Target::Sockudo(t) => t.route(request),
            Target::NatsWs | Target::Centrifugo => Ok(()),
        }
    }

    /// What follows the WebSocket handshake before the connection counts as in (NATS:
    /// `CONNECT`, `SUB`, and a `PING`/`PONG` round trip so the subscription is in place).
    pub async fn join(
        &self,
        ws: &mut WsClient,
        room: &RoomRef,
        state: &mut ConnState,
    ) -> Result<(), String> {
        match self {
            Target::NatsWs => nats::join(ws, room, &mut state.nats).await,
            Target::Centrifugo => centrifugo::join(ws, room).await,
            Target::Sockudo(_) => sockudo::join(ws, room).await,
            Target::Ivschat(_) | Target::Bare => Ok(()),
        }
    }

    /// For a sender of `room` on a target whose senders publish over HTTP instead of their
    /// WebSocket (Sockudo): its publisher, to keep in [`ConnState::publisher`]. Then
    /// [`Target::encode_send`] is not used for it.
    pub fn http_publisher(&self, room: &RoomRef) -> Option<sockudo::Publisher> {
        match self {
            Target::Sockudo(t) => Some(t.publisher(room)),
            Target::Ivschat(_) | Target::Bare | Target::NatsWs | Target::Centrifugo => None,
        }
    }

    /// The frame that sends `content` (already safe to embed in JSON: `[A-Za-z0-9.]`) to
    /// `room`; turn it into a WebSocket message with [`Target::message`].
    pub fn encode_send(&self, room: &RoomRef, request_id: &str, content: &str, out: &mut String) {
        match self {
            Target::Ivschat(_) => ivschat::encode_send(request_id, content, out),
            Target::Bare => {
                out.clear();
                out.push_str(content);
            }
            Target::NatsWs => nats::encode_publish(&room.id, content, out),
            Target::Centrifugo => centrifugo::encode_publish(&room.id, request_id, content, out),
            // Publishes go through the HTTP API (Target::http_publisher); never a frame.
            Target::Sockudo(_) => out.clear(),
        }
    }

    /// The WebSocket opcode this protocol's frames use (NATS: binary; the others: text).
    pub fn opcode(&self) -> u8 {
        match self {
            Target::NatsWs => ws::OP_BINARY,
            Target::Ivschat(_) | Target::Bare | Target::Centrifugo | Target::Sockudo(_) => {
                ws::OP_TEXT
            }
        }
    }

    /// Calls `f` for each thing an incoming data frame carries (zero or more). Nothing here
    /// allocates for IVS frames nor for NATS items that lie within one frame.
    pub fn classify(
        &self,
        state: &mut ConnState,
        frame: Frame<'_>,
        f: &mut impl FnMut(Incoming<'_>),
    ) {
        match self {
            Target::Ivschat(t) => match frame {
                Frame::Text(text) => f(t.classify(text)),
                Frame::Binary(_) => f(Incoming::Other),
            },
            Target::Bare => f(bare::classify(frame)),
            Target::NatsWs => {
                let bytes = match frame {
                    Frame::Text(text) => text.as_bytes(),
                    Frame::Binary(bytes) => bytes,
                };
                state.nats.feed(bytes, &mut |item| f(nats::incoming(item)));
            }
            Target::Centrifugo => match frame {
                Frame::Text(text) => centrifugo::classify(text.as_bytes(), f),
                Frame::Binary(bytes) => centrifugo::classify(bytes, f),
            },
            Target::Sockudo(_) => match frame {
                Frame::Text(text) => f(sockudo::classify(text)),
                Frame::Binary(_) => f(Incoming::Other),
            },
        }
    }
}

pub mod ivschat {
    //! Amazon IVS Chat: `CreateRoom`/`DeleteRoom` through the AWS SDK (SigV4), `CreateChatToken`
    //! through [`super::mint`] (default) or the SDK (`--mint sdk`), the token as the
    //! `Sec-WebSocket-Protocol`, `SEND_MESSAGE` requests and `MESSAGE` frames.

    use std::borrow::Cow;
    use std::sync::Arc;

    use anyhow::{anyhow, Context, Result};
    use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_ivschat::types::ChatTokenCapability;
    use memchr::memmem::Finder;
    use tokio::sync::Semaphore;
    use tokio_tungstenite::tungstenite::handshake::client::Request;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    use super::mint::FastMint;
    use super::{Incoming, MintMode, ParseMode, RoomRef, TargetConfig};
    use crate::signer::SigningIdentity;

    /// The longest content a room accepts (the service maximum).
    pub const MAXIMUM_MESSAGE_LENGTH: i32 = 500;

    pub struct IvsChat {
        /// Rooms (both `--mint` modes), and tokens with `--mint sdk`.
        client: aws_sdk_ivschat::Client,
        /// Tokens with `--mint fast`.
        fast: Option<FastMint>,
        parse: ParseMode,
        content_key: Finder<'static>,
        /// `"SendTime":"`, searched for after the content.
        send_time_key: Finder<'static>,
    }

    impl IvsChat {
        pub fn new(config: TargetConfig) -> Result<IvsChat> {
            let fast = match config.mint {
                MintMode::Fast => Some(FastMint::new(
                    config.endpoint_addr,
                    &config.endpoint_host,
                    SigningIdentity {
                        access_key: config.access_key.clone(),
                        secret_key: config.secret_key.clone(),
                        region: config.region.clone(),
                    },
                )?),
                MintMode::Sdk => None,
            };
            let sdk = aws_sdk_ivschat::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(config.region))
                .endpoint_url(config.endpoint)
                .credentials_provider(Credentials::new(
                    config.access_key,
                    config.secret_key,
                    None,
                    None,
                    "ivschat-bench",
                ))
                .build();
            Ok(IvsChat {
                client: aws_sdk_ivschat::Client::from_conf(sdk),
                fast,
                parse: config.parse,
                content_key: Finder::new(b"\"Content\":\""),
                send_time_key: Finder::new(b"\"SendTime\":\""),
            })
        }

        pub async fn create_rooms(
            &self,
            run_id: &str,
            count: usize,
            rate_per_second: u32,
            tags: &[(String, String)],
        ) -> Result<Vec<RoomRef>> {
            let tags: std::collections::HashMap<String, String> = tags.iter().cloned().collect();
            let tags = (!tags.is_empty()).then_some(tags);
            // CreateRoom is a low-TPS API on AWS (5/s); a few at a time is plenty locally.
            let limit = Arc::new(Semaphore::new(8));
            let mut tasks = Vec::with_capacity(count);
            for i in 0..count {
                let client = self.client.clone();
                let limit = limit.clone();
                let name = format!("bench-{run_id}-{i}");
                let tags = tags.clone();
                tasks.push(tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    client
                        .create_room()
                        .name(name)
                        .set_tags(tags)
                        .maximum_message_rate_per_second(rate_per_second as i32)
                        .maximum_message_length(MAXIMUM_MESSAGE_LENGTH)
                        .send()
                        .await
                        .map_err(|e| {
                            anyhow!(
                                "CreateRoom: {}",
                                aws_sdk_ivschat::error::DisplayErrorContext(e)
                            )
                        })
                        .and_then(|out| out.arn.context("CreateRoom returned no arn"))
                }));
            }
            let mut rooms = Vec::with_capacity(count);
            let mut first_error = None;
            for task in tasks {
                match task.await? {
                    Ok(arn) => rooms.push(RoomRef { id: arn }),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                self.delete_rooms(&rooms).await;
                return Err(e);
            }
            Ok(rooms)
        }

        pub async fn delete_rooms(&self, rooms: &[RoomRef]) -> usize {
            let limit = Arc::new(Semaphore::new(8));
            let mut tasks = Vec::with_capacity(rooms.len());
            for room in rooms {
                let client = self.client.clone();
                let limit = limit.clone();
                let arn = room.id.clone();
                tasks.push(tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    client.delete_room().identifier(arn).send().await.is_ok()
                }));
            }
            let mut failed = 0;
            for task in tasks {
                if !matches!(task.await, Ok(true)) {
                    failed += 1;
                }
            }
            failed
        }

        /// Mints a token for `user_id` in `room` and offers it as the upgrade's subprotocol.
        pub async fn prepare_request(
            &self,
            room: &RoomRef,
            user_id: &str,
            can_send: bool,
            request: &mut Request,
        ) -> Result<()> {
            let token = match &self.fast {
                Some(fast) => fast.mint(&room.id, user_id, can_send).await?,
                None => self.mint_with_sdk(room, user_id, can_send).await?,
            };
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::try_from(token).context("token is not a valid header value")?,
            );
            Ok(())
        }

        /// CreateChatToken through the AWS SDK (`--mint sdk`).
        pub async fn mint_with_sdk(
            &self,
            room: &RoomRef,
            user_id: &str,
            can_send: bool,
        ) -> Result<String> {
            let mut call = self
                .client
                .create_chat_token()
                .room_identifier(&room.id)
                .user_id(user_id);
            if can_send {
                call = call.capabilities(ChatTokenCapability::SendMessage);
            }
            call.send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "CreateChatToken: {}",
                        aws_sdk_ivschat::error::DisplayErrorContext(e)
                    )
                })?
                .token
                .context("CreateChatToken returned no token")
        }

        pub fn classify<'a>(&self, frame: &'a str) -> Incoming<'a> {
            match self.parse {
                ParseMode::Fast => self.classify_fast(frame),
                ParseMode::Full => classify_full(frame),
            }
        }

        /// Server frames are `{"Type":"MESSAGE",…,"Content":"…",…}`; only MESSAGE frames have a
        /// `Content` key, and the bench's contents never need JSON escapes, so the content is
        /// the bytes up to the next quote. Anything else is rare and parsed fully.
        fn classify_fast<'a>(&self, frame: &'a str) -> Incoming<'a> {
            let bytes = frame.as_bytes();
            if let Some(at) = self.content_key.find(bytes) {
                let start = at + self.content_key.needle().len();
                if let Some(len) = memchr::memchr2(b'"', b'\\', &bytes[start..]) {
                    if bytes[start + len] == b'"' {
                        let rest = &bytes[start + len..];
                        let server_time = self.send_time_key.find(rest).and_then(|at| {
                            let from = start + len + at + self.send_time_key.needle().len();
                            let end = from + memchr::memchr(b'"', &bytes[from..])?;
                            crate::rfc3339::parse_utc_nanos(&frame[from..end])
                        });
                        return Incoming::Delivery {
                            content: Cow::Borrowed(&frame[start..start + len]),
                            server_time,
                        };
                    }
                }
            }
            classify_full(frame)
        }
    }

    fn classify_full(frame: &str) -> Incoming<'_> {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(frame) else {
            return Incoming::Other;
        };
        match map.get("Type").and_then(|t| t.as_str()) {
            Some("MESSAGE") => match map.remove("Content") {
                Some(serde_json::Value::String(content)) => Incoming::Delivery {
                    content: Cow::Owned(content),
                    server_time: map
                        .get("SendTime")
                        .and_then(|t| t.as_str())
                        .and_then(crate::rfc3339::parse_utc_nanos),
                },
                _ => Incoming::Other,
            },
            Some("ERROR") => Incoming::Error {
                request_id: map
                    .get("RequestId")
                    .and_then(|r| r.as_str())
                    .filter(|r| !r.is_empty())
                    .map(str::to_string),
                code: map.get("ErrorCode").and_then(|c| c.as_i64()).unwrap_or(0),
            },
            _ => Incoming::Other,
        }
    }

    /// `{"Action":"SEND_MESSAGE","RequestId":…,"Content":…}`; both strings are JSON-safe.
    pub fn encode_send(request_id: &str, content: &str, out: &mut String) {
        out.clear();
        out.push_str(r#"{"Action":"SEND_MESSAGE","RequestId":""#);
        out.push_str(request_id);
        out.push_str(r#"","Content":""#);
        out.push_str(content);
        out.push_str(r#""}"#);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn target(parse: ParseMode) -> IvsChat {
            IvsChat::new(TargetConfig {
                endpoint: "http://127.0.0.1:1".into(),
                endpoint_host: "127.0.0.1:1".into(),
                endpoint_addr: "127.0.0.1:1".parse().unwrap(),
                region: "us-east-1".into(),
                access_key: "test".into(),
                secret_key: "test".into(),
                parse,
                mint: MintMode::Fast,
                pusher: super::super::sockudo::App {
                    id: "app".into(),
                    key: "key".into(),
                    secret: "secret".into(),
                },
            })
            .unwrap()
        }

        const MESSAGE: &str = r#"{"Type":"MESSAGE","Id":"WhO6MW6iRdS5","RequestId":"r1","Attributes":{},"Content":"3.17.123456.xxxx","SendTime":"2023-01-05T14:33:32.894089757Z","Sender":{"UserId":"u","Attributes":{}}}"#;
        const ERROR: &str = r#"{"Type":"ERROR","Id":"olSWkpp9Vq20","RequestId":"r9-42","ErrorCode":429,"ErrorMessage":"too many"}"#;
        const EVENT: &str = r#"{"Type":"EVENT","Id":"BbmMwDcV1h6T","RequestId":"","EventName":"app:x","Attributes":{},"SendTime":"2026-11-21T21:00:28.66927975Z"}"#;

        #[tokio::test]
        async fn both_parsers_agree() {
            for mode in [ParseMode::Fast, ParseMode::Full] {
                let t = target(mode);
                assert_eq!(
                    t.classify(MESSAGE),
                    Incoming::Delivery {
                        content: Cow::Borrowed("3.17.123456.xxxx"),
                        server_time: Some(1_672_929_212_894_089_757),
                    }
                );
                assert_eq!(
                    t.classify(ERROR),
                    Incoming::Error {
                        request_id: Some("r9-42".into()),
                        code: 429
                    }
                );
                assert_eq!(t.classify(EVENT), Incoming::Other);
                assert_eq!(t.classify("not json"), Incoming::Other);
            }
        }

        /// The cost of recognising a delivery, per frame (a 200-byte content, as in the
        /// scenarios). Run: `cargo test --release -p ivschat-bench parse_cost -- --ignored --nocapture`.
        #[tokio::test]
        #[ignore]
        async fn parse_cost() {
            let content = format!("3.17.123456789.{}", "x".repeat(185));
            let frame = MESSAGE.replace("3.17.123456.xxxx", &content);
            for mode in [ParseMode::Fast, ParseMode::Full] {
                let t = target(mode);
                let n = 1_000_000;
                let start = std::time::Instant::now();
                let mut found = 0usize;
                for _ in 0..n {
                    if let Incoming::Delivery { content, .. } =
                        t.classify(std::hint::black_box(&frame))
                    {
                        found += content.len();
                    }
                }
                let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
                assert_eq!(found, content.len() * n as usize);
                println!(
                    "{mode:?}: {ns:.0} ns per {}-byte MESSAGE frame",
                    frame.len()
                );
            }
        }

        #[test]
        fn send_frame_is_valid_json() {
            let mut out = String::new();
            encode_send("r1-5", "0.1.2.xx", &mut out);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["Action"], "SEND_MESSAGE");
            assert_eq!(v["RequestId"], "r1-5");
            assert_eq!(v["Content"], "0.1.2.xx");
        }
    }
}

//! One chat connection (`docs/protocol/messaging.md` §1.4–§6): reads requests, enforces
//! capabilities, limits and session expiry, and writes the room's frames.
//!
//! Every request gets exactly one answer: the broadcast MESSAGE/EVENT carrying its
//! `RequestId` (which the requester receives too), or an ERROR to this connection only.
//! How a connection ends:
//!
//! | cause | what the client gets |
//! |---|---|
//! | session expiry | ERROR 401, then close 1000 with the error as JSON reason (the JS SDK reconnects with a new token) |
//! | DisconnectUser | the `aws:DISCONNECT_USER` EVENT, then close 1001 with the reason as text |
//! | DeleteRoom | ERROR 404, then close 1000 |
//! | too slow (more than `ROOM_BACKLOG` frames waiting, or the socket full for `chat.write_timeout_ms`) | close 1008 with a reason, counted |
//! | more frames of any kind than its budget ([`FRAMES_PER_SECOND`], bursts of [`FRAME_BURST`]), or more than `outbox::MAX_ANSWERS_PENDING` answers not yet delivered | close 1008 with a reason, counted as abuse |
//! | server shutdown | close 1001 |
//! | a message or frame larger than `chat.max_message_bytes` | ERROR 413, then close 1009 (the rest of the frame cannot be skipped) |
//! | no answer (pong or any frame) to a ping within `chat.pong_timeout_ms` | close 1001 with the reason (`session/keepalive.rs`) |
//! | an RFC 6455 violation: invalid UTF-8, reserved bits, unmasked or unknown frames, … | close 1007 or 1002 (`session/violation.rs`) |
//! | the client's close frame | the same close frame back (RFC 6455 §5.5.1), or 1002 for a code that may not be sent |
//!
//! Room frames do not pass through this task: the room's fan-out writes them to the socket
//! (`fanout.rs`, `outbox.rs`). This task reads requests, writes its own frames through
//! tungstenite into the same outbox, drains the outbox when the socket was full, and ends the
//! connection when the room says so. Messages for a room with a review handler go to the
//! connection's review worker (`review_worker.rs`).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use ivschat_proto::control::ChatTokenCapability;
use ivschat_proto::messaging::{
    parse_request, to_json, Action, ChatErrorCode, ErrorFrame, MessageFrame, Request, Sender,
};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

use self::keepalive::{Due, Keepalive};
use super::fanout::Seat;
use super::outbox::{Outbox, OutboxWriter, RoomEnding, SessionIo, Signal};
use super::review::{ReviewRequest, ReviewSender, Reviewer};
use super::review_worker::{next_reply, PendingReview, ReviewLink};
use super::rooms::LiveRoom;
use super::socket::ClientSocket;
use super::{Declined, FrameIds, Hub, RoomRef};
use crate::chat_log::RecordType;
use crate::config::ChatLimits;
use crate::domain::arn::{ArnScope, ResourceKind};
use crate::domain::clock::{format_time_nanos, Clock};
use crate::domain::ids::new_id;
use crate::domain::resources::Room;
use crate::domain::token::TokenClaims;
use crate::limits::ConnectionPermit;
use crate::metrics::Metrics;
use crate::token_bucket::TokenBucket;

mod keepalive;
mod violation;

/// "Rate of messaging requests per connection: 10 per second" (not adjustable).
pub const REQUESTS_PER_SECOND_PER_CONNECTION: u32 = 10;
/// Every frame a client sends (text, binary, ping, pong; valid or not) takes one from its
/// frame budget, refilled at this rate. Beyond the request rate a client gets ERROR 429
/// answers; a client that goes on at more than twice that rate is abusing the server, and
/// every answer it gets costs its room's fan-out, so it is closed (1008) instead.
pub const FRAMES_PER_SECOND: u32 = 2 * REQUESTS_PER_SECOND_PER_CONNECTION;
/// Frames a client may send at once before its budget is spent (an SDK that reconnects and
/// sends what it queued, a test sending 30 requests at once).
pub const FRAME_BURST: u32 = 50;
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

/// Whether a read failed because the client's message exceeded `chat.max_message_bytes`.
fn too_big(error: &tungstenite::Error) -> bool {
    use tungstenite::error::{CapacityError, Error};
    matches!(error, Error::Capacity(CapacityError::MessageTooLong { .. }))
}

/// The client's side of a chat connection, as tungstenite sees it.
type ChatSocket = WebSocketStream<SessionIo<TokioIo<Upgraded>>>;

/// What every chat session shares: built once by the server, handed to each session (and its
/// review worker) by the handshake.
pub struct Sessions {
    pub hub: Arc<Hub>,
    pub clock: Clock,
    /// The server's ARNs: the room ARN a review handler is sent is in the token's account.
    pub scope: ArnScope,
    pub reviewer: Reviewer,
    /// Review outcomes are counted here.
    pub metrics: Arc<Metrics>,
    /// A write that cannot complete in this time means the client stopped reading.
    pub write_timeout: Duration,
    /// Pings and their deadline (`session/keepalive.rs`).
    pub limits: ChatLimits,
    /// Every session and review worker, so shutdown can wait for their close frames.
    pub tasks: TaskTracker,
}

pub struct SessionParams {
    pub claims: TokenClaims,
    pub membership: Membership,
    /// The client's address (behind a proxy, the one the proxy reported:
    /// `http_server/client_address.rs`): logs and the review handler's `Sender.Ip`.
    pub client: IpAddr,
    /// Held for the session's lifetime (connection limits).
    pub permit: Option<ConnectionPermit>,
}

/// A connection's place in a live room. Dropping it (session end, or an upgrade that never
/// completed) leaves the room, which the hub forgets when its last member leaves.
pub struct Membership {
    hub: Arc<Hub>,
    pub room: Arc<LiveRoom>,
    seat: Seat,
}

impl Membership {
    /// Joins the room with the connection's socket: from here on the room's frames for this
    /// connection wait in its outbox until the session opens it.
    pub fn join(
        hub: Arc<Hub>,
        room: &Room,
        socket: Arc<ClientSocket>,
        user_id: &str,
        replays: bool,
    ) -> Membership {
        let (room, seat) = hub.join(room, socket, Arc::from(user_id), replays);
        Membership { hub, room, seat }
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.seat.outbox
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.seat.outbox.seal();
        self.hub.leave(&self.room, &self.seat);
    }
}

/// What the client is told as the session ends ([`RoomEnding`] is why the room ends it).
enum Farewell {
    /// The client closed or the socket failed: nothing more to send.
    Gone,
    /// Send these frames (maybe none), then close with this code and reason.
    Close {
        error: Option<(ChatErrorCode, &'static str)>,
        code: u16,
        reason: String,
    },
}

pub async fn run_session(
    shared: Arc<Sessions>,
    upgraded: TokioIo<Upgraded>,
    config: WebSocketConfig,
    params: SessionParams,
) {
    let hub = shared.hub.clone();
    let membership = params.membership;
    let room = membership.room.clone();
    let outbox = membership.outbox().clone();
    let io = SessionIo {
        read: upgraded,
        write: OutboxWriter(outbox.clone()),
    };
    let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    hub.stats.connections_opened.fetch_add(1, Ordering::Relaxed);
    hub.stats.connections_open.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(room = %room.id, client = %params.client, "chat connection opened");
    let write_timeout = shared.write_timeout;
    let mut session = Session {
        shared,
        socket,
        outbox,
        room: room.clone(),
        claims: params.claims,
        requests: TokenBucket::new(REQUESTS_PER_SECOND_PER_CONNECTION),
        frames: TokenBucket::with_burst(FRAMES_PER_SECOND, FRAME_BURST),
        answers_refused: false,
        write_timeout,
        client: params.client,
        reviews: None,
        rearm_expiry: false,
    };
    // Counted present from here (the socket is open) until the session ends: refused
    // handshakes never arrive, so they make no join or leave (`presence/`).
    let presence = room.presence.arrive(
        session.outbox.shared_user_id().clone(),
        &session.claims.attributes,
    );
    let farewell = session.serve().await;
    // Boxed, like `handle_request` below: a task's future is allocated at the size of its
    // largest state, for as long as the connection lives, so the rare paths must not be inline.
    Box::pin(session.finish(farewell)).await;
    drop(presence);
    drop(membership);
    drop(params.permit);
    hub.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
}

struct Session {
    shared: Arc<Sessions>,
    socket: ChatSocket,
    /// Where the room's frames and this session's own frames queue for the socket.
    outbox: Arc<Outbox>,
    room: Arc<LiveRoom>,
    claims: TokenClaims,
    requests: TokenBucket,
    /// Every frame the client sends, whatever it is (see [`FRAMES_PER_SECOND`]).
    frames: TokenBucket,
    /// Set when the room refused an answer for this connection (too many pending): the
    /// session closes it.
    answers_refused: bool,
    /// A write that cannot complete in this time means the client stopped reading.
    write_timeout: Duration,
    client: IpAddr,
    /// This connection's review worker, started on first use (most connections never send,
    /// and two channels cost more than a kilobyte per connection).
    reviews: Option<ReviewLink>,
    /// Set when the clock moved: the expiry timer is re-armed before the next wait.
    rearm_expiry: bool,
}

impl Session {
    async fn serve(&mut self) -> Farewell {
        // Shutdown and clock changes arrive through the outbox (see `Hub::close_sessions`);
        // only a session that started after shutdown began must ask the hub itself.
        if self.shared.hub.is_closing() {
            return close(CLOSE_GOING_AWAY, "server shutting down");
        }
        // The 101 is out: room frames may now go to the socket.
        self.outbox.open();
        let outbox = self.outbox.clone();
        let mut keepalive = Keepalive::new(Instant::now(), &self.shared.limits);
        // One timer for session expiry and the keepalive's pings and deadlines.
        let timer = tokio::time::sleep_until(self.next_wake(&keepalive));
        tokio::pin!(timer);
        // Armed while the socket is full: the client must read within the write timeout.
        let stall = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(stall);
        let mut stalled = false;
        loop {
            if std::mem::take(&mut self.rearm_expiry) {
                timer.as_mut().reset(self.next_wake(&keepalive));
            }
            tokio::select! {
                biased;
                _ = &mut timer => {
                    if self.expired() {
                        return expired();
                    }
                    match keepalive.on_timer(Instant::now()) {
                        Due::Unanswered => return self.unanswered(keepalive.timeout()),
                        Due::Ping => {
                            if !self.ping().await {
                                return Farewell::Gone;
                            }
                        }
                        Due::Nothing => {}
                    }
                    timer.as_mut().reset(self.next_wake(&keepalive));
                }
                signal = std::future::poll_fn(|cx| outbox.poll_signal(cx)) => match signal {
                    Signal::End(ending) => return self.room_ending(ending),
                    Signal::ClockChanged => self.rearm_expiry = true,
                    Signal::Stalled => {
                        stalled = true;
                        stall.as_mut().reset(Instant::now() + self.write_timeout);
                    }
                    Signal::Drained => stalled = false,
                },
                _ = &mut stall, if stalled => return self.too_slow("stopped reading"),
                Some(reply) = next_reply(&mut self.reviews) => {
                    if !self.room.answer(&outbox, reply.as_str()) {
                        return self.abusive("too many answers not yet delivered");
                    }
                }
                incoming = self.socket.next() => {
                    let message = match incoming {
                        Some(Ok(message)) => message,
                        Some(Err(e)) if too_big(&e) => {
                            return Farewell::Close {
                                error: Some((ChatErrorCode::PayloadTooLarge, "the message is larger than this server accepts")),
                                code: CLOSE_TOO_BIG,
                                reason: "message too big".into(),
                            };
                        }
                        Some(Err(e)) => {
                            return match violation::close_for(&e) {
                                Some((code, reason)) => close(code, reason),
                                None => Farewell::Gone,
                            };
                        }
                        None => return Farewell::Gone,
                    };
                    keepalive.heard();
                    // A close ends the connection anyway; everything else counts.
                    if !matches!(message, Message::Close(_)) && !self.frames.try_take() {
                        return self.abusive(FRAME_BUDGET_SPENT);
                    }
                    match message {
                        Message::Text(text) => {
                            // Boxed: handling a request (review, logging, the bus) is a
                            // deep future; inline, it made every idle session's task 3.4 KiB
                            // instead of a few hundred bytes. A request costs one allocation.
                            if let Some(farewell) = Box::pin(self.handle_request(&text)).await {
                                return farewell;
                            }
                        }
                        Message::Binary(_) => {
                            self.send_error(None, ChatErrorCode::BadRequest, "send requests as JSON text frames".into());
                        }
                        // Pings are answered by the WebSocket layer itself; a pong has done its
                        // job above (`keepalive.heard`).
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        Message::Close(_) => {
                            // tungstenite queued the close frame back (RFC 6455 §5.5.1; 1002 for
                            // a code that may not be sent); it goes out with this flush.
                            let _ = self.flush().await;
                            return Farewell::Gone;
                        }
                    }
                    if self.answers_refused {
                        return self.abusive("too many answers not yet delivered");
                    }
                }
            }
        }
    }

    /// What the client is told when the room ends the session. Frames the room sent before
    /// are already queued ahead of it (the `aws:DISCONNECT_USER` event before its close).
    fn room_ending(&self, ending: RoomEnding) -> Farewell {
        match ending {
            RoomEnding::Disconnected(reason) => close(
                CLOSE_GOING_AWAY,
                reason.as_deref().unwrap_or("disconnected by a moderator"),
            ),
            RoomEnding::Deleted => Farewell::Close {
                error: Some((ChatErrorCode::NotFound, "the chat room was deleted")),
                code: CLOSE_NORMAL,
                reason: String::new(),
            },
            RoomEnding::Shutdown => close(CLOSE_GOING_AWAY, "server shutting down"),
            RoomEnding::EventsMissed => close(
                CLOSE_GOING_AWAY,
                "this server lost the cluster bus and may have missed messages; reconnect",
            ),
            RoomEnding::TooSlow(why) => {
                tracing::warn!(room = %self.room.id, why, "chat connection fell behind its room; disconnecting");
                self.too_slow(why)
            }
            RoomEnding::Broken => Farewell::Gone,
        }
    }

    /// The client answered no ping in time: it vanished, or it does not speak WebSocket.
    fn unanswered(&self, timeout: Duration) -> Farewell {
        tracing::debug!(room = %self.room.id, client = %self.client, "chat connection answered no ping; closing");
        close(
            CLOSE_GOING_AWAY,
            &format!("no answer to ping within {} ms", timeout.as_millis()),
        )
    }

    /// Sends a ping without waiting for a full socket: what the socket does not take waits in
    /// the outbox behind the room's frames, drained by the session loop and bounded by the
    /// write timeout like everything else. False if the socket failed.
    async fn ping(&mut self) -> bool {
        let mut send = std::pin::pin!(self.socket.send(Message::Ping(Default::default())));
        std::future::poll_fn(|cx| match std::future::Future::poll(send.as_mut(), cx) {
            std::task::Poll::Ready(result) => std::task::Poll::Ready(result.is_ok()),
            std::task::Poll::Pending => std::task::Poll::Ready(true),
        })
        .await
    }

    /// The client sent more than its budget: closed, whatever its requests were.
    fn abusive(&self, why: &str) -> Farewell {
        tracing::debug!(room = %self.room.id, client = %self.client, why, "chat connection over its budget; closing");
        self.shared
            .hub
            .stats
            .abuse_disconnects
            .fetch_add(1, Ordering::Relaxed);
        close(CLOSE_POLICY, why)
    }

    fn too_slow(&self, why: &str) -> Farewell {
        self.shared.hub.count_slow_disconnect();
        close(CLOSE_POLICY, &format!("too slow: {why}"))
    }

    /// Handles one request. `Some` ends the session.
    async fn handle_request(&mut self, text: &str) -> Option<Farewell> {
        self.shared
            .hub
            .stats
            .messages_in
            .fetch_add(1, Ordering::Relaxed);
        let parsed = parse_request(text);
        let request_id = match &parsed {
            Ok(request) => request.request_id.clone(),
            Err(e) => e.request_id.clone(),
        };
        if self.expired() {
            // Written at once, not through the room: the session ends now and seals its
            // outbox, which would drop an answer still on its way through the room.
            let frame = ErrorFrame::new(
                new_id(),
                request_id,
                ChatErrorCode::Unauthorized,
                SESSION_EXPIRED.into(),
            );
            if self
                .feed(Message::Text(Utf8Bytes::from(to_json(&frame))))
                .await
            {
                self.flush().await;
            }
            return Some(expired());
        }
        if !self.requests.try_take() {
            let message = format!(
                "too many requests: at most {REQUESTS_PER_SECOND_PER_CONNECTION} per second per connection"
            );
            self.send_error(request_id, ChatErrorCode::TooManyRequests, message);
            return None;
        }
        match parsed {
            Ok(request) => {
                if let Err((code, message)) = self.perform(request.clone()).await {
                    self.send_error(request.request_id, code, message);
                }
            }
            Err(e) => self.send_error(e.request_id, e.code, e.message),
        }
        None
    }

    /// Checks and carries out a request. Success is answered by the broadcast itself.
    async fn perform(&mut self, request: Request) -> Result<(), (ChatErrorCode, String)> {
        let hub = &self.shared.hub;
        let Request { request_id, action } = request;
        match action {
            Action::SendMessage {
                content,
                attributes,
            } => {
                self.require(ChatTokenCapability::SendMessage, "SEND_MESSAGE")?;
                let settings = self.room.settings();
                let length = content.chars().count();
                if length == 0 {
                    return Err((
                        ChatErrorCode::BadRequest,
                        "Content must not be empty".into(),
                    ));
                }
                let max = settings.maximum_message_length.max(0) as usize;
                if length > max {
                    return Err((
                        ChatErrorCode::BadRequest,
                        format!(
                            "Message content must be at most {max} characters (it has {length})"
                        ),
                    ));
                }
                hub.try_take_room_message(&self.room, settings.maximum_message_rate_per_second)
                    .await
                    .map_err(|declined| match declined {
                        Declined::RateLimited { limit } => (
                            ChatErrorCode::TooManyRequests,
                            format!("too many messages: this room allows {limit} per second"),
                        ),
                        Declined::Unavailable => unavailable(),
                    })?;
                let id = new_id();
                let at = self.shared.clock.now();
                let sender = Sender {
                    user_id: self.claims.user_id.clone(),
                    attributes: self.claims.attributes.clone(),
                };
                match settings.review_handler_uri {
                    Some(function_arn) => self.queue_review(PendingReview {
                        request: ReviewRequest {
                            content,
                            message_id: id,
                            room_arn: self
                                .shared
                                .scope
                                .of_stored_account(&self.claims.account)
                                .arn(ResourceKind::Room, &self.room.id),
                            attributes,
                            sender: ReviewSender {
                                attributes: sender.attributes.clone(),
                                user_id: sender.user_id.clone(),
                                ip: self.client.to_string(),
                            },
                        },
                        function_arn,
                        account: self.claims.account.clone(),
                        request_id,
                        fallback: settings.review_fallback,
                        max_length: max,
                        at,
                        sender,
                    })?,
                    None => {
                        let frame = MessageFrame::new(
                            id,
                            request_id,
                            content,
                            attributes,
                            format_time_nanos(at),
                            sender,
                        );
                        let room = RoomRef {
                            id: &self.room.id,
                            account: &self.claims.account,
                            logging_ids: &settings.logging_configuration_ids,
                            history: settings.options.retention(),
                        };
                        hub.broadcast(
                            room,
                            RecordType::Message,
                            &frame,
                            FrameIds::of(&frame.id),
                            at,
                        )
                        .await
                        .map_err(|_| unavailable())?;
                    }
                }
            }
            Action::DeleteMessage { id, reason } => {
                self.require(ChatTokenCapability::DeleteMessage, "DELETE_MESSAGE")?;
                let settings = self.room.settings();
                let room = RoomRef {
                    id: &self.room.id,
                    account: &self.claims.account,
                    logging_ids: &settings.logging_configuration_ids,
                    history: settings.options.retention(),
                };
                hub.delete_message(room, id, reason, request_id)
                    .await
                    .map_err(|declined| account_limit("DELETE_MESSAGE", declined))?;
            }
            Action::DisconnectUser { user_id, reason } => {
                self.require(ChatTokenCapability::DisconnectUser, "DISCONNECT_USER")?;
                let settings = self.room.settings();
                let room = RoomRef {
                    id: &self.room.id,
                    account: &self.claims.account,
                    logging_ids: &settings.logging_configuration_ids,
                    history: settings.options.retention(),
                };
                hub.disconnect_user(room, user_id, reason, request_id)
                    .await
                    .map_err(|declined| account_limit("DISCONNECT_USER", declined))?;
            }
        }
        Ok(())
    }

    /// Hands a message to this connection's review worker (started on first use), which
    /// reviews messages one at a time so they are delivered in the order they were sent.
    fn queue_review(&mut self, pending: PendingReview) -> Result<(), (ChatErrorCode, String)> {
        self.reviews
            .get_or_insert_with(|| ReviewLink::start(&self.shared, self.room.clone()))
            .queue(pending)
    }

    fn require(
        &self,
        capability: ChatTokenCapability,
        name: &str,
    ) -> Result<(), (ChatErrorCode, String)> {
        if self.claims.capabilities.contains(&capability) {
            Ok(())
        } else {
            Err((
                ChatErrorCode::Forbidden,
                format!("this connection's token does not have the {name} capability"),
            ))
        }
    }

    fn expired(&self) -> bool {
        self.shared.clock.now_micros() >= self.claims.session_expires
    }

    /// When the session's timer must fire next: session expiry or the keepalive's next ping
    /// or deadline, whichever is first.
    fn next_wake(&self, keepalive: &Keepalive) -> Instant {
        let expiry = self.session_deadline();
        keepalive.next_at().map_or(expiry, |at| at.min(expiry))
    }

    /// The monotonic instant at which the session expires, by the (advanceable) clock.
    fn session_deadline(&self) -> Instant {
        let remaining = self.claims.session_expires - self.shared.clock.now_micros();
        Instant::now() + Duration::from_micros(remaining.max(0) as u64)
    }

    /// Answers this connection only, in the room's order (see `NodeEvent::Direct`).
    /// If the room refuses it (this connection has too many answers on their way), the
    /// session closes the connection after the current frame.
    fn send_error(&mut self, request_id: Option<String>, code: ChatErrorCode, message: String) {
        let frame = ErrorFrame::new(new_id(), request_id, code, message);
        if !self.room.answer(&self.outbox, &to_json(&frame)) {
            self.answers_refused = true;
        }
    }

    async fn feed(&mut self, message: Message) -> bool {
        let limit = self.write_timeout;
        within(limit, self.socket.feed(message)).await
    }

    async fn flush(&mut self) -> bool {
        let limit = self.write_timeout;
        within(limit, self.socket.flush()).await
    }

    /// Sends what the farewell calls for and the close frame, without waiting on a stuck
    /// client.
    async fn finish(&mut self, farewell: Farewell) {
        // Nothing from the room after the close frame.
        self.outbox.seal();
        let Farewell::Close {
            error,
            code,
            reason,
        } = farewell
        else {
            return;
        };
        if let Some((code, message)) = error {
            let frame = ErrorFrame::new(new_id(), None, code, message.to_string());
            let _ = self
                .feed(Message::Text(Utf8Bytes::from(to_json(&frame))))
                .await;
        }
        let close = Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from(truncate_reason(&reason)),
        }));
        let _ = self.feed(close).await;
        let _ = self.flush().await;
    }
}

/// Runs a socket write, true if it succeeded within `limit`. Nearly every write completes on
/// its first poll (the kernel buffer has room), so the timer is only set up when it does not:
/// a `tokio::time::timeout` around every write read the clock and touched the timer driver
/// twice per delivery, about 6% of the server's time when fanning out to 10,000 sockets.
async fn within<E>(
    limit: Duration,
    write: impl std::future::Future<Output = Result<(), E>>,
) -> bool {
    let mut write = std::pin::pin!(write);
    let first = std::future::poll_fn(|cx| match write.as_mut().poll(cx) {
        std::task::Poll::Ready(done) => std::task::Poll::Ready(Some(done)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await;
    match first {
        Some(done) => done.is_ok(),
        None => matches!(tokio::time::timeout(limit, write).await, Ok(Ok(()))),
    }
}

fn account_limit(action: &str, declined: Declined) -> (ChatErrorCode, String) {
    match declined {
        Declined::RateLimited { limit } => (
            ChatErrorCode::TooManyRequests,
            format!("too many requests: {action} is limited to {limit} per second for the account"),
        ),
        Declined::Unavailable => unavailable(),
    }
}

/// The bus is unreachable: the request was not carried out.
pub(super) fn unavailable() -> (ChatErrorCode, String) {
    (
        ChatErrorCode::InternalServerError,
        "chat is temporarily unavailable (the cluster bus cannot be reached); try again".into(),
    )
}

const FRAME_BUDGET_SPENT: &str =
    "too many frames: at most 20 per second (bursts of 50) per connection";

const SESSION_EXPIRED: &str = "the chat session has expired; connect again with a new token";

fn expired() -> Farewell {
    let reason = to_json(&serde_json::json!({"ErrorCode": 401, "ErrorMessage": SESSION_EXPIRED}));
    Farewell::Close {
        error: Some((ChatErrorCode::Unauthorized, SESSION_EXPIRED)),
        code: CLOSE_NORMAL,
        reason,
    }
}

fn close(code: u16, reason: &str) -> Farewell {
    Farewell::Close {
        error: None,
        code,
        reason: reason.to_string(),
    }
}

/// Close reasons are limited to 123 bytes; cut at a character boundary.
fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_close_reason_states_the_budget() {
        let budget = format!("at most {FRAMES_PER_SECOND} per second (bursts of {FRAME_BURST})");
        assert!(FRAME_BUDGET_SPENT.contains(&budget), "{FRAME_BUDGET_SPENT}");
        assert!(FRAME_BUDGET_SPENT.len() <= 123);
    }

    #[test]
    fn close_reasons_fit_in_a_frame() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123 && cut.chars().all(|c| c == 'é'));
    }
}

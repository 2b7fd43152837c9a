//! The client's background task: owns the socket, matches answers to requests, feeds the
//! receive queue, and reconnects with a fresh token when a connection ends.
//!
//! Backpressure: a frame is read from the socket only once the receive queue has room for it.
//! An application that stops reading therefore stops the client reading its socket; the server
//! then holds the frames, and this server disconnects a reader that falls more than 1,024
//! frames behind (close 1008, `docs/protocol/messaging.md` §1.5). The client reconnects once
//! the application reads again, and the queue shows the gap as [`Update::Disconnected`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ivschat_proto::messaging::ChatErrorCode;
use rustls::ClientConfig;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::error::{Disconnect, Error};
use crate::frame::Frame;
use crate::reconnect::Reconnect;
use crate::request::Outgoing;
use crate::socket::{self, ChatSocket, OpenError};
use crate::token::{NoToken, Tokens};
use crate::update::Update;

/// How long a polite close waits for the server's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Pending requests whose callers gave up are swept when the map grows past this.
const PENDING_SWEEP: usize = 1024;

pub(crate) type Reply = oneshot::Sender<Result<Frame, Error>>;

pub(crate) struct Request {
    pub outgoing: Outgoing,
    pub reply: Reply,
}

pub(crate) struct Driver {
    pub url: String,
    pub tokens: Tokens,
    pub tls: Arc<ClientConfig>,
    pub reconnect: Reconnect,
    pub connect_timeout: Duration,
    /// Ping interval; a connection silent for twice this is taken as lost. Zero: no pings.
    pub keepalive: Duration,
    pub requests: mpsc::Receiver<Request>,
    pub updates: mpsc::Sender<Update>,
    /// Set by the application to close the client.
    pub closing: watch::Receiver<bool>,
}

type Sink = SplitSink<ChatSocket, WsMessage>;
type Stream = SplitStream<ChatSocket>;

impl Driver {
    /// Runs until the client closes for good. `opened` learns how the first attempt ended.
    pub(crate) async fn run(mut self, opened: oneshot::Sender<Result<(), Disconnect>>) {
        let mut opened = Some(opened);
        let mut failures = 0u32;
        loop {
            let ended = match self.open().await {
                Ok((socket, user_id)) => {
                    failures = 0;
                    match opened.take() {
                        Some(tx) => {
                            let _ = tx.send(Ok(()));
                        }
                        None => self.emit(Update::Reconnected).await,
                    }
                    self.serve(socket, user_id).await
                }
                Err(cause) => cause,
            };
            failures += 1;
            let retry = ended.is_retryable()
                && (!matches!(ended, Disconnect::Kicked { .. })
                    || self.reconnect.reconnects_after_kick())
                && self.reconnect.allows(failures);
            if !retry {
                match opened.take() {
                    Some(tx) => {
                        let _ = tx.send(Err(ended));
                    }
                    None => {
                        self.emit(Update::Disconnected {
                            cause: ended,
                            reconnect_in: None,
                        })
                        .await
                    }
                }
                return;
            }
            let delay = self.reconnect.delay(failures);
            if opened.is_none() {
                self.emit(Update::Disconnected {
                    cause: ended,
                    reconnect_in: Some(delay),
                })
                .await;
            }
            if !self.pause(delay).await {
                if opened.is_none() {
                    self.emit(Update::Disconnected {
                        cause: Disconnect::ClosedByClient,
                        reconnect_in: None,
                    })
                    .await;
                } else if let Some(tx) = opened.take() {
                    let _ = tx.send(Err(Disconnect::ClosedByClient));
                }
                return;
            }
        }
    }

    /// A token, then a socket. Gives up at once when the application closes the client.
    async fn open(&mut self) -> Result<(ChatSocket, Option<String>), Disconnect> {
        let mut closing = self.closing.clone();
        let token = tokio::select! {
            token = self.tokens.next() => token,
            _ = until_closing(&mut closing) => return Err(Disconnect::ClosedByClient),
        };
        let token = token.map_err(|e| match e {
            NoToken::Spent => Disconnect::TokenSpent,
            NoToken::Failed(why) => Disconnect::TokenProvider(why),
        })?;
        let socket = tokio::select! {
            socket = socket::open(&self.url, &token.token, &self.tls, self.connect_timeout) => socket,
            _ = until_closing(&mut closing) => return Err(Disconnect::ClosedByClient),
        };
        match socket {
            Ok(socket) => Ok((socket, token.user_id)),
            Err(OpenError::Refused(status)) => Err(Disconnect::Refused { status }),
            Err(OpenError::Unusable(why)) => Err(Disconnect::Unusable(why)),
            Err(OpenError::Failed(why)) => Err(Disconnect::ConnectFailed(why)),
        }
    }

    /// Waits before the next attempt; false if the application closed the client meanwhile.
    async fn pause(&mut self, delay: Duration) -> bool {
        let mut closing = self.closing.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = until_closing(&mut closing) => false,
        }
    }

    /// Puts an update in the receive queue, waiting for room; dropped if nobody reads any more,
    /// or if the queue is full once the application closes the client (which must not hang).
    async fn emit(&mut self, update: Update) {
        let mut closing = self.closing.clone();
        tokio::select! {
            biased;
            _ = self.updates.send(update) => {}
            _ = until_closing(&mut closing) => {}
        }
    }

    /// Serves one open connection until it ends, and says why it ended.
    async fn serve(&mut self, socket: ChatSocket, user_id: Option<String>) -> Disconnect {
        let (mut sink, mut stream) = socket.split();
        let mut connection = Connection {
            user_id,
            pending: HashMap::new(),
            kicked: None,
            room_deleted: false,
        };
        let mut closing = self.closing.clone();
        let keepalive = (!self.keepalive.is_zero()).then_some(self.keepalive);
        let mut ping = tokio::time::interval_at(
            Instant::now() + keepalive.unwrap_or(Duration::from_secs(3600)),
            keepalive.unwrap_or(Duration::from_secs(3600)),
        );
        let mut last_heard = Instant::now();
        let ended = loop {
            tokio::select! {
                _ = until_closing(&mut closing) => {
                    close_politely(&mut sink, &mut stream).await;
                    break Disconnect::ClosedByClient;
                }
                request = self.requests.recv() => {
                    let Some(Request { outgoing, reply }) = request else {
                        // Every handle is gone: nobody can send or close any more.
                        close_politely(&mut sink, &mut stream).await;
                        break Disconnect::ClosedByClient;
                    };
                    if reply.is_closed() {
                        continue; // its caller timed out while we were reconnecting
                    }
                    if let Err(e) = sink.send(WsMessage::Text(outgoing.text.into())).await {
                        let cause = Disconnect::ConnectionLost(e.to_string());
                        let _ = reply.send(Err(Error::ConnectionLost(cause.clone())));
                        break cause;
                    }
                    connection.track(outgoing.request_id, reply);
                }
                (permit, read) = read_when_room(&self.updates, &mut stream) => {
                    last_heard = Instant::now();
                    let message = match read {
                        None => break connection.lost("the socket closed without a close frame".into()),
                        Some(Err(e)) => break connection.lost(e.to_string()),
                        Some(Ok(message)) => message,
                    };
                    match message {
                        WsMessage::Text(text) => {
                            let Some(frame) = Frame::parse(&text) else { continue };
                            match connection.on_frame(frame) {
                                Next::Deliver(update) => {
                                    if let Some(permit) = permit {
                                        permit.send(update);
                                    }
                                }
                                Next::Skip => {}
                                Next::Expired => {
                                    close_politely(&mut sink, &mut stream).await;
                                    break Disconnect::SessionExpired;
                                }
                            }
                        }
                        WsMessage::Close(frame) => {
                            // tungstenite queued the close reply: send it.
                            let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
                            let (code, reason) = frame
                                .map(|f| (u16::from(f.code), f.reason.to_string()))
                                .unwrap_or((1005, String::new()));
                            break connection.closed(code, reason);
                        }
                        // tungstenite answers pings itself; binary frames are not chat.
                        _ => {}
                    }
                }
                _ = ping.tick(), if keepalive.is_some() => {
                    if self.updates.capacity() == 0 {
                        // The application is not reading, so neither are we: silence is ours.
                        last_heard = Instant::now();
                        continue;
                    }
                    let keepalive = keepalive.unwrap_or_default();
                    if last_heard.elapsed() > 2 * keepalive {
                        break Disconnect::ConnectionLost(format!(
                            "nothing from the server for {} ms", last_heard.elapsed().as_millis()
                        ));
                    }
                    if let Err(e) = sink.send(WsMessage::Ping(Vec::new().into())).await {
                        break connection.lost(e.to_string());
                    }
                }
            }
        };
        for (_, reply) in connection.pending.drain() {
            let _ = reply.send(Err(Error::ConnectionLost(ended.clone())));
        }
        ended
    }
}

/// Returns once the application closes the client (or drops every handle to it).
async fn until_closing(closing: &mut watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await;
}

/// Waits for room in the receive queue, then reads one message. Without a reader (the
/// application dropped its [`crate::ChatClient`] but kept a sender) it reads anyway, so answers
/// still reach their requests.
async fn read_when_room<'a>(
    updates: &'a mpsc::Sender<Update>,
    stream: &mut Stream,
) -> (
    Option<mpsc::Permit<'a, Update>>,
    Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
) {
    let permit = updates.reserve().await.ok();
    (permit, stream.next().await)
}

/// Sends close 1000 and waits (bounded) for the server's answer.
async fn close_politely(sink: &mut Sink, stream: &mut Stream) {
    let close = WsMessage::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }));
    if sink.send(close).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = stream.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
}

enum Next {
    Deliver(Update),
    Skip,
    Expired,
}

/// What one connection knows: its pending requests, and what the frames so far say about how
/// it will end.
struct Connection {
    user_id: Option<String>,
    pending: HashMap<String, Reply>,
    /// An `aws:DISCONNECT_USER` for this user arrived (its reason).
    kicked: Option<Option<String>>,
    /// ERROR 404 without a request: the room is gone.
    room_deleted: bool,
}

impl Connection {
    fn track(&mut self, request_id: String, reply: Reply) {
        if self.pending.len() >= PENDING_SWEEP {
            self.pending.retain(|_, reply| !reply.is_closed());
        }
        self.pending.insert(request_id, reply);
    }

    fn on_frame(&mut self, frame: Frame) -> Next {
        if let Frame::Error(error) = &frame {
            if error.error_code == ChatErrorCode::Unauthorized as u16 {
                // Session expiry (§6): the old socket is done; the JS SDK, too, closes it and
                // reconnects with a new token.
                if let Some(reply) = error
                    .request_id
                    .as_ref()
                    .and_then(|id| self.pending.remove(id))
                {
                    let _ = reply.send(Err(Error::Refused(error.clone())));
                }
                return Next::Expired;
            }
            if error.error_code == ChatErrorCode::NotFound as u16 && error.request_id.is_none() {
                self.room_deleted = true;
            }
        }
        if let Frame::Event(event) = &frame {
            if let Some(user) = event.disconnected_user_id() {
                if self.user_id.as_deref().is_none_or(|me| me == user) {
                    self.kicked = Some(event.reason().map(str::to_string));
                }
            }
        }
        let reply = frame.request_id().and_then(|id| self.pending.remove(id));
        match (reply, frame) {
            (Some(reply), Frame::Error(error)) => {
                let _ = reply.send(Err(Error::Refused(error)));
                Next::Skip
            }
            (Some(reply), frame) => {
                let _ = reply.send(Ok(frame.clone()));
                Next::Deliver(frame.into())
            }
            (None, frame) => Next::Deliver(frame.into()),
        }
    }

    /// The server closed the socket with `code`.
    fn closed(&self, code: u16, reason: String) -> Disconnect {
        if self.room_deleted {
            return Disconnect::RoomDeleted;
        }
        match &self.kicked {
            // This server and, by the samples, AWS close a kicked user's socket with 1001.
            // The event's reason, not the close's: a server may put its own text in the close.
            Some(kick_reason) if code == 1001 => Disconnect::Kicked {
                reason: kick_reason.clone(),
            },
            _ => Disconnect::ServerClosed { code, reason },
        }
    }

    /// The socket broke.
    fn lost(&self, why: String) -> Disconnect {
        if self.room_deleted {
            return Disconnect::RoomDeleted;
        }
        Disconnect::ConnectionLost(why)
    }
}

//! The public face of the client: [`ClientBuilder`] to configure and connect, [`ChatClient`] to
//! read the receive queue, [`ChatSender`] (cheap to clone) to send requests and close.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::driver::{Driver, Request};
use crate::endpoint::chat_url;
use crate::error::{Disconnect, Error};
use crate::frame::{Event, Frame, Message};
use crate::reconnect::Reconnect;
use crate::request::{self, Outgoing, SendMessage};
use crate::tls::{self, Trust};
use crate::token::{BoxError, ChatToken, Tokens};
use crate::update::Update;

/// Requests waiting to be written (while reconnecting, for instance); more wait in their
/// callers, bounded by the request timeout.
const REQUEST_QUEUE: usize = 64;

/// Configures a client. Start with [`ChatClient::builder`].
#[must_use]
pub struct ClientBuilder {
    endpoint: String,
    tokens: Option<Tokens>,
    reconnect: Reconnect,
    request_timeout: Duration,
    connect_timeout: Duration,
    keepalive: Duration,
    receive_queue: usize,
    trust: Trust,
    extra_pem: Vec<Vec<u8>>,
}

impl ClientBuilder {
    fn new(region_or_url: &str) -> ClientBuilder {
        ClientBuilder {
            endpoint: region_or_url.to_string(),
            tokens: None,
            reconnect: Reconnect::default(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(30),
            receive_queue: 1024,
            trust: Trust::default(),
            extra_pem: Vec::new(),
        }
    }

    /// Connects with this one token. A token opens one connection only, so such a client
    /// cannot reconnect: use [`ClientBuilder::token_provider`] for that.
    pub fn token(mut self, token: impl Into<ChatToken>) -> ClientBuilder {
        self.tokens = Some(Tokens::once(token.into()));
        self
    }

    /// Calls `provider` for a fresh token before every connection, the first included (the
    /// official SDK's `tokenProvider`). It returns a token (a `String` or a [`ChatToken`]) or an
    /// error; errors are retried like failed connections.
    pub fn token_provider<F, Fut, T, E>(mut self, provider: F) -> ClientBuilder
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Into<ChatToken>,
        E: Into<BoxError>,
    {
        self.tokens = Some(Tokens::provider(provider));
        self
    }

    /// When and how soon to reconnect ([`Reconnect::default`]: 5 attempts in a row).
    pub fn reconnect(mut self, policy: Reconnect) -> ClientBuilder {
        self.reconnect = policy;
        self
    }

    /// How long a request waits for its answer (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.request_timeout = timeout;
        self
    }

    /// How long one connection attempt may take, TCP, TLS and handshake (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Ping interval (default 30 s); a connection that hears nothing for twice as long is
    /// taken as lost and reconnected. Zero turns pings off.
    pub fn keepalive(mut self, interval: Duration) -> ClientBuilder {
        self.keepalive = interval;
        self
    }

    /// Capacity of the receive queue (default 1,024 updates, at least 1). When it is full the
    /// client stops reading its socket: see [`ChatClient::recv`].
    pub fn receive_queue(mut self, capacity: usize) -> ClientBuilder {
        self.receive_queue = capacity.max(1);
        self
    }

    /// Also trusts the CA certificates of this PEM document for `wss://` (a private CA).
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> ClientBuilder {
        self.extra_pem.push(pem.into());
        self
    }

    /// Whether to trust the operating system's roots (default: yes).
    pub fn system_roots(mut self, trust: bool) -> ClientBuilder {
        self.trust.system_roots = trust;
        self
    }

    /// Whether to trust Mozilla's roots as shipped in `webpki-roots` (default: yes).
    pub fn webpki_roots(mut self, trust: bool) -> ClientBuilder {
        self.trust.webpki_roots = trust;
        self
    }

    /// Opens the first connection (retrying as the [`Reconnect`] policy allows) and returns the
    /// client, whose background task then lives on the current Tokio runtime.
    pub async fn connect(mut self) -> Result<ChatClient, Error> {
        let url = chat_url(&self.endpoint)?;
        let tokens = self.tokens.take().ok_or_else(|| {
            Error::Connect(Disconnect::Unusable(
                "no token and no token provider given".into(),
            ))
        })?;
        for pem in &self.extra_pem {
            self.trust.extra.extend(tls::parse_pem(pem)?);
        }
        let tls = tls::client_config(&self.trust)?;
        let (requests_tx, requests_rx) = mpsc::channel(REQUEST_QUEUE);
        let (updates_tx, updates_rx) = mpsc::channel(self.receive_queue);
        let (closing_tx, closing_rx) = watch::channel(false);
        let (stopped_tx, stopped_rx) = watch::channel(false);
        let driver = Driver {
            url,
            tokens,
            tls,
            reconnect: self.reconnect,
            connect_timeout: self.connect_timeout,
            keepalive: self.keepalive,
            requests: requests_rx,
            updates: updates_tx,
            closing: closing_rx,
        };
        let (opened_tx, opened_rx) = oneshot::channel();
        tokio::spawn(async move {
            driver.run(opened_tx).await;
            let _ = stopped_tx.send(true);
        });
        match opened_rx.await {
            Ok(Ok(())) => Ok(ChatClient {
                sender: ChatSender {
                    requests: requests_tx,
                    closing: std::sync::Arc::new(closing_tx),
                    stopped: stopped_rx,
                    timeout: self.request_timeout,
                },
                updates: updates_rx,
            }),
            Ok(Err(cause)) => Err(Error::Connect(cause)),
            Err(_) => Err(Error::Closed),
        }
    }
}

/// A connected chat client: reads the room's frames and sends requests.
///
/// Dropping the client and every [`ChatSender`] closes the connection.
pub struct ChatClient {
    sender: ChatSender,
    updates: mpsc::Receiver<Update>,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient").finish_non_exhaustive()
    }
}

impl ChatClient {
    /// A client for `region_or_url`: an AWS region (`us-west-2` opens
    /// `wss://edge.ivschat.us-west-2.amazonaws.com`) or any `ws://`/`wss://` URL.
    pub fn builder(region_or_url: &str) -> ClientBuilder {
        ClientBuilder::new(region_or_url)
    }

    /// The next update, in the order the server sent the frames; `None` once the client has
    /// stopped for good and everything before was read.
    ///
    /// Backpressure: updates wait in a bounded queue ([`ClientBuilder::receive_queue`]). When
    /// the application does not call `recv` and the queue is full, the client stops reading
    /// its socket, so request answers wait too (their timeouts run), and the server holds the
    /// room's frames. The server drops a connection that falls too far behind (this server:
    /// more than 1,024 frames, close 1008); the client then reconnects once the application
    /// reads again, reporting the gap as [`Update::Disconnected`].
    pub async fn recv(&mut self) -> Option<Update> {
        self.updates.recv().await
    }

    /// A handle for sending requests and closing, for use from other tasks.
    pub fn sender(&self) -> ChatSender {
        self.sender.clone()
    }

    /// See [`ChatSender::send_message`].
    pub async fn send_message(&self, message: impl Into<SendMessage>) -> Result<Message, Error> {
        self.sender.send_message(message).await
    }

    /// See [`ChatSender::delete_message`].
    pub async fn delete_message(&self, id: &str, reason: Option<&str>) -> Result<Event, Error> {
        self.sender.delete_message(id, reason).await
    }

    /// See [`ChatSender::disconnect_user`].
    pub async fn disconnect_user(
        &self,
        user_id: &str,
        reason: Option<&str>,
    ) -> Result<Event, Error> {
        self.sender.disconnect_user(user_id, reason).await
    }

    /// See [`ChatSender::close`].
    pub async fn close(&self) {
        self.sender.close().await
    }
}

/// Sends requests on a client's connection, each answered by its own frame
/// (`docs/protocol/messaging.md` §2.0). Clone it freely.
#[derive(Clone)]
pub struct ChatSender {
    requests: mpsc::Sender<Request>,
    closing: std::sync::Arc<watch::Sender<bool>>,
    stopped: watch::Receiver<bool>,
    timeout: Duration,
}

impl std::fmt::Debug for ChatSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSender").finish_non_exhaustive()
    }
}

impl ChatSender {
    /// SEND_MESSAGE (§2.1): resolves on the MESSAGE the room received (the same frame also
    /// arrives through [`ChatClient::recv`]), or fails with the server's ERROR
    /// ([`Error::Refused`]: 403 without the capability, 429 over the rate, 406 denied by a
    /// review handler, …).
    pub async fn send_message(&self, message: impl Into<SendMessage>) -> Result<Message, Error> {
        match self.request(request::send_message(&message.into())).await? {
            Frame::Message(message) => Ok(message),
            other => Err(unexpected(other)),
        }
    }

    /// DELETE_MESSAGE (§2.2): resolves on the `aws:DELETE_MESSAGE` event.
    pub async fn delete_message(&self, id: &str, reason: Option<&str>) -> Result<Event, Error> {
        match self.request(request::delete_message(id, reason)).await? {
            Frame::Event(event) => Ok(event),
            other => Err(unexpected(other)),
        }
    }

    /// DISCONNECT_USER (§2.3): resolves on the `aws:DISCONNECT_USER` event; the user's
    /// connections close right after.
    pub async fn disconnect_user(
        &self,
        user_id: &str,
        reason: Option<&str>,
    ) -> Result<Event, Error> {
        match self
            .request(request::disconnect_user(user_id, reason))
            .await?
        {
            Frame::Event(event) => Ok(event),
            other => Err(unexpected(other)),
        }
    }

    /// Closes the connection (close 1000) and stops reconnecting; returns once the client has
    /// stopped. The receive queue ends with `Disconnected { cause: ClosedByClient, .. }`.
    pub async fn close(&self) {
        let _ = self.closing.send(true);
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
    }

    async fn request(&self, outgoing: Outgoing) -> Result<Frame, Error> {
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            self.requests
                .send(Request { outgoing, reply })
                .await
                .map_err(|_| Error::Closed)?;
            answer.await.map_err(|_| Error::Closed)?
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(self.timeout))?
    }
}

/// A frame of the wrong type carried the request's id: the server broke the protocol.
fn unexpected(frame: Frame) -> Error {
    Error::ConnectionLost(Disconnect::Unusable(format!(
        "the answer to the request was a frame of the wrong type (Id {})",
        frame.id()
    )))
}

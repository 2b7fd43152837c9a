//! What can go wrong, and why a connection ended.

use std::time::Duration;

use crate::frame::ChatError;

/// The error of a client operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the request with an ERROR frame (403 without the capability, 429 over
    /// a rate, 406 denied by review, …).
    #[error("the server refused the request: {0}")]
    Refused(ChatError),
    /// No answer within the request timeout. The request may still have been carried out.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection ended before the answer came. The request may still have been carried out.
    #[error("the connection ended before the answer: {0}")]
    ConnectionLost(Disconnect),
    /// The client has stopped for good (see [`Disconnect`]) or was closed by the application.
    #[error("the client is closed")]
    Closed,
    /// The endpoint is neither a ws:// or wss:// URL nor an AWS region.
    #[error("invalid endpoint: {0}")]
    InvalidEndpoint(String),
    /// A CA certificate could not be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The first connection could not be opened.
    #[error("could not connect: {0}")]
    Connect(Disconnect),
}

/// Why a connection ended (or could not be opened).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The session reached its `sessionExpirationTime`: the server sent ERROR 401
    /// (`docs/protocol/messaging.md` §6). The client reconnects with a new token.
    #[error("the chat session expired")]
    SessionExpired,
    /// A moderator disconnected this user (an `aws:DISCONNECT_USER` event, then close 1001).
    #[error("disconnected by a moderator{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Kicked { reason: Option<String> },
    /// The room was deleted (ERROR 404). Final.
    #[error("the chat room was deleted")]
    RoomDeleted,
    /// The server closed the socket for another reason (a restart: 1001; a client too slow to
    /// read: 1008; …).
    #[error("the server closed the connection ({code}{})", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    ServerClosed { code: u16, reason: String },
    /// The connection broke without a close frame, or the server stopped answering pings.
    #[error("the connection was lost: {0}")]
    ConnectionLost(String),
    /// The server refused the WebSocket upgrade with this HTTP status (401: bad, expired or
    /// already used token; 404: no such room; 429: quota; 503: unavailable).
    #[error("the server refused the connection with HTTP {status}")]
    Refused { status: u16 },
    /// The connection could not be opened (DNS, TCP, TLS, handshake).
    #[error("{0}")]
    ConnectFailed(String),
    /// The token provider failed.
    #[error("the token provider failed: {0}")]
    TokenProvider(String),
    /// The client was given one token, which is spent: it cannot reconnect.
    #[error("the chat token was already used and no token provider was given")]
    TokenSpent,
    /// The URL or token cannot be used at all.
    #[error("{0}")]
    Unusable(String),
    /// The application closed the client.
    #[error("closed by the application")]
    ClosedByClient,
}

impl Disconnect {
    /// Whether connecting again can help. Kicks are decided by [`crate::Reconnect::after_kick`].
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Disconnect::RoomDeleted
            | Disconnect::TokenSpent
            | Disconnect::Unusable(_)
            | Disconnect::ClosedByClient => false,
            // 400: not a WebSocket upgrade the server understands; 403/404: no such room or
            // not allowed. A new token would not change those.
            Disconnect::Refused { status } => !matches!(status, 400 | 403 | 404),
            _ => true,
        }
    }
}

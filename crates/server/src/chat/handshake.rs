//! The chat WebSocket handshake (`docs/protocol/messaging.md` §1): `GET /` with the chat token as
//! the only `Sec-WebSocket-Protocol`. Everything wrong with the token is refused here, before the
//! 101, because the SDKs send nothing after the socket opens:
//!
//! | problem | status |
//! |---|---|
//! | too many upgrade attempts from this address (`[limits] handshakes_per_second`) | 429 |
//! | behind a trusted proxy: too many connections from the client's address (`[limits] max_connections_per_ip`) | 503 |
//! | no token, malformed, tampered, foreign, expired, already used | 401 |
//! | the room no longer exists | 404 |
//! | the concurrent connection quota is reached | 429 |
//!
//! "This address" is the client's, behind proxies too (`http_server/client_address.rs`).
//! The checks run cheapest first: the address's rate and connections, then the token itself (its signature,
//! its expiry, and whether this node saw it redeemed), all before any store read, room join
//! or bus call, so a replayed or forged token costs a hash and a map lookup.
//!
//! The 101 echoes the token as the selected subprotocol; without that echo every browser and
//! Node client aborts the connection.
//!
//! In a room that replays its history (`ivschat-server:replay=on`, issue 22), the connection
//! joins, subscribes, then reads the history, and its first frames are the kept ones
//! (`outbox.rs`, "replay gate"); a read that fails is refused with 503, like a bus that cannot
//! be reached. Our extension: `?ivschat-server-since=<message Id>` on the URL asks only for
//! what followed that message (`docs/protocol/messaging.md` §13).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::WebSocketConfig;

use super::session::{run_session, Membership, SessionParams};
use super::socket::RawSocket;
use crate::app::App;
use crate::domain::token::TokenError;
use crate::history::after_message;
use crate::http_server::client_address::ClientAddress;
use crate::limits::ConnectionPermit;
use crate::room::options::RoomOptions;
use crate::room::RoomSettings;
use crate::store::Owner;

/// The URL query parameter a reconnecting client names the last message it has with.
pub const SINCE_PARAMETER: &str = "ivschat-server-since";

/// Socket read chunk per connection, allocated up front for every connection: SDK requests
/// are a few hundred bytes, and a larger frame reserves its own length when its header arrives.
const READ_BUFFER_BYTES: usize = 1024;
/// Frames gather up to this much before a write (sessions also flush after each batch). The
/// buffer keeps its largest size for the connection's life, so it stays small: under normal
/// load each frame is written on its own anyway; only a backlog is batched.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;

const ALREADY_USED: &str = "the chat token was already used";

/// True when the request asks for a WebSocket upgrade.
pub fn is_upgrade(request: &axum::extract::Request) -> bool {
    request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

pub async fn upgrade(
    app: Arc<App>,
    request: axum::extract::Request,
    client: ClientAddress,
) -> Response {
    if !app.handshake_rate.try_take(client.ip) {
        app.chat
            .stats
            .handshakes_rate_limited
            .fetch_add(1, Ordering::Relaxed);
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many chat connection attempts from this address; try again shortly",
        );
    }
    let (mut parts, _body) = request.into_parts();
    // The TCP connection's slot in the listener limits stays taken while the session lives;
    // a trusted proxy's connection is counted under its client's address from here on.
    let permit = match parts
        .extensions
        .get::<ConnectionPermit>()
        .map(|permit| permit.attributed_to(client.ip))
        .transpose()
    {
        Ok(permit) => permit,
        Err(_) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many connections from this address",
            )
        }
    };
    let token = match offered_token(&parts.headers) {
        Some(token) => token,
        None => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "a chat token is required as the Sec-WebSocket-Protocol",
            )
        }
    };
    let claims = match app.token_keys.open(&token) {
        Ok(claims) => claims,
        Err(TokenError::Malformed | TokenError::Invalid) => {
            return refuse(StatusCode::UNAUTHORIZED, "the chat token is not valid")
        }
    };
    let now = app.clock.now_micros();
    if now >= claims.token_expires {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the chat token has expired; tokens open a connection within 60 seconds",
        );
    }
    if app.chat.known_spent(&claims.token_id) {
        app.chat
            .stats
            .handshakes_spent_token
            .fetch_add(1, Ordering::Relaxed);
        return refuse(StatusCode::UNAUTHORIZED, ALREADY_USED);
    }
    let mark = app.chat.room_changes_mark();
    let room = match app
        .store
        .get_room(Owner::Account(&claims.account), &claims.room)
        .await
    {
        Ok(Some(room)) => room,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "the chat room does not exist"),
        Err(e) => {
            tracing::error!(error = %e, "store unavailable during chat handshake");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
    };
    let key = match websocket_key(&parts.headers) {
        Ok(key) => key,
        Err(why) => {
            let mut refusal = refuse(StatusCode::BAD_REQUEST, why);
            // RFC 6455 §4.4: tell the client which version this server speaks.
            refusal.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return refusal;
        }
    };
    let (Some(on_upgrade), Some(RawSocket(socket))) = (
        parts.extensions.remove::<OnUpgrade>(),
        parts.extensions.get::<RawSocket>().cloned(),
    ) else {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a WebSocket",
        );
    };
    // Join before the 101, then read the room again if it may have changed: an UpdateRoom or
    // DeleteRoom that committed after the first read is now either in this read or delivered
    // to the membership. On one node, a change counter tells whether there was one at all.
    let options = RoomOptions::of(&room.tags);
    let replay = options.retention().filter(|_| options.replays());
    let membership = Membership::join(
        app.chat.clone(),
        &room,
        socket,
        &claims.user_id,
        replay.is_some(),
    );
    if app.chat.room_may_have_changed_since(mark) {
        match app
            .store
            .get_room(Owner::Account(&claims.account), &claims.room)
            .await
        {
            Ok(Some(fresh)) => membership.room.apply(RoomSettings::of(&fresh)),
            Ok(None) => return refuse(StatusCode::NOT_FOUND, "the chat room does not exist"),
            Err(e) => {
                tracing::error!(error = %e, "store unavailable during chat handshake");
                return refuse(StatusCode::SERVICE_UNAVAILABLE, "try again later");
            }
        }
    }
    if app.chat.at_connection_quota() {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "the account's concurrent chat connection quota is reached",
        );
    }
    // With a bus, this node must receive the room's events before the client is told it is in.
    if app.chat.subscribe(&claims.room).await.is_err() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "chat is temporarily unavailable; try again",
        );
    }
    // Subscribed: the history read now holds everything not delivered to this membership.
    if let Some(retention) = replay {
        let since = since_parameter(parts.uri.query());
        let Ok(kept) = app
            .chat
            .kept_since(&claims.room, retention, since.as_deref())
            .await
        else {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "chat is temporarily unavailable; try again",
            );
        };
        let last = kept.last().map(|kept| kept.id);
        let replayed = after_message(kept, since.as_deref())
            .into_iter()
            .map(|kept| kept.frame.wire().clone())
            .collect();
        membership.outbox().start_after_replay(replayed, last);
    }
    // Single use: redeemed only once everything else is fine, so a refused attempt does not
    // burn a token that could still have worked.
    match app
        .chat
        .redeem(&claims.token_id, claims.token_expires, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return refuse(StatusCode::UNAUTHORIZED, ALREADY_USED),
        Err(_) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "chat is temporarily unavailable; try again",
            )
        }
    }
    // Below the size of any valid request the limit would refuse everything; clamp it.
    let max_message_bytes = app.config.chat.max_message_bytes.max(4096);
    let params = SessionParams {
        claims,
        membership,
        client: client.ip,
        permit,
    };
    let config = WebSocketConfig::default()
        // tungstenite's defaults (128 KiB read buffer allocated per connection) would cost
        // more memory per idle viewer than everything else together; chat requests are small.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes));
    let sessions = app.sessions.clone();
    sessions.tasks.clone().spawn(async move {
        // Resolves once hyper has written the 101; an error means the client went away.
        if let Ok(upgraded) = on_upgrade.await {
            run_session(sessions, TokioIo::new(upgraded), config, params).await;
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, key);
    if let Ok(protocol) = HeaderValue::from_str(&token) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}

/// Checks the RFC 6455 §4.2.1 upgrade headers (what axum's `WebSocketUpgrade` checked before
/// the server wrote its own 101); returns the `Sec-WebSocket-Accept` value, or why the request
/// is refused with 400.
fn websocket_key(headers: &http::HeaderMap) -> Result<HeaderValue, &'static str> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_upgrade {
        return Err("the Connection header must include `upgrade`");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("the Sec-WebSocket-Version header must be 13");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or("the Sec-WebSocket-Key header is missing")?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| "the Sec-WebSocket-Key header is not valid")
}

/// The single subprotocol the client offered. Clients send exactly one (the token); if a
/// client sent a list, the first entry is the token.
fn offered_token(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_string())
}

/// The message `Id` of `?ivschat-server-since=`, if the URL has one.
fn since_parameter(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == SINCE_PARAMETER).then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    let body = format!("{{\"message\":\"{message}\"}}");
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

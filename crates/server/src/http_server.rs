//! The HTTP listener: one handler for every request, which sends chat WebSocket upgrades to
//! the chat side, answers health probes and CORS preflights, and passes everything else to
//! the control plane. Every connection has a deadline in every state until it becomes a chat
//! session (`http_server/deadline.rs`), and HTTP/2 is held to HTTP/1's head size. Each
//! connection's client address, behind proxies too, is settled first
//! (`http_server/client_address.rs`); then, with `--tls-cert`, the connection is secured
//! (`http_server/tls.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::response::Response;
use axum::Router;
use http::{header, HeaderValue, Method, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::app::App;
use crate::chat::socket::SharedSocket;
use crate::config::Config;
use crate::limits::{ConnectionLimiter, ConnectionPermit, Refusal};
use crate::server::DRAIN_TIMEOUT;

pub mod client_address;
mod deadline;
pub mod forwarded;
mod proxy_protocol;
pub mod tls;

use client_address::{ClientAddress, Origin};
use deadline::{Activity, Check, Deadlines};
use tls::{Protocol, Tls};

/// Request headers a browser may send (Smithy `@cors` on the service, plus SigV4's).
const CORS_ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Amz-Date, X-Amz-Security-Token, \
     X-Amz-Content-Sha256, X-Api-Key, X-Amz-User-Agent, amz-sdk-invocation-id, amz-sdk-request";
const CORS_EXPOSE_HEADERS: &str = "x-amzn-errortype, x-amzn-requestid, x-amzn-errormessage, \
     x-amzn-trace-id, x-amz-apigw-id, date";

/// Connections the kernel queues before the server accepts them. tokio's `bind` asks for
/// 128, and a burst of viewers joining at once (a stream going live) overflows that: each
/// overflowed SYN is retried by the client only after a second. Linux caps it at
/// `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the HTTP/WebSocket listener, with a listen queue sized for bursts of connects.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As tokio's own `bind`: a restarted server can listen again while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts connections on `listener` until `shutdown` completes, running each on
/// `connections`. When `stopping` is cancelled, the connections still open finish their current
/// request and close, each within [`DRAIN_TIMEOUT`] (the owner, `server.rs`, decides when, and
/// waits for `connections`).
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    connections: &TaskTracker,
    stopping: &CancellationToken,
) {
    let router = Router::new().fallback(handle).with_state(app.clone());
    let limits = app.config.limits.clone();
    let limiter = ConnectionLimiter::new(limits.max_connections, limits.max_connections_per_ip);
    let builders = Builders::new(&app.config);
    let deadlines = Deadlines {
        first_request: Duration::from_millis(limits.header_timeout_ms),
        idle: Duration::from_millis(limits.idle_timeout_ms),
    };
    let keepalive = tcp_keepalive(limits.tcp_keepalive_ms);
    let options_inherited = configure_listener(&listener, keepalive.as_ref());
    let listener_state = Arc::new(Listening {
        router,
        limiter,
        builders,
        tls,
        deadlines,
        keepalive,
        options_inherited,
        policy: client_address::Policy::new(&app.config.client_address),
        app: app.clone(),
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let accepted_at = Instant::now();
        // Admitted here, in accept order, when the address is known at once; behind PROXY
        // protocol, once the connection's task has read its header.
        let admitted = match listener_state.policy.origin_at_accept(peer) {
            Some(origin) => match listener_state.limiter.admit(origin.counted_address()) {
                Ok(permit) => Some((origin, permit)),
                Err(refusal) => {
                    tracing::debug!(client = %origin.address, ?refusal, "connection refused by the listener limits");
                    // A TLS client could not read a plain-text 503: it is just closed.
                    if listener_state.tls.is_none() {
                        connections.spawn(refuse_connection(stream, refusal));
                    }
                    continue;
                }
            },
            None => None,
        };
        connections.spawn(serve_connection(
            listener_state.clone(),
            stream,
            peer,
            accepted_at,
            admitted,
            stopping.clone(),
        ));
    }
}

/// What every accepted connection is served with.
struct Listening {
    router: Router,
    limiter: Arc<ConnectionLimiter>,
    builders: Builders,
    tls: Option<Arc<Tls>>,
    deadlines: Deadlines,
    keepalive: Option<TcpKeepalive>,
    /// Whether accepted sockets already have [`configure_accepted`]'s options from the
    /// listening socket (`configure_listener`), so no connection sets them again.
    options_inherited: bool,
    policy: client_address::Policy,
    app: Arc<App>,
}

/// One accepted connection, from its client address to its close.
async fn serve_connection(
    listening: Arc<Listening>,
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    accepted_at: Instant,
    admitted: Option<(Origin, ConnectionPermit)>,
    stopping: CancellationToken,
) {
    let deadlines = listening.deadlines;
    let (origin, permit) = match admitted {
        Some(admitted) => admitted,
        None => {
            // Before anything else reads the socket (and before TLS): the PROXY header.
            let Some(origin) = client_address::arrive(
                &mut stream,
                peer,
                &listening.policy,
                accepted_at + deadlines.first_request,
                &listening.app.metrics,
            )
            .await
            else {
                return;
            };
            match listening.limiter.admit(origin.counted_address()) {
                Ok(permit) => (origin, permit),
                Err(refusal) => {
                    tracing::debug!(client = %origin.address, ?refusal, "connection refused by the listener limits");
                    if listening.tls.is_none() {
                        refuse_connection(stream, refusal).await;
                    }
                    return;
                }
            }
        }
    };
    if !listening.options_inherited {
        configure_accepted(&stream, listening.keepalive.as_ref());
    }
    // The TLS handshake (if any) is part of the first-request deadline.
    let secured = tokio::select! {
        secured = tls::secure(listening.tls.as_deref(), stream, accepted_at + deadlines.first_request, peer) => secured,
        _ = stopping.cancelled() => None,
    };
    let Some(secured) = secured else { return };
    // The chat upgrade needs the socket itself (`chat/socket.rs`).
    let (stream, raw) = SharedSocket::new(secured.socket);
    let activity = Activity::new(accepted_at);
    let requests = activity.clone();
    let for_requests = listening.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let client = origin.client(request.headers(), &for_requests.policy);
        request.extensions_mut().insert(client);
        request.extensions_mut().insert(permit.clone());
        request.extensions_mut().insert(raw.clone());
        let in_flight = requests.begin();
        let request = request.map(Body::new);
        let route = Route::of(&request, &for_requests);
        async move {
            let response = match route {
                // Boxed, as axum boxes its handlers: the handshake's future is large, and
                // this one is moved into hyper's dispatcher.
                Route::Chat(app) => {
                    Ok(Box::pin(crate::chat::handshake::upgrade(app, request, client)).await)
                }
                Route::Router(mut router) => router.call(request).await,
            };
            drop(in_flight);
            response
        }
    });
    let connection = listening
        .builders
        .for_protocol(secured.protocol)
        .serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    // Armed at the earliest deadline there can be (idleness may come before the
    // first-request deadline); re-armed lazily when it fires (see `deadline.rs`).
    let timer = tokio::time::sleep_until(accepted_at + deadlines.first_check());
    tokio::pin!(timer);
    let mut closing = false;
    loop {
        tokio::select! {
            // Errors here are clients going away mid-request: nothing to report.
            _ = connection.as_mut() => return,
            _ = stopping.cancelled(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
                timer.as_mut().reset(Instant::now() + DRAIN_TIMEOUT);
            }
            _ = &mut timer => {
                if closing {
                    // The graceful close did not finish (a peer that ignores GOAWAY).
                    return;
                }
                match activity.check(Instant::now(), deadlines) {
                    Check::RecheckAt(at) => timer.as_mut().reset(at),
                    Check::NeverSpoke => {
                        tracing::debug!(client = %origin.address, "connection closed: no request within the header timeout");
                        return;
                    }
                    Check::Idle => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                        timer.as_mut().reset(Instant::now() + deadlines.first_request);
                    }
                }
            }
        }
    }
}

/// Where a request goes: a chat upgrade straight to its handler, as [`handle`] would send it
/// (axum's router has nothing to route there, and skipping it saves, on every chat handshake,
/// the router's clone and its layers of futures, each moved as it is wrapped); everything
/// else through the router to [`handle`].
enum Route {
    Chat(Arc<App>),
    Router(Router),
}

impl Route {
    fn of(request: &Request, listening: &Listening) -> Route {
        if request.method() == Method::GET && crate::chat::handshake::is_upgrade(request) {
            Route::Chat(listening.app.clone())
        } else {
            Route::Router(listening.router.clone())
        }
    }
}

/// hyper's connection builders: one that detects the protocol from the first bytes, and one
/// for each protocol a TLS client chose by ALPN.
struct Builders {
    detect: auto::Builder<TokioExecutor>,
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
}

impl Builders {
    fn new(config: &Config) -> Builders {
        let detect = http_builder(config);
        Builders {
            http1: detect.clone().http1_only(),
            http2: detect.clone().http2_only(),
            detect,
        }
    }

    fn for_protocol(&self, protocol: Protocol) -> &auto::Builder<TokioExecutor> {
        match protocol {
            Protocol::Detect => &self.detect,
            Protocol::Http1 => &self.http1,
            Protocol::Http2 => &self.http2,
        }
    }
}

/// hyper's HTTP/1 and HTTP/2 settings: the same head size and the same deadlines for both
/// (bodies are bounded in `api::handle`, whichever the protocol).
fn http_builder(config: &Config) -> auto::Builder<TokioExecutor> {
    let limits = &config.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Slowloris: the whole request head (and so the WebSocket handshake) must arrive in time.
        .header_read_timeout(Duration::from_millis(limits.header_timeout_ms))
        .max_buf_size(limits.max_header_bytes.max(8192));
    let mut http2 = builder.http2();
    http2
        .timer(TokioTimer::new())
        // hyper's default is 16 KiB whatever HTTP/1's limit is.
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        // hyper's default is 200, each buffering a body of up to 256 KiB before the signature
        // is checked.
        .max_concurrent_streams(limits.max_streams_per_connection);
    if config.chat.ping_interval_ms > 0 {
        // A peer that vanishes during a request: HTTP/2 PINGs on the chat's schedule.
        http2
            .keep_alive_interval(Duration::from_millis(config.chat.ping_interval_ms))
            .keep_alive_timeout(Duration::from_millis(config.chat.pong_timeout_ms));
    }
    builder
}

/// The TCP keepalive of accepted sockets (`[limits] tcp_keepalive_ms`; 0 = off).
fn tcp_keepalive(idle_ms: u64) -> Option<TcpKeepalive> {
    if idle_ms == 0 {
        return None;
    }
    let idle = Duration::from_millis(idle_ms);
    Some(
        TcpKeepalive::new()
            .with_time(idle)
            .with_interval(idle.min(KEEPALIVE_PROBE_INTERVAL))
            .with_retries(KEEPALIVE_PROBES),
    )
}

/// Socket options of an accepted connection: no Nagle delay, and TCP keepalive so that a
/// peer that vanished without a FIN is found by the kernel's probes.
fn configure_accepted(stream: &tokio::net::TcpStream, keepalive: Option<&TcpKeepalive>) {
    let _ = stream.set_nodelay(true);
    if let Some(keepalive) = keepalive {
        let _ = SockRef::from(stream).set_tcp_keepalive(keepalive);
    }
}

/// Sets [`configure_accepted`]'s options once, on the listening socket, where Linux's accepted
/// sockets inherit them (the kernel clones the listener's TCP state into each new socket):
/// five `setsockopt` less per connection, chat handshakes and control-plane requests alike,
/// PROXY protocol and TLS included (they run over the same accepted socket). Returns whether
/// that was done; elsewhere, or if the listener refuses an option, each accepted connection
/// sets them itself as before. The test `accepted_sockets_inherit_the_listeners_options`
/// holds the kernel to it.
fn configure_listener(listener: &TcpListener, keepalive: Option<&TcpKeepalive>) -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let socket = SockRef::from(listener);
    let set = socket.set_tcp_nodelay(true).and_then(|()| match keepalive {
        Some(keepalive) => socket.set_tcp_keepalive(keepalive),
        None => Ok(()),
    });
    if let Err(e) = &set {
        tracing::debug!(error = %e, "socket options not set on the listener; set per connection");
    }
    set.is_ok()
}

/// Probes after the first, and how many go unanswered before the kernel gives up.
const KEEPALIVE_PROBE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 3;

/// Answers a connection over the limits with a 503 and closes it.
async fn refuse_connection(mut stream: tokio::net::TcpStream, refusal: Refusal) {
    use tokio::io::AsyncWriteExt;
    let reason = match refusal {
        Refusal::TooManyConnections => "the server's connection limit is reached",
        Refusal::TooManyFromThisAddress => "too many connections from this address",
    };
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{reason}",
        reason.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        stream.write_all(response.as_bytes()),
    )
    .await;
}

async fn handle(
    State(app): State<Arc<App>>,
    Extension(client): Extension<ClientAddress>,
    request: Request,
) -> Response {
    // `serve` sends chat upgrades past the router (`Route`), so none arrives here now; kept so
    // that the router on its own still answers one as a served connection does.
    if request.method() == Method::GET && crate::chat::handshake::is_upgrade(&request) {
        return crate::chat::handshake::upgrade(app, request, client).await;
    }
    let request_id = crate::api::random_uuid().to_string();
    let has_origin = request.headers().contains_key(header::ORIGIN);
    let mut response = match (request.method(), request.uri().path()) {
        (&Method::OPTIONS, _) => preflight(),
        (&Method::GET, "/health") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/ready") => ready(&app).await,
        (&Method::GET, path) if app.config.console && crate::console::is_console_path(path) => {
            crate::console::serve(path)
        }
        _ => crate::api::handle(&app, request, &request_id).await,
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    if has_origin {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSE_HEADERS),
        );
    }
    response
}

/// Ready when the store (and the bus, in a cluster) answer and the chat logging spool can
/// write; a load balancer should stop sending new clients to a node that is not.
async fn ready(app: &App) -> Response {
    if let Err(e) = app.store.ping().await {
        tracing::warn!(error = %e, "readiness check: the store does not answer");
        return text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable");
    }
    if let Err(e) = app.chat.bus().ping().await {
        tracing::warn!(error = %format!("{e:#}"), "readiness check: the bus does not answer");
        return text(StatusCode::SERVICE_UNAVAILABLE, "bus unavailable");
    }
    // Messages in rooms with chat logging are refused while it cannot write (issue 18).
    if !app.chat.logger.spool().can_write().await {
        tracing::warn!("readiness check: the chat logging spool cannot write");
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "chat logging spool cannot write",
        );
    }
    text(StatusCode::OK, "ready")
}

fn preflight() -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(CORS_ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_get_the_configured_tcp_keepalive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (accepted, _client) =
            tokio::join!(listener.accept(), tokio::net::TcpStream::connect(address));
        let (stream, _) = accepted.unwrap();
        configure_accepted(&stream, tcp_keepalive(60_000).as_ref());
        let socket = SockRef::from(&stream);
        assert!(socket.keepalive().unwrap());
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            socket.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
        assert!(tcp_keepalive(0).is_none(), "0 turns it off");
    }

    /// `serve` sets no option on accepted sockets on Linux: they must come from the listener.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_sockets_inherit_the_listeners_options() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(configure_listener(
            &listener,
            tcp_keepalive(45_000).as_ref()
        ));
        let address = listener.local_addr().unwrap();
        let (accepted, _client) =
            tokio::join!(listener.accept(), tokio::net::TcpStream::connect(address));
        let (stream, _) = accepted.unwrap();
        let socket = SockRef::from(&stream);
        assert!(socket.tcp_nodelay().unwrap(), "TCP_NODELAY not inherited");
        assert!(socket.keepalive().unwrap(), "SO_KEEPALIVE not inherited");
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(45)
        );
        assert_eq!(
            socket.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
    }
}

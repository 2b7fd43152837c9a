//! The HTTP listener: one handler for every request, which sends chat WebSocket upgrades to
//! the chat side, answers health probes and CORS preflights, and passes everything else to
//! the control plane.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::Router;
use http::{header, HeaderValue, Method, StatusCode};
use tokio::net::TcpListener;

use crate::app::App;

/// Request headers a browser may send (Smithy `@cors` on the service, plus SigV4's).
const CORS_ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Amz-Date, X-Amz-Security-Token, \
     X-Amz-Content-Sha256, X-Api-Key, X-Amz-User-Agent, amz-sdk-invocation-id, amz-sdk-request";
const CORS_EXPOSE_HEADERS: &str = "x-amzn-errortype, x-amzn-requestid, x-amzn-errormessage, \
     x-amzn-trace-id, x-amz-apigw-id, date";

pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = Router::new().fallback(handle).with_state(app.clone());
    // axum's graceful shutdown does not wait for upgraded (WebSocket) connections, so chat
    // sessions watch their own token: on shutdown each sends a close frame and ends, and we
    // wait (bounded) for them after the HTTP side has drained.
    let chat_shutdown = app.chat.shutdown.clone();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        chat_shutdown.cancel();
    })
    .await?;
    app.chat.shutdown.cancel();
    app.chat.sessions.close();
    if tokio::time::timeout(SESSION_DRAIN_TIMEOUT, app.chat.sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!("some chat sessions did not close within {SESSION_DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// How long shutdown waits for chat sessions to send their close frames.
const SESSION_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if request.method() == Method::GET && crate::chat::handshake::is_upgrade(&request) {
        return crate::chat::handshake::upgrade(app, request, peer).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let has_origin = request.headers().contains_key(header::ORIGIN);
    let mut response = match (request.method(), request.uri().path()) {
        (&Method::OPTIONS, _) => preflight(),
        (&Method::GET, "/health") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/ready") => ready(&app).await,
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

/// Ready when the store (and the bus, in a cluster) answer; a load balancer should stop
/// sending new clients to a node that is not.
async fn ready(app: &App) -> Response {
    if let Err(e) = app.store.ping().await {
        tracing::warn!(error = %e, "readiness check: the store does not answer");
        return text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable");
    }
    if let Some(bus) = app.chat.bus() {
        if let Err(e) = bus.ping().await {
            tracing::warn!(error = %format!("{e:#}"), "readiness check: Redis does not answer");
            return text(StatusCode::SERVICE_UNAVAILABLE, "bus unavailable");
        }
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

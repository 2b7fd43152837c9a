//! The control plane: every HTTP request that is not a chat WebSocket upgrade.
//!
//! The pipeline is the same for every operation (after Garage's `api_server.rs`):
//! route → read the body → verify SigV4 → check media types → parse and validate the input
//! against the model → authorize it against the signer's IAM policies → one `match` to a thin
//! handler per operation. Every answer carries
//! `x-amzn-RequestId`; every error carries `X-Amzn-Errortype` and a JSON body with `message`.

mod auth;
mod authorize;
pub mod ext_history; // public for the fuzz targets (fuzz/)
mod ext_presence;
pub mod input; // public for the fuzz targets (fuzz/)
mod logging;
mod messaging;
mod pagination;
mod reply;
mod rooms;
pub mod route;
mod tags;

use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue, StatusCode};
use ivschat_proto::errors::{ErrorKind, ServiceError};

pub use auth::Authenticator;
use authorize::{authorize, AuthorizationFacts};
use input::{check_media_types, parse_input};
use reply::{OpResult, Reply};
use route::{route, Operation, RouteError, Routed};

use crate::app::App;
use crate::iam::Principal;

/// Largest request body accepted. Control-plane inputs are small (the largest is a few KB of
/// tags and attributes), so this only guards memory.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A random (version 4) UUID from the thread-local CSPRNG (`rand::thread_rng`, ChaCha seeded
/// from the OS). `Uuid::new_v4` without uuid's `fast-rng` feature asks the kernel
/// (`getrandom(2)`) every time: a system call on every request for its request id, and on
/// every CreateChatToken for the token id. Same format, same randomness quality.
pub fn random_uuid() -> uuid::Uuid {
    use rand::Rng;
    uuid::Builder::from_random_bytes(rand::thread_rng().gen()).into_uuid()
}

/// Handles one control-plane request. `request_id` is already chosen by the caller.
pub async fn handle(app: &App, request: axum::extract::Request, request_id: &str) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let routed = match route(&parts.method, parts.uri.path()) {
        Ok(routed) => routed,
        Err(e) => return error_response(&route_error(e, &parts), request_id),
    };
    let operation = routed.operation;
    // A client that stops sending its body half-way must not hold the connection forever.
    let body_timeout = std::time::Duration::from_millis(app.config.limits.body_timeout_ms);
    let body = match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
    {
        Ok(Ok(bytes)) => bytes,
        Err(_) => {
            let e = ServiceError::new(
                ErrorKind::RequestTimeout,
                format!("the request body did not arrive within {body_timeout:?}"),
            );
            return error_response(&e, request_id);
        }
        Ok(Err(_)) => {
            let e = ServiceError::new(
                ErrorKind::PayloadTooLarge,
                format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
            );
            return error_response(&e, request_id);
        }
    };
    let result = match app.auth.verify(&parts, &body, &app.clock) {
        Ok(principal) => match check_media_types(&parts.headers, &body) {
            Ok(()) => dispatch(app, principal, &routed, parts.uri.query(), &body).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let response = match result {
        Ok(reply) => success_response(reply),
        Err(e) => error_response(&e, request_id),
    };
    app.metrics.observe_request(
        operation.name(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    let client = parts
        .extensions
        .get::<crate::http_server::client_address::ClientAddress>()
        .map(|client| client.ip);
    tracing::info!(
        request_id,
        operation = operation.name(),
        client = client.map(tracing::field::display),
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "control-plane request"
    );
    response
}

/// The operation's input, parsed, validated and authorized.
async fn input<T: serde::de::DeserializeOwned + AuthorizationFacts>(
    app: &App,
    principal: &Principal,
    routed: &Routed,
    query: Option<&str>,
    body: &[u8],
) -> Result<T, ServiceError> {
    let input = parse_input(routed, query, body)?;
    authorize(app, principal, routed.operation, &input).await?;
    Ok(input)
}

/// One `match` from operation to handler. Each handler acts in the signer's account
/// (README "Several accounts").
async fn dispatch(
    app: &App,
    who: &Principal,
    routed: &Routed,
    query: Option<&str>,
    body: &[u8],
) -> OpResult {
    use Operation::*;
    match routed.operation {
        CreateChatToken => {
            messaging::create_chat_token(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        CreateLoggingConfiguration => {
            logging::create_logging_configuration(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        CreateRoom => {
            rooms::create_room(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        DeleteLoggingConfiguration => {
            logging::delete_logging_configuration(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        DeleteMessage => {
            messaging::delete_message(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        DeleteRoom => {
            rooms::delete_room(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        DisconnectUser => {
            messaging::disconnect_user(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        GetLoggingConfiguration => {
            logging::get_logging_configuration(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        GetRoom => {
            rooms::get_room(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        ListLoggingConfigurations => {
            logging::list_logging_configurations(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        ListRooms => {
            rooms::list_rooms(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        ListTagsForResource => {
            tags::list_tags_for_resource(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        SendEvent => {
            messaging::send_event(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        TagResource => {
            tags::tag_resource(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        UntagResource => {
            tags::untag_resource(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        UpdateLoggingConfiguration => {
            logging::update_logging_configuration(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        UpdateRoom => {
            rooms::update_room(
                app,
                &who.account,
                input(app, who, routed, query, body).await?,
            )
            .await
        }
        // Extensions: not in the AWS model, so their inputs are checked by their handlers.
        ListRoomMessages => {
            let input = ext_history::parse_request(body)?;
            authorize(app, who, routed.operation, &input).await?;
            ext_history::list_room_messages(app, &who.account, input).await
        }
        // Ours (README "Extensions (not AWS)"): no AWS model, so each parses its own input.
        GetRoomPresence => ext_presence::get_room_presence(app, who, body).await,
        ListRoomUsers => ext_presence::list_room_users(app, who, body).await,
    }
}

fn route_error(e: RouteError, parts: &http::request::Parts) -> ServiceError {
    let path: String = parts.uri.path().chars().take(200).collect();
    match e {
        RouteError::UnknownPath => ServiceError::new(
            ErrorKind::UnknownOperation,
            format!(
                "no operation at {} {path}: IVS Chat operations are POST /<OperationName> \
                 (e.g. POST /CreateRoom) and GET|POST|DELETE /tags/<resourceArn>",
                parts.method
            ),
        ),
        RouteError::WrongMethod { allowed } => ServiceError::new(
            ErrorKind::UnknownOperation,
            format!("{path} does not accept {}; use {allowed}", parts.method),
        ),
    }
}

fn success_response(reply: Reply) -> Response {
    match reply {
        Reply::Json(body) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body)),
        Reply::NoContent => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::empty()),
    }
    .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The error answer: status from the one table, `X-Amzn-Errortype`, JSON body with `message`.
pub fn error_response(e: &ServiceError, request_id: &str) -> Response {
    let (status, type_name) = e.kind.wire();
    if e.kind == ErrorKind::InternalServer {
        tracing::error!(request_id, "answered InternalServerException");
    }
    let mut response = Response::new(Body::from(e.to_json()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(type_name));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_uuids_are_version_4_and_differ() {
        let a = super::random_uuid();
        let b = super::random_uuid();
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }
}

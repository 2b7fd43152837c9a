//! The control-plane request path, minus SigV4 (fuzzed on its own) and the store: an HTTP
//! request as text → `http::Uri` (as hyper parses the request target) → routing → media types
//! → JSON body + path label + query → model validation → the operation's typed input.
//!
//! Input format (readable seeds, see `fuzz/corpus/control_plane/`):
//!
//! ```text
//! POST /CreateRoom?maxResults=5
//! content-type: application/json
//!
//! {"name":"lobby"}
//! ```
//!
//! Properties checked besides "never panics":
//! * every error is a 4xx with a JSON body (input never causes a 5xx);
//! * an input the model accepts always deserialises into the operation's typed request, for
//!   the routed operation (the server's own `parse_input`) and for every operation in the
//!   model (`validate_input` + serde, as `parse_input` does).
#![no_main]

use ivschat_fuzz::{drop_nulls, typed_input_ok};
use ivschat_proto::control::*;
use ivschat_proto::errors::{ErrorKind, ServiceError};
use ivschat_proto::validate::validate_input;
use ivschat_server::api::input::{check_media_types, parse_input};
use ivschat_server::api::route::{route, Operation, Routed};
use ivschat_server::domain::arn::{error_resource_id, ArnScope, ResourceKind};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    let Some(req) = ivschat_fuzz::parse_http_text(data) else {
        return;
    };
    // What hyper hands the server: a request target that parses as a URI.
    let Ok(uri) = http::Uri::try_from(req.target.as_str()) else {
        return;
    };
    let Ok(method) = http::Method::from_bytes(req.method.as_bytes()) else {
        return;
    };

    // Every operation's model validation, on the body as the server would see it.
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&req.body) {
        let value = serde_json::Value::Object(map);
        for op in ivschat_proto::model::model().operations() {
            match validate_input(&op.name, &value) {
                Ok(()) => {
                    let mut v = value.clone();
                    drop_nulls(&mut v);
                    if let Err(e) = typed_input_ok(&op.name, v) {
                        panic!("{}: validated input does not deserialise: {e}", op.name);
                    }
                }
                Err(e) => {
                    let _ = e.message();
                }
            }
        }
    }

    let routed = match route(&method, uri.path()) {
        Ok(r) => r,
        Err(_) => return,
    };
    if let Some(arn) = &routed.resource_arn {
        exercise_arn(arn);
    }
    if let Err(e) = check_media_types(&req.headers, &req.body) {
        check_error(&e);
        return;
    }
    use Operation::*;
    let query = uri.query();
    let body = &req.body[..];
    match routed.operation {
        CreateChatToken => run::<CreateChatTokenRequest>(&routed, query, body, |r| {
            exercise_arn(&r.room_identifier)
        }),
        CreateLoggingConfiguration => {
            run::<CreateLoggingConfigurationRequest>(&routed, query, body, |_| {})
        }
        CreateRoom => run::<CreateRoomRequest>(&routed, query, body, |r| {
            for id in r.logging_configuration_identifiers.iter().flatten() {
                exercise_arn(id);
            }
        }),
        DeleteLoggingConfiguration | GetLoggingConfiguration | DeleteRoom | GetRoom => {
            run::<IdentifierRequest>(&routed, query, body, |r| exercise_arn(&r.identifier))
        }
        DeleteMessage => {
            run::<DeleteMessageRequest>(&routed, query, body, |r| exercise_arn(&r.room_identifier))
        }
        DisconnectUser => {
            run::<DisconnectUserRequest>(&routed, query, body, |r| exercise_arn(&r.room_identifier))
        }
        ListLoggingConfigurations => {
            run::<ListLoggingConfigurationsRequest>(&routed, query, body, |_| {})
        }
        ListRooms => run::<ListRoomsRequest>(&routed, query, body, |r| {
            if let Some(id) = &r.logging_configuration_identifier {
                exercise_arn(id);
            }
        }),
        ListTagsForResource => run::<ListTagsForResourceRequest>(&routed, query, body, |r| {
            exercise_arn(&r.resource_arn)
        }),
        SendEvent => {
            run::<SendEventRequest>(&routed, query, body, |r| exercise_arn(&r.room_identifier))
        }
        TagResource => {
            run::<TagResourceRequest>(&routed, query, body, |r| exercise_arn(&r.resource_arn))
        }
        UntagResource => {
            run::<UntagResourceRequest>(&routed, query, body, |r| exercise_arn(&r.resource_arn))
        }
        UpdateLoggingConfiguration => {
            run::<UpdateLoggingConfigurationRequest>(&routed, query, body, |r| {
                exercise_arn(&r.identifier)
            })
        }
        UpdateRoom => run::<UpdateRoomRequest>(&routed, query, body, |r| {
            exercise_arn(&r.identifier);
            for id in r.logging_configuration_identifiers.iter().flatten() {
                exercise_arn(id);
            }
        }),
        // Ours (issue 22): no AWS model; their handlers check their own input.
        GetRoomPresence | ListRoomUsers => {}
        // Our extension (issue 22): its own input checks, not the model's.
        ListRoomMessages => match ivschat_server::api::ext_history::parse_request(body) {
            Ok(r) => exercise_arn(&r.room_identifier),
            Err(e) => check_error(&e),
        },
    }
});

/// The server's `parse_input` for the routed operation's type.
fn run<T: DeserializeOwned>(
    routed: &Routed,
    query: Option<&str>,
    body: &[u8],
    then: impl FnOnce(&T),
) {
    match parse_input::<T>(routed, query, body) {
        Ok(input) => then(&input),
        Err(e) => {
            // parse_input answers this only when serde refuses what the model validation
            // accepted: the model and the typed request disagree.
            assert!(
                !(e.kind == ErrorKind::Serialization
                    && e.message.starts_with("the request body does not match")),
                "{}: validated input does not deserialise: {}",
                routed.operation.name(),
                e.message
            );
            check_error(&e);
        }
    }
}

/// Input errors are 4xx with a JSON body whose `message` is a string.
fn check_error(e: &ServiceError) {
    let (status, name) = e.kind.wire();
    assert!((400..500).contains(&status), "{name} is {status}");
    let body: serde_json::Value = serde_json::from_slice(&e.to_json()).expect("error body is JSON");
    assert!(body["message"].is_string(), "{body}");
}

/// What handlers do with identifiers: resolve them against the server's scope, or name them in
/// an error (`resourceId` must match `^[a-zA-Z0-9]+$`).
fn exercise_arn(arn: &str) {
    let scope = ArnScope {
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
    };
    if let Some((kind, id)) = scope.resolve_any(arn) {
        assert_eq!(scope.arn(kind, id), arn);
    }
    let _ = scope.resolve(arn, ResourceKind::Room);
    let id = error_resource_id(arn);
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id:?}"
    );
}

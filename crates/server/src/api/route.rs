//! Which operation a request is: method + raw path → [`Operation`]
//! (`docs/protocol/control-plane.md` §5).
//!
//! 14 operations are `POST /<OperationName>`; the three tag operations share `/tags/{resourceArn}`
//! and differ by method. The `resourceArn` label is taken greedily (everything after `/tags/`)
//! so that a client that does not percent-encode the `/` in the ARN still works (§3).
//!
//! Our extensions (issue 22, README "Extensions (not AWS)", `docs/extensions/openapi.yaml`) are
//! `POST /ivschat-server/<OperationName>`: two segments, a path no AWS operation can have.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateChatToken,
    CreateLoggingConfiguration,
    CreateRoom,
    DeleteLoggingConfiguration,
    DeleteMessage,
    DeleteRoom,
    DisconnectUser,
    GetLoggingConfiguration,
    GetRoom,
    ListLoggingConfigurations,
    ListRooms,
    ListTagsForResource,
    SendEvent,
    TagResource,
    UntagResource,
    UpdateLoggingConfiguration,
    UpdateRoom,
    /// Extension: `POST /ivschat-server/ListRoomMessages` (`api/ext_history.rs`).
    ListRoomMessages,
    // Ours, not AWS's (issue 22; README "Extensions (not AWS)"): `POST /ivschat-server/<Name>`.
    GetRoomPresence,
    ListRoomUsers,
}

/// Where our extension operations are: `POST /ivschat-server/<OperationName>`.
pub const EXTENSION_PREFIX: &str = "/ivschat-server/";

impl Operation {
    pub const ALL: [Operation; 17] = [
        Operation::CreateChatToken,
        Operation::CreateLoggingConfiguration,
        Operation::CreateRoom,
        Operation::DeleteLoggingConfiguration,
        Operation::DeleteMessage,
        Operation::DeleteRoom,
        Operation::DisconnectUser,
        Operation::GetLoggingConfiguration,
        Operation::GetRoom,
        Operation::ListLoggingConfigurations,
        Operation::ListRooms,
        Operation::ListTagsForResource,
        Operation::SendEvent,
        Operation::TagResource,
        Operation::UntagResource,
        Operation::UpdateLoggingConfiguration,
        Operation::UpdateRoom,
    ];

    /// Our extension operations (not AWS's, so not in [`Operation::ALL`]), at
    /// `POST /ivschat-server/<name>`: a two-segment path that no AWS operation can have
    /// (theirs are `POST /<Name>` and `/tags/{arn}`).
    pub const EXTENSIONS: [Operation; 3] = [
        Operation::ListRoomMessages,
        Operation::GetRoomPresence,
        Operation::ListRoomUsers,
    ];

    /// The model's operation name (also the metrics label and the POST path; an extension's
    /// path is under [`EXTENSION_PREFIX`]).
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateChatToken => "CreateChatToken",
            Operation::CreateLoggingConfiguration => "CreateLoggingConfiguration",
            Operation::CreateRoom => "CreateRoom",
            Operation::DeleteLoggingConfiguration => "DeleteLoggingConfiguration",
            Operation::DeleteMessage => "DeleteMessage",
            Operation::DeleteRoom => "DeleteRoom",
            Operation::DisconnectUser => "DisconnectUser",
            Operation::GetLoggingConfiguration => "GetLoggingConfiguration",
            Operation::GetRoom => "GetRoom",
            Operation::ListLoggingConfigurations => "ListLoggingConfigurations",
            Operation::ListRooms => "ListRooms",
            Operation::ListTagsForResource => "ListTagsForResource",
            Operation::SendEvent => "SendEvent",
            Operation::TagResource => "TagResource",
            Operation::UntagResource => "UntagResource",
            Operation::UpdateLoggingConfiguration => "UpdateLoggingConfiguration",
            Operation::UpdateRoom => "UpdateRoom",
            Operation::ListRoomMessages => "ListRoomMessages",
            Operation::GetRoomPresence => "GetRoomPresence",
            Operation::ListRoomUsers => "ListRoomUsers",
        }
    }

    /// True for the operations whose input is a JSON body (all but ListTagsForResource and
    /// UntagResource).
    pub fn has_body(self) -> bool {
        !matches!(
            self,
            Operation::ListTagsForResource | Operation::UntagResource
        )
    }
}

/// A routed request: the operation and, for the tag operations, the decoded ARN label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub operation: Operation,
    pub resource_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No operation has this path.
    UnknownPath,
    /// The path exists but not with this method.
    WrongMethod { allowed: &'static str },
}

pub fn route(method: &http::Method, raw_path: &str) -> Result<Routed, RouteError> {
    if let Some(name) = raw_path.strip_prefix(EXTENSION_PREFIX) {
        let operation = Operation::EXTENSIONS
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or(RouteError::UnknownPath)?;
        if method != http::Method::POST {
            return Err(RouteError::WrongMethod { allowed: "POST" });
        }
        return Ok(Routed {
            operation,
            resource_arn: None,
        });
    }
    if let Some(label) = raw_path.strip_prefix("/tags/") {
        let operation = match *method {
            http::Method::GET => Operation::ListTagsForResource,
            http::Method::POST => Operation::TagResource,
            http::Method::DELETE => Operation::UntagResource,
            _ => {
                return Err(RouteError::WrongMethod {
                    allowed: "GET, POST, DELETE",
                })
            }
        };
        return Ok(Routed {
            operation,
            resource_arn: Some(decode_arn_label(label)),
        });
    }
    let name = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let operation = Operation::ALL
        .into_iter()
        .filter(|op| op.has_body() && *op != Operation::TagResource)
        .find(|op| op.name() == name)
        .ok_or(RouteError::UnknownPath)?;
    if method != http::Method::POST {
        return Err(RouteError::WrongMethod { allowed: "POST" });
    }
    Ok(Routed {
        operation,
        resource_arn: None,
    })
}

/// Percent-decodes the `resourceArn` label once. OpenAPI-generated clients may append the
/// `#tagKeys` fragment marker of the UntagResource path (`docs/protocol/control-plane.md` §9),
/// literally or as `%23tagKeys`; it is never part of an ARN, so it is dropped.
fn decode_arn_label(label: &str) -> String {
    let decoded = percent_decode_str(label).decode_utf8_lossy().into_owned();
    match decoded.strip_suffix("#tagKeys") {
        Some(arn) => arn.to_string(),
        None => decoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn every_model_operation_has_this_route() {
        let model = ivschat_proto::model::model();
        let mut names: Vec<&str> = model.operations().map(|op| op.name.as_str()).collect();
        names.sort_unstable();
        let mut ours: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
        ours.sort_unstable();
        assert_eq!(names, ours);
        for op in model.operations() {
            let method = Method::from_bytes(op.method.as_bytes()).unwrap();
            let path = op.request_uri.replace(
                "{resourceArn}",
                "arn%3Aaws%3Aivschat%3Aus-east-1%3A1%3Aroom%2Fa",
            );
            let routed = route(&method, &path).unwrap();
            assert_eq!(
                routed.operation.name(),
                op.name,
                "{} {}",
                op.method,
                op.request_uri
            );
        }
    }

    #[test]
    fn arn_labels_are_decoded_greedily() {
        let r = route(
            &Method::GET,
            "/tags/arn%3Aaws%3Aivschat%3Aus-west-2%3A123456789012%3Aroom%2Fg1H2I3j4k5L6",
        )
        .unwrap();
        assert_eq!(
            r.resource_arn.as_deref(),
            Some("arn:aws:ivschat:us-west-2:123456789012:room/g1H2I3j4k5L6")
        );
        let r = route(
            &Method::DELETE,
            "/tags/arn:aws:ivschat:us-west-2:1:room/abc%23tagKeys",
        )
        .unwrap();
        assert_eq!(
            r.resource_arn.as_deref(),
            Some("arn:aws:ivschat:us-west-2:1:room/abc")
        );
    }

    /// Issue 22: our operations answer at `/ivschat-server/<Name>` only; at AWS's
    /// single-segment paths they do not exist.
    #[test]
    fn extensions_live_under_their_own_prefix() {
        for op in Operation::EXTENSIONS {
            let path = format!("/ivschat-server/{}", op.name());
            assert_eq!(route(&Method::POST, &path).unwrap().operation, op);
            assert_eq!(
                route(&Method::GET, &path),
                Err(RouteError::WrongMethod { allowed: "POST" })
            );
            let aws_style = format!("/{}", op.name());
            assert_eq!(
                route(&Method::POST, &aws_style),
                Err(RouteError::UnknownPath)
            );
        }
    }

    /// Extensions are reachable only under their own prefix, and AWS's operations never
    /// there.
    #[test]
    fn extensions_have_their_own_prefix() {
        assert_eq!(
            route(&Method::POST, "/ivschat-server/ListRoomMessages")
                .unwrap()
                .operation,
            Operation::ListRoomMessages
        );
        assert_eq!(
            route(&Method::POST, "/ListRoomMessages"),
            Err(RouteError::UnknownPath)
        );
        assert_eq!(
            route(&Method::POST, "/ivschat-server/CreateRoom"),
            Err(RouteError::UnknownPath)
        );
        assert_eq!(
            route(&Method::GET, "/ivschat-server/ListRoomMessages"),
            Err(RouteError::WrongMethod { allowed: "POST" })
        );
        for op in Operation::ALL {
            assert!(!Operation::EXTENSIONS.contains(&op));
        }
    }

    /// docs/extensions/openapi.yaml describes every extension, at its path, with its action.
    #[test]
    fn the_openapi_document_has_every_extension() {
        let document = include_str!("../../../../docs/extensions/openapi.yaml");
        for op in Operation::EXTENSIONS {
            let path = format!("\n  {EXTENSION_PREFIX}{}:\n", op.name());
            assert!(document.contains(&path), "{path:?} is not in openapi.yaml");
            let action = crate::iam::actions::action_of(op).name;
            assert!(
                document.contains(&format!("x-iam-action: {action}\n")),
                "{action} is not in openapi.yaml"
            );
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(route(&Method::POST, "/Nope"), Err(RouteError::UnknownPath));
        assert_eq!(route(&Method::POST, "/tags"), Err(RouteError::UnknownPath));
        assert_eq!(
            route(&Method::GET, "/CreateRoom"),
            Err(RouteError::WrongMethod { allowed: "POST" })
        );
        assert_eq!(
            route(&Method::PUT, "/tags/x"),
            Err(RouteError::WrongMethod {
                allowed: "GET, POST, DELETE"
            })
        );
    }
}

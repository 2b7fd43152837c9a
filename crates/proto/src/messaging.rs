//! The chat WebSocket protocol (`docs/protocol/messaging.md` §2–§4): actions clients send, and the
//! MESSAGE, EVENT and ERROR frames the server sends.
//!
//! Requests are matched case-insensitively on their keys (the official sample apps sent
//! camelCase to the real service), `null` means absent and unknown keys are ignored. Frames are
//! PascalCase with the key order seen in real IVS logs; serde serialises struct fields in
//! declaration order, so the structs below fix that order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// String → string, as every attribute map in the protocol.
pub type Attributes = BTreeMap<String, String>;

/// The 8 error codes clients know (`docs/protocol/messaging.md` §4). The iOS SDK decodes
/// `ErrorCode` into a closed enum of exactly these, so nothing else may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatErrorCode {
    BadRequest = 400,
    Unauthorized = 401,
    Forbidden = 403,
    NotFound = 404,
    NotAcceptable = 406,
    PayloadTooLarge = 413,
    TooManyRequests = 429,
    InternalServerError = 500,
}

/// A client request, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SendMessage {
        content: String,
        attributes: Attributes,
    },
    DeleteMessage {
        id: String,
        reason: Option<String>,
    },
    DisconnectUser {
        user_id: String,
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Echoed in the answer; `None` when the client sent none.
    pub request_id: Option<String>,
    pub action: Action,
}

/// Why a frame is not a valid request. `request_id` is set when it could be read, so the
/// ERROR can still settle the client's pending promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub request_id: Option<String>,
    pub code: ChatErrorCode,
    pub message: String,
}

/// Longest `RequestId` accepted; it is echoed to every connection of the room, so it is bounded.
pub const MAX_REQUEST_ID_CHARS: usize = 256;
/// `Reason` of DELETE_MESSAGE / DISCONNECT_USER (the HTTP twins' `Reason` is 1..256).
pub const MAX_REASON_CHARS: usize = 256;
/// `UserId` of DISCONNECT_USER (the HTTP twin's `UserID` is 1..128).
pub const MAX_USER_ID_CHARS: usize = 128;
/// `Id` of DELETE_MESSAGE: lenient (any non-empty string) but bounded.
pub const MAX_MESSAGE_ID_CHARS: usize = 128;
/// SEND_MESSAGE `Attributes`: 1 KB in total, like token and event attributes.
pub const MAX_ATTRIBUTES_BYTES: usize = 1024;

/// Parses one text frame into a request. Content length against the room's limit is the
/// session's check (the limit can change while the connection lives).
pub fn parse_request(text: &str) -> Result<Request, RequestError> {
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(bad(None, "the request must be a JSON object")),
        Err(_) => return Err(bad(None, "the request is not valid JSON")),
    };
    let fields = Fields(&object);
    let request_id = match fields.get("requestid") {
        None => None,
        Some(Value::String(id)) if id.chars().count() <= MAX_REQUEST_ID_CHARS => Some(id.clone()),
        Some(Value::String(_)) => {
            return Err(error(
                None,
                ChatErrorCode::PayloadTooLarge,
                format!("RequestId must be at most {MAX_REQUEST_ID_CHARS} characters"),
            ))
        }
        Some(_) => return Err(bad(None, "RequestId must be a string")),
    };
    let rid = || request_id.clone();
    let action = match fields.get("action") {
        Some(Value::String(action)) => action.as_str(),
        Some(_) => return Err(bad(rid(), "Action must be a string")),
        None => return Err(bad(rid(), "Action is required")),
    };
    let action = match action {
        "SEND_MESSAGE" => Action::SendMessage {
            content: fields.required_string("content", "Content", rid)?,
            attributes: fields.attributes(rid)?,
        },
        "DELETE_MESSAGE" => {
            let id = fields.required_string("id", "Id", rid)?;
            check_length(&id, 1, MAX_MESSAGE_ID_CHARS, "Id", rid)?;
            Action::DeleteMessage {
                id,
                reason: fields.reason(rid)?,
            }
        }
        "DISCONNECT_USER" => {
            let user_id = fields.required_string("userid", "UserId", rid)?;
            check_length(&user_id, 1, MAX_USER_ID_CHARS, "UserId", rid)?;
            Action::DisconnectUser {
                user_id,
                reason: fields.reason(rid)?,
            }
        }
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(bad(
                rid(),
                format!(
                    "unknown Action {shown:?}; expected SEND_MESSAGE, DELETE_MESSAGE or DISCONNECT_USER"
                ),
            ));
        }
    };
    Ok(Request { request_id, action })
}

/// Case-insensitive, null-as-absent access to a request object's members.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, lowercase_name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, v)| !v.is_null() && k.eq_ignore_ascii_case(lowercase_name))
            .map(|(_, v)| v)
    }

    fn required_string(
        &self,
        key: &str,
        name: &str,
        rid: impl Fn() -> Option<String>,
    ) -> Result<String, RequestError> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(rid(), format!("{name} must be a string"))),
            None => Err(bad(rid(), format!("{name} is required"))),
        }
    }

    fn reason(&self, rid: impl Fn() -> Option<String>) -> Result<Option<String>, RequestError> {
        match self.get("reason") {
            None => Ok(None),
            Some(Value::String(s)) => {
                check_length(s, 0, MAX_REASON_CHARS, "Reason", &rid)?;
                Ok(Some(s.clone()).filter(|s| !s.is_empty()))
            }
            Some(_) => Err(bad(rid(), "Reason must be a string")),
        }
    }

    fn attributes(&self, rid: impl Fn() -> Option<String>) -> Result<Attributes, RequestError> {
        let object = match self.get("attributes") {
            None => return Ok(Attributes::new()),
            Some(Value::Object(object)) => object,
            Some(_) => return Err(bad(rid(), "Attributes must be an object of string values")),
        };
        let mut attributes = Attributes::new();
        let mut size = 0;
        for (key, value) in object {
            let Value::String(value) = value else {
                return Err(bad(rid(), "Attributes values must be strings"));
            };
            size += key.len() + value.len();
            attributes.insert(key.clone(), value.clone());
        }
        if size > MAX_ATTRIBUTES_BYTES {
            return Err(error(
                rid(),
                ChatErrorCode::PayloadTooLarge,
                format!("Attributes must total at most {MAX_ATTRIBUTES_BYTES} bytes"),
            ));
        }
        Ok(attributes)
    }
}

fn check_length(
    s: &str,
    min: usize,
    max: usize,
    name: &str,
    rid: impl Fn() -> Option<String>,
) -> Result<(), RequestError> {
    let n = s.chars().count();
    if n < min {
        return Err(bad(rid(), format!("{name} must not be empty")));
    }
    if n > max {
        return Err(error(
            rid(),
            ChatErrorCode::PayloadTooLarge,
            format!("{name} must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn bad(request_id: Option<String>, message: impl Into<String>) -> RequestError {
    error(request_id, ChatErrorCode::BadRequest, message)
}

fn error(
    request_id: Option<String>,
    code: ChatErrorCode,
    message: impl Into<String>,
) -> RequestError {
    RequestError {
        request_id,
        code,
        message: message.into(),
    }
}

// ---------------------------------------------------------------- frames

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sender {
    #[serde(rename = "UserId")]
    pub user_id: String,
    #[serde(rename = "Attributes")]
    pub attributes: Attributes,
}

/// MESSAGE (`docs/protocol/messaging.md` §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageFrame {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub id: String,
    pub request_id: String,
    pub attributes: Attributes,
    pub content: String,
    pub send_time: String,
    pub sender: Sender,
}

/// EVENT (`docs/protocol/messaging.md` §3.2–§3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventFrame {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub id: String,
    pub request_id: String,
    pub event_name: String,
    pub attributes: Attributes,
    pub send_time: String,
}

/// ERROR (`docs/protocol/messaging.md` §3.5): `ErrorCode` is a JSON number, `ErrorMessage` always
/// set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorFrame {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub error_code: u16,
    pub error_message: String,
}

pub const EVENT_DELETE_MESSAGE: &str = "aws:DELETE_MESSAGE";
pub const EVENT_DISCONNECT_USER: &str = "aws:DISCONNECT_USER";

impl MessageFrame {
    pub fn new(
        id: String,
        request_id: Option<String>,
        content: String,
        attributes: Attributes,
        send_time: String,
        sender: Sender,
    ) -> Self {
        MessageFrame {
            kind: "MESSAGE",
            id,
            request_id: request_id.unwrap_or_default(),
            attributes,
            content,
            send_time,
            sender,
        }
    }
}

impl EventFrame {
    pub fn new(
        id: String,
        request_id: Option<String>,
        event_name: String,
        attributes: Attributes,
        send_time: String,
    ) -> Self {
        EventFrame {
            kind: "EVENT",
            id,
            request_id: request_id.unwrap_or_default(),
            event_name,
            attributes,
            send_time,
        }
    }

    /// `aws:DELETE_MESSAGE` carries both `MessageID` (what the JS and iOS SDKs read) and
    /// `MessageId` (what the current docs list).
    pub fn delete_message(
        id: String,
        request_id: Option<String>,
        message_id: &str,
        reason: Option<&str>,
        send_time: String,
    ) -> Self {
        let mut attributes = Attributes::new();
        attributes.insert("MessageID".into(), message_id.to_string());
        attributes.insert("MessageId".into(), message_id.to_string());
        if let Some(reason) = reason {
            attributes.insert("Reason".into(), reason.to_string());
        }
        EventFrame::new(
            id,
            request_id,
            EVENT_DELETE_MESSAGE.into(),
            attributes,
            send_time,
        )
    }

    pub fn disconnect_user(
        id: String,
        request_id: Option<String>,
        user_id: &str,
        reason: Option<&str>,
        send_time: String,
    ) -> Self {
        let mut attributes = Attributes::new();
        attributes.insert("UserId".into(), user_id.to_string());
        if let Some(reason) = reason {
            attributes.insert("Reason".into(), reason.to_string());
        }
        EventFrame::new(
            id,
            request_id,
            EVENT_DISCONNECT_USER.into(),
            attributes,
            send_time,
        )
    }
}

impl ErrorFrame {
    pub fn new(
        id: String,
        request_id: Option<String>,
        code: ChatErrorCode,
        message: String,
    ) -> Self {
        ErrorFrame {
            kind: "ERROR",
            id,
            request_id,
            error_code: code as u16,
            error_message: message,
        }
    }
}

/// Serialises a frame; frames hold only strings, numbers and string maps, so this cannot fail.
pub fn to_json<T: Serialize>(frame: &T) -> String {
    serde_json::to_string(frame).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sdk_frames() {
        let r = parse_request(r#"{"Action":"SEND_MESSAGE","RequestId":"e7ef","Content":"hello","Attributes":{"kind":"smoke"}}"#).unwrap();
        assert_eq!(r.request_id.as_deref(), Some("e7ef"));
        assert_eq!(
            r.action,
            Action::SendMessage {
                content: "hello".into(),
                attributes: [("kind".to_string(), "smoke".to_string())].into()
            }
        );
        let r = parse_request(r#"{"Action":"DELETE_MESSAGE","RequestId":"x","Id":"EJIgLU16ppdq","Reason":"smoke cleanup"}"#).unwrap();
        assert_eq!(
            r.action,
            Action::DeleteMessage {
                id: "EJIgLU16ppdq".into(),
                reason: Some("smoke cleanup".into())
            }
        );
        let r = parse_request(r#"{"Action":"DISCONNECT_USER","UserId":"someone","Reason":null}"#)
            .unwrap();
        assert_eq!(r.request_id, None);
        assert_eq!(
            r.action,
            Action::DisconnectUser {
                user_id: "someone".into(),
                reason: None
            }
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_nulls_absent() {
        let r = parse_request(r#"{"action":"SEND_MESSAGE","requestId":"r","content":"hi","attributes":null,"extra":1}"#).unwrap();
        assert_eq!(r.request_id.as_deref(), Some("r"));
        assert!(matches!(r.action, Action::SendMessage { ref content, .. } if content == "hi"));
    }

    #[test]
    fn bad_requests_keep_the_request_id_when_readable() {
        let e = parse_request(r#"{"Action":"SEND_MESSAGE","RequestId":"r1"}"#).unwrap_err();
        assert_eq!(
            (e.code, e.request_id.as_deref()),
            (ChatErrorCode::BadRequest, Some("r1"))
        );
        let e = parse_request(r#"{"Action":"NOPE","RequestId":"r2"}"#).unwrap_err();
        assert_eq!(e.request_id.as_deref(), Some("r2"));
        let e = parse_request(r#"[1]"#).unwrap_err();
        assert_eq!((e.code, e.request_id), (ChatErrorCode::BadRequest, None));
        let e = parse_request(
            r#"{"Action":"SEND_MESSAGE","RequestId":"r","Content":"x","Attributes":{"a":1}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ChatErrorCode::BadRequest);
        let e = parse_request(
            r#"{"Action":"SEND_MESSAGE","RequestId":"r","Content":"x","Attributes":[1]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ChatErrorCode::BadRequest);
        let big = format!(
            r#"{{"Action":"SEND_MESSAGE","RequestId":"r","Content":"x","Attributes":{{"a":"{}"}}}}"#,
            "b".repeat(1100)
        );
        assert_eq!(
            parse_request(&big).unwrap_err().code,
            ChatErrorCode::PayloadTooLarge
        );
        let e = parse_request(r#"{"Action":"DISCONNECT_USER","RequestId":"r","UserId":""}"#)
            .unwrap_err();
        assert_eq!(e.code, ChatErrorCode::BadRequest);
    }

    #[test]
    fn frames_have_the_wire_shape() {
        let frame = MessageFrame::new(
            "WhO6MW6iRdS5".into(),
            None,
            "bbiab!".into(),
            Attributes::new(),
            "2023-01-05T14:33:32.894089757Z".into(),
            Sender {
                user_id: "u".into(),
                attributes: Attributes::new(),
            },
        );
        assert_eq!(
            to_json(&frame),
            r#"{"Type":"MESSAGE","Id":"WhO6MW6iRdS5","RequestId":"","Attributes":{},"Content":"bbiab!","SendTime":"2023-01-05T14:33:32.894089757Z","Sender":{"UserId":"u","Attributes":{}}}"#
        );
        let event = EventFrame::delete_message(
            "zNhJn7xAabqf".into(),
            Some("r".into()),
            "EJIgLU16ppdq",
            Some("spam"),
            "t".into(),
        );
        assert_eq!(
            to_json(&event),
            r#"{"Type":"EVENT","Id":"zNhJn7xAabqf","RequestId":"r","EventName":"aws:DELETE_MESSAGE","Attributes":{"MessageID":"EJIgLU16ppdq","MessageId":"EJIgLU16ppdq","Reason":"spam"},"SendTime":"t"}"#
        );
        let error = ErrorFrame::new(
            "olSWkpp9Vq20".into(),
            None,
            ChatErrorCode::Unauthorized,
            "expired".into(),
        );
        assert_eq!(
            to_json(&error),
            r#"{"Type":"ERROR","Id":"olSWkpp9Vq20","ErrorCode":401,"ErrorMessage":"expired"}"#
        );
    }
}

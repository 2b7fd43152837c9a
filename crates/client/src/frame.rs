//! The frames a chat server sends (`docs/protocol/messaging.md` §3): MESSAGE, EVENT and ERROR,
//! parsed into owned, typed values.
//!
//! Parsing is as lenient as the official JS SDK's: `null` attribute maps are empty, `RequestId`
//! may be absent, `null` or `""` (all mean "answers no request"), unknown keys are ignored. Keys
//! are PascalCase and matched exactly, as the SDK does (§3.0). Serialising a frame gives the
//! same PascalCase shape back (what `ivschat tail` prints).

use ivschat_proto::messaging::{Attributes, EVENT_DELETE_MESSAGE, EVENT_DISCONNECT_USER};
use serde::{Deserialize, Deserializer, Serialize};

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum Frame {
    /// A chat message (§3.1), the sender's own included.
    #[serde(rename = "MESSAGE")]
    Message(Message),
    /// An event: SendEvent's, `aws:DELETE_MESSAGE` or `aws:DISCONNECT_USER` (§3.2–§3.4).
    #[serde(rename = "EVENT")]
    Event(Event),
    /// An error for this connection only (§3.5).
    #[serde(rename = "ERROR")]
    Error(ChatError),
}

impl Frame {
    /// Parses one text frame; `None` for anything that is not a MESSAGE, EVENT or ERROR of the
    /// documented shape (the JS SDK drops those too).
    pub fn parse(text: &str) -> Option<Frame> {
        serde_json::from_str(text).ok()
    }

    /// The frame's `Id`: unique per frame (§1.6).
    pub fn id(&self) -> &str {
        match self {
            Frame::Message(m) => &m.id,
            Frame::Event(e) => &e.id,
            Frame::Error(e) => &e.id,
        }
    }

    /// The `RequestId` of the request this frame answers, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Frame::Message(m) => m.request_id.as_deref(),
            Frame::Event(e) => e.request_id.as_deref(),
            Frame::Error(e) => e.request_id.as_deref(),
        }
    }
}

/// MESSAGE (§3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    pub id: String,
    #[serde(
        default,
        deserialize_with = "request_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Attributes,
    pub content: String,
    /// RFC 3339 with nanoseconds, as the server wrote it.
    pub send_time: String,
    pub sender: Sender,
}

/// Who sent a message: the user id and attributes of their chat token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sender {
    pub user_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Attributes,
}

/// EVENT (§3.2–§3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub id: String,
    #[serde(
        default,
        deserialize_with = "request_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    pub event_name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: Attributes,
    pub send_time: String,
}

impl Event {
    /// For `aws:DELETE_MESSAGE`: the id of the message to remove (`MessageID`, which the SDKs
    /// read, or the documented `MessageId`; §3.3).
    pub fn deleted_message_id(&self) -> Option<&str> {
        (self.event_name == EVENT_DELETE_MESSAGE)
            .then(|| {
                self.attributes
                    .get("MessageID")
                    .or_else(|| self.attributes.get("MessageId"))
            })
            .flatten()
            .map(String::as_str)
    }

    /// For `aws:DISCONNECT_USER`: the user whose connections are being closed (§3.4).
    pub fn disconnected_user_id(&self) -> Option<&str> {
        (self.event_name == EVENT_DISCONNECT_USER)
            .then(|| self.attributes.get("UserId"))
            .flatten()
            .map(String::as_str)
    }

    /// The `Reason` of a deletion or disconnection, when one was given.
    pub fn reason(&self) -> Option<&str> {
        self.attributes.get("Reason").map(String::as_str)
    }
}

/// ERROR (§3.5); also what a refused request resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChatError {
    pub id: String,
    #[serde(
        default,
        deserialize_with = "request_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    /// One of 400, 401, 403, 404, 406, 413, 429, 500 (§4).
    pub error_code: u16,
    pub error_message: String,
}

impl std::fmt::Display for ChatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERROR {}: {}", self.error_code, self.error_message)
    }
}

impl std::error::Error for ChatError {}

/// `null` or a missing map is an empty map (§3.1: the SDK accepts both).
fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Attributes, D::Error> {
    Ok(Option::<Attributes>::deserialize(d)?.unwrap_or_default())
}

/// `""` is what the server sends for "no request" (§3.0), like `null` or no key.
fn request_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|id| !id.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_frames() {
        let m = Frame::parse(r#"{"Type":"MESSAGE","Id":"WhO6MW6iRdS5","RequestId":"e7ef","Attributes":{"kind":"smoke"},"Content":"bbiab!","SendTime":"2023-01-05T14:33:32.894089757Z","Sender":{"UserId":"u1","Attributes":{"username":"g"}}}"#).unwrap();
        let Frame::Message(m) = m else { panic!() };
        assert_eq!(
            (m.request_id.as_deref(), m.content.as_str()),
            (Some("e7ef"), "bbiab!")
        );
        assert_eq!(m.sender.attributes["username"], "g");

        let e = Frame::parse(r#"{"Type":"EVENT","Id":"zNhJn7xAabqf","RequestId":"","EventName":"aws:DELETE_MESSAGE","Attributes":{"MessageID":"EJIgLU16ppdq","MessageId":"EJIgLU16ppdq","Reason":"spam"},"SendTime":"t"}"#).unwrap();
        let Frame::Event(e) = e else { panic!() };
        assert_eq!(e.request_id, None);
        assert_eq!(e.deleted_message_id(), Some("EJIgLU16ppdq"));
        assert_eq!((e.reason(), e.disconnected_user_id()), (Some("spam"), None));

        let e = Frame::parse(r#"{"Type":"EVENT","Id":"AYk6xKitV4On","EventName":"aws:DISCONNECT_USER","Attributes":{"UserId":"R1"},"SendTime":"t"}"#).unwrap();
        let Frame::Event(e) = e else { panic!() };
        assert_eq!(e.disconnected_user_id(), Some("R1"));

        let x = Frame::parse(r#"{"Type":"ERROR","Id":"olSWkpp9Vq20","RequestId":"a5","ErrorCode":406,"ErrorMessage":"no"}"#).unwrap();
        assert_eq!(x.request_id(), Some("a5"));
        assert!(matches!(
            x,
            Frame::Error(ChatError {
                error_code: 406,
                ..
            })
        ));
    }

    #[test]
    fn nulls_are_absent_and_unknown_frames_are_dropped() {
        let m = Frame::parse(r#"{"Type":"MESSAGE","Id":"a","RequestId":null,"Attributes":null,"Content":"","SendTime":"t","Sender":{"UserId":"u","Attributes":null},"Extra":1}"#).unwrap();
        assert_eq!(m.request_id(), None);
        assert_eq!(Frame::parse(r#"{"Type":"HELLO","Id":"a"}"#), None);
        assert_eq!(
            Frame::parse(r#"{"Type":"ERROR","Id":"a","ErrorCode":"429","ErrorMessage":"x"}"#),
            None
        );
        assert_eq!(Frame::parse("not json"), None);
    }
}

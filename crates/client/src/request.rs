//! The requests a client sends (`docs/protocol/messaging.md` §2), as the JS SDK writes them:
//! PascalCase keys, a UUID v4 `RequestId`, optional fields left out.

use ivschat_proto::messaging::Attributes;
use serde::Serialize;

/// A SEND_MESSAGE request (§2.1): content, and optional attributes delivered with it.
///
/// ```
/// use ivschat_client::SendMessage;
/// let message = SendMessage::new("hello").attribute("displayName", "Sam");
/// assert_eq!(message.content(), "hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessage {
    content: String,
    attributes: Attributes,
}

impl SendMessage {
    pub fn new(content: impl Into<String>) -> SendMessage {
        SendMessage {
            content: content.into(),
            attributes: Attributes::new(),
        }
    }

    /// Adds one attribute (string → string; 1 KB in total on this server).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> SendMessage {
        self.attributes.insert(key.into(), value.into());
        self
    }

    pub fn content(&self) -> &str {
        &self.content
    }
}

impl<T: Into<String>> From<T> for SendMessage {
    fn from(content: T) -> SendMessage {
        SendMessage::new(content)
    }
}

/// A request ready to send: its id and its JSON text.
pub(crate) struct Outgoing {
    pub request_id: String,
    pub text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope<'a> {
    action: &'static str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a Attributes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl<'a> Envelope<'a> {
    fn new(action: &'static str, request_id: &'a str) -> Envelope<'a> {
        Envelope {
            action,
            request_id,
            content: None,
            attributes: None,
            id: None,
            user_id: None,
            reason: None,
        }
    }
}

fn finish(request_id: String, envelope: &Envelope<'_>) -> Outgoing {
    // Only strings and string maps: serialising cannot fail.
    let text = serde_json::to_string(envelope).unwrap_or_default();
    Outgoing { request_id, text }
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn send_message(message: &SendMessage) -> Outgoing {
    let request_id = new_request_id();
    let mut envelope = Envelope::new("SEND_MESSAGE", &request_id);
    envelope.content = Some(&message.content);
    envelope.attributes = Some(&message.attributes).filter(|a| !a.is_empty());
    finish(request_id.clone(), &envelope)
}

pub(crate) fn delete_message(id: &str, reason: Option<&str>) -> Outgoing {
    let request_id = new_request_id();
    let mut envelope = Envelope::new("DELETE_MESSAGE", &request_id);
    envelope.id = Some(id);
    envelope.reason = reason;
    finish(request_id.clone(), &envelope)
}

pub(crate) fn disconnect_user(user_id: &str, reason: Option<&str>) -> Outgoing {
    let request_id = new_request_id();
    let mut envelope = Envelope::new("DISCONNECT_USER", &request_id);
    envelope.user_id = Some(user_id);
    envelope.reason = reason;
    finish(request_id.clone(), &envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivschat_proto::messaging::{parse_request, Action};

    /// What the client writes is what the server's own parser reads.
    #[test]
    fn the_server_parser_reads_every_request() {
        let out = send_message(&SendMessage::new("hi").attribute("k", "v"));
        let parsed = parse_request(&out.text).unwrap();
        assert_eq!(parsed.request_id.as_deref(), Some(out.request_id.as_str()));
        assert_eq!(
            parsed.action,
            Action::SendMessage {
                content: "hi".into(),
                attributes: [("k".to_string(), "v".to_string())].into()
            }
        );
        assert!(!send_message(&"x".into()).text.contains("Attributes"));

        let out = delete_message("EJIgLU16ppdq", Some("spam"));
        assert_eq!(
            parse_request(&out.text).unwrap().action,
            Action::DeleteMessage {
                id: "EJIgLU16ppdq".into(),
                reason: Some("spam".into())
            }
        );
        let out = disconnect_user("u2", None);
        assert_eq!(out.text.find("Reason"), None);
        assert_eq!(
            parse_request(&out.text).unwrap().action,
            Action::DisconnectUser {
                user_id: "u2".into(),
                reason: None
            }
        );
    }
}

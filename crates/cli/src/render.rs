//! How updates look: one line of text for the chat screen, one JSON line for `tail`.

use ivschat_client::{Disconnect, Update};

/// The JSON line `ivschat tail` prints: a frame as the server sent it, or a connection change.
pub fn json_line(update: Update) -> String {
    match update {
        Update::Disconnected {
            cause,
            reconnect_in,
        } => serde_json::json!({
            "Type": "DISCONNECTED",
            "Reason": cause.to_string(),
            "ReconnectInMs": reconnect_in.map(|d| d.as_millis() as u64),
        })
        .to_string(),
        Update::Reconnected => serde_json::json!({ "Type": "RECONNECTED" }).to_string(),
        other => other
            .into_frame()
            .and_then(|frame| serde_json::to_string(&frame).ok())
            .unwrap_or_default(),
    }
}

/// The chat screen's line for an update.
pub fn text_line(update: &Update) -> String {
    match update {
        Update::Message(m) => format!(
            "{} {}: {}",
            clock(&m.send_time),
            m.sender.user_id,
            m.content
        ),
        Update::Event(e) => {
            if let Some(user) = e.disconnected_user_id() {
                format!(
                    "{} * {user} was disconnected{}",
                    clock(&e.send_time),
                    reason(e.reason())
                )
            } else if let Some(id) = e.deleted_message_id() {
                format!(
                    "{} * message {id} was deleted{}",
                    clock(&e.send_time),
                    reason(e.reason())
                )
            } else {
                let attributes: Vec<String> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "{} * event {} {}",
                    clock(&e.send_time),
                    e.event_name,
                    attributes.join(" ")
                )
            }
        }
        Update::Error(e) => format!("! {e}"),
        Update::Disconnected {
            cause,
            reconnect_in,
        } => match reconnect_in {
            Some(delay) => format!("* {cause}; reconnecting in {} ms", delay.as_millis()),
            None if *cause == Disconnect::ClosedByClient => "* left the room".into(),
            None => format!("* {cause}; not reconnecting"),
        },
        Update::Reconnected => "* reconnected".into(),
    }
}

/// `HH:MM:SS` of an RFC 3339 time.
fn clock(send_time: &str) -> &str {
    send_time.get(11..19).unwrap_or(send_time)
}

fn reason(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

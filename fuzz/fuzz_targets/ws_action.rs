//! WebSocket action parsing (`ivschat_proto::messaging::parse_request`): one text frame from a
//! chat client.
//!
//! Properties checked besides "never panics": a parsed request respects the protocol's bounds
//! (RequestId, Id, UserId, Reason lengths; attributes total), errors carry one of the codes the
//! SDKs know, and the MESSAGE/EVENT/ERROR frames built from what was parsed serialise to JSON.
#![no_main]

use ivschat_proto::messaging::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_request(text) {
        Ok(request) => {
            if let Some(id) = &request.request_id {
                assert!(id.chars().count() <= MAX_REQUEST_ID_CHARS);
            }
            match &request.action {
                Action::SendMessage {
                    content,
                    attributes,
                } => {
                    let size: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
                    assert!(size <= MAX_ATTRIBUTES_BYTES);
                    let frame = MessageFrame::new(
                        "msgid".into(),
                        request.request_id.clone(),
                        content.clone(),
                        attributes.clone(),
                        "2023-01-01T00:00:00.000Z".into(),
                        Sender {
                            user_id: "u".into(),
                            attributes: Attributes::new(),
                        },
                    );
                    round_trip(&to_json(&frame));
                }
                Action::DeleteMessage { id, reason } => {
                    let n = id.chars().count();
                    assert!((1..=MAX_MESSAGE_ID_CHARS).contains(&n));
                    check_reason(reason);
                    let frame = EventFrame::delete_message(
                        "evid".into(),
                        request.request_id.clone(),
                        id,
                        reason.as_deref(),
                        "2023-01-01T00:00:00.000Z".into(),
                    );
                    round_trip(&to_json(&frame));
                }
                Action::DisconnectUser { user_id, reason } => {
                    let n = user_id.chars().count();
                    assert!((1..=MAX_USER_ID_CHARS).contains(&n));
                    check_reason(reason);
                    let frame = EventFrame::disconnect_user(
                        "evid".into(),
                        request.request_id.clone(),
                        user_id,
                        reason.as_deref(),
                        "2023-01-01T00:00:00.000Z".into(),
                    );
                    round_trip(&to_json(&frame));
                }
            }
        }
        Err(e) => {
            assert!(matches!(e.code as u16, 400 | 413), "{:?}", e.code);
            if let Some(id) = &e.request_id {
                assert!(id.chars().count() <= MAX_REQUEST_ID_CHARS);
            }
            let frame =
                ErrorFrame::new("id".into(), e.request_id.clone(), e.code, e.message.clone());
            round_trip(&to_json(&frame));
        }
    }
});

fn check_reason(reason: &Option<String>) {
    if let Some(r) = reason {
        let n = r.chars().count();
        assert!((1..=MAX_REASON_CHARS).contains(&n));
    }
}

fn round_trip(json: &str) {
    let v: serde_json::Value = serde_json::from_str(json).expect("frames are JSON");
    assert!(v.is_object());
}

//! How the Redis bus encodes what it carries on a room's channel: one byte of kind, then the
//! body. Frames are already JSON text, so they are sent as they are, never wrapped again.
//!
//! | kind | body |
//! |---|---|
//! | `F` | the frame's JSON |
//! | `H` | `<history id> <frame's JSON>`: a frame kept in the room's history (published by the history's Lua script, `history/redis.rs`) |
//! | `D` | `{"u": user id, "r": reason?}` (close that user's connections) |
//! | `X` | nothing (the room was deleted) |
//! | `U` | `{"id": room id, "s": settings}` (UpdateRoom) |

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::room::frame::{HistoryId, OutFrame};
use crate::room::{RoomEvent, RoomUpdate};

#[derive(Serialize, Deserialize)]
struct DisconnectBody {
    u: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<String>,
}

pub fn encode_event(event: &RoomEvent) -> Vec<u8> {
    match event {
        RoomEvent::Frame(frame) if frame.history().is_some() => {
            let id = frame.history().map(|id| id.to_string()).unwrap_or_default();
            let json = frame.json();
            let mut out = Vec::with_capacity(json.len() + id.len() + 2);
            out.push(b'H');
            out.extend_from_slice(id.as_bytes());
            out.push(b' ');
            out.extend_from_slice(json);
            out
        }
        RoomEvent::Frame(frame) => {
            let json = frame.json();
            let mut out = Vec::with_capacity(json.len() + 1);
            out.push(b'F');
            out.extend_from_slice(json);
            out
        }
        RoomEvent::Disconnect { user_id, reason } => {
            let body = DisconnectBody {
                u: user_id.to_string(),
                r: reason.as_deref().map(str::to_string),
            };
            let mut out = vec![b'D'];
            out.extend(serde_json::to_vec(&body).unwrap_or_default());
            out
        }
        RoomEvent::Deleted => vec![b'X'],
    }
}

pub fn decode_event(bytes: &[u8]) -> Option<RoomEvent> {
    let (kind, body) = bytes.split_first()?;
    match kind {
        b'F' => {
            let text = std::str::from_utf8(body).ok()?;
            Some(RoomEvent::Frame(OutFrame::text(text)))
        }
        b'H' => {
            let text = std::str::from_utf8(body).ok()?;
            let (id, json) = text.split_once(' ')?;
            let id: HistoryId = id.parse().ok()?;
            Some(RoomEvent::Frame(OutFrame::text(json).kept_at(id)))
        }
        b'D' => {
            let body: DisconnectBody = serde_json::from_slice(body).ok()?;
            Some(RoomEvent::Disconnect {
                user_id: Arc::from(body.u),
                reason: body.r.map(Arc::from),
            })
        }
        b'X' => Some(RoomEvent::Deleted),
        _ => None,
    }
}

pub fn encode_update(update: &RoomUpdate) -> Vec<u8> {
    let mut out = vec![b'U'];
    out.extend(serde_json::to_vec(update).unwrap_or_default());
    out
}

pub fn decode_update(bytes: &[u8]) -> Option<RoomUpdate> {
    match bytes.split_first()? {
        (b'U', body) => serde_json::from_slice(body).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        for event in [
            RoomEvent::Frame(OutFrame::text("{\"Type\":\"MESSAGE\"}")),
            RoomEvent::Frame(OutFrame::text("{\"Type\":\"EVENT\"}").kept_at(HistoryId {
                high: 1_700_000_000_000,
                low: 3,
            })),
            RoomEvent::Disconnect {
                user_id: Arc::from("u ✓"),
                reason: Some(Arc::from("bye")),
            },
            RoomEvent::Disconnect {
                user_id: Arc::from("u"),
                reason: None,
            },
            RoomEvent::Deleted,
        ] {
            let decoded = decode_event(&encode_event(&event)).unwrap();
            assert_eq!(format!("{decoded:?}"), format!("{event:?}"));
        }
        assert!(decode_event(b"").is_none());
        assert!(decode_event(b"Dnot json").is_none());
        assert!(decode_event(b"?").is_none());
        assert!(decode_event(b"Hnot-an-id {}").is_none());
        assert!(decode_event(b"H1-2").is_none());
    }
}

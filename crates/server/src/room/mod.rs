//! What a room's members receive, and the settings they enforce, as every part that carries
//! them sees it: the chat side (`chat/`), which hands them to connections, and the bus
//! (`bus/`), which carries them between nodes. A leaf: it depends on `domain` only (and on
//! `presence/tag.rs`, itself a leaf, to read a room tag), so the chat side and the bus both
//! depend on it and never on each other's internals.
//!
//! * [`RoomEvent`]: what every node delivers to the room's members, in the same order.
//! * [`RoomSettings`] and [`RoomUpdate`]: the limits a live connection enforces, and UpdateRoom's
//!   message to the nodes that have connections in the room.
//! * `frame.rs`: a MESSAGE or EVENT encoded once as a WebSocket frame, for every receiver.
//! * `options.rs`: the room options we add to AWS's, read from `ivschat-server:` tags.

pub mod frame;
pub mod options;

use std::sync::Arc;

use ivschat_proto::control::FallbackResult;
use serde::{Deserialize, Serialize};

use crate::domain::resources::Room;
use frame::OutFrame;
use options::RoomOptions;

/// What a room's members receive, on every node (the bus carries these and nothing else).
#[derive(Debug, Clone)]
pub enum RoomEvent {
    /// A MESSAGE or EVENT frame, encoded once for everyone.
    Frame(OutFrame),
    /// Close every connection of this user (after the `aws:DISCONNECT_USER` frame, which was
    /// sent just before on the same channel, so it arrives first).
    Disconnect {
        user_id: Arc<str>,
        reason: Option<Arc<str>>,
    },
    /// The room was deleted: ERROR 404, then close.
    Deleted,
}

/// The room settings a live connection enforces; UpdateRoom replaces them at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub maximum_message_length: i32,
    pub maximum_message_rate_per_second: i32,
    pub review_handler_uri: Option<String>,
    pub review_fallback: FallbackResult,
    pub logging_configuration_ids: Vec<String>,
    /// The room's `updateTime` these settings come from: older settings never replace newer.
    pub version: i64,
    /// Our options (`ivschat-server:` tags). Absent from what older nodes send: AWS's
    /// behaviour.
    #[serde(default, rename = "o", skip_serializing_if = "is_default")]
    pub options: RoomOptions,
}

fn is_default(options: &RoomOptions) -> bool {
    *options == RoomOptions::default()
}

impl RoomSettings {
    pub fn of(room: &Room) -> RoomSettings {
        RoomSettings {
            version: room.update_time,
            maximum_message_length: room.maximum_message_length,
            maximum_message_rate_per_second: room.maximum_message_rate_per_second,
            review_handler_uri: room.review_handler_uri.clone(),
            review_fallback: room.review_fallback,
            logging_configuration_ids: room.logging_configuration_ids.clone(),
            options: RoomOptions::of(&room.tags),
        }
    }
}

/// UpdateRoom's new settings, for the nodes with connections in the room. The short field
/// names are what the Redis bus has always carried (`bus/wire.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomUpdate {
    #[serde(rename = "id")]
    pub room_id: String,
    #[serde(rename = "s")]
    pub settings: RoomSettings,
}

//! The chat side: rooms with live connections, and the events the control plane sends them.
//!
//! This is the seam between the control plane and live sessions. The WebSocket Messaging API
//! itself is built on top of it.

use ivschat_proto::control::StringMap;

use crate::domain::ids::new_id;
use crate::domain::resources::{LoggingConfiguration, Room};

/// Rooms' live connections.
#[derive(Debug, Default)]
pub struct Hub {}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// SendEvent: delivers an EVENT to every connection of the room; returns its `Id`.
    pub fn send_event(
        &self,
        _room_id: &str,
        _event_name: String,
        _attributes: StringMap,
    ) -> String {
        new_id()
    }

    /// DeleteMessage: delivers `aws:DELETE_MESSAGE`; returns the event's `Id`.
    pub fn delete_message(
        &self,
        _room_id: &str,
        _message_id: String,
        _reason: Option<String>,
        _request_id: Option<String>,
    ) -> String {
        new_id()
    }

    /// DisconnectUser: delivers `aws:DISCONNECT_USER`, then closes the user's connections.
    pub fn disconnect_user(
        &self,
        _room_id: &str,
        _user_id: String,
        _reason: Option<String>,
        _request_id: Option<String>,
    ) -> String {
        new_id()
    }

    /// UpdateRoom: new limits and review handler apply to live connections at once.
    pub fn room_updated(&self, _room: &Room) {}

    /// DeleteRoom: every connection gets ERROR 404 and is closed.
    pub fn room_deleted(&self, _room_id: &str) {}

    pub fn logging_configuration_updated(&self, _config: &LoggingConfiguration) {}
}

//! What the application reads from a client: frames, and changes of the connection.

use std::time::Duration;

use crate::error::Disconnect;
use crate::frame::{ChatError, Event, Frame, Message};

/// One item of the receive queue ([`crate::ChatClient::recv`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A chat message, the client's own included.
    Message(Message),
    /// An event (SendEvent, `aws:DELETE_MESSAGE`, `aws:DISCONNECT_USER`).
    Event(Event),
    /// An ERROR that answers no pending request (a request that timed out, or one about the
    /// connection as a whole).
    Error(ChatError),
    /// The connection ended. With `reconnect_in`, the client connects again after that delay
    /// (frames sent in between are not replayed: the room has no history); without it, this
    /// is the last update.
    Disconnected {
        cause: Disconnect,
        reconnect_in: Option<Duration>,
    },
    /// A new connection is open after a [`Update::Disconnected`].
    Reconnected,
}

impl From<Frame> for Update {
    fn from(frame: Frame) -> Update {
        match frame {
            Frame::Message(m) => Update::Message(m),
            Frame::Event(e) => Update::Event(e),
            Frame::Error(e) => Update::Error(e),
        }
    }
}

impl Update {
    /// The frame this update carries, if it carries one.
    pub fn into_frame(self) -> Option<Frame> {
        match self {
            Update::Message(m) => Some(Frame::Message(m)),
            Update::Event(e) => Some(Frame::Event(e)),
            Update::Error(e) => Some(Frame::Error(e)),
            Update::Disconnected { .. } | Update::Reconnected => None,
        }
    }
}

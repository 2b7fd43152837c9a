//! The close frame a chat session sends when the client breaks RFC 6455. The RFC asks the
//! server to _Fail the WebSocket Connection_ (§7.1.7): send a close frame with the reason's
//! code, then close. Before, every such read error dropped the TCP connection without one.
//!
//! | the client sent | code |
//! |---|---|
//! | a text message (or a close reason) that is not UTF-8 (§8.1) | 1007 |
//! | reserved bits set with no extension negotiated (§5.2) | 1002 |
//! | an unmasked frame (§5.1) | 1002 |
//! | a fragmented control frame, or one over 125 bytes (§5.5) | 1002 |
//! | a close frame with a 1-byte payload (§5.5.1) | 1002 |
//! | a continuation frame with no message open, or a new data frame while one is (§5.4) | 1002 |
//! | an unknown opcode (§5.2) | 1002 |
//! | a close frame with a code that may not be sent (§7.4) | 1002 (tungstenite's echo of the close) |
//!
//! tungstenite reports invalid UTF-8 the same way wherever it is, so a close reason that is
//! not UTF-8 also gets 1007 (RFC 6455 §8.1 covers both; Autobahn accepts 1002 or 1007).

use tungstenite::error::{Error, ProtocolError};

pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_INVALID_DATA: u16 = 1007;

/// The close code and reason for a read error that is the client's protocol violation;
/// `None` for errors that only mean the client is gone.
pub fn close_for(error: &Error) -> Option<(u16, &'static str)> {
    let protocol = |reason| Some((CLOSE_PROTOCOL_ERROR, reason));
    match error {
        Error::Utf8(_) => Some((CLOSE_INVALID_DATA, "invalid UTF-8")),
        Error::Protocol(violation) => match violation {
            // The peer went away or closed: there is nobody to tell.
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::ReceivedAfterClosing
            | ProtocolError::SendAfterClosing => None,
            ProtocolError::NonZeroReservedBits => {
                protocol("reserved bits set without a negotiated extension")
            }
            ProtocolError::UnmaskedFrameFromClient => protocol("client frames must be masked"),
            ProtocolError::FragmentedControlFrame => protocol("fragmented control frame"),
            ProtocolError::ControlFrameTooBig => protocol("control frame over 125 bytes"),
            ProtocolError::InvalidCloseSequence => protocol("close frame payload of 1 byte"),
            ProtocolError::UnexpectedContinueFrame => {
                protocol("continuation frame with no message to continue")
            }
            ProtocolError::ExpectedFragment(_) => {
                protocol("new data frame while a fragmented message is open")
            }
            ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_)
            | ProtocolError::InvalidOpcode(_) => protocol("unknown opcode"),
            _ => protocol("protocol error"),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_get_their_codes_and_a_vanished_peer_gets_none() {
        assert_eq!(
            close_for(&Error::Utf8("bad".into())).map(|c| c.0),
            Some(1007)
        );
        for violation in [
            ProtocolError::NonZeroReservedBits,
            ProtocolError::UnmaskedFrameFromClient,
            ProtocolError::FragmentedControlFrame,
            ProtocolError::ControlFrameTooBig,
            ProtocolError::InvalidCloseSequence,
            ProtocolError::UnexpectedContinueFrame,
            ProtocolError::UnknownDataFrameType(3),
            ProtocolError::UnknownControlFrameType(11),
        ] {
            assert_eq!(
                close_for(&Error::Protocol(violation.clone())).map(|c| c.0),
                Some(1002),
                "{violation:?}"
            );
        }
        assert_eq!(
            close_for(&Error::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            )),
            None
        );
        assert_eq!(close_for(&Error::ConnectionClosed), None);
    }
}

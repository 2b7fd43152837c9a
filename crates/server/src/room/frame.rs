//! A room frame as it goes on the wire. Server-to-client WebSocket frames are not masked
//! (RFC 6455 §5.1), so the bytes of a frame are the same for every receiver: the fan-out
//! encodes each MESSAGE or EVENT once, header included, and writes those bytes to every socket.

use bytes::{BufMut, Bytes, BytesMut};

/// FIN + opcode 1 (text): every chat frame is one whole text message.
const FIN_TEXT: u8 = 0x81;

/// One encoded text frame: WebSocket header, then the frame's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    wire: Bytes,
    header_len: usize,
}

impl OutFrame {
    /// Encodes `json` (already valid UTF-8 JSON) as one unmasked text frame.
    pub fn text(json: &str) -> OutFrame {
        let payload = json.as_bytes();
        let mut wire = BytesMut::with_capacity(payload.len() + 10);
        wire.put_u8(FIN_TEXT);
        // RFC 6455 §5.2: 7-bit length, or 126 + 16-bit, or 127 + 64-bit, always the shortest.
        match payload.len() {
            n @ 0..=125 => wire.put_u8(n as u8),
            n @ 126..=0xFFFF => {
                wire.put_u8(126);
                wire.put_u16(n as u16);
            }
            n => {
                wire.put_u8(127);
                wire.put_u64(n as u64);
            }
        }
        let header_len = wire.len();
        wire.put_slice(payload);
        OutFrame {
            wire: wire.freeze(),
            header_len,
        }
    }

    /// The bytes to write to a socket.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    /// The frame's JSON (what the bus carries between nodes).
    pub fn json(&self) -> &[u8] {
        &self.wire[self.header_len..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::{coding::OpCode, FrameHeader};

    /// tungstenite, the library the clients in our tests use, must read back exactly the frame
    /// and the JSON, at each of the three length encodings and their boundaries.
    #[test]
    fn frames_decode_with_tungstenite_at_every_length_encoding() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let json = "x".repeat(len);
            let frame = OutFrame::text(&json);
            let mut cursor = std::io::Cursor::new(frame.wire().to_vec());
            let (header, payload_len) = FrameHeader::parse(&mut cursor)
                .expect("parses")
                .expect("complete header");
            assert!(header.is_final);
            assert_eq!(
                header.opcode,
                OpCode::Data(tungstenite::protocol::frame::coding::Data::Text)
            );
            assert!(header.mask.is_none(), "server frames are never masked");
            assert_eq!(payload_len as usize, len);
            assert_eq!(cursor.position() as usize, frame.wire().len() - len);
            assert_eq!(frame.json(), json.as_bytes());
        }
    }
}

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
    /// Its place in the room's history, for a room that keeps one (`history/`); `None`
    /// otherwise.
    history: Option<HistoryId>,
}

/// A frame's place in its room's history (issue 22): history and live delivery follow this
/// one order. A Redis stream id (`<ms>-<n>`) with the Redis history; `0-<n>` in embedded mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HistoryId {
    pub high: u64,
    pub low: u64,
}

impl std::fmt::Display for HistoryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.high, self.low)
    }
}

impl std::str::FromStr for HistoryId {
    type Err = ();

    fn from_str(s: &str) -> Result<HistoryId, ()> {
        let (high, low) = s.split_once('-').ok_or(())?;
        let digits = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            part.parse::<u64>().map_err(|_| ())
        };
        Ok(HistoryId {
            high: digits(high)?,
            low: digits(low)?,
        })
    }
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
            history: None,
        }
    }

    /// The frame as kept in its room's history at `id`.
    pub fn kept_at(mut self, id: HistoryId) -> OutFrame {
        self.history = Some(id);
        self
    }

    /// Its place in the room's history, if the room keeps one.
    pub fn history(&self) -> Option<HistoryId> {
        self.history
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

    #[test]
    fn history_ids_order_and_round_trip() {
        let a: HistoryId = "1700000000000-0".parse().unwrap();
        let b: HistoryId = "1700000000000-1".parse().unwrap();
        let c: HistoryId = "1700000000001-0".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-1");
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-+2",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert!(bad.parse::<HistoryId>().is_err(), "{bad}");
        }
    }
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

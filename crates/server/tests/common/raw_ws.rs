//! A hostile WebSocket client: the handshake written by hand on a raw socket (from a chosen
//! loopback address, so per-address limits can be aimed at it), frames built bit by bit
//! (reserved bits, no mask, fragmented control frames, …), and the server's frames read
//! without ever answering a ping.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// A client frame, masked and final unless told otherwise.
#[derive(Debug, Clone)]
pub struct Frame {
    fin: bool,
    /// RSV1..RSV3 as the three bits below FIN.
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
}

impl Frame {
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some([0x12, 0x34, 0x56, 0x78]),
            payload: payload.into(),
        }
    }

    /// A close frame with this code and raw reason bytes.
    pub fn close(code: u16, reason: &[u8]) -> Frame {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        Frame::new(CLOSE, payload)
    }

    pub fn not_final(mut self) -> Frame {
        self.fin = false;
        self
    }

    /// Sets RSV1 (the compression bit, with no extension negotiated).
    pub fn rsv1(mut self) -> Frame {
        self.rsv = 0b100;
        self
    }

    pub fn unmasked(mut self) -> Frame {
        self.mask = None;
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![(u8::from(self.fin) << 7) | (self.rsv << 4) | self.opcode];
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload.len();
        if len < 126 {
            out.push(mask_bit | len as u8);
        } else if len <= usize::from(u16::MAX) {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        match self.mask {
            Some(mask) => {
                out.extend_from_slice(&mask);
                out.extend(
                    self.payload
                        .iter()
                        .enumerate()
                        .map(|(i, b)| b ^ mask[i % 4]),
                );
            }
            None => out.extend_from_slice(&self.payload),
        }
        out
    }
}

/// A frame from the server (never masked).
#[derive(Debug)]
pub struct ServerFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// A TCP connection to `server` from the loopback address `from` (any 127.x.y.z works on
/// Linux), so that each actor of a test has its own per-address count.
pub async fn tcp_from(from: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// Opens a chat WebSocket by hand. `Err` carries the status line of a refusal.
pub async fn connect(from: IpAddr, server: SocketAddr, token: &str) -> Result<TcpStream, String> {
    let mut stream = tcp_from(from, server).await;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Byte by byte, so no frame after the head is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.lines().next().unwrap_or("").to_string();
    if status.starts_with("HTTP/1.1 101") {
        Ok(stream)
    } else {
        Err(status)
    }
}

/// The next frame from the server; `None` at the end of the stream.
pub async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> Option<ServerFrame> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).await.ok()?;
    let opcode = header[0] & 0x0f;
    let len = match header[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            stream.read_exact(&mut n).await.ok()?;
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            stream.read_exact(&mut n).await.ok()?;
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.ok()?;
    Some(ServerFrame { opcode, payload })
}

/// What the server did at the end, as seen by a client that never answers pings.
#[derive(Debug, PartialEq, Eq)]
pub struct Ending {
    /// The close frame's code; `None` if the connection ended without one.
    pub close_code: Option<u16>,
    /// Pings received before it.
    pub pings: usize,
}

/// Reads until the server closes the connection, skipping data frames and never answering
/// pings: the close frame's code (if any), then the end of the stream.
pub async fn ending(stream: &mut TcpStream) -> Ending {
    let mut pings = 0;
    let mut close_code = None;
    while let Some(frame) = read_frame(stream).await {
        match frame.opcode {
            PING => pings += 1,
            CLOSE => {
                close_code = Some(match frame.payload.as_slice() {
                    [a, b, ..] => u16::from_be_bytes([*a, *b]),
                    _ => 1005,
                });
            }
            _ => {}
        }
    }
    Ending { close_code, pings }
}

//! A hostile HTTP/2 client on a raw socket: the preface, frames built by hand, and header
//! blocks in the plainest HPACK (literal fields, no Huffman, no table), so a test can send
//! what no HTTP/2 library would (more streams than the server allows, oversized headers).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// RST_STREAM's code for a stream the server would not take (RFC 9113 §7).
pub const REFUSED_STREAM: u32 = 0x7;

#[derive(Debug)]
pub struct H2Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK integer with an `n`-bit prefix, `flags` in the bits above it (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, n: u32, flags: u8, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A header block of "literal without indexing, new name" fields (RFC 7541 §6.2.2).
pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_int(&mut out, 7, 0, name.len());
        out.extend_from_slice(name.as_bytes());
        hpack_int(&mut out, 7, 0, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// A HEADERS frame for a request on `stream`.
pub fn request(
    stream: u32,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    end: bool,
) -> Vec<u8> {
    let mut fields = vec![
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
    ];
    fields.extend_from_slice(extra);
    let flags = END_HEADERS | if end { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, &header_block(&fields))
}

pub async fn read_frame(stream: &mut TcpStream) -> Option<H2Frame> {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some(H2Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// Sends the preface and empty settings, and acknowledges the server's settings (its limits
/// apply from the acknowledgement on).
pub async fn handshake(stream: &mut TcpStream) {
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    loop {
        let frame_in = read_frame(stream)
            .await
            .expect("closed during the HTTP/2 handshake");
        if frame_in.kind == SETTINGS && frame_in.flags & ACK == 0 {
            stream
                .write_all(&frame(SETTINGS, ACK, 0, &[]))
                .await
                .unwrap();
            return;
        }
    }
}

/// The server's first answer on `stream_id`: its status, or the RST_STREAM / GOAWAY code.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    Reset(u32),
    GoAway(u32),
    Closed,
}

pub async fn answer(stream: &mut TcpStream, stream_id: u32) -> Answer {
    while let Some(f) = read_frame(stream).await {
        match f.kind {
            HEADERS if f.stream == stream_id => {
                return Answer::Status(status(&f.payload).expect("a response without :status"))
            }
            RST_STREAM if f.stream == stream_id => {
                return Answer::Reset(u32::from_be_bytes(f.payload[..4].try_into().unwrap()))
            }
            GOAWAY => {
                return Answer::GoAway(u32::from_be_bytes(f.payload[4..8].try_into().unwrap()))
            }
            _ => {}
        }
    }
    Answer::Closed
}

/// The `:status` of a response header block, which servers send first: an indexed static
/// entry, or a literal with `:status`'s static name and the digits (Huffman-coded or not).
fn status(block: &[u8]) -> Option<u16> {
    let first = *block.first()?;
    if first & 0x80 != 0 {
        return match first & 0x7f {
            8 => Some(200),
            9 => Some(204),
            10 => Some(206),
            11 => Some(304),
            12 => Some(400),
            13 => Some(404),
            14 => Some(500),
            _ => None,
        };
    }
    let value = block.get(1..)?;
    let huffman = value.first()? & 0x80 != 0;
    let len = usize::from(value[0] & 0x7f);
    let bytes = value.get(1..1 + len)?;
    let digits = if huffman {
        huffman_digits(bytes)?
    } else {
        String::from_utf8(bytes.to_vec()).ok()?
    };
    digits.parse().ok()
}

/// Decodes a Huffman-coded string of three digits (RFC 7541 Appendix B: '0'–'2' are 5-bit
/// codes 0–2, '3'–'9' 6-bit codes 0x19–0x1f).
fn huffman_digits(bytes: &[u8]) -> Option<String> {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let take = |at: usize, n: usize| -> Option<u8> {
        let slice = bits.get(at..at + n)?;
        Some(slice.iter().fold(0, |acc, bit| (acc << 1) | bit))
    };
    let mut at = 0;
    let mut out = String::new();
    for _ in 0..3 {
        let five = take(at, 5)?;
        if five <= 2 {
            out.push(char::from(b'0' + five));
            at += 5;
        } else {
            let six = take(at, 6)?;
            if !(0x19..=0x1f).contains(&six) {
                return None;
            }
            out.push(char::from(b'3' + (six - 0x19)));
            at += 6;
        }
    }
    Some(out)
}

/// Reads until the server closes the connection, acknowledging its PINGs as a live client
/// does (a graceful close waits for one).
pub async fn until_closed_answering_pings(stream: &mut TcpStream) {
    while let Some(f) = read_frame(stream).await {
        if f.kind == PING && f.flags & ACK == 0 {
            let _ = stream.write_all(&frame(PING, ACK, 0, &f.payload)).await;
        }
    }
}

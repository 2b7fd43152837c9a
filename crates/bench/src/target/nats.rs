//! NATS over its WebSocket listener (`websocket { … }` in nats-server's config): one subject per
//! room, every connection subscribed to its room's subject, senders publishing to it.
//!
//! The NATS client protocol is line-based text carried in **binary** WebSocket frames, and a
//! frame is not a message: the server packs several `MSG` items into one frame and may split
//! one item across frames. [`Decoder`] keeps the unfinished tail of a frame for the next one;
//! items that lie wholly inside one frame are read in place (no copy).

use std::borrow::Cow;
use std::time::Duration;

use super::{Incoming, RoomRef};
use crate::ws::{Event, WsClient, OP_BINARY};

/// Sent once the server's `INFO` has arrived: no `+OK` per command, no headers.
pub const CONNECT: &str =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false,\"protocol\":1}\r\n";

/// The answer to the server's keep-alive `PING`.
pub const PONG: &str = "PONG\r\n";

/// The longest protocol line accepted (`MSG <subject> <sid> [reply] <len>`, or `INFO {…}`,
/// which lists the server's cluster URLs); a longer one is a broken stream and is dropped.
const MAX_LINE: usize = 64 * 1024;

/// The subject of room `index` of run `run_id` (distinct per run, so runs never mix).
pub fn subject(run_id: &str, index: usize) -> String {
    format!("bench.{run_id}.{index}")
}

/// `PUB <subject> <len>\r\n<payload>\r\n`.
pub fn encode_publish(subject: &str, payload: &str, out: &mut String) {
    use std::fmt::Write;
    out.clear();
    let _ = write!(out, "PUB {subject} {}\r\n{payload}\r\n", payload.len());
}

/// One protocol item from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// `MSG`/`HMSG`: the payload (without headers).
    Msg(&'a [u8]),
    Ping,
    Pong,
    Info,
    Ok,
    /// `-ERR '…'`: the text between the quotes.
    Err(&'a [u8]),
    /// An operation this client does not know.
    Unknown,
}

/// Bytes of an item that began in an earlier frame (empty between items: no allocation
/// while every item fits in its frame).
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// Feeds one frame's bytes; calls `f` for each complete item, in order.
    pub fn feed(&mut self, frame: &[u8], f: &mut impl FnMut(Item<'_>)) {
        if self.pending.is_empty() {
            let used = parse(frame, f);
            self.pending.extend_from_slice(&frame[used..]);
        } else {
            self.pending.extend_from_slice(frame);
            let used = parse(&self.pending, f);
            self.pending.drain(..used);
        }
    }

    /// Bytes waiting for the rest of their item.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// What an item means to the generator.
pub fn incoming(item: Item<'_>) -> Incoming<'_> {
    match item {
        Item::Msg(payload) => Incoming::Delivery {
            content: match std::str::from_utf8(payload) {
                Ok(text) => Cow::Borrowed(text),
                // Not ours (the generator only sends ASCII): counted as foreign.
                Err(_) => Cow::Owned(String::from_utf8_lossy(payload).into_owned()),
            },
            server_time: None,
        },
        Item::Ping => Incoming::Reply(PONG),
        // NATS errors carry text, not a code, and never name a publish.
        Item::Err(_) => Incoming::Error {
            request_id: None,
            code: -1,
        },
        Item::Pong | Item::Info | Item::Ok | Item::Unknown => Incoming::Other,
    }
}

/// Parses the complete items at the start of `data`; returns how many bytes they took.
fn parse(data: &[u8], f: &mut impl FnMut(Item<'_>)) -> usize {
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let Some(eol) = memchr::memmem::find(rest, b"\r\n") else {
            // An unfinished line: wait for more, unless it is absurdly long.
            return if rest.len() > MAX_LINE {
                data.len()
            } else {
                at
            };
        };
        let line = &rest[..eol];
        let mut words = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|w| !w.is_empty());
        let op = words.next().unwrap_or(b"");
        let body = eol + 2;
        let is = |name: &[u8]| op.eq_ignore_ascii_case(name);
        if is(b"MSG") || is(b"HMSG") {
            // MSG <subject> <sid> [reply-to] <total>; HMSG … <header bytes> <total>.
            let (mut before_last, mut last) = (None, None);
            for word in words {
                before_last = last;
                last = Some(word);
            }
            let number = |w: Option<&[u8]>| {
                w.and_then(|w| std::str::from_utf8(w).ok())
                    .and_then(|w| w.parse::<usize>().ok())
            };
            let total = number(last);
            let headers = if is(b"HMSG") {
                number(before_last)
            } else {
                Some(0)
            };
            let (Some(total), Some(headers)) = (total, headers) else {
                // A malformed header line: skip it.
                f(Item::Unknown);
                at += body;
                continue;
            };
            let end = body + total;
            if rest.len() < end + 2 {
                return at;
            }
            f(Item::Msg(&rest[body + headers.min(total)..end]));
            at += end + 2;
            continue;
        }
        let item = if is(b"PING") {
            Item::Ping
        } else if is(b"PONG") {
            Item::Pong
        } else if is(b"INFO") {
            Item::Info
        } else if is(b"+OK") {
            Item::Ok
        } else if is(b"-ERR") {
            let text = &line[op.len()..];
            let start = text.iter().position(|b| *b == b'\'').map_or(0, |p| p + 1);
            let end = text.iter().rposition(|b| *b == b'\'').unwrap_or(text.len());
            Item::Err(text.get(start..end.max(start)).unwrap_or(b""))
        } else {
            Item::Unknown
        };
        f(item);
        at += body;
    }
    at
}

/// After the WebSocket handshake: waits for `INFO`, sends `CONNECT`, `SUB <subject> 1` and
/// `PING`, and returns once the `PONG` is in, so the subscription is registered on the server
/// before the connection counts as connected. Anything after the `PONG` stays in `decoder`.
pub async fn join(ws: &mut WsClient, room: &RoomRef, decoder: &mut Decoder) -> Result<(), String> {
    let handshake = async {
        let mut got_info = false;
        loop {
            let event = match ws.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => match ws.read().await {
                    Ok(true) => continue,
                    Ok(false) => return Err("nats: stream ended during subscribe".into()),
                    Err(e) => return Err(format!("nats: {e}")),
                },
                Err(e) => return Err(format!("nats: {e}")),
            };
            let payload = match event {
                Event::Binary(p) | Event::Text(p) => p,
                Event::Close { reason, .. } => {
                    return Err(format!("nats: closed during subscribe: {reason}"))
                }
            };
            let (mut info, mut pong, mut ping, mut error) = (false, false, false, None);
            // Nothing is published before every connection is in, so no MSG can arrive
            // here (one that did would be dropped, not counted).
            decoder.feed(ws.payload(&payload), &mut |item| match item {
                Item::Info => info = true,
                Item::Pong => pong = true,
                Item::Ping => ping = true,
                Item::Err(text) => error = Some(String::from_utf8_lossy(text).into_owned()),
                _ => {}
            });
            if let Some(e) = error {
                return Err(format!("nats: -ERR {e}"));
            }
            if ping {
                ws.send(OP_BINARY, PONG.as_bytes())
                    .await
                    .map_err(|e| format!("nats: {e}"))?;
            }
            if info && !got_info {
                got_info = true;
                let hello = format!("{CONNECT}SUB {} 1\r\nPING\r\n", room.id);
                ws.send(OP_BINARY, hello.as_bytes())
                    .await
                    .map_err(|e| format!("nats: {e}"))?;
            }
            if pong && got_info {
                return Ok(());
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), handshake).await {
        Ok(result) => result,
        Err(_) => Err("nats: no PONG within 30 s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(decoder: &mut Decoder, frame: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        decoder.feed(frame, &mut |item| {
            out.push(match item {
                Item::Msg(p) => format!("msg {}", String::from_utf8_lossy(p)),
                Item::Err(t) => format!("err {}", String::from_utf8_lossy(t)),
                other => format!("{other:?}").to_lowercase(),
            })
        });
        out
    }

    #[test]
    fn several_messages_in_one_frame() {
        let mut d = Decoder::default();
        let frame = b"MSG bench.1.0 1 5\r\nhello\r\nMSG bench.1.0 1 reply.x 3\r\nabc\r\nPING\r\n";
        assert_eq!(items(&mut d, frame), ["msg hello", "msg abc", "ping"]);
        assert_eq!(d.pending(), 0);
        // A payload may contain CR LF: only the length counts.
        assert_eq!(items(&mut d, b"MSG s 1 4\r\na\r\nb\r\n"), ["msg a\r\nb"]);
    }

    #[test]
    fn an_item_split_across_frames() {
        let mut d = Decoder::default();
        assert_eq!(items(&mut d, b"MSG s 1 11\r\nhello"), Vec::<String>::new());
        assert_eq!(items(&mut d, b" world"), Vec::<String>::new());
        // The closing CR LF of the payload, and a line split inside itself.
        assert_eq!(items(&mut d, b"\r\nPI"), ["msg hello world"]);
        assert_eq!(items(&mut d, b"NG\r"), Vec::<String>::new());
        assert_eq!(items(&mut d, b"\nMSG s 1 2\r\nok\r\n"), ["ping", "msg ok"]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn control_items() {
        let mut d = Decoder::default();
        let frame = b"INFO {\"server_id\":\"x\"}\r\n+OK\r\nPONG\r\n-ERR 'Slow Consumer'\r\nHMSG s 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n";
        assert_eq!(
            items(&mut d, frame),
            ["info", "ok", "pong", "err Slow Consumer", "msg hi"]
        );
        assert_eq!(incoming(Item::Ping), Incoming::Reply(PONG));
        assert_eq!(
            incoming(Item::Msg(b"1.2.3.")),
            Incoming::Delivery {
                content: Cow::Borrowed("1.2.3."),
                server_time: None
            }
        );
    }

    #[test]
    fn publish_frame() {
        let mut out = String::new();
        encode_publish("bench.1.0", "0.1.2.xx", &mut out);
        assert_eq!(out, "PUB bench.1.0 8\r\n0.1.2.xx\r\n");
    }
}

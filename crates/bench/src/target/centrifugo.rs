//! Centrifugo's JSON protocol over WebSocket (`/connection/websocket`), a peer that a team
//! might pick instead for chat: one channel per room, every connection subscribed to its
//! room's channel, senders publishing to it from the client (the server runs with
//! `client.insecure`, so no token is needed; bench/run-compare.sh writes that config).
//!
//! Commands are JSON objects with a numeric `id`: `connect` (1) and `subscribe` (2) after the
//! handshake, then one `publish` per send, its `data` the content as a JSON string. The server
//! answers with replies carrying the same `id`, and pushes publications as
//! `{"push":{"channel":…,"pub":{"data":…}}}`. A frame carries one or more replies separated
//! by `\n` (Centrifugo batches what is queued for a connection). An empty reply `{}` is the
//! server's ping; the client answers `{}`.

use std::borrow::Cow;
use std::time::Duration;

use super::{Incoming, RoomRef};
use crate::ws::{Event, WsClient, OP_TEXT};

/// The command ids of the join; publishes use ids from [`FIRST_PUBLISH_ID`] on.
const CONNECT_ID: u64 = 1;
const SUBSCRIBE_ID: u64 = 2;
pub const FIRST_PUBLISH_ID: u64 = 10;

/// The answer to the server's ping (an empty reply).
pub const PONG: &str = "{}";

/// The channel of room `index` of run `run_id` (no `:`: the default namespace, which
/// `client.insecure` opens to subscribe and publish).
pub fn channel(run_id: &str, index: usize) -> String {
    format!("bench.{run_id}.{index}")
}

/// `{"id":N,"publish":{"channel":"…","data":"<content>"}}` (`content` is `[A-Za-z0-9.]`,
/// already safe in a JSON string). `id` is derived from the generator's request id
/// (`<seq>-<ns>`): Centrifugo's ids are 32-bit numbers.
pub fn encode_publish(channel: &str, request_id: &str, content: &str, out: &mut String) {
    use std::fmt::Write;
    let seq: u64 = request_id
        .split('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    out.clear();
    let _ = write!(
        out,
        "{{\"id\":{},\"publish\":{{\"channel\":\"{channel}\",\"data\":\"{content}\"}}}}",
        (FIRST_PUBLISH_ID + seq) % u64::from(u32::MAX)
    );
}

/// One reply of a frame, as the generator sees it.
fn reply(line: &str) -> Incoming<'_> {
    let line = line.trim();
    if line == "{}" {
        return Incoming::Reply(PONG);
    }
    if line.starts_with("{\"push\"") {
        // A publication: the content is the JSON string after "data": (the generator's
        // contents have no escapes). Joins, leaves and other pushes have no "pub".
        if let Some(content) = line
            .find("\"pub\":{")
            .and_then(|at| string_after(&line[at..], "\"data\":\""))
        {
            return Incoming::Delivery {
                content: Cow::Borrowed(content),
                server_time: None,
            };
        }
        return Incoming::Other;
    }
    if let Some(at) = line.find("\"error\":{") {
        let code = number_after(&line[at..], "\"code\":").unwrap_or(-1);
        return Incoming::Error {
            request_id: None,
            code,
        };
    }
    Incoming::Other
}

/// The text of the JSON string that follows `key` (which ends with its opening quote), up to
/// the next quote.
fn string_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

fn number_after(text: &str, key: &str) -> Option<i64> {
    let start = text.find(key)? + key.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}

/// Calls `f` for each reply in a frame (`\n`-separated).
pub fn classify(frame: &[u8], f: &mut impl FnMut(Incoming<'_>)) {
    let Ok(text) = std::str::from_utf8(frame) else {
        return f(Incoming::Other);
    };
    for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
        f(reply(line));
    }
}

/// The id a reply answers, if any.
fn reply_id(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix("{\"id\":")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// After the WebSocket handshake: sends `connect` and `subscribe` in one frame, and returns
/// once the subscribe reply is in (the subscription is registered before the connection
/// counts as connected). Publications cannot arrive before that: nothing is published
/// before every connection is in.
pub async fn join(ws: &mut WsClient, room: &RoomRef) -> Result<(), String> {
    let hello = format!(
        "{{\"id\":{CONNECT_ID},\"connect\":{{\"name\":\"ivschat-bench\"}}}}\n\
         {{\"id\":{SUBSCRIBE_ID},\"subscribe\":{{\"channel\":\"{}\"}}}}",
        room.id
    );
    ws.send(OP_TEXT, hello.as_bytes())
        .await
        .map_err(|e| format!("centrifugo: {e}"))?;
    let handshake = async {
        loop {
            let event = match ws.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => match ws.read().await {
                    Ok(true) => continue,
                    Ok(false) => return Err("centrifugo: stream ended during subscribe".into()),
                    Err(e) => return Err(format!("centrifugo: {e}")),
                },
                Err(e) => return Err(format!("centrifugo: {e}")),
            };
            let payload = match event {
                Event::Binary(p) | Event::Text(p) => p,
                Event::Close { code, reason } => {
                    return Err(format!(
                        "centrifugo: closed during subscribe: {code} {reason}"
                    ))
                }
            };
            let text = String::from_utf8_lossy(ws.payload(&payload)).into_owned();
            let mut ping = false;
            for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
                if line.contains("\"error\":{") {
                    return Err(format!("centrifugo: {}", line.trim()));
                }
                if line.trim() == "{}" {
                    ping = true;
                }
                if reply_id(line) == Some(SUBSCRIBE_ID) {
                    return Ok(());
                }
            }
            if ping {
                ws.send(OP_TEXT, PONG.as_bytes())
                    .await
                    .map_err(|e| format!("centrifugo: {e}"))?;
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), handshake).await {
        Ok(result) => result,
        Err(_) => Err("centrifugo: no subscribe reply within 30 s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(frame: &str) -> Vec<String> {
        let mut out = Vec::new();
        classify(frame.as_bytes(), &mut |i| out.push(format!("{i:?}")));
        out
    }

    #[test]
    fn publications_batched_in_one_frame() {
        let frame =
            "{\"push\":{\"channel\":\"bench.1.0\",\"pub\":{\"data\":\"0.1.2.xx\",\"offset\":3}}}\n\
                     {\"push\":{\"channel\":\"bench.1.0\",\"pub\":{\"data\":\"0.2.3.yy\"}}}";
        let mut contents = Vec::new();
        classify(frame.as_bytes(), &mut |i| {
            if let Incoming::Delivery { content, .. } = i {
                contents.push(content.into_owned());
            }
        });
        assert_eq!(contents, ["0.1.2.xx", "0.2.3.yy"]);
    }

    #[test]
    fn ping_replies_and_errors() {
        assert_eq!(all("{}"), ["Reply(\"{}\")"]);
        assert_eq!(all("{\"id\":12,\"publish\":{}}"), ["Other"]);
        assert_eq!(
            all("{\"id\":12,\"error\":{\"code\":103,\"message\":\"permission denied\"}}"),
            ["Error { request_id: None, code: 103 }"]
        );
        // A join push has no publication in it.
        assert_eq!(
            all("{\"push\":{\"channel\":\"c\",\"join\":{\"info\":{\"client\":\"x\"}}}}"),
            ["Other"]
        );
        assert_eq!(reply_id("{\"id\":2,\"subscribe\":{}}"), Some(2));
        assert_eq!(reply_id("{\"push\":{}}"), None);
    }

    #[test]
    fn publish_command_is_valid_json() {
        let mut out = String::new();
        encode_publish("bench.1.0", "7-123456", "0.7.123456.xx", &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["id"], 17);
        assert_eq!(v["publish"]["channel"], "bench.1.0");
        assert_eq!(v["publish"]["data"], "0.7.123456.xx");
    }
}

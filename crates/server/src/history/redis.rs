//! The history with the Redis bus (several nodes): one Redis stream per room
//! (`<cluster>:history:<room id>`), entries `m` (the frame's `Id`) and `f` (its JSON).
//!
//! A frame is appended and published in one Lua script ([`KEEP_AND_PUBLISH`]): Redis runs a
//! script alone, so the stream id the frame gets is in the same order as its PUBLISH on the
//! room's channel, and every node delivers the room's frames in stream-id order (`bus/wire.rs`
//! kind `H` carries the id to them). `MAXLEN` bounds the count and `XTRIM MINID` the age
//! (stream ids start with Redis's clock in ms); the key expires once it has been idle for the
//! age limit, so a room that goes quiet leaves nothing behind. docs/scale-out.md, "History",
//! says why Streams rather than PostgreSQL.

use anyhow::Context;
use redis::aio::ConnectionManager;
use redis::Value;

use super::{Entry, History, Kept};
use crate::bus::redis::room_channel;
use crate::bus::redis_link::RedisLink;
use crate::bus::{waiting, BusCall};
use crate::room::frame::{HistoryId, OutFrame};
use crate::room::options::Retention;

/// KEYS[1] the room's stream; ARGV: channel, frame JSON, message id, count, max age (ms),
/// message id to delete ('' for none). Returns the new entry's id.
///
/// A deletion scans the stream (at most 1000 entries, `room/options.rs`) for the message's id;
/// DeleteMessage is rate limited per account, so this stays small.
const KEEP_AND_PUBLISH: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[6] ~= '' then
  local entries = redis.call('XRANGE', KEYS[1], '-', '+')
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'm' and fields[i + 1] == ARGV[6] then
        redis.call('XDEL', KEYS[1], entry[1])
      end
    end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[4], '*', 'm', ARGV[3], 'f', ARGV[2])
local oldest = now_ms - tonumber(ARGV[5])
if oldest > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', tostring(oldest) .. '-0')
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[1], 'H' .. id .. ' ' .. ARGV[2])
return id
";

/// KEYS[1] the room's stream; ARGV: max age (ms), count, the message `Id` the reader already
/// has ('' for none). The entries the reader needs, NEWEST first (the caller reverses them):
/// never more than `count`, none older than the age limit (a room's count or age may have been
/// lowered since they were kept), and with a `since` only back to its entry (included, so the
/// caller still learns the newest id; docs/protocol/messaging.md §13). Read newest first in
/// pages that double, so a client that missed a few frames costs a few entries, not the whole
/// stream; when `since` is not kept the pages run on to the limits, and the reader gets
/// everything kept, as §13 says.
const READ_KEPT: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local oldest = now_ms - tonumber(ARGV[1])
if oldest < 0 then oldest = 0 end
local min = tostring(oldest) .. '-0'
local count = tonumber(ARGV[2])
if count < 1 then return {} end
local since = ARGV[3]
if since == '' then
  return redis.call('XREVRANGE', KEYS[1], '+', min, 'COUNT', count)
end
local out = {}
local max = '+'
local page = 16
while #out < count do
  local want = math.min(page, count - #out)
  local entries = redis.call('XREVRANGE', KEYS[1], max, min, 'COUNT', want)
  for _, entry in ipairs(entries) do
    out[#out + 1] = entry
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'm' and fields[i + 1] == since then
        return out
      end
    end
  end
  if #entries < want then break end
  max = '(' .. entries[#entries][1]
  page = page * 2
end
return out
";

pub struct RedisHistory {
    commands: ConnectionManager,
    prefix: String,
    keep_and_publish: redis::Script,
    read_kept: redis::Script,
}

impl std::fmt::Debug for RedisHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHistory")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisHistory {
    /// The history on the node's Redis `link` (its shared command connection).
    pub fn new(link: &RedisLink, cluster: &str) -> RedisHistory {
        RedisHistory {
            commands: link.commands(),
            prefix: cluster.to_string(),
            keep_and_publish: redis::Script::new(KEEP_AND_PUBLISH),
            read_kept: redis::Script::new(READ_KEPT),
        }
    }

    fn stream(&self, room_id: &str) -> String {
        format!("{}:history:{room_id}", self.prefix)
    }
}

fn max_age_ms(retention: Retention) -> u64 {
    (retention.max_age.as_millis() as u64).max(1)
}

impl History for RedisHistory {
    fn publish<'a>(&'a self, room_id: &'a str, entry: Entry) -> BusCall<'a, ()> {
        waiting(async move {
            let mut commands = self.commands.clone();
            let _: String = self
                .keep_and_publish
                .key(self.stream(room_id))
                .arg(room_channel(&self.prefix, room_id))
                .arg(&entry.json)
                .arg(&entry.message_id)
                .arg(entry.retention.count)
                .arg(max_age_ms(entry.retention))
                .arg(entry.deletes.as_deref().unwrap_or(""))
                .invoke_async(&mut commands)
                .await
                .with_context(|| {
                    format!("keeping and publishing a frame of room {room_id} in Redis")
                })?;
            Ok(())
        })
    }

    fn read<'a>(&'a self, room_id: &'a str, retention: Retention) -> BusCall<'a, Vec<Kept>> {
        self.read_since(room_id, retention, None)
    }

    /// Only back to `since`'s entry ([`READ_KEPT`]).
    fn read_since<'a>(
        &'a self,
        room_id: &'a str,
        retention: Retention,
        since: Option<&'a str>,
    ) -> BusCall<'a, Vec<Kept>> {
        waiting(async move {
            let mut commands = self.commands.clone();
            let entries: Value = self
                .read_kept
                .key(self.stream(room_id))
                .arg(max_age_ms(retention))
                .arg(retention.count)
                .arg(since.unwrap_or(""))
                .invoke_async(&mut commands)
                .await
                .with_context(|| format!("reading the history of room {room_id} in Redis"))?;
            let mut kept = parse_entries(entries)
                .with_context(|| format!("reading the history of room {room_id} in Redis"))?;
            kept.reverse();
            Ok(kept)
        })
    }

    fn forget_room<'a>(&'a self, room_id: &'a str) -> BusCall<'a, ()> {
        waiting(async move {
            let mut commands = self.commands.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(self.stream(room_id))
                .query_async(&mut commands)
                .await
                .with_context(|| format!("forgetting the history of room {room_id} in Redis"))?;
            Ok(())
        })
    }
}

/// XRANGE's answer: `[[id, [field, value, …]], …]`.
fn parse_entries(entries: Value) -> anyhow::Result<Vec<Kept>> {
    let Value::Array(entries) = entries else {
        anyhow::bail!("XRANGE did not answer an array");
    };
    let mut kept = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(parts) = entry else {
            anyhow::bail!("an XRANGE entry is not an array");
        };
        let [id, Value::Array(fields)] = parts.as_slice() else {
            anyhow::bail!("an XRANGE entry is not [id, fields]");
        };
        let id: HistoryId = text(id)?
            .parse()
            .map_err(|_| anyhow::anyhow!("a stream id does not parse"))?;
        let (mut message_id, mut frame) = (None, None);
        for pair in fields.chunks(2) {
            if let [name, value] = pair {
                match text(name)?.as_str() {
                    "m" => message_id = Some(text(value)?),
                    "f" => frame = Some(text(value)?),
                    _ => {}
                }
            }
        }
        let (Some(message_id), Some(frame)) = (message_id, frame) else {
            anyhow::bail!("a history entry lacks its m or f field");
        };
        kept.push(Kept {
            id,
            message_id: message_id.into(),
            frame: OutFrame::text(&frame).kept_at(id),
        });
    }
    Ok(kept)
}

fn text(value: &Value) -> anyhow::Result<String> {
    match value {
        Value::BulkString(bytes) => {
            String::from_utf8(bytes.clone()).context("a history entry is not UTF-8")
        }
        Value::SimpleString(s) => Ok(s.clone()),
        _ => anyhow::bail!("a history entry field is not a string"),
    }
}

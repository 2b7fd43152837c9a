//! Presence across nodes, in the bus's Redis (docs/scale-out.md "Presence").
//!
//! Each node keeps, per room it has users in, a hash of its own users:
//! `<cluster>:presence:<room>:node:<node>`, field = user id, value = `<connections>|<token
//! attributes as JSON>`, and adds its id to the room's set `<cluster>:presence:<room>:nodes`.
//! The hash expires [`ENTRY_TTL`] after the node last wrote or refreshed it (every
//! [`HEARTBEAT_EVERY`]): a node that dies, even by `kill -9`, stops counting within
//! seconds, with no other node having to notice or clean up after it.
//!
//! A reader merges every node's hash of the room in one Lua script (one consistent view;
//! it also drops dead nodes from the set). A writer applies its changes in one script that
//! also says which users became present or absent cluster-wide (no other node has them), so
//! only a user's first connection anywhere is a join and their last a leave.

use std::time::Duration;

use anyhow::Context;
use ivschat_proto::control::StringMap;
use redis::aio::ConnectionManager;

use super::{Change, Counts, PresentUser, Transitions, UsersPage};

/// How often a node renews its entries.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a node's entries outlive its last renewal: how soon a dead node stops counting.
pub const ENTRY_TTL: Duration = Duration::from_secs(3);

/// Changes of one room written per script call, so a join storm is a few calls of bounded
/// size rather than one huge one.
const WRITE_BATCH: usize = 500;

/// KEYS: this node's hash, the room's node set. ARGV: node id, TTL (ms), whether transitions
/// are wanted ('1'), the prefix of the room's node hashes, then (user, connections, attributes)
/// triples. Returns ('J'|'L', user) pairs for users present nowhere else.
const WRITE: &str = r"
local hash, nodes = KEYS[1], KEYS[2]
local me, ttl, want, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', ARGV[4]
local others = {}
if want then
  for _, node in ipairs(redis.call('SMEMBERS', nodes)) do
    if node ~= me then
      if redis.call('EXISTS', prefix .. node) == 1 then
        others[#others + 1] = prefix .. node
      else
        redis.call('SREM', nodes, node)
      end
    end
  end
end
local out = {}
for i = 5, #ARGV, 3 do
  local user, count = ARGV[i], tonumber(ARGV[i + 1])
  local before = redis.call('HEXISTS', hash, user) == 1
  if count > 0 then
    redis.call('HSET', hash, user, ARGV[i + 1] .. '|' .. ARGV[i + 2])
  else
    redis.call('HDEL', hash, user)
  end
  if want and before ~= (count > 0) then
    local elsewhere = false
    for _, other in ipairs(others) do
      if redis.call('HEXISTS', other, user) == 1 then
        elsewhere = true
        break
      end
    end
    if not elsewhere then
      out[#out + 1] = (count > 0) and 'J' or 'L'
      out[#out + 1] = user
    end
  end
end
if redis.call('EXISTS', hash) == 1 then
  redis.call('PEXPIRE', hash, ttl)
  redis.call('SADD', nodes, me)
  redis.call('PEXPIRE', nodes, ttl * 20)
else
  redis.call('SREM', nodes, me)
end
return out
";

/// KEYS: the room's node set. ARGV: the prefix of its node hashes, 'count' or 'list'.
/// Returns connections, users, then for 'list' (user, connections, attributes) triples,
/// merged over the live nodes. Sorting is left to the caller: Lua compares strings with the
/// server's collation, which need not be byte order.
const READ: &str = r"
local prefix, list = ARGV[1], ARGV[2] == 'list'
local users, ids, connections = {}, {}, 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local entries = redis.call('HGETALL', prefix .. node)
  if #entries == 0 then
    redis.call('SREM', KEYS[1], node)
  end
  for i = 1, #entries, 2 do
    local user, value = entries[i], entries[i + 1]
    local bar = string.find(value, '|', 1, true) or 0
    local count = tonumber(string.sub(value, 1, bar - 1)) or 0
    connections = connections + count
    local seen = users[user]
    if seen then
      seen[1] = seen[1] + count
    else
      users[user] = {count, string.sub(value, bar + 1)}
      ids[#ids + 1] = user
    end
  end
end
local out = {string.format('%d', connections), string.format('%d', #ids)}
if list then
  for _, user in ipairs(ids) do
    out[#out + 1] = user
    out[#out + 1] = string.format('%d', users[user][1])
    out[#out + 1] = users[user][2]
  end
end
return out
";

pub struct SharedPresence {
    commands: ConnectionManager,
    /// `<cluster>:presence`
    prefix: String,
    node_id: String,
    write: redis::Script,
    read: redis::Script,
}

impl SharedPresence {
    /// Presence on the node's Redis `link` (its shared command connection: Redis runs one
    /// command at a time whatever connection it comes on, so one of its own would not make
    /// presence writes wait less; `bus/redis_link.rs`).
    pub fn new(link: &crate::bus::redis_link::RedisLink, cluster: &str) -> SharedPresence {
        SharedPresence {
            commands: link.commands(),
            prefix: format!("{cluster}:presence"),
            node_id: uuid::Uuid::new_v4().simple().to_string(),
            write: redis::Script::new(WRITE),
            read: redis::Script::new(READ),
        }
    }

    fn nodes_key(&self, room_id: &str) -> String {
        format!("{}:{room_id}:nodes", self.prefix)
    }

    fn node_prefix(&self, room_id: &str) -> String {
        format!("{}:{room_id}:node:", self.prefix)
    }

    fn node_key(&self, room_id: &str) -> String {
        format!("{}{}", self.node_prefix(room_id), self.node_id)
    }

    /// Writes this node's changes of a room; with `transitions`, says who joined or left the
    /// room as a whole.
    pub async fn write(
        &self,
        room_id: &str,
        changes: &[Change],
        transitions: bool,
    ) -> anyhow::Result<Transitions> {
        let mut out = Transitions::default();
        let (hash, nodes, prefix) = (
            self.node_key(room_id),
            self.nodes_key(room_id),
            self.node_prefix(room_id),
        );
        for batch in changes.chunks(WRITE_BATCH) {
            let mut call = self.write.prepare_invoke();
            call.key(&hash)
                .key(&nodes)
                .arg(&self.node_id)
                .arg(ENTRY_TTL.as_millis() as u64)
                .arg(if transitions { "1" } else { "0" })
                .arg(&prefix);
            for change in batch {
                let attributes = serde_json::to_string(change.attributes.as_ref())
                    .unwrap_or_else(|_| "{}".to_string());
                call.arg(change.user.as_ref())
                    .arg(change.connections)
                    .arg(attributes);
            }
            let mut commands = self.commands.clone();
            let reply: Vec<String> = call
                .invoke_async(&mut commands)
                .await
                .with_context(|| format!("writing the presence of room {room_id} to Redis"))?;
            for pair in reply.chunks(2) {
                if let [kind, user] = pair {
                    let user = user.as_str().into();
                    match kind.as_str() {
                        "J" => out.joined.push(user),
                        _ => out.left.push(user),
                    }
                }
            }
        }
        Ok(out)
    }

    async fn read(&self, room_id: &str, list: bool) -> anyhow::Result<Vec<String>> {
        let mut commands = self.commands.clone();
        self.read
            .key(self.nodes_key(room_id))
            .arg(self.node_prefix(room_id))
            .arg(if list { "list" } else { "count" })
            .invoke_async(&mut commands)
            .await
            .with_context(|| format!("reading the presence of room {room_id} from Redis"))
    }

    pub async fn counts(&self, room_id: &str) -> anyhow::Result<Counts> {
        let reply = self.read(room_id, false).await?;
        Ok(counts_of(&reply))
    }

    /// A page of the room's users in byte order of their ids. Every node's entries are read
    /// and merged for each page (a room's users are bounded by its connections).
    pub async fn users(
        &self,
        room_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<UsersPage> {
        let reply = self.read(room_id, true).await?;
        let mut users: Vec<PresentUser> = reply
            .get(2..)
            .unwrap_or_default()
            .chunks(3)
            .filter_map(|entry| match entry {
                [user, connections, attributes] => Some(PresentUser {
                    user_id: user.clone(),
                    attributes: serde_json::from_str::<StringMap>(attributes).unwrap_or_default(),
                    connections: connections.parse().unwrap_or(0),
                }),
                _ => None,
            })
            .filter(|user| after.is_none_or(|after| user.user_id.as_str() > after))
            .collect();
        users.sort_unstable_by(|a, b| a.user_id.cmp(&b.user_id));
        let more = users.len() > limit;
        users.truncate(limit);
        Ok(UsersPage { users, more })
    }

    /// Renews this node's entries of `rooms`; says, room by room, whether the entry was gone
    /// (expired while Redis was away): its users must be written again.
    pub async fn refresh(&self, rooms: &[&str]) -> anyhow::Result<Vec<bool>> {
        let mut pipe = redis::pipe();
        let ttl = ENTRY_TTL.as_millis() as u64;
        for room in rooms {
            pipe.cmd("PEXPIRE").arg(self.node_key(room)).arg(ttl);
            pipe.cmd("SADD")
                .arg(self.nodes_key(room))
                .arg(&self.node_id)
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(self.nodes_key(room))
                .arg(ttl * 20)
                .ignore();
        }
        let mut commands = self.commands.clone();
        let renewed: Vec<i64> = pipe
            .query_async(&mut commands)
            .await
            .context("renewing this node's presence in Redis")?;
        Ok(renewed.into_iter().map(|renewed| renewed == 0).collect())
    }

    /// Shutdown: this node's entries go at once rather than at their expiry.
    pub async fn leave_all(&self, rooms: &[String]) {
        if rooms.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.cmd("DEL").arg(self.node_key(room)).ignore();
            pipe.cmd("SREM")
                .arg(self.nodes_key(room))
                .arg(&self.node_id)
                .ignore();
        }
        let mut commands = self.commands.clone();
        let _: redis::RedisResult<()> = pipe.query_async(&mut commands).await;
    }
}

fn counts_of(reply: &[String]) -> Counts {
    let number = |i: usize| reply.get(i).and_then(|n| n.parse().ok()).unwrap_or(0);
    Counts {
        connections: number(0),
        users: number(1),
    }
}

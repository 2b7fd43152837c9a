//! The Redis bus ([`Bus`] for several nodes): what makes them one chat service.
//!
//! * **Fan-out.** Every room event is PUBLISHed on the room's channel
//!   (`<cluster>:room:<id>`); each node SUBSCRIBEs to the rooms it has connections in, and
//!   delivers what it receives, its own events included. Redis gives each channel one order,
//!   so every node delivers a room's events in the same order, once.
//! * **Room changes.** UpdateRoom and DeleteRoom go out on the room's channel too: only the
//!   nodes with connections in the room need them (the others read the room at the next join).
//!   There is no other channel.
//! * **Cluster-wide rules.** Room and account rates are token buckets kept in Redis (one Lua
//!   script call per request); a chat token is redeemed with `SET NX`; each node publishes its
//!   connection count so the concurrent-connection quota counts the whole cluster.
//!
//! * **Liveness.** A subscription connection can go deaf without closing (a Redis failover, a
//!   TCP connection dropped silently on the way). Each node publishes a heartbeat on a channel
//!   of its own (`<cluster>:heartbeat:<node>`) every [`HEARTBEAT_EVERY`] and subscribes to it
//!   on its subscription connection: when none has come back for [`HEARTBEAT_TIMEOUT`], the
//!   connection is dropped and made again, and meanwhile `/ready` answers 503 (`ping`). Room
//!   changes missed meanwhile are applied by reconciliation (`chat/reconcile.rs`), at once
//!   when the subscription is made again ([`Bus::recoveries`]). Messages missed meanwhile
//!   cannot be (pub/sub does not replay), so whenever the subscription connection is lost or
//!   found deaf, every chat connection on the node is closed 1001
//!   (`NodeRooms::events_missed`): a member gets every message or is disconnected, never
//!   silently left behind.
//!
//! * **Transport.** `redis://` in clear, or `rediss://` over TLS (rustls): the server's
//!   certificate is checked against the system's trusted roots, or only against the CA
//!   certificates of `--bus-ca-file`, and its name against the URL's host. Every connection
//!   has TCP keepalive and a TCP user timeout (`redis_link.rs`); commands have a deadline
//!   ([`REDIS_TIMEOUT`]); the subscription has the heartbeat above.
//!
//! Subscriptions change in one task ([`Subscriptions`]) that checks, when it acts, whether
//! the room is still live on this node; so a join and a leave racing for the same room cannot
//! leave it unsubscribed. When Redis goes away the task reconnects with backoff and
//! subscribes again; commands reconnect through `ConnectionManager`. While Redis is down,
//! requests that need it are refused with a clear error.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::redis_link::RedisLink;
use super::wire::{decode_event, decode_update, encode_event, encode_update};
use super::{waiting, Bucket, Bus, BusCall, NodeRooms};
use crate::room::{RoomEvent, RoomUpdate};

/// Token bucket: `rate` per second, capacity `rate`, refilled by Redis's own clock.
const TOKEN_BUCKET: &str = r"
local rate = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = rate
  ts = now
end
tokens = math.min(rate, tokens + (now - ts) * rate / 1000000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 5000)
return allowed
";

/// The channel a room's events go out on (the history's Lua script publishes there too).
pub(crate) fn room_channel(prefix: &str, room_id: &str) -> String {
    format!("{prefix}:room:{room_id}")
}

/// How long one Redis command may take before the request that needed it is refused.
pub(crate) const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a node publishes its connection count, and how old a count may be before the
/// node that wrote it is considered gone.
const CONNECTION_REPORT_EVERY: Duration = Duration::from_secs(2);
const CONNECTION_REPORT_STALE_MS: i64 = 10_000;

/// How often a node publishes its heartbeat, and how long its subscription may go without
/// receiving one before the node counts as deaf to the bus (not ready, reconnecting).
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug)]
enum SubscriptionChange {
    /// Subscribe to the room (if not yet) and answer once Redis has confirmed.
    Ensure(String, oneshot::Sender<anyhow::Result<()>>),
    /// Unsubscribe if the room has no connection on this node any more.
    Release(String),
}

pub struct RedisBus {
    /// Where what arrives on the subscribed channels goes.
    rooms: Arc<dyn NodeRooms>,
    client: redis::Client,
    commands: ConnectionManager,
    prefix: String,
    node_id: String,
    bucket: redis::Script,
    changes: mpsc::UnboundedSender<SubscriptionChange>,
    changes_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<SubscriptionChange>>>,
    /// Connections open on the other nodes, as last reported.
    others_connections: AtomicU64,
    /// When this node's subscription connection last received its heartbeat (ms since the
    /// epoch); 0 while it is not connected.
    heard_at_ms: AtomicI64,
    /// Bumped each time the subscription connection is made again after it was lost.
    recovered: watch::Sender<u64>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.prefix)
            .field("node_id", &self.node_id)
            .finish()
    }
}

impl RedisBus {
    /// The bus on `link`: its commands share the node's command connection; its subscription
    /// connection is made when it starts.
    pub fn new(link: &RedisLink, cluster: &str, rooms: Arc<dyn NodeRooms>) -> RedisBus {
        let (changes, changes_rx) = mpsc::unbounded_channel();
        RedisBus {
            rooms,
            client: link.client().clone(),
            commands: link.commands(),
            prefix: cluster.to_string(),
            node_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: redis::Script::new(TOKEN_BUCKET),
            changes,
            changes_rx: std::sync::Mutex::new(Some(changes_rx)),
            others_connections: AtomicU64::new(0),
            heard_at_ms: AtomicI64::new(0),
            recovered: watch::Sender::new(0),
        }
    }

    fn heartbeat_channel(&self) -> String {
        format!("{}:heartbeat:{}", self.prefix, self.node_id)
    }

    /// Why this node cannot count on receiving the bus now, if it cannot.
    fn deafness(&self) -> Option<String> {
        let heard_at = self.heard_at_ms.load(Ordering::Relaxed);
        if heard_at == 0 {
            return Some("the Redis subscription connection is down".to_string());
        }
        let silent_ms = now_ms() - heard_at;
        (silent_ms > HEARTBEAT_TIMEOUT.as_millis() as i64).then(|| {
            format!(
                "the Redis subscription connection has received no heartbeat for {silent_ms} ms"
            )
        })
    }

    fn room_channel(&self, room_id: &str) -> String {
        room_channel(&self.prefix, room_id)
    }

    async fn publish_on(&self, channel: String, payload: Vec<u8>) -> anyhow::Result<()> {
        let mut commands = self.commands.clone();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut commands)
            .await?;
        Ok(())
    }

    /// Subscribes this node to a room; returns once Redis has confirmed, so nothing published
    /// afterwards is missed.
    async fn ensure_subscribed(&self, room_id: &str) -> anyhow::Result<()> {
        let (done, confirmed) = oneshot::channel();
        self.changes
            .send(SubscriptionChange::Ensure(room_id.to_string(), done))
            .map_err(|_| anyhow::anyhow!("the Redis bus is shutting down"))?;
        confirmed
            .await
            .map_err(|_| anyhow::anyhow!("the Redis bus is shutting down"))?
    }
}

impl Bus for RedisBus {
    fn publish<'a>(&'a self, room_id: &'a str, event: RoomEvent) -> BusCall<'a, ()> {
        waiting(async move {
            self.publish_on(self.room_channel(room_id), encode_event(&event))
                .await
                .with_context(|| format!("publishing to room {room_id} on the Redis bus"))
        })
    }

    /// On the room's channel: only nodes with connections in the room care, and the others
    /// read the room afresh when a connection joins.
    fn share_update(&self, update: RoomUpdate) -> BusCall<'_, ()> {
        waiting(async move {
            self.publish_on(self.room_channel(&update.room_id), encode_update(&update))
                .await
                .with_context(|| {
                    format!(
                        "publishing an update of room {} on the Redis bus",
                        update.room_id
                    )
                })
        })
    }

    fn subscribe<'a>(&'a self, room_id: &'a str) -> BusCall<'a, ()> {
        waiting(async move {
            self.ensure_subscribed(room_id)
                .await
                .with_context(|| format!("subscribing to room {room_id} on the Redis bus"))
        })
    }

    /// Unsubscribes unless a connection joined again meanwhile (see [`Subscriptions`]).
    fn unsubscribe(&self, room_id: &str) {
        let _ = self
            .changes
            .send(SubscriptionChange::Release(room_id.to_string()));
    }

    fn try_take<'a>(&'a self, bucket: Bucket<'a>) -> BusCall<'a, bool> {
        let (name, rate) = match bucket {
            Bucket::Room { id, rate, .. } => (format!("room:{id}"), rate),
            // The server's own account keeps the key it had before accounts existed.
            Bucket::Account {
                name,
                account: "",
                rate,
            } => (name.to_string(), rate),
            Bucket::Account {
                name,
                account,
                rate,
            } => (format!("{name}:{account}"), rate),
        };
        waiting(async move {
            let mut commands = self.commands.clone();
            let allowed: i64 = self
                .bucket
                .key(format!("{}:rate:{name}", self.prefix))
                .arg(rate)
                .invoke_async(&mut commands)
                .await
                .with_context(|| format!("checking the rate {name} in Redis"))?;
            Ok(allowed == 1)
        })
    }

    fn redeem<'a>(&'a self, token_id: &'a str, expires: i64, now: i64) -> BusCall<'a, bool> {
        let ttl_ms = ((expires - now) / 1000).max(1);
        waiting(async move {
            let mut commands = self.commands.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}:token:{token_id}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut commands)
                .await
                .context("redeeming a chat token in Redis")?;
            Ok(set.is_some())
        })
    }

    /// Refreshed every couple of seconds.
    fn other_nodes_connections(&self) -> u64 {
        self.others_connections.load(Ordering::Relaxed)
    }

    fn spans_nodes(&self) -> bool {
        true
    }

    /// Not ready exactly while the subscription connection is down: once a silent one has
    /// been found out (by the subscription task, every [`HEARTBEAT_EVERY`]) it is dropped, so
    /// being ready again always follows a reconnect, and with it a reconciliation
    /// ([`Bus::recoveries`]). Judging the heartbeat here as well left a window in which a
    /// connection that came back to life was reported unready without being made again, and
    /// what it had missed was never reconciled.
    fn ping(&self) -> BusCall<'_, ()> {
        waiting(async move {
            if self.heard_at_ms.load(Ordering::Relaxed) == 0 {
                anyhow::bail!(
                    "not receiving the bus: the Redis subscription connection is down or went silent (reconnecting)"
                );
            }
            let mut commands = self.commands.clone();
            let _: String = redis::cmd("PING")
                .query_async(&mut commands)
                .await
                .context("pinging Redis")?;
            Ok(())
        })
    }

    fn recoveries(&self) -> watch::Receiver<u64> {
        self.recovered.subscribe()
    }

    /// Starts the subscription and reporting tasks.
    fn start(self: Arc<Self>, tasks: &TaskTracker, stop: CancellationToken) {
        let Some(changes) = self
            .changes_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        tasks.spawn(Subscriptions::run(
            self.clone(),
            changes,
            tasks.clone(),
            stop.clone(),
        ));
        tasks.spawn(publish_heartbeats(self.clone(), stop.clone()));
        tasks.spawn(report_connections(self, stop));
    }
}

/// The one task that owns this node's subscriptions.
struct Subscriptions;

impl Subscriptions {
    async fn run(
        bus: Arc<RedisBus>,
        mut changes: mpsc::UnboundedReceiver<SubscriptionChange>,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) {
        let mut subscribed: HashSet<String> = HashSet::new();
        let mut backoff = Duration::from_millis(100);
        let mut connected_before = false;
        'connect: loop {
            // (Re)connect, then subscribe again to every room live on this node.
            let connected = async {
                let pubsub = tokio::time::timeout(REDIS_TIMEOUT, bus.client.get_async_pubsub())
                    .await
                    .map_err(|_| anyhow::anyhow!("timed out connecting to Redis"))??;
                let (mut sink, stream) = pubsub.split();
                // Each SUBSCRIBE is bounded: on a connection that went silent, an unbounded
                // one would hang this task for good.
                let timed_out = || anyhow::anyhow!("timed out subscribing on Redis");
                tokio::time::timeout(REDIS_TIMEOUT, sink.subscribe(bus.heartbeat_channel()))
                    .await
                    .map_err(|_| timed_out())??;
                for room in &subscribed {
                    tokio::time::timeout(REDIS_TIMEOUT, sink.subscribe(bus.room_channel(room)))
                        .await
                        .map_err(|_| timed_out())??;
                }
                anyhow::Ok((sink, stream))
            };
            let (mut sink, stream) = tokio::select! {
                _ = shutdown.cancelled() => return,
                result = connected => match result {
                    Ok(pair) => pair,
                    Err(e) => {
                        bus.heard_at_ms.store(0, Ordering::Relaxed);
                        tracing::error!(error = %format!("{e:#}"), retry_in = ?backoff, "Redis bus subscription failed");
                        // Answer waiting joins at once rather than leaving them hanging.
                        while let Ok(change) = changes.try_recv() {
                            if let SubscriptionChange::Ensure(_, done) = change {
                                let _ = done.send(Err(anyhow::anyhow!("the Redis bus is unavailable")));
                            }
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue 'connect;
                    }
                },
            };
            backoff = Duration::from_millis(100);
            tracing::info!(rooms = subscribed.len(), "Redis bus subscribed");
            // Subscribed again after an outage: what was published meanwhile is lost to this
            // node (pub/sub does not replay); reconciliation reads room changes from the store.
            if connected_before {
                bus.recovered.send_modify(|n| *n += 1);
            }
            connected_before = true;
            // A fresh connection gets one timeout's grace to hear its first heartbeat.
            bus.heard_at_ms.store(now_ms(), Ordering::Relaxed);
            let (dead, mut died) = oneshot::channel::<()>();
            let reader = tasks.spawn(read(bus.clone(), stream, dead));
            let mut check = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        reader.abort();
                        return;
                    }
                    _ = &mut died => {
                        bus.heard_at_ms.store(0, Ordering::Relaxed);
                        tracing::warn!("Redis bus connection lost; reconnecting");
                        bus.rooms.events_missed();
                        continue 'connect;
                    }
                    _ = check.tick() => {
                        if let Some(why) = bus.deafness() {
                            bus.heard_at_ms.store(0, Ordering::Relaxed);
                            tracing::error!("{why}: dropping it and reconnecting (not ready meanwhile)");
                            reader.abort();
                            bus.rooms.events_missed();
                            continue 'connect;
                        }
                    }
                    change = changes.recv() => {
                        let Some(change) = change else { return };
                        match change {
                            SubscriptionChange::Ensure(room, done) => {
                                if subscribed.contains(&room) {
                                    let _ = done.send(Ok(()));
                                    continue;
                                }
                                let subscribed_now = tokio::time::timeout(
                                    REDIS_TIMEOUT,
                                    sink.subscribe(bus.room_channel(&room)),
                                )
                                .await
                                .unwrap_or_else(|_| {
                                    Err(redis::RedisError::from(std::io::Error::new(
                                        std::io::ErrorKind::TimedOut,
                                        "SUBSCRIBE timed out",
                                    )))
                                });
                                match subscribed_now {
                                    Ok(()) => {
                                        subscribed.insert(room);
                                        let _ = done.send(Ok(()));
                                    }
                                    Err(e) => {
                                        let _ = done.send(Err(anyhow::Error::new(e).context("subscribing on the Redis bus")));
                                        bus.heard_at_ms.store(0, Ordering::Relaxed);
                                        reader.abort();
                                        bus.rooms.events_missed();
                                        continue 'connect;
                                    }
                                }
                            }
                            SubscriptionChange::Release(room) => {
                                if !bus.rooms.is_live(&room) && subscribed.remove(&room) {
                                    // Bounded like every call on this connection; a
                                    // silent connection is the heartbeat's to notice.
                                    let _ = tokio::time::timeout(
                                        REDIS_TIMEOUT,
                                        sink.unsubscribe(bus.room_channel(&room)),
                                    )
                                    .await;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Delivers what arrives on the subscribed channels to this node's connections.
async fn read(bus: Arc<RedisBus>, mut stream: redis::aio::PubSubStream, dead: oneshot::Sender<()>) {
    let room_prefix = format!("{}:room:", bus.prefix);
    let heartbeat = bus.heartbeat_channel();
    while let Some(message) = stream.next().await {
        let channel = message.get_channel_name();
        if channel == heartbeat {
            bus.heard_at_ms.store(now_ms(), Ordering::Relaxed);
            continue;
        }
        let payload = message.get_payload_bytes();
        let Some(room_id) = channel.strip_prefix(&room_prefix) else {
            continue;
        };
        if payload.first() == Some(&b'U') {
            if let Some(update) = decode_update(payload) {
                bus.rooms.apply(update);
            }
            continue;
        }
        match decode_event(payload) {
            Some(event) => bus.rooms.deliver(room_id, event),
            None => tracing::warn!(room = room_id, "ignoring a malformed Redis bus message"),
        }
    }
    let _ = dead.send(());
}

/// Publishes this node's heartbeat (see the module documentation), until `shutdown`.
async fn publish_heartbeats(bus: Arc<RedisBus>, shutdown: CancellationToken) {
    let channel = bus.heartbeat_channel();
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // A failure shows as a missing heartbeat; the commands report their own.
        let _ = bus.publish_on(channel.clone(), Vec::new()).await;
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Publishes this node's connection count and reads the others'.
async fn report_connections(bus: Arc<RedisBus>, shutdown: CancellationToken) {
    let key = format!("{}:connections", bus.prefix);
    let mut tick = tokio::time::interval(CONNECTION_REPORT_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let mine = bus.rooms.connections_open();
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let mut commands = bus.commands.clone();
        let report: redis::RedisResult<()> = redis::cmd("HSET")
            .arg(&key)
            .arg(&bus.node_id)
            .arg(format!("{mine}:{now_ms}"))
            .query_async(&mut commands)
            .await;
        // The hash outlives no cluster by long: every report renews it.
        let _: redis::RedisResult<i64> = redis::cmd("PEXPIRE")
            .arg(&key)
            .arg(CONNECTION_REPORT_STALE_MS * 3)
            .query_async(&mut commands)
            .await;
        let all: redis::RedisResult<Vec<(String, String)>> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut commands)
            .await;
        if let (Ok(()), Ok(all)) = (report, all) {
            let mut others = 0;
            for (node, value) in all {
                let Some((count, at)) = value.split_once(':') else {
                    continue;
                };
                let (Ok(count), Ok(at)) = (count.parse::<u64>(), at.parse::<i64>()) else {
                    continue;
                };
                if now_ms - at > CONNECTION_REPORT_STALE_MS {
                    // A node that stopped reporting is gone.
                    let _: redis::RedisResult<i64> = redis::cmd("HDEL")
                        .arg(&key)
                        .arg(&node)
                        .query_async(&mut commands)
                        .await;
                } else if node != bus.node_id {
                    others += count;
                }
            }
            bus.others_connections.store(others, Ordering::Relaxed);
        }
    }
    let mut commands = bus.commands.clone();
    let _: redis::RedisResult<i64> = redis::cmd("HDEL")
        .arg(&key)
        .arg(&bus.node_id)
        .query_async(&mut commands)
        .await;
}

//! The bus: what makes this node's chat one service with every other node's, behind one trait
//! ([`Bus`]) as the store is behind `Store`. It carries a room's events to every node that has
//! connections in it, room updates, the rate buckets and single-use chat tokens the whole
//! service shares, and the other nodes' connection counts.
//!
//! * `local.rs`: the embedded default, one node. Events go straight into this node's rooms,
//!   and the buckets and redeemed tokens are in memory.
//! * `redis.rs` (with `wire.rs`, its message encoding): several nodes sharing a Redis server
//!   (`--bus redis://…`, docs/scale-out.md), on the node's connections to it
//!   (`redis_link.rs`, shared with the history and presence).
//!
//! A bus hands what reaches this node to [`NodeRooms`] (the chat side's live rooms), so neither
//! side names the other: `chat/` knows only this trait, and the shared types are in `room/`.
//! Adding an engine is adding a file here and an arm in [`open`] (docs/scale-out.md says what
//! a NATS one would need).

pub mod local;
pub mod redis;
pub mod redis_link;
pub mod wire;

use std::future::{ready, Future, Ready};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, Either};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::expiring_ids::ExpiringIds;
use crate::room::{RoomEvent, RoomUpdate};
use crate::token_bucket::TokenBucket;

/// What a bus operation returns: at once for the in-process bus (no allocation, no task), a
/// boxed future for one that talks to a server. An error means the bus cannot be reached; the
/// caller logs it once and refuses what needed it.
pub type BusCall<'a, T> = Either<Ready<anyhow::Result<T>>, BoxFuture<'a, anyhow::Result<T>>>;

/// A bus operation that is already done.
pub fn done<T>(result: anyhow::Result<T>) -> BusCall<'static, T> {
    Either::Left(ready(result))
}

/// A bus operation that has to wait (on the network).
pub fn waiting<'a, T>(
    operation: impl Future<Output = anyhow::Result<T>> + Send + 'a,
) -> BusCall<'a, T> {
    Either::Right(Box::pin(operation))
}

/// A rate the whole service shares (`docs/protocol/messaging.md` §9).
#[derive(Debug, Clone, Copy)]
pub enum Bucket<'a> {
    /// A room's `maximumMessageRatePerSecond`, shared by all its senders on every node.
    /// `on_this_node` is the bucket this node keeps for the live room, whose rate follows the
    /// room's settings: a bus that sees every message of the room (one node) counts there.
    Room {
        id: &'a str,
        rate: u32,
        on_this_node: &'a Mutex<TokenBucket>,
    },
    /// An account-wide request rate, by name (`account:send_event`, …), for the account
    /// stored under `account` (`domain::account`).
    Account {
        name: &'static str,
        account: &'a str,
        rate: u32,
    },
}

/// How events cross nodes, and the state every node must agree on.
///
/// What an implementation must guarantee:
/// * every node with connections in a room delivers the room's events in one order (the
///   order `publish` calls were accepted), each once;
/// * once `subscribe` has returned, nothing published to the room afterwards is missed here;
/// * a bucket's tokens and a redeemed token are shared by every node, decided atomically;
/// * an error is returned, not waited out, when the bus cannot be reached (within about a
///   second), so requests are refused with a clear error rather than hang.
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Delivers `event` to the room's members on every node, this one included.
    fn publish<'a>(&'a self, room_id: &'a str, event: RoomEvent) -> BusCall<'a, ()>;

    /// Sends UpdateRoom's new settings to the other nodes' live rooms (this node has applied
    /// them already, so its own connections enforce them before the request is answered).
    fn share_update(&self, update: RoomUpdate) -> BusCall<'_, ()>;

    /// Makes sure this node receives the room's events; called at every join, before the
    /// client is told it is connected.
    fn subscribe<'a>(&'a self, room_id: &'a str) -> BusCall<'a, ()>;

    /// The room's last connection on this node has left.
    fn unsubscribe(&self, room_id: &str);

    /// Takes one request from a shared rate bucket: false when it is empty.
    fn try_take<'a>(&'a self, bucket: Bucket<'a>) -> BusCall<'a, bool>;

    /// Marks a chat token used ("each token can be used only once", `docs/protocol/messaging.md`
    /// §1.3): false if any node redeemed it before. Times are µs since the epoch; the token
    /// need not be remembered after `expires`.
    fn redeem<'a>(&'a self, token_id: &'a str, expires: i64, now: i64) -> BusCall<'a, bool>;

    /// The redeemed-token set, when this bus keeps it in this node's memory (the in-process
    /// bus). The hub then looks there for a replayed token instead of keeping its own copy of
    /// the set (`chat/spent.rs`, for a bus that would have to be asked over the network).
    fn redeemed_here(&self) -> Option<&ExpiringIds> {
        None
    }

    /// Chat connections open on the other nodes, as last reported.
    fn other_nodes_connections(&self) -> u64;

    /// Whether other nodes share this bus: their room changes reach this node a little after
    /// the store shows them.
    fn spans_nodes(&self) -> bool;

    /// Whether the bus answers (`/ready`).
    fn ping(&self) -> BusCall<'_, ()>;

    /// Changes each time this node receives the bus again after an outage (its subscriptions
    /// restored): what it missed meanwhile must be read from the store (`chat/reconcile.rs`).
    /// A bus that cannot lose messages returns a receiver whose sender is gone.
    fn recoveries(&self) -> watch::Receiver<u64> {
        watch::channel(0).1
    }

    /// Starts the bus's background work on `tasks`; it ends once `stop` is cancelled.
    fn start(self: Arc<Self>, tasks: &TaskTracker, stop: CancellationToken);
}

/// This node's live rooms, as a bus sees them: where it hands what reaches this node.
pub trait NodeRooms: Send + Sync {
    /// Delivers an event to the room's connections on this node (if it has any).
    fn deliver(&self, room_id: &str, event: RoomEvent);
    /// Applies new settings to the room if it is live on this node.
    fn apply(&self, update: RoomUpdate);
    /// Whether the room has connections on this node.
    fn is_live(&self, room_id: &str) -> bool;
    /// Chat connections open on this node.
    fn connections_open(&self) -> u64;
    /// This node may have missed room events (its bus subscription was lost or went deaf, and
    /// the bus does not replay): every chat connection on it is closed, so that no member stays
    /// connected while silently missing messages; clients reconnect (to a node that hears the
    /// bus). RELIABILITY.md, "Fault injection".
    fn events_missed(&self);
}

/// The bus for `config`: Redis on `redis` (the node's link, `--bus redis://…`, see
/// [`redis_link::RedisLink::open`]), otherwise the in-process bus.
pub fn open(
    config: &Config,
    redis: Option<&redis_link::RedisLink>,
    rooms: Arc<dyn NodeRooms>,
) -> Arc<dyn Bus> {
    match redis {
        Some(link) => Arc::new(redis::RedisBus::new(link, &config.cluster_name, rooms)),
        None => Arc::new(local::LocalBus::new(rooms)),
    }
}

//! The chat side: rooms with live connections, and the events the control plane sends them
//! (`spec/messaging.md`).
//!
//! * [`Hub`] knows the rooms that have at least one connection on this node. A frame is
//!   serialised once, WebSocket header included (`room/frame.rs`), and `fanout.rs` writes those
//!   same bytes to every connection's socket (`outbox.rs`), a shard of connections at a time.
//! * A connection that falls more than [`ROOM_BACKLOG`] frames behind is disconnected with a
//!   reason and counted (see `session.rs`); it never slows the room down or grows memory.
//! * `handshake.rs` checks the chat token during the HTTP upgrade; `session.rs` runs one
//!   connection.

pub mod fanout;
pub mod handshake;
pub mod outbox;
pub mod rate_limit;
pub mod redeemed;
pub mod review;
pub mod session;
pub mod socket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ivschat_proto::control::StringMap;
use ivschat_proto::messaging::{to_json, EventFrame};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::redis::RedisBus;
use crate::config::Quotas;
use crate::delivery::{ChatLogger, RecordType};
use crate::domain::clock::{format_time_nanos, Clock};
use crate::domain::ids::new_id;
use crate::domain::resources::{LoggingConfiguration, Room};
use crate::room::frame::OutFrame;
use crate::room::{RoomEvent, RoomSettings, RoomUpdate};
use fanout::{Fanout, NodeEvent, Seat};
use outbox::Outbox;
use rate_limit::TokenBucket;
use redeemed::RedeemedTokens;

/// Frames a connection may fall behind its room before it is disconnected as too slow.
/// At the highest room rate (100 messages/s) plus events, this is several seconds of slack.
pub const ROOM_BACKLOG: usize = 1024;

/// A room as the chat path addresses it: its id and where its records are logged.
#[derive(Debug, Clone, Copy)]
pub struct RoomRef<'a> {
    pub id: &'a str,
    pub logging_ids: &'a [String],
}

impl<'a> RoomRef<'a> {
    pub fn of(room: &'a Room) -> RoomRef<'a> {
        RoomRef {
            id: &room.id,
            logging_ids: &room.logging_configuration_ids,
        }
    }
}

/// A room with at least one connection on this node.
#[derive(Debug)]
pub struct LiveRoom {
    pub id: String,
    settings: RwLock<RoomSettings>,
    /// `maximumMessageRatePerSecond`, shared by all the room's connections.
    rate: Mutex<TokenBucket>,
    fanout: Fanout,
}

impl LiveRoom {
    pub fn settings(&self) -> RoomSettings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends a frame to one member, in the room's order (see [`NodeEvent::Direct`]).
    pub fn answer(&self, to: &Arc<Outbox>, json: &str) {
        self.fanout.publish(NodeEvent::Direct {
            to: to.clone(),
            frame: OutFrame::text(json),
        });
    }

    /// Takes one message from the room's rate budget.
    pub fn try_take_message(&self) -> bool {
        self.rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_take()
    }

    /// Replaces the settings unless they are older than the current ones (a handshake's read
    /// can race with an UpdateRoom).
    pub fn apply(&self, settings: RoomSettings) {
        let rate = settings.maximum_message_rate_per_second.max(1) as u32;
        {
            let mut current = self.settings.write().unwrap_or_else(|e| e.into_inner());
            if settings.version < current.version {
                return;
            }
            *current = settings;
        }
        self.rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_rate(rate);
    }
}

/// Counters an operator wants to see.
#[derive(Debug, Default)]
pub struct ChatStats {
    pub connections_opened: AtomicU64,
    pub connections_open: AtomicU64,
    /// Connections closed because they fell more than [`ROOM_BACKLOG`] frames behind or
    /// stopped reading.
    pub slow_disconnects: AtomicU64,
    pub messages_in: AtomicU64,
    /// Shared with every room's fan-out, which counts the frames it hands to sockets.
    pub frames_out: Arc<AtomicU64>,
}

/// Why the chat path refused a request it would otherwise carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A rate (the room's, or an account quota) is exhausted for now.
    RateLimited { limit: u32 },
    /// The cluster bus (Redis) cannot be reached: nothing that needs it is done.
    Unavailable,
}

/// Account-wide request rates (`spec/messaging.md` §9): DeleteMessage and DisconnectUser count
/// WebSocket and HTTP requests together; SendEvent is HTTP only.
#[derive(Debug, Clone, Copy)]
pub enum AccountQuota {
    DeleteMessage,
    DisconnectUser,
    SendEvent,
}

impl AccountQuota {
    fn name(self) -> &'static str {
        match self {
            AccountQuota::DeleteMessage => "account:delete_message",
            AccountQuota::DisconnectUser => "account:disconnect_user",
            AccountQuota::SendEvent => "account:send_event",
        }
    }

    fn rate(self, quotas: &Quotas) -> u32 {
        match self {
            AccountQuota::DeleteMessage => quotas.delete_message_per_second,
            AccountQuota::DisconnectUser => quotas.disconnect_user_per_second,
            AccountQuota::SendEvent => quotas.send_event_per_second,
        }
    }
}

/// Rate buckets kept on this node (single-node mode), by name.
#[derive(Debug, Default)]
struct LocalBuckets(Mutex<HashMap<&'static str, TokenBucket>>);

impl LocalBuckets {
    fn try_take(&self, name: &'static str, rate: u32) -> bool {
        let mut buckets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry(name)
            .or_insert_with(|| TokenBucket::new(rate))
            .try_take()
    }
}

/// Rooms' live connections on this node, and the way events reach them: directly (one node)
/// or through the Redis bus (several nodes).
#[derive(Debug)]
pub struct Hub {
    // std Mutex: never held across .await; each critical section is one HashMap operation.
    rooms: Mutex<HashMap<String, Arc<LiveRoom>>>,
    clock: Clock,
    quotas: Quotas,
    local_rates: LocalBuckets,
    /// `None`: one node, events are delivered in-process.
    bus: Option<Arc<RedisBus>>,
    pub logger: Arc<ChatLogger>,
    pub redeemed: RedeemedTokens,
    pub stats: ChatStats,
    /// Bumped by every UpdateRoom and DeleteRoom on this node, before it reaches live rooms:
    /// a handshake that saw no change while it joined need not read its room again.
    room_changes: AtomicU64,
    /// Cancelled at shutdown (background tasks watch it). Sessions learn of shutdown from
    /// `NodeEvent::Shutdown` on their room's channel instead: a shared token's `cancelled()`
    /// future takes a global lock each time it is created and dropped, which every session
    /// did on every delivery (see [`Hub::shut_down`]).
    pub shutdown: CancellationToken,
    /// Every running session, so shutdown can wait for their close frames to go out.
    pub sessions: TaskTracker,
}

impl Hub {
    pub fn new(
        clock: Clock,
        quotas: &Quotas,
        logger: Arc<ChatLogger>,
        bus: Option<Arc<RedisBus>>,
    ) -> Hub {
        Hub {
            rooms: Mutex::new(HashMap::new()),
            clock,
            quotas: quotas.clone(),
            local_rates: LocalBuckets::default(),
            bus,
            logger,
            redeemed: RedeemedTokens::default(),
            stats: ChatStats::default(),
            room_changes: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        }
    }

    pub fn bus(&self) -> Option<&Arc<RedisBus>> {
        self.bus.as_ref()
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveRoom>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self, room_id: &str) -> Option<Arc<LiveRoom>> {
        self.rooms().get(room_id).cloned()
    }

    /// Rooms with at least one connection on this node.
    pub fn live_rooms(&self) -> usize {
        self.rooms().len()
    }

    pub fn is_live(&self, room_id: &str) -> bool {
        self.rooms().contains_key(room_id)
    }

    /// Joins a connection to `room` (creating its live state if it is the first one). From here
    /// on the connection receives everything delivered to the room on this node, in its
    /// outbox, which holds it until the session opens it; with a bus, [`Hub::subscribe`] must
    /// also have returned before the client is told it is connected.
    pub fn join(
        &self,
        room: &Room,
        socket: Arc<tokio::net::TcpStream>,
        user_id: Arc<str>,
    ) -> (Arc<LiveRoom>, Seat) {
        let mut rooms = self.rooms();
        let live = rooms
            .entry(room.id.clone())
            .or_insert_with(|| {
                Arc::new(LiveRoom {
                    id: room.id.clone(),
                    settings: RwLock::new(RoomSettings::of(room)),
                    rate: Mutex::new(TokenBucket::new(
                        room.maximum_message_rate_per_second.max(1) as u32,
                    )),
                    fanout: Fanout::new(self.stats.frames_out.clone()),
                })
            })
            .clone();
        // Joining under the map lock: `leave` cannot remove the room in between.
        let seat = live
            .fanout
            .join(|first_seq| Outbox::new(socket, user_id, first_seq));
        (live, seat)
    }

    /// Starts shutdown: cancels [`Hub::shutdown`], then tells every live session to close.
    /// A session that joins after this sees the token already cancelled when it starts.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
        self.tell_every_room(NodeEvent::Shutdown);
    }

    /// Re-arms every session's expiry timer whenever the clock is advanced (tests only move
    /// it; a session watching the clock itself would pay a lock per delivery, as above).
    pub async fn forward_clock_changes(self: Arc<Self>) {
        let mut changes = self.clock.changes();
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.tell_every_room(NodeEvent::ClockChanged);
                }
            }
        }
    }

    /// Delivers a node-local event to every live room on this node.
    fn tell_every_room(&self, event: NodeEvent) {
        let rooms: Vec<Arc<LiveRoom>> = self.rooms().values().cloned().collect();
        for room in rooms {
            room.fanout.publish(event.clone());
        }
    }

    /// Makes sure this node receives the room's events from the bus (no-op on one node).
    pub async fn subscribe(&self, room_id: &str) -> Result<(), Refused> {
        match &self.bus {
            None => Ok(()),
            Some(bus) => bus.ensure_subscribed(room_id).await.map_err(|e| {
                tracing::error!(room = room_id, error = %format!("{e:#}"), "cannot subscribe to the room on the Redis bus");
                Refused::Unavailable
            }),
        }
    }

    /// Takes a connection out of its room: forgets the room when it was the last.
    pub fn leave(&self, room: &LiveRoom, seat: &Seat) {
        let room_id = room.id.as_str();
        let removed = {
            let mut rooms = self.rooms();
            // Under the map lock, so no connection can join in between.
            let last = room.fanout.leave(seat) == 0
                && rooms
                    .get(room_id)
                    .is_some_and(|live| std::ptr::eq(live.as_ref(), room));
            last && rooms.remove(room_id).is_some()
        };
        if removed {
            if let Some(bus) = &self.bus {
                bus.release(room_id);
            }
        }
    }

    /// Delivers to every connection of the room in the cluster: in-process on one node, through
    /// the bus (which delivers back to this node too) on several.
    pub async fn publish(&self, room_id: &str, event: RoomEvent) -> Result<(), Refused> {
        match &self.bus {
            None => {
                self.deliver_local(room_id, event);
                Ok(())
            }
            Some(bus) => bus.publish(room_id, &event).await.map_err(|e| {
                tracing::error!(room = room_id, error = %format!("{e:#}"), "cannot publish on the Redis bus");
                Refused::Unavailable
            }),
        }
    }

    /// Delivers to the room's connections on this node.
    pub fn deliver_local(&self, room_id: &str, event: RoomEvent) {
        let room = match event {
            // A deleted room is forgotten at once; its sessions end on the event.
            RoomEvent::Deleted => self.rooms().remove(room_id),
            _ => self.live(room_id),
        };
        if let Some(room) = room {
            room.fanout.publish(NodeEvent::Room(event));
        }
    }

    /// New settings for a room that may be live on this node.
    pub fn apply_local_update(&self, room_id: &str, settings: RoomSettings) {
        if let Some(live) = self.live(room_id) {
            live.apply(settings);
        }
    }

    /// Serialises a MESSAGE or EVENT frame once, spools its chat log records (durably, before
    /// anyone sees it), then delivers it to every connection of the room.
    pub async fn broadcast<T: serde::Serialize>(
        &self,
        room: RoomRef<'_>,
        kind: RecordType,
        frame: &T,
        at: OffsetDateTime,
    ) -> Result<(), Refused> {
        let json = to_json(frame);
        self.logger
            .log(room.id, room.logging_ids, kind, &json, at)
            .await;
        self.publish(room.id, RoomEvent::Frame(OutFrame::text(&json)))
            .await
    }

    /// Takes one message from the room's `maximumMessageRatePerSecond`, cluster-wide.
    pub async fn try_take_room_message(&self, room: &LiveRoom, rate: i32) -> Result<(), Refused> {
        let rate = rate.max(1) as u32;
        let allowed = match &self.bus {
            None => room.try_take_message(),
            Some(bus) => bus
                .try_take(&format!("room:{}", room.id), rate)
                .await
                .map_err(|e| {
                    tracing::error!(error = %format!("{e:#}"), "cannot check the room rate in Redis");
                    Refused::Unavailable
                })?,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refused::RateLimited { limit: rate })
        }
    }

    /// Takes one request from an account-wide quota, cluster-wide.
    pub async fn take_quota(&self, quota: AccountQuota) -> Result<(), Refused> {
        let rate = quota.rate(&self.quotas);
        let allowed = match &self.bus {
            None => self.local_rates.try_take(quota.name(), rate),
            Some(bus) => bus.try_take(quota.name(), rate).await.map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "cannot check an account rate in Redis");
                Refused::Unavailable
            })?,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refused::RateLimited { limit: rate })
        }
    }

    /// Marks a chat token used; false if it was used before (on any node).
    pub async fn redeem(&self, token_id: &str, expires: i64, now: i64) -> Result<bool, Refused> {
        match &self.bus {
            None => Ok(self.redeemed.redeem(token_id, expires, now)),
            Some(bus) => bus
                .redeem(token_id, (expires - now) / 1000)
                .await
                .map_err(|e| {
                    tracing::error!(error = %format!("{e:#}"), "cannot redeem a chat token in Redis");
                    Refused::Unavailable
                }),
        }
    }

    /// True when another connection would exceed the concurrent-connection quota.
    pub fn at_connection_quota(&self) -> bool {
        let mine = self.stats.connections_open.load(Ordering::Relaxed);
        let others = self.bus.as_ref().map_or(0, |bus| bus.others_connections());
        mine + others >= self.quotas.concurrent_connections
    }

    /// SendEvent: delivers an EVENT to every connection of the room; returns its `Id`.
    pub async fn send_event(
        &self,
        room: RoomRef<'_>,
        event_name: String,
        attributes: StringMap,
    ) -> Result<String, Refused> {
        self.take_quota(AccountQuota::SendEvent).await?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::new(
            id.clone(),
            None,
            event_name,
            attributes,
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, at).await?;
        Ok(id)
    }

    /// DeleteMessage (HTTP) and DELETE_MESSAGE (WebSocket): delivers `aws:DELETE_MESSAGE`;
    /// returns the event's `Id`.
    pub async fn delete_message(
        &self,
        room: RoomRef<'_>,
        message_id: String,
        reason: Option<String>,
        request_id: Option<String>,
    ) -> Result<String, Refused> {
        self.take_quota(AccountQuota::DeleteMessage).await?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::delete_message(
            id.clone(),
            request_id,
            &message_id,
            reason.as_deref(),
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, at).await?;
        Ok(id)
    }

    /// DisconnectUser (HTTP) and DISCONNECT_USER (WebSocket): delivers `aws:DISCONNECT_USER`
    /// to the whole room, then closes every connection of that user.
    pub async fn disconnect_user(
        &self,
        room: RoomRef<'_>,
        user_id: String,
        reason: Option<String>,
        request_id: Option<String>,
    ) -> Result<String, Refused> {
        self.take_quota(AccountQuota::DisconnectUser).await?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::disconnect_user(
            id.clone(),
            request_id,
            &user_id,
            reason.as_deref(),
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, at).await?;
        self.publish(
            room.id,
            RoomEvent::Disconnect {
                user_id: user_id.into(),
                reason: reason.map(Into::into),
            },
        )
        .await?;
        Ok(id)
    }

    /// A mark to pass to [`Hub::room_may_have_changed_since`].
    pub fn room_changes_mark(&self) -> u64 {
        self.room_changes.load(Ordering::SeqCst)
    }

    /// Whether the settings a handshake read after taking `mark` can be stale now: true if
    /// any room was updated or deleted on this node since, and always with a bus (another
    /// node's change reaches this one a little later).
    pub fn room_may_have_changed_since(&self, mark: u64) -> bool {
        self.bus.is_some() || self.room_changes.load(Ordering::SeqCst) != mark
    }

    /// UpdateRoom: new limits and review handler apply to live connections at once, on every node.
    pub async fn room_updated(&self, room: &Room) {
        self.room_changes.fetch_add(1, Ordering::SeqCst);
        let settings = RoomSettings::of(room);
        self.apply_local_update(&room.id, settings.clone());
        if let Some(bus) = &self.bus {
            let update = RoomUpdate {
                room_id: room.id.clone(),
                settings,
            };
            if let Err(e) = bus.publish_update(&update).await {
                // Nodes that miss it read the room afresh at their next handshake; live
                // connections there keep the old limits until then.
                tracing::error!(room = %room.id, error = %format!("{e:#}"), "cannot publish a room update on the Redis bus");
            }
        }
    }

    /// DeleteRoom: every connection, on every node, gets ERROR 404 and is closed.
    pub async fn room_deleted(&self, room_id: &str) {
        self.room_changes.fetch_add(1, Ordering::SeqCst);
        if self.publish(room_id, RoomEvent::Deleted).await.is_err() {
            // Still end this node's sessions.
            self.deliver_local(room_id, RoomEvent::Deleted);
        }
    }

    /// Nothing on the chat path depends on a configuration's content: records are routed by
    /// id when they are shipped.
    pub fn logging_configuration_updated(&self, _config: &LoggingConfiguration) {}

    pub fn count_slow_disconnect(&self) {
        self.stats.slow_disconnects.fetch_add(1, Ordering::Relaxed);
    }
}

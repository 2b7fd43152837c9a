//! The chat side (`docs/protocol/messaging.md`): this node's chat connections, and the [`Hub`] through
//! which the control plane and the connections reach every connection of a room.
//!
//! * [`Hub`] sends a room's events through the bus (`bus::Bus`, the only part of the bus it
//!   knows), which delivers them to every node's live rooms, this one's included
//!   (`rooms.rs`). A frame is serialised once, WebSocket header included (`room/frame.rs`), and
//!   `fanout.rs` writes those same bytes to every connection's socket (`outbox.rs`), a shard
//!   of connections at a time, on the shards' own runtime (`shard_runtime.rs`).
//! * A connection that falls more than [`ROOM_BACKLOG`] frames behind is disconnected with a
//!   reason and counted (see `session.rs`); it never slows the room down or grows memory.
//! * `handshake.rs` checks the chat token during the HTTP upgrade (`socket.rs` is the socket
//!   it shares with the fan-out); `session.rs` runs one connection; `review.rs` calls a room's
//!   review handler and `review_worker.rs` runs a connection's reviews in order.

pub mod fanout;
pub mod handshake;
pub mod handshake_rate;
pub mod outbox;
pub mod reconcile;
pub mod review;
pub mod review_worker;
pub mod rooms;
pub mod session;
pub mod shard_runtime;
pub mod socket;
pub mod spent;
pub mod tls_socket;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use ivschat_proto::control::StringMap;
use ivschat_proto::messaging::{to_json, EventFrame};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bucket, Bus, NodeRooms};
use crate::chat_log::spool::NotSpooled;
use crate::chat_log::{ChatLogger, RecordType};
use crate::config::Quotas;
use crate::domain::clock::{format_time_nanos, Clock};
use crate::domain::ids::new_id;
use crate::domain::resources::Room;
use crate::expiring_ids::Held;
use crate::history::{Entry, History, Kept};
use crate::room::frame::OutFrame;
use crate::room::options::{Retention, RoomOptions};
use crate::room::{RoomEvent, RoomSettings, RoomUpdate};
use fanout::{NodeEvent, Seat};
use rooms::{LiveRoom, LiveRooms};
use spent::SpentTokens;

/// Frames a connection may fall behind its room before it is disconnected as too slow.
/// At the highest room rate (100 messages/s) plus events, this is several seconds of slack.
pub const ROOM_BACKLOG: usize = 1024;

/// A room as the chat path addresses it: its id, its account (whose request rates it
/// takes from), where its records are logged and what its history keeps.
#[derive(Debug, Clone, Copy)]
pub struct RoomRef<'a> {
    pub id: &'a str,
    /// The owning account's key (`domain::account`).
    pub account: &'a str,
    pub logging_ids: &'a [String],
    /// `None`: the room keeps no history (AWS's behaviour), and nothing on the way costs more.
    pub history: Option<Retention>,
}

impl<'a> RoomRef<'a> {
    pub fn of(room: &'a Room) -> RoomRef<'a> {
        RoomRef {
            id: &room.id,
            account: &room.account,
            logging_ids: &room.logging_configuration_ids,
            history: RoomOptions::of(&room.tags).retention(),
        }
    }
}

/// What a broadcast frame is to the room's history: its `Id`, and for an
/// `aws:DELETE_MESSAGE` event the `Id` of the message it deletes.
#[derive(Debug, Clone, Copy)]
pub struct FrameIds<'a> {
    pub id: &'a str,
    pub deletes: Option<&'a str>,
}

impl<'a> FrameIds<'a> {
    pub fn of(id: &'a str) -> FrameIds<'a> {
        FrameIds { id, deletes: None }
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
    /// Connections closed for sending more than their budget of frames or answers
    /// (`session.rs`).
    pub abuse_disconnects: AtomicU64,
    /// Upgrade attempts refused with 429 by the per-address handshake rate.
    pub handshakes_rate_limited: AtomicU64,
    /// Upgrade attempts refused because this node saw their token redeemed already: refused
    /// before any store read, room join or bus call.
    pub handshakes_spent_token: AtomicU64,
    pub messages_in: AtomicU64,
    /// Shared with every room's fan-out, which counts the frames it hands to sockets.
    pub frames_out: Arc<AtomicU64>,
}

/// Why the chat path declined a request it would otherwise carry out (a connection the
/// listener turns away is a `limits::Refusal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declined {
    /// A rate (the room's, or an account quota) is exhausted for now.
    RateLimited { limit: u32 },
    /// The bus cannot be reached, or the chat log cannot be written: nothing that needs it is
    /// done.
    Unavailable,
}

/// The one place a bus failure is reported: logged here, refused to the client.
fn bus_unreachable(error: anyhow::Error) -> Declined {
    tracing::error!(error = %format!("{error:#}"), "the bus cannot be reached; refusing what needs it");
    Declined::Unavailable
}

/// The one place a history failure is reported (the Redis bus's server, or `history.db`):
/// logged here, refused to the client like a bus failure.
fn history_unreachable(error: anyhow::Error) -> Declined {
    tracing::error!(error = %format!("{error:#}"), "the room history cannot be reached; refusing what needs it");
    Declined::Unavailable
}

/// Account-wide request rates (`docs/protocol/messaging.md` §9): DeleteMessage and DisconnectUser count
/// WebSocket and HTTP requests together; SendEvent is HTTP only. Each account has its own
/// (README "Several accounts").
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

/// Rooms' live connections on this node, and the way events reach them: through the bus
/// ([`Bus`]), which delivers to this node's rooms as to every other node's.
#[derive(Debug)]
pub struct Hub {
    rooms: Arc<LiveRooms>,
    bus: Arc<dyn Bus>,
    /// Room history (issue 22): used only for rooms whose tags turn it on.
    history: Arc<dyn History>,
    clock: Clock,
    quotas: Quotas,
    pub logger: Arc<ChatLogger>,
    pub stats: Arc<ChatStats>,
    /// Bumped by every UpdateRoom and DeleteRoom on this node, before it reaches live rooms:
    /// a handshake that saw no change while it joined need not read its room again.
    room_changes: AtomicU64,
    /// Set when shutdown closes the sessions. Sessions learn of it from `NodeEvent::Shutdown`
    /// on their room's channel; only one that starts afterwards reads this (a shared
    /// `CancellationToken`'s `cancelled()` future takes a global lock each time it is created
    /// and dropped, which every session did on every delivery).
    closing: AtomicBool,
    /// Tokens this node saw redeemed: a replay is refused before it costs anything. Empty with
    /// the in-process bus, whose redeemed set is looked at instead.
    spent: SpentTokens,
}

impl Hub {
    pub fn new(
        rooms: Arc<LiveRooms>,
        bus: Arc<dyn Bus>,
        history: Arc<dyn History>,
        stats: Arc<ChatStats>,
        clock: Clock,
        quotas: &Quotas,
        logger: Arc<ChatLogger>,
    ) -> Hub {
        Hub {
            rooms,
            bus,
            history,
            clock,
            quotas: quotas.clone(),
            logger,
            stats,
            room_changes: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            spent: SpentTokens::default(),
        }
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    pub fn history(&self) -> &Arc<dyn History> {
        &self.history
    }

    /// The room's kept frames now, oldest first (replay, ListRoomMessages), for a client that
    /// has the frames up to the one with `Id` `since` (none: all of them): may
    /// leave out the frames before that one (never that one), so a client that missed little
    /// costs little to read (`History::read_since`); pass the result through
    /// `history::after_message`.
    pub async fn kept_since(
        &self,
        room_id: &str,
        retention: Retention,
        since: Option<&str>,
    ) -> Result<Vec<Kept>, Declined> {
        self.history
            .read_since(room_id, retention, since)
            .await
            .map_err(history_unreachable)
    }

    /// Who is in each room (`presence/`): GetRoomPresence and ListRoomUsers read it.
    pub fn presence(&self) -> &Arc<crate::presence::Presence> {
        self.rooms.presence()
    }

    /// Rooms with at least one connection on this node.
    pub fn live_rooms(&self) -> usize {
        self.rooms.count()
    }

    /// Joins a connection to `room` (creating its live state if it is the first one). From here
    /// on the connection receives everything delivered to the room on this node, in its
    /// outbox, which holds it until the session opens it; [`Hub::subscribe`] must also have
    /// returned before the client is told it is connected.
    ///
    /// `replays`: the connection is to get the room's history first; its live frames are held
    /// until [`outbox::Outbox::start_after_replay`] (`outbox.rs`, "replay gate").
    pub fn join(
        &self,
        room: &Room,
        socket: Arc<socket::ClientSocket>,
        user_id: Arc<str>,
        replays: bool,
    ) -> (Arc<LiveRoom>, Seat) {
        self.rooms.join(room, socket, user_id, replays)
    }

    /// Shutdown: tells every live session to close (1001). A session that starts after this
    /// finds [`Hub::is_closing`] set and closes at once.
    pub fn close_sessions(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.rooms.tell_every_room(NodeEvent::Shutdown);
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Re-arms every session's expiry timer whenever the clock is advanced, until `stop`
    /// (tests only move it; a session watching the clock itself would pay a lock per
    /// delivery, as above).
    pub async fn forward_clock_changes(self: Arc<Self>, stop: CancellationToken) {
        let mut changes = self.clock.changes();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.rooms.tell_every_room(NodeEvent::ClockChanged);
                }
            }
        }
    }

    /// Makes sure this node receives the room's events.
    pub async fn subscribe(&self, room_id: &str) -> Result<(), Declined> {
        self.bus.subscribe(room_id).await.map_err(bus_unreachable)
    }

    /// Takes a connection out of its room: forgets the room when it was the last.
    pub fn leave(&self, room: &LiveRoom, seat: &Seat) {
        if self.rooms.leave(room, seat) {
            self.bus.unsubscribe(&room.id);
        }
    }

    /// Delivers to every connection of the room, on every node.
    pub async fn publish(&self, room_id: &str, event: RoomEvent) -> Result<(), Declined> {
        self.bus
            .publish(room_id, event)
            .await
            .map_err(bus_unreachable)
    }

    /// Serialises a MESSAGE or EVENT frame once, then, in this order (the one rule of
    /// docs/scale-out.md, "Chat logging and the bus"; issue 18):
    /// 1. **log**: spools its chat log records durably; if the spool cannot write, the frame is
    ///    refused here (nobody gets it, no record exists); if it is at its configured cap, the
    ///    frame goes out unlogged (counted as dropped);
    /// 2. **publish**: delivers it to every connection of the room; if the bus refuses it, the
    ///    records are taken back before anything could ship them;
    /// 3. **acknowledge**: only then does the caller answer the sender (the MESSAGE echo comes
    ///    through the fan-out; SendEvent's 200 after this returns), and the records ship.
    ///
    /// In a room that keeps a history, step 2 also keeps the frame, in the same step
    /// (`history/`); `ids` says which frame it is to the history.
    pub async fn broadcast<T: serde::Serialize>(
        &self,
        room: RoomRef<'_>,
        kind: RecordType,
        frame: &T,
        ids: FrameIds<'_>,
        at: OffsetDateTime,
    ) -> Result<(), Declined> {
        let json = to_json(frame);
        let spooled = match self
            .logger
            .log(room.id, room.logging_ids, kind, &json, at)
            .await
        {
            Ok(spooled) => Some(spooled),
            Err(NotSpooled::Full) => None,
            // The spool logged the failure with its counts.
            Err(NotSpooled::Failed) => return Err(Declined::Unavailable),
        };
        let published = match room.history {
            None => {
                self.publish(room.id, RoomEvent::Frame(OutFrame::text(&json)))
                    .await
            }
            Some(retention) => self
                .history
                .publish(
                    room.id,
                    Entry {
                        json,
                        message_id: ids.id.to_string(),
                        deletes: ids.deletes.map(str::to_string),
                        at_micros: crate::domain::clock::to_micros(at),
                        retention,
                    },
                )
                .await
                .map_err(history_unreachable),
        };
        if let (Err(_), Some(spooled)) = (&published, spooled) {
            self.logger.retract(spooled).await;
        }
        published
    }

    /// Takes one message from the room's `maximumMessageRatePerSecond`, service-wide.
    pub async fn try_take_room_message(&self, room: &LiveRoom, rate: i32) -> Result<(), Declined> {
        let rate = rate.max(1) as u32;
        self.take(Bucket::Room {
            id: &room.id,
            rate,
            on_this_node: &room.rate,
        })
        .await
    }

    /// Takes one request from the account's quota, service-wide (`account`: its key).
    pub async fn take_quota(&self, quota: AccountQuota, account: &str) -> Result<(), Declined> {
        self.take(Bucket::Account {
            name: quota.name(),
            account,
            rate: quota.rate(&self.quotas),
        })
        .await
    }

    async fn take(&self, bucket: Bucket<'_>) -> Result<(), Declined> {
        let limit = match bucket {
            Bucket::Room { rate, .. } | Bucket::Account { rate, .. } => rate,
        };
        match self.bus.try_take(bucket).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Declined::RateLimited { limit }),
            Err(e) => Err(bus_unreachable(e)),
        }
    }

    /// Marks a chat token used; false if it was used before (on any node).
    pub async fn redeem(&self, token_id: &str, expires: i64, now: i64) -> Result<bool, Declined> {
        let redeemed = self
            .bus
            .redeem(token_id, expires, now)
            .await
            .map_err(bus_unreachable)?;
        // Used now or before: either way, spent from here on (the in-process bus's own set
        // says so already: no second copy of it).
        if self.bus.redeemed_here().is_none() {
            self.spent.insert(token_id, expires, now);
        }
        Ok(redeemed)
    }

    /// What the spent-token set holds now (for tests that check it empties, issue 26).
    pub fn spent_held(&self) -> Held {
        self.spent.held()
    }

    /// Whether this node has seen the token redeemed (cheap; the bus stays the authority).
    pub fn known_spent(&self, token_id: &str) -> bool {
        match self.bus.redeemed_here() {
            Some(redeemed) => redeemed.contains(token_id),
            None => self.spent.contains(token_id),
        }
    }

    /// True when another connection would exceed the concurrent-connection quota.
    pub fn at_connection_quota(&self) -> bool {
        let mine = self.stats.connections_open.load(Ordering::Relaxed);
        mine + self.bus.other_nodes_connections() >= self.quotas.concurrent_connections
    }

    /// SendEvent: delivers an EVENT to every connection of the room; returns its `Id`.
    pub async fn send_event(
        &self,
        room: RoomRef<'_>,
        event_name: String,
        attributes: StringMap,
    ) -> Result<String, Declined> {
        self.take_quota(AccountQuota::SendEvent, room.account)
            .await?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::new(
            id.clone(),
            None,
            event_name,
            attributes,
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, FrameIds::of(&id), at)
            .await?;
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
    ) -> Result<String, Declined> {
        self.take_quota(AccountQuota::DeleteMessage, room.account)
            .await?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::delete_message(
            id.clone(),
            request_id,
            &message_id,
            reason.as_deref(),
            format_time_nanos(at),
        );
        let ids = FrameIds {
            id: &id,
            deletes: Some(&message_id),
        };
        self.broadcast(room, RecordType::Event, &frame, ids, at)
            .await?;
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
    ) -> Result<String, Declined> {
        self.take_quota(AccountQuota::DisconnectUser, room.account)
            .await?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::disconnect_user(
            id.clone(),
            request_id,
            &user_id,
            reason.as_deref(),
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, FrameIds::of(&id), at)
            .await?;
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
    /// any room was updated or deleted on this node since, and always when other nodes share
    /// the bus (their changes reach this one a little later).
    pub fn room_may_have_changed_since(&self, mark: u64) -> bool {
        self.bus.spans_nodes() || self.room_changes.load(Ordering::SeqCst) != mark
    }

    /// UpdateRoom: new limits and review handler apply to live connections at once, on every node.
    pub async fn room_updated(&self, room: &Room) {
        self.room_changes.fetch_add(1, Ordering::SeqCst);
        let update = RoomUpdate {
            room_id: room.id.clone(),
            settings: RoomSettings::of(room),
        };
        self.rooms.apply(update.clone());
        if let Err(e) = self.bus.share_update(update).await {
            // The change is committed, so it is acknowledged: nodes that miss it apply it
            // from the store at their next reconciliation (`reconcile.rs`, within
            // `[cluster] reconcile_interval_ms`), and read it afresh at their next handshake.
            tracing::error!(room = %room.id, error = %format!("{e:#}"), "cannot send a room update to the other nodes; they apply it at their next reconciliation");
        }
    }

    /// DeleteRoom: every connection, on every node, gets ERROR 404 and is closed.
    pub async fn room_deleted(&self, room_id: &str) {
        self.room_changes.fetch_add(1, Ordering::SeqCst);
        // Whatever its tags said: a room whose history was turned off may still have some.
        if let Err(e) = self.history.forget_room(room_id).await {
            tracing::error!(room = %room_id, error = %format!("{e:#}"), "cannot forget a deleted room's history; it expires by its age limit");
        }
        if self.publish(room_id, RoomEvent::Deleted).await.is_err() {
            // Still end this node's sessions; the other nodes end theirs at their next
            // reconciliation (`reconcile.rs`): the deletion is committed, so it is
            // acknowledged.
            self.rooms.deliver(room_id, RoomEvent::Deleted);
        }
    }

    pub fn count_slow_disconnect(&self) {
        self.stats.slow_disconnects.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{done, Bucket, BusCall};
    use crate::chat_log::sinks::Sinks;
    use crate::chat_log::spool::Spool;
    use crate::config::Config;
    use crate::room::RoomUpdate;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    /// A bus that cannot be reached (Redis down, connection dropped).
    #[derive(Debug)]
    struct Unreachable;

    impl Bus for Unreachable {
        fn publish<'a>(&'a self, _room_id: &'a str, _event: RoomEvent) -> BusCall<'a, ()> {
            done(Err(anyhow::anyhow!("unreachable")))
        }
        fn share_update(&self, _update: RoomUpdate) -> BusCall<'_, ()> {
            done(Err(anyhow::anyhow!("unreachable")))
        }
        fn subscribe<'a>(&'a self, _room_id: &'a str) -> BusCall<'a, ()> {
            done(Err(anyhow::anyhow!("unreachable")))
        }
        fn unsubscribe(&self, _room_id: &str) {}
        fn try_take<'a>(&'a self, _bucket: Bucket<'a>) -> BusCall<'a, bool> {
            done(Ok(true))
        }
        fn redeem<'a>(&'a self, _token_id: &'a str, _expires: i64, _now: i64) -> BusCall<'a, bool> {
            done(Ok(true))
        }
        fn other_nodes_connections(&self) -> u64 {
            0
        }
        fn spans_nodes(&self) -> bool {
            true
        }
        fn ping(&self) -> BusCall<'_, ()> {
            done(Err(anyhow::anyhow!("unreachable")))
        }
        fn start(self: Arc<Self>, _tasks: &TaskTracker, _stop: CancellationToken) {}
    }

    /// A hub on a bus that cannot be reached, with a SQLite store in `dir`.
    async fn hub_on_unreachable_bus(dir: &std::path::Path) -> (Hub, Arc<dyn crate::store::Store>) {
        let config = Config::for_tests(dir);
        let clock = Clock::system();
        let store = crate::store::open(&config).await.unwrap();
        let spool = Spool::open(dir, 100).await.unwrap();
        let logger = Arc::new(ChatLogger::new(
            spool,
            Sinks::from_config(&config).await,
            store.clone(),
            config.logging.clone(),
            clock.clone(),
        ));
        let stats = Arc::new(ChatStats::default());
        let rooms = Arc::new(LiveRooms::new(
            stats.clone(),
            crate::presence::Presence::new(None),
            shard_runtime::ShardRuntime::current(),
        ));
        let history =
            crate::history::embedded::EmbeddedHistory::open(dir, rooms.clone(), clock.clone())
                .await
                .unwrap();
        let hub = Hub::new(
            rooms,
            Arc::new(Unreachable),
            Arc::new(history),
            stats,
            clock,
            &config.quotas,
            logger,
        );
        (hub, store)
    }

    async fn socket() -> Arc<socket::ClientSocket> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, _client) = tokio::join!(listener.accept(), client);
        Arc::new(accepted.unwrap().0.into())
    }

    /// Issue 18: DeleteRoom and UpdateRoom whose publish failed (or that a node's dead
    /// subscription missed) reached that node's live connections only if they happened to
    /// end; reconciliation applies them from the store.
    #[tokio::test]
    async fn reconciliation_applies_what_the_bus_lost() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, store) = hub_on_unreachable_bus(dir.path()).await;
        let quotas = Config::for_tests(dir.path()).quotas;
        let mut rooms = Vec::new();
        for _ in 0..2 {
            let room = Room {
                id: new_id(),
                account: String::new(),
                name: "r".to_string(),
                create_time: 1,
                update_time: 1,
                maximum_message_rate_per_second: 10,
                maximum_message_length: 500,
                review_handler_uri: None,
                review_fallback: ivschat_proto::control::FallbackResult::Allow,
                tags: StringMap::new(),
                logging_configuration_ids: Vec::new(),
            };
            store.insert_room(&room, &quotas).await.unwrap();
            let (live, _seat) = hub.join(&room, socket().await, Arc::from("u"), false);
            rooms.push((room, live));
        }
        let (updated, deleted) = (&rooms[0], &rooms[1]);
        store
            .update_room(
                "",
                &updated.0.id,
                &quotas,
                Box::new(|room| {
                    room.maximum_message_length = 42;
                    room.update_time = 2;
                    Ok(())
                }),
            )
            .await
            .unwrap();
        store.delete_room("", &deleted.0.id).await.unwrap();
        // The bus lost both changes: nothing live on this node knows.
        assert!(hub.rooms.is_live(&deleted.0.id));
        assert_eq!(updated.1.settings().maximum_message_length, 500);

        assert_eq!(reconcile::reconcile(&hub, store.as_ref()).await, 1);
        assert!(!hub.rooms.is_live(&deleted.0.id));
        assert_eq!(updated.1.settings().maximum_message_length, 42);
    }

    /// Issue 18: a record was spooled before its publish, so a message refused with ERROR
    /// 500 (nobody received it) was still logged.
    #[tokio::test]
    async fn a_message_the_bus_refused_is_not_logged() {
        let dir = tempfile::tempdir().unwrap();
        let (hub, _) = hub_on_unreachable_bus(dir.path()).await;
        let (clock, logger) = (hub.clock.clone(), hub.logger.clone());
        let logging_ids = ["lc".to_string()];
        let room = RoomRef {
            id: "g1H2I3j4k5L6",
            account: "",
            logging_ids: &logging_ids,
            history: None,
        };
        let sent = hub
            .broadcast(
                room,
                RecordType::Message,
                &serde_json::json!({"Type": "MESSAGE"}),
                FrameIds::of("m"),
                clock.now(),
            )
            .await;
        assert_eq!(sent, Err(Declined::Unavailable));
        assert_eq!(logger.spool().stats.pending.load(Ordering::Relaxed), 0);
    }
}

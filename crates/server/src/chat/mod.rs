//! The chat side: rooms with live connections, and the events the control plane sends them
//! (`spec/messaging.md`).
//!
//! * [`Hub`] knows the rooms that have at least one connection on this node. Each live room has
//!   one `tokio::sync::broadcast` channel; a frame is serialised once and every connection
//!   receives a cheap clone of the same bytes.
//! * A connection that falls more than [`ROOM_BACKLOG`] frames behind is disconnected with a
//!   reason and counted (see `session.rs`); it never slows the room down or grows memory.
//! * `handshake.rs` checks the chat token during the HTTP upgrade; `session.rs` runs one
//!   connection.

pub mod handshake;
pub mod rate_limit;
pub mod redeemed;
pub mod review;
pub mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::ws::Utf8Bytes;
use ivschat_proto::control::{FallbackResult, StringMap};
use ivschat_proto::messaging::{to_json, EventFrame};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Quotas;
use crate::delivery::{ChatLogger, RecordType};
use crate::domain::clock::{format_time_nanos, Clock};
use crate::domain::ids::new_id;
use crate::domain::resources::{LoggingConfiguration, Room};
use rate_limit::TokenBucket;
use redeemed::RedeemedTokens;

/// Frames a connection may fall behind its room before it is disconnected as too slow.
/// At the highest room rate (100 messages/s) plus events, this is several seconds of slack.
pub const ROOM_BACKLOG: usize = 1024;

/// What a room's connections receive.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    /// A MESSAGE or EVENT frame, serialised once for everyone.
    Frame(Utf8Bytes),
    /// Close every connection of this user (after the `aws:DISCONNECT_USER` frame, which was
    /// sent just before on the same channel, so it arrives first).
    Disconnect {
        user_id: Arc<str>,
        reason: Option<Arc<str>>,
    },
    /// The room was deleted: ERROR 404, then close.
    Deleted,
}

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

/// The room settings a live connection enforces; UpdateRoom replaces them at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    pub maximum_message_length: i32,
    pub maximum_message_rate_per_second: i32,
    pub review_handler_uri: Option<String>,
    pub review_fallback: FallbackResult,
    pub logging_configuration_ids: Vec<String>,
    /// The room's `updateTime` these settings come from: older settings never replace newer.
    pub version: i64,
}

impl RoomSettings {
    pub fn of(room: &Room) -> RoomSettings {
        RoomSettings {
            version: room.update_time,
            maximum_message_length: room.maximum_message_length,
            maximum_message_rate_per_second: room.maximum_message_rate_per_second,
            review_handler_uri: room.review_handler_uri.clone(),
            review_fallback: room.review_fallback,
            logging_configuration_ids: room.logging_configuration_ids.clone(),
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
    events: broadcast::Sender<RoomEvent>,
}

impl LiveRoom {
    pub fn settings(&self) -> RoomSettings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
    pub frames_out: AtomicU64,
}

/// A request refused by an account-wide rate quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub limit: u32,
}

/// Account-wide request rates (`spec/messaging.md` §9): DeleteMessage and DisconnectUser count
/// WebSocket and HTTP requests together; SendEvent is HTTP only.
#[derive(Debug)]
struct AccountRates {
    delete_message: (u32, Mutex<TokenBucket>),
    disconnect_user: (u32, Mutex<TokenBucket>),
    send_event: (u32, Mutex<TokenBucket>),
}

fn take(quota: &(u32, Mutex<TokenBucket>)) -> Result<(), RateLimited> {
    let taken = quota.1.lock().unwrap_or_else(|e| e.into_inner()).try_take();
    if taken {
        Ok(())
    } else {
        Err(RateLimited { limit: quota.0 })
    }
}

fn bucket(rate: u32) -> (u32, Mutex<TokenBucket>) {
    (rate, Mutex::new(TokenBucket::new(rate)))
}

/// Rooms' live connections on this node.
#[derive(Debug)]
pub struct Hub {
    // std Mutex: never held across .await; each critical section is one HashMap operation.
    rooms: Mutex<HashMap<String, Arc<LiveRoom>>>,
    clock: Clock,
    rates: AccountRates,
    pub logger: Arc<ChatLogger>,
    /// Concurrent connections allowed (all rooms).
    pub max_connections: u64,
    pub redeemed: RedeemedTokens,
    pub stats: ChatStats,
    /// Cancelled at shutdown: every session sends a close frame and ends.
    pub shutdown: CancellationToken,
    /// Every running session, so shutdown can wait for their close frames to go out.
    pub sessions: TaskTracker,
}

impl Hub {
    pub fn new(clock: Clock, quotas: &Quotas, logger: Arc<ChatLogger>) -> Hub {
        Hub {
            logger,
            rooms: Mutex::new(HashMap::new()),
            clock,
            rates: AccountRates {
                delete_message: bucket(quotas.delete_message_per_second),
                disconnect_user: bucket(quotas.disconnect_user_per_second),
                send_event: bucket(quotas.send_event_per_second),
            },
            max_connections: quotas.concurrent_connections,
            redeemed: RedeemedTokens::default(),
            stats: ChatStats::default(),
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveRoom>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self, room_id: &str) -> Option<Arc<LiveRoom>> {
        self.rooms().get(room_id).cloned()
    }

    /// Joins a connection to `room` (creating its live state if it is the first one). From here
    /// on the connection receives everything sent to the room; the handshake joins before it
    /// answers 101, so a client never misses what is sent right after it sees the socket open.
    pub fn join(&self, room: &Room) -> (Arc<LiveRoom>, broadcast::Receiver<RoomEvent>) {
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
                    events: broadcast::channel(ROOM_BACKLOG).0,
                })
            })
            .clone();
        // Subscribing under the map lock: `leave` cannot remove the room in between.
        let receiver = live.events.subscribe();
        (live, receiver)
    }

    /// Called after a connection has dropped its receiver: forgets the room when it was the last.
    pub fn leave(&self, room_id: &str) {
        let mut rooms = self.rooms();
        if rooms
            .get(room_id)
            .is_some_and(|room| room.events.receiver_count() == 0)
        {
            rooms.remove(room_id);
        }
    }

    /// Delivers to every connection of the room on this node.
    pub fn publish(&self, room_id: &str, event: RoomEvent) {
        if let Some(room) = self.live(room_id) {
            // An error only means nobody is listening any more.
            let _ = room.events.send(event);
        }
    }

    /// Serialises a MESSAGE or EVENT frame once, spools its chat log records (durably, before
    /// anyone sees it), then delivers it to every connection of the room on this node.
    pub async fn broadcast<T: serde::Serialize>(
        &self,
        room: RoomRef<'_>,
        kind: RecordType,
        frame: &T,
        at: OffsetDateTime,
    ) {
        let json = to_json(frame);
        self.logger
            .log(room.id, room.logging_ids, kind, &json, at)
            .await;
        self.publish(room.id, RoomEvent::Frame(Utf8Bytes::from(json)));
    }

    /// SendEvent: delivers an EVENT to every connection of the room; returns its `Id`.
    pub async fn send_event(
        &self,
        room: RoomRef<'_>,
        event_name: String,
        attributes: StringMap,
    ) -> Result<String, RateLimited> {
        take(&self.rates.send_event)?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::new(
            id.clone(),
            None,
            event_name,
            attributes,
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, at).await;
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
    ) -> Result<String, RateLimited> {
        take(&self.rates.delete_message)?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::delete_message(
            id.clone(),
            request_id,
            &message_id,
            reason.as_deref(),
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, at).await;
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
    ) -> Result<String, RateLimited> {
        take(&self.rates.disconnect_user)?;
        let id = new_id();
        let at = self.clock.now();
        let frame = EventFrame::disconnect_user(
            id.clone(),
            request_id,
            &user_id,
            reason.as_deref(),
            format_time_nanos(at),
        );
        self.broadcast(room, RecordType::Event, &frame, at).await;
        self.publish(
            room.id,
            RoomEvent::Disconnect {
                user_id: user_id.into(),
                reason: reason.map(Into::into),
            },
        );
        Ok(id)
    }

    /// UpdateRoom: new limits and review handler apply to live connections at once.
    pub fn room_updated(&self, room: &Room) {
        if let Some(live) = self.live(&room.id) {
            live.apply(RoomSettings::of(room));
        }
    }

    /// DeleteRoom: every connection gets ERROR 404 and is closed.
    pub fn room_deleted(&self, room_id: &str) {
        if let Some(live) = self.rooms().remove(room_id) {
            let _ = live.events.send(RoomEvent::Deleted);
        }
    }

    /// Nothing on the chat path depends on a configuration's content yet; chat logging will.
    pub fn logging_configuration_updated(&self, _config: &LoggingConfiguration) {}

    pub fn count_slow_disconnect(&self) {
        self.stats.slow_disconnects.fetch_add(1, Ordering::Relaxed);
    }
}

//! This node's live rooms: the rooms with at least one connection here, each with its
//! settings, its rate bucket and its fan-out. A room is created by its first join and
//! forgotten when its last connection leaves (or it is deleted). The bus delivers into them
//! through [`NodeRooms`], which this registry implements.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::fanout::{Fanout, NodeEvent, Seat};
use super::outbox::Outbox;
use super::shard_runtime::ShardRuntime;
use super::ChatStats;
use crate::bus::NodeRooms;
use crate::domain::resources::Room;
use crate::presence::{Presence, RoomPresence};
use crate::room::frame::OutFrame;
use crate::room::{RoomEvent, RoomSettings, RoomUpdate};
use crate::token_bucket::TokenBucket;

/// A room with at least one connection on this node.
#[derive(Debug)]
pub struct LiveRoom {
    pub id: String,
    settings: RwLock<RoomSettings>,
    /// `maximumMessageRatePerSecond`, shared by all the room's connections on this node (the
    /// room's bucket when this node is the whole service; see `bus::Bucket::Room`).
    pub(super) rate: Mutex<TokenBucket>,
    fanout: Fanout,
    /// Who is in the room on this node (`presence/`): sessions arrive once open.
    pub presence: Arc<RoomPresence>,
}

impl LiveRoom {
    pub fn settings(&self) -> RoomSettings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends a frame to one member, in the room's order (see [`NodeEvent::Direct`]). False,
    /// and nothing sent, when that member already has `outbox::MAX_ANSWERS_PENDING` answers
    /// in the room's channel: its session must close it rather than let its answers crowd out
    /// the room's backlog.
    #[must_use]
    pub fn answer(&self, to: &Arc<Outbox>, json: &str) -> bool {
        if !to.reserve_answer() {
            return false;
        }
        self.fanout.publish(NodeEvent::Direct {
            to: to.clone(),
            frame: OutFrame::text(json),
        });
        true
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
            self.presence.set_events(settings.options.presence_events);
            *current = settings;
        }
        self.rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_rate(rate);
    }
}

/// The live rooms on this node, by id.
#[derive(Debug)]
pub struct LiveRooms {
    // std Mutex: never held across .await; each critical section is one HashMap operation.
    rooms: Mutex<HashMap<String, Arc<LiveRoom>>>,
    stats: Arc<ChatStats>,
    presence: Arc<Presence>,
    /// Where the rooms' fan-out shards run; owned here, so it ends with the rooms.
    shards: ShardRuntime,
}

impl LiveRooms {
    pub fn new(stats: Arc<ChatStats>, presence: Arc<Presence>, shards: ShardRuntime) -> LiveRooms {
        LiveRooms {
            rooms: Mutex::new(HashMap::new()),
            stats,
            presence,
            shards,
        }
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Arc<LiveRoom>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, room_id: &str) -> Option<Arc<LiveRoom>> {
        self.rooms().get(room_id).cloned()
    }

    /// The ids of the rooms live on this node.
    pub fn ids(&self) -> Vec<String> {
        self.rooms().keys().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.rooms().len()
    }

    /// Who is in this node's rooms, and in scale-out every node's (`presence/`).
    pub fn presence(&self) -> &Arc<Presence> {
        &self.presence
    }

    /// Joins a connection to `room`, creating its live state if it is the first one.
    pub fn join(
        &self,
        room: &Room,
        socket: Arc<super::socket::ClientSocket>,
        user_id: Arc<str>,
        replays: bool,
    ) -> (Arc<LiveRoom>, Seat) {
        let mut rooms = self.rooms();
        let live = rooms
            .entry(room.id.clone())
            .or_insert_with(|| {
                let settings = RoomSettings::of(room);
                Arc::new(LiveRoom {
                    id: room.id.clone(),
                    presence: self
                        .presence
                        .open_room(&room.id, settings.options.presence_events),
                    settings: RwLock::new(settings),
                    rate: Mutex::new(TokenBucket::new(
                        room.maximum_message_rate_per_second.max(1) as u32,
                    )),
                    fanout: Fanout::new(
                        self.stats.frames_out.clone(),
                        self.shards.handle().clone(),
                    ),
                })
            })
            .clone();
        // Joining under the map lock: `leave` cannot remove the room in between.
        let seat = live.fanout.join(|first_seq| match replays {
            false => Outbox::new(socket, user_id, first_seq),
            true => Outbox::replaying(socket, user_id, first_seq),
        });
        (live, seat)
    }

    /// Takes a connection out of its room; true if this node no longer needs the room's
    /// events: its last connection left, and the room is forgotten now or was already (a
    /// DeleteRoom forgets the room before its members leave, issue 18).
    pub fn leave(&self, room: &LiveRoom, seat: &Seat) -> bool {
        let room_id = room.id.as_str();
        let mut rooms = self.rooms();
        // Under the map lock, so no connection can join in between.
        if room.fanout.leave(seat) != 0 {
            return false;
        }
        self.presence.close_room(&room.presence);
        match rooms.get(room_id) {
            Some(live) if std::ptr::eq(live.as_ref(), room) => rooms.remove(room_id).is_some(),
            // A newer live state of the room holds its own members.
            Some(_) => false,
            None => true,
        }
    }

    /// Hands a node-local event to every live room.
    pub fn tell_every_room(&self, event: NodeEvent) {
        let rooms: Vec<Arc<LiveRoom>> = self.rooms().values().cloned().collect();
        for room in rooms {
            room.fanout.publish(event.clone());
        }
    }
}

impl NodeRooms for LiveRooms {
    fn deliver(&self, room_id: &str, event: RoomEvent) {
        let room = match event {
            // A deleted room is forgotten at once; its sessions end on the event.
            RoomEvent::Deleted => {
                let room = self.rooms().remove(room_id);
                if let Some(room) = &room {
                    self.presence.close_room(&room.presence);
                }
                room
            }
            _ => self.get(room_id),
        };
        if let Some(room) = room {
            room.fanout.publish(NodeEvent::Room(event));
        }
    }

    fn apply(&self, update: RoomUpdate) {
        if let Some(live) = self.get(&update.room_id) {
            live.apply(update.settings);
        }
    }

    fn is_live(&self, room_id: &str) -> bool {
        self.rooms().contains_key(room_id)
    }

    fn connections_open(&self) -> u64 {
        self.stats.connections_open.load(Ordering::Relaxed)
    }

    fn events_missed(&self) {
        self.tell_every_room(NodeEvent::EventsMissed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::new_id;
    use ivschat_proto::control::{FallbackResult, StringMap};
    use tokio::net::{TcpListener, TcpStream};

    fn room() -> Room {
        Room {
            id: new_id(),
            account: String::new(),
            name: "r".to_string(),
            create_time: 1,
            update_time: 1,
            maximum_message_rate_per_second: 10,
            maximum_message_length: 500,
            review_handler_uri: None,
            review_fallback: FallbackResult::Allow,
            tags: StringMap::new(),
            logging_configuration_ids: Vec::new(),
        }
    }

    async fn socket() -> Arc<crate::chat::socket::ClientSocket> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        drop(client);
        Arc::new(accepted.unwrap().0.into())
    }

    /// Issue 18: after DeleteRoom the room was forgotten before its members left, so the last
    /// leave did not report it and the bus never unsubscribed its channel.
    #[tokio::test]
    async fn the_last_leave_after_a_deletion_releases_the_room() {
        let rooms = LiveRooms::new(
            Arc::new(ChatStats::default()),
            Presence::new(None),
            ShardRuntime::current(),
        );
        let room = room();
        let (live, first) = rooms.join(&room, socket().await, Arc::from("a"), false);
        let (_, second) = rooms.join(&room, socket().await, Arc::from("b"), false);
        rooms.deliver(&room.id, RoomEvent::Deleted);
        assert!(!rooms.is_live(&room.id));
        assert!(!rooms.leave(&live, &first), "a member is still there");
        assert!(
            rooms.leave(&live, &second),
            "the last leave releases the room"
        );
    }

    #[tokio::test]
    async fn the_last_leave_forgets_the_room() {
        let rooms = LiveRooms::new(
            Arc::new(ChatStats::default()),
            Presence::new(None),
            ShardRuntime::current(),
        );
        let room = room();
        let (live, seat) = rooms.join(&room, socket().await, Arc::from("a"), false);
        assert!(rooms.is_live(&room.id));
        assert!(rooms.leave(&live, &seat));
        assert!(!rooms.is_live(&room.id));
    }
}

//! Presence (issue 22): who is in a room, cluster-wide. This module owns the count of each
//! room's connections and distinct users, the list of users with their token attributes, and
//! the opt-in join/leave EVENTs (`docs/protocol/messaging.md` §14). It is ours, not AWS's:
//! read through `POST /ivschat-server/GetRoomPresence` and `…/ListRoomUsers`
//! (`api/ext_presence.rs`).
//!
//! * [`Presence`] is this node's part: a [`RoomPresence`] per live room, which each chat
//!   session joins once it is open ([`RoomPresence::arrive`]) and leaves when it ends (its
//!   [`PresenceSeat`] is dropped). Both are one lock and one hash-map operation: O(1), and no
//!   work at all per message.
//! * With one node (embedded), reads come straight from those rooms. With several (`--bus
//!   redis://…`), each node writes its own users of each room to Redis, where readers merge
//!   every node's (`shared.rs`, docs/scale-out.md "Presence").
//! * A background pump ([`Presence::run`], every [`PUMP_EVERY`]) takes what changed: in
//!   scale-out it writes it to Redis, and for rooms with `ivschat-server:presence-events=on`
//!   it sends one coalesced JOIN and one LEAVE event at most per room per pass (`events.rs`),
//!   so 10,000 arrivals in a second make a handful of events, not 10,000. Only a user's first
//!   connection is a join and their last a leave (cluster-wide in scale-out). When events are
//!   off and there is one node, nothing is recorded for the pump at all.

pub mod events;
pub mod shared;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ivschat_proto::control::StringMap;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::domain::clock::Clock;
use crate::room::RoomEvent;
use shared::SharedPresence;

/// How often the pump runs: the longest a change waits before Redis (and so other nodes'
/// readers) sees it, and the coalescing window of presence events.
pub const PUMP_EVERY: Duration = Duration::from_millis(250);

/// Largest page of ListRoomUsers, and its default.
pub const MAX_PAGE: usize = 100;
pub const DEFAULT_PAGE: usize = 50;

/// A room's connections and distinct users (GetRoomPresence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub connections: u64,
    pub users: u64,
}

/// One user in a room (ListRoomUsers): the attributes of their chat token (of one of their
/// connections, when they have several with different ones) and how many connections they have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentUser {
    pub user_id: String,
    pub attributes: StringMap,
    pub connections: u64,
}

/// A page of a room's users, in byte order of their ids; `more` when users follow the last.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsersPage {
    pub users: Vec<PresentUser>,
    pub more: bool,
}

/// What changed about one user of a room since the pump's last pass.
#[derive(Debug, Clone)]
pub struct Change {
    pub user: Arc<str>,
    /// Whether the user had a connection here at the last pass.
    pub was_present: bool,
    /// Their connections here now (0: gone) and their attributes.
    pub connections: u32,
    pub attributes: Arc<StringMap>,
}

/// Users who became present or absent (cluster-wide, in scale-out) during a pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transitions {
    pub joined: Vec<Arc<str>>,
    pub left: Vec<Arc<str>>,
}

impl Transitions {
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }

    /// What one node alone sees: a user present now and not at the last pass joined.
    fn of_local(changes: &[Change]) -> Transitions {
        let mut transitions = Transitions::default();
        for change in changes {
            match (change.was_present, change.connections > 0) {
                (false, true) => transitions.joined.push(change.user.clone()),
                (true, false) => transitions.left.push(change.user.clone()),
                _ => {}
            }
        }
        transitions
    }
}

/// This node's presence: a [`RoomPresence`] per live room, the rooms the pump must look at,
/// and the shared (Redis) part in scale-out.
pub struct Presence {
    // std Mutexes: never held across .await; each critical section is one map operation.
    rooms: Mutex<HashMap<String, Arc<RoomPresence>>>,
    /// Rooms with changes the pump has not taken yet (each at most once).
    queued: Mutex<Vec<Arc<RoomPresence>>>,
    shared: Option<SharedPresence>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl Presence {
    /// In-process only (one node), or shared through Redis.
    pub fn new(shared: Option<SharedPresence>) -> Arc<Presence> {
        Arc::new(Presence {
            rooms: Mutex::new(HashMap::new()),
            queued: Mutex::new(Vec::new()),
            shared,
        })
    }

    /// Presence for the bus: shared through the node's Redis link (`--bus redis://…`).
    pub fn open(
        config: &crate::config::Config,
        redis: Option<&crate::bus::redis_link::RedisLink>,
    ) -> Arc<Presence> {
        Presence::new(redis.map(|link| SharedPresence::new(link, &config.cluster_name)))
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Arc<RoomPresence>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The presence of a room that just became live on this node (`chat/rooms.rs`).
    pub fn open_room(self: &Arc<Self>, room_id: &str, events: bool) -> Arc<RoomPresence> {
        let room = Arc::new(RoomPresence {
            room_id: room_id.to_string(),
            node: Arc::downgrade(self),
            shared: self.shared.is_some(),
            events: AtomicBool::new(events),
            state: Mutex::new(RoomState::default()),
        });
        self.rooms().insert(room_id.to_string(), room.clone());
        room
    }

    /// The room is no longer live on this node. What its last members' departures changed is
    /// still queued for the pump, which holds the room until then.
    pub fn close_room(&self, room: &Arc<RoomPresence>) {
        let mut rooms = self.rooms();
        if rooms
            .get(&room.room_id)
            .is_some_and(|live| Arc::ptr_eq(live, room))
        {
            rooms.remove(&room.room_id);
        }
    }

    fn queue(&self, room: Arc<RoomPresence>) {
        self.queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(room);
    }

    /// The room's connections and distinct users, on every node.
    pub async fn counts(&self, room_id: &str) -> anyhow::Result<Counts> {
        match &self.shared {
            Some(shared) => shared.counts(room_id).await,
            None => Ok(self
                .rooms()
                .get(room_id)
                .cloned()
                .map(|room| room.counts())
                .unwrap_or_default()),
        }
    }

    /// Up to `limit` of the room's users whose ids sort after `after`, on every node.
    pub async fn users(
        &self,
        room_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<UsersPage> {
        match &self.shared {
            Some(shared) => shared.users(room_id, after, limit).await,
            None => Ok(self
                .rooms()
                .get(room_id)
                .cloned()
                .map(|room| room.users(after, limit))
                .unwrap_or_default()),
        }
    }

    /// The pump (see the module documentation), until `stop`; then one last pass, so the
    /// departures of the sessions shutdown closed reach Redis, and this node's entries go.
    pub async fn run(self: Arc<Self>, bus: Arc<dyn Bus>, clock: Clock, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PUMP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(shared::HEARTBEAT_EVERY);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => self.pass(bus.as_ref(), &clock).await,
                _ = heartbeat.tick(), if self.shared.is_some() => self.heartbeat().await,
            }
        }
        self.pass(bus.as_ref(), &clock).await;
        if let Some(shared) = &self.shared {
            let rooms: Vec<String> = self.rooms().keys().cloned().collect();
            shared.leave_all(&rooms).await;
        }
    }

    /// Takes every queued room's changes: writes them to Redis (scale-out) and sends the
    /// room's coalesced JOIN/LEAVE events if it wants them.
    pub async fn pass(&self, bus: &dyn Bus, clock: &Clock) {
        let queued = std::mem::take(&mut *self.queued.lock().unwrap_or_else(|e| e.into_inner()));
        for room in queued {
            let changes = room.take_changes();
            if changes.is_empty() {
                continue;
            }
            let events = room.events.load(Ordering::Relaxed);
            let transitions = match &self.shared {
                None if events => Transitions::of_local(&changes),
                None => continue,
                Some(shared) => match shared.write(&room.room_id, &changes, events).await {
                    Ok(transitions) => transitions,
                    Err(e) => {
                        tracing::warn!(room = %room.room_id, error = %format!("{e:#}"), "cannot write presence to Redis; retrying at the next pass");
                        room.requeue(changes);
                        continue;
                    }
                },
            };
            if !events || transitions.is_empty() {
                continue;
            }
            for frame in events::frames(&transitions, clock.now()) {
                if let Err(e) = bus.publish(&room.room_id, RoomEvent::Frame(frame)).await {
                    tracing::warn!(room = %room.room_id, error = %format!("{e:#}"), "cannot send a presence event");
                }
            }
        }
    }

    /// Scale-out: keeps this node's entries alive in Redis; a room whose entry expired
    /// meanwhile (Redis restarted, or was away longer than the expiry) is written whole again.
    async fn heartbeat(&self) {
        let Some(shared) = &self.shared else { return };
        let live: Vec<Arc<RoomPresence>> = self
            .rooms()
            .values()
            .filter(|room| room.counts().connections > 0)
            .cloned()
            .collect();
        if live.is_empty() {
            return;
        }
        let ids: Vec<&str> = live.iter().map(|room| room.room_id.as_str()).collect();
        match shared.refresh(&ids).await {
            Ok(lost) => {
                for (room, lost) in live.iter().zip(lost) {
                    if lost {
                        room.rewrite_all();
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot refresh presence in Redis")
            }
        }
    }
}

/// One room's presence on this node.
pub struct RoomPresence {
    pub room_id: String,
    node: Weak<Presence>,
    /// Changes are recorded for the pump whenever Redis must see them.
    shared: bool,
    /// `ivschat-server:presence-events=on`: follows the room's settings (`RoomSettings`).
    events: AtomicBool,
    state: Mutex<RoomState>,
}

impl std::fmt::Debug for RoomPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomPresence")
            .field("room_id", &self.room_id)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct RoomState {
    connections: u64,
    users: HashMap<Arc<str>, UserEntry>,
    /// Users changed since the pump's last pass, with whether they were present then.
    changed: HashMap<Arc<str>, bool>,
    /// The room is in its node's queue for the pump.
    queued: bool,
}

struct UserEntry {
    connections: u32,
    attributes: Arc<StringMap>,
}

impl RoomPresence {
    fn state(&self) -> MutexGuard<'_, RoomState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Turns presence events on or off (the room's tag changed).
    pub fn set_events(&self, on: bool) {
        self.events.store(on, Ordering::Relaxed);
    }

    /// Counts an open connection of `user` until the returned seat is dropped. `attributes`
    /// (the token's) are kept for the user's first connection.
    pub fn arrive(self: &Arc<Self>, user: Arc<str>, attributes: &StringMap) -> PresenceSeat {
        let events = self.events.load(Ordering::Relaxed);
        let queue = {
            let mut state = self.state();
            state.connections += 1;
            let entry = state
                .users
                .entry(user.clone())
                .or_insert_with(|| UserEntry {
                    connections: 0,
                    attributes: Arc::new(attributes.clone()),
                });
            entry.connections += 1;
            let first = entry.connections == 1;
            // Redis keeps every user's connection count; events need only the first.
            (self.shared || (events && first)) && state.note_change(&user, !first)
        };
        if queue {
            self.queue();
        }
        PresenceSeat {
            room: self.clone(),
            user,
        }
    }

    fn depart(self: &Arc<Self>, user: &Arc<str>) {
        let events = self.events.load(Ordering::Relaxed);
        let queue = {
            let mut state = self.state();
            state.connections = state.connections.saturating_sub(1);
            let last = match state.users.get_mut(user) {
                Some(entry) if entry.connections > 1 => {
                    entry.connections -= 1;
                    false
                }
                Some(_) => {
                    state.users.remove(user);
                    true
                }
                None => false,
            };
            (self.shared || (events && last)) && state.note_change(user, true)
        };
        if queue {
            self.queue();
        }
    }

    fn queue(self: &Arc<Self>) {
        if let Some(node) = self.node.upgrade() {
            node.queue(self.clone());
        }
    }

    /// What changed since the last pass, and the room leaves the queue.
    fn take_changes(&self) -> Vec<Change> {
        let mut state = self.state();
        state.queued = false;
        let changed = std::mem::take(&mut state.changed);
        changed
            .into_iter()
            .map(|(user, was_present)| {
                let (connections, attributes) = match state.users.get(&user) {
                    Some(entry) => (entry.connections, entry.attributes.clone()),
                    None => (0, Arc::new(StringMap::new())),
                };
                Change {
                    user,
                    was_present,
                    connections,
                    attributes,
                }
            })
            .collect()
    }

    /// Changes the pump could not write go back, unless newer ones replaced them.
    fn requeue(self: &Arc<Self>, changes: Vec<Change>) {
        let queue = {
            let mut state = self.state();
            let mut queue = false;
            for change in changes {
                queue |= state.note_change(&change.user, change.was_present);
            }
            queue
        };
        if queue {
            self.queue();
        }
    }

    /// Every present user is written again (their entry in Redis was lost).
    fn rewrite_all(self: &Arc<Self>) {
        let queue = {
            let mut state = self.state();
            let users: Vec<Arc<str>> = state.users.keys().cloned().collect();
            let mut queue = false;
            for user in users {
                queue |= state.note_change(&user, true);
            }
            queue
        };
        if queue {
            self.queue();
        }
    }

    pub fn counts(&self) -> Counts {
        let state = self.state();
        Counts {
            connections: state.connections,
            users: state.users.len() as u64,
        }
    }

    /// A page of this node's users of the room.
    pub fn users(&self, after: Option<&str>, limit: usize) -> UsersPage {
        let state = self.state();
        let mut ids: Vec<&Arc<str>> = state
            .users
            .keys()
            .filter(|id| after.is_none_or(|after| id.as_ref() > after))
            .collect();
        ids.sort_unstable();
        let more = ids.len() > limit;
        let users = ids
            .into_iter()
            .take(limit)
            .filter_map(|id| {
                state.users.get(id).map(|entry| PresentUser {
                    user_id: id.to_string(),
                    attributes: (*entry.attributes).clone(),
                    connections: u64::from(entry.connections),
                })
            })
            .collect();
        UsersPage { users, more }
    }
}

impl RoomState {
    /// Records that `user` changed; returns true when the room must join the pump's queue.
    fn note_change(&mut self, user: &Arc<str>, was_present: bool) -> bool {
        self.changed.entry(user.clone()).or_insert(was_present);
        !std::mem::replace(&mut self.queued, true)
    }
}

/// An open connection's place in its room's presence; dropping it is the departure.
pub struct PresenceSeat {
    room: Arc<RoomPresence>,
    user: Arc<str>,
}

impl Drop for PresenceSeat {
    fn drop(&mut self) {
        self.room.depart(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(name: &str) -> StringMap {
        StringMap::from([("name".to_string(), name.to_string())])
    }

    #[test]
    fn only_first_and_last_connections_change_the_users() {
        let node = Presence::new(None);
        let room = node.open_room("r", true);
        let a1 = room.arrive(Arc::from("a"), &attributes("A"));
        let a2 = room.arrive(Arc::from("a"), &attributes("other"));
        let b = room.arrive(Arc::from("b"), &attributes("B"));
        assert_eq!(
            room.counts(),
            Counts {
                connections: 3,
                users: 2
            }
        );
        let changes = room.take_changes();
        let transitions = Transitions::of_local(&changes);
        let mut joined: Vec<&str> = transitions.joined.iter().map(|u| u.as_ref()).collect();
        joined.sort_unstable();
        assert_eq!(joined, ["a", "b"]);
        drop(a1);
        assert!(
            room.take_changes().is_empty(),
            "a's second connection is still open"
        );
        drop(a2);
        drop(b);
        let transitions = Transitions::of_local(&room.take_changes());
        assert_eq!(transitions.left.len(), 2);
        assert_eq!(room.counts(), Counts::default());
    }

    /// A user who comes and goes between two passes is neither a join nor a leave.
    #[test]
    fn a_visit_between_two_passes_is_no_transition() {
        let node = Presence::new(None);
        let room = node.open_room("r", true);
        drop(room.arrive(Arc::from("a"), &StringMap::new()));
        let changes = room.take_changes();
        assert_eq!(changes.len(), 1);
        assert!(Transitions::of_local(&changes).is_empty());
    }

    /// Scale-out: Redis keeps each user's connection count, so a second connection's arrival
    /// and departure are written too (they were not: a user's count stayed at 2 there).
    #[test]
    fn shared_rooms_record_every_connection_change() {
        let node = Presence::new(None);
        let room = Arc::new(RoomPresence {
            room_id: "r".into(),
            node: Arc::downgrade(&node),
            shared: true,
            events: AtomicBool::new(false),
            state: Mutex::new(RoomState::default()),
        });
        let a1 = room.arrive(Arc::from("a"), &StringMap::new());
        room.take_changes();
        let a2 = room.arrive(Arc::from("a"), &StringMap::new());
        let changes = room.take_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].was_present, changes[0].connections), (true, 2));
        drop(a2);
        let changes = room.take_changes();
        assert_eq!((changes[0].was_present, changes[0].connections), (true, 1));
        drop(a1);
        assert_eq!(room.take_changes()[0].connections, 0);
    }

    /// With events off on one node, nothing is recorded for the pump.
    #[test]
    fn off_and_alone_records_nothing() {
        let node = Presence::new(None);
        let room = node.open_room("r", false);
        let _a = room.arrive(Arc::from("a"), &StringMap::new());
        assert!(room.take_changes().is_empty());
        assert!(node.queued.lock().unwrap().is_empty());
    }

    #[test]
    fn pages_are_in_id_order_with_the_first_attributes() {
        let node = Presence::new(None);
        let room = node.open_room("r", false);
        let _seats: Vec<PresenceSeat> = ["c", "a", "b", "a"]
            .iter()
            .enumerate()
            .map(|(i, u)| room.arrive(Arc::from(*u), &attributes(&format!("{u}{i}"))))
            .collect();
        let first = room.users(None, 2);
        assert!(first.more);
        let ids: Vec<&str> = first.users.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(first.users[0].connections, 2);
        assert_eq!(first.users[0].attributes, attributes("a1"));
        let rest = room.users(Some("b"), 2);
        assert!(!rest.more);
        assert_eq!(rest.users.len(), 1);
        assert_eq!(rest.users[0].user_id, "c");
    }
}

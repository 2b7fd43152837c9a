//! Room history (issue 22, README "Extensions (not AWS)"): the last MESSAGE and EVENT frames
//! of a room whose `ivschat-server:history` tag is set (`room/options.rs`), bounded by count
//! and age, for replay on join and `POST /ivschat-server/ListRoomMessages`.
//!
//! Behind one trait, [`History`], like the bus and the store:
//! * `embedded.rs` (with the in-process bus): an in-memory ring per room for the hot path,
//!   persisted in SQLite (`history.db` in the data directory, `sqlite.rs`), so history survives
//!   a restart;
//! * `redis.rs` (with the Redis bus): a Redis stream per room, appended and published in one
//!   Lua script (docs/scale-out.md, "History").
//!
//! The one rule both keep: **a frame is kept and delivered in one step**, and its
//! [`HistoryId`] orders both. A joining connection subscribes first, then reads the history;
//! what it then receives live with an id at or below the last one it read is a duplicate and
//! dropped (`chat/outbox.rs`, "replay gate"), so replay and live stream meet with no gap and
//! no duplicate.
//!
//! Only frames actually delivered are kept (a message a review handler refused never reaches
//! [`History::publish`]). DeleteMessage removes its target and keeps its own
//! `aws:DELETE_MESSAGE` event, so a client that replays from before the deletion drops the
//! message just as a live client does. DeleteRoom forgets the room's history.

pub mod embedded;
pub mod redis;
mod sqlite;

use std::sync::Arc;

use crate::bus::redis_link::RedisLink;
use crate::bus::{BusCall, NodeRooms};
use crate::config::Config;
use crate::domain::clock::Clock;
use crate::room::frame::{HistoryId, OutFrame};
use crate::room::options::Retention;

/// A frame to keep and deliver.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The frame's JSON.
    pub json: String,
    /// The frame's `Id`.
    pub message_id: String,
    /// DeleteMessage: the `Id` of the message to take out of the history.
    pub deletes: Option<String>,
    /// When it was sent (µs since the epoch), for the age limit.
    pub at_micros: i64,
    pub retention: Retention,
}

/// A kept frame.
#[derive(Debug, Clone)]
pub struct Kept {
    pub id: HistoryId,
    pub message_id: Arc<str>,
    /// The very frame delivered live, history id included.
    pub frame: OutFrame,
}

/// A room's history, on every node.
///
/// What an implementation must guarantee:
/// * `publish` keeps the frame and delivers it to the room's members on every node in one
///   step: the order of the history ids is the order every node delivers in;
/// * `read`, called after the caller's node subscribed to the room, returns every frame kept
///   before it was called (within the retention), oldest first;
/// * errors are returned, not waited out, when the engine cannot be reached.
pub trait History: Send + Sync + std::fmt::Debug {
    /// Keeps `entry` (taking `entry.deletes` out) and delivers it to the room.
    fn publish<'a>(&'a self, room_id: &'a str, entry: Entry) -> BusCall<'a, ()>;

    /// The frames kept now, oldest first, none older than `retention` allows.
    fn read<'a>(&'a self, room_id: &'a str, retention: Retention) -> BusCall<'a, Vec<Kept>>;

    /// [`read`](History::read) for a client that already has the frames up to the one with
    /// `Id` `since`: an implementation may leave out the frames before that one (never that one
    /// itself, so the caller still learns the newest id); [`after_message`] then takes what the
    /// client still needs. Redis reads only back to it (`redis.rs`).
    fn read_since<'a>(
        &'a self,
        room_id: &'a str,
        retention: Retention,
        since: Option<&'a str>,
    ) -> BusCall<'a, Vec<Kept>> {
        let _ = since;
        self.read(room_id, retention)
    }

    /// DeleteRoom: forgets everything kept for the room.
    fn forget_room<'a>(&'a self, room_id: &'a str) -> BusCall<'a, ()>;

    /// Waits until what was kept is persisted (the embedded history writes behind; shutdown
    /// and tests wait for it).
    fn flush(&self) -> BusCall<'_, ()> {
        crate::bus::done(Ok(()))
    }
}

/// Opens the history that goes with the bus: a Redis stream per room on the node's Redis link
/// (`bus/redis_link.rs`) with the Redis bus, else the embedded one in `data_dir`.
pub async fn open(
    config: &Config,
    redis: Option<&RedisLink>,
    rooms: Arc<dyn NodeRooms>,
    clock: Clock,
) -> anyhow::Result<Arc<dyn History>> {
    Ok(match redis {
        Some(link) => Arc::new(redis::RedisHistory::new(link, &config.cluster_name)),
        None => Arc::new(embedded::EmbeddedHistory::open(&config.data_dir, rooms, clock).await?),
    })
}

/// What a client that already has the frames up to `since` (a message `Id`) still needs: the
/// frames after it, or all of them when it is no longer kept (trimmed, deleted, or never
/// seen): a client then gets more than it needed rather than miss anything.
pub fn after_message(kept: Vec<Kept>, since: Option<&str>) -> Vec<Kept> {
    let Some(since) = since else { return kept };
    match kept.iter().position(|k| &*k.message_id == since) {
        Some(at) => kept.into_iter().skip(at + 1).collect(),
        None => kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(ids: &[&str]) -> Vec<Kept> {
        ids.iter()
            .enumerate()
            .map(|(n, id)| {
                let at = HistoryId {
                    high: 0,
                    low: n as u64,
                };
                Kept {
                    id: at,
                    message_id: Arc::from(*id),
                    frame: OutFrame::text(id).kept_at(at),
                }
            })
            .collect()
    }

    fn ids(kept: &[Kept]) -> Vec<&str> {
        kept.iter().map(|k| &*k.message_id).collect()
    }

    #[test]
    fn since_keeps_what_follows_or_everything_when_unknown() {
        assert_eq!(
            ids(&after_message(kept(&["a", "b", "c"]), None)),
            ["a", "b", "c"]
        );
        assert_eq!(
            ids(&after_message(kept(&["a", "b", "c"]), Some("a"))),
            ["b", "c"]
        );
        assert!(after_message(kept(&["a", "b", "c"]), Some("c")).is_empty());
        assert_eq!(
            ids(&after_message(kept(&["a", "b", "c"]), Some("gone"))),
            ["a", "b", "c"]
        );
    }
}

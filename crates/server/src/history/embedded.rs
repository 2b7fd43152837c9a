//! The embedded history (one node, the in-process bus): a ring of kept frames per room in
//! memory, which replay and ListRoomMessages read, persisted in `history.db` (`sqlite.rs`)
//! behind it and read back the first time a room is used after a restart.
//!
//! Keeping and delivering are one step: under the room's ring lock the frame gets the next
//! sequence number, goes into the ring and into the room's fan-out (`NodeRooms::deliver`,
//! which only queues it), so the ring's order is the order every member receives.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::sqlite::{Change, HistoryDb, Row};
use super::{Entry, History, Kept};
use crate::bus::{waiting, BusCall, NodeRooms};
use crate::domain::clock::Clock;
use crate::room::frame::{HistoryId, OutFrame};
use crate::room::options::Retention;
use crate::room::RoomEvent;

pub struct EmbeddedHistory {
    rooms: Arc<dyn NodeRooms>,
    // std Mutex: never held across .await; one map operation at a time.
    rings: Mutex<HashMap<String, Arc<Mutex<Ring>>>>,
    db: HistoryDb,
    clock: Clock,
}

impl std::fmt::Debug for EmbeddedHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedHistory").finish_non_exhaustive()
    }
}

/// One room's kept frames, oldest first, each with its send time (µs).
struct Ring {
    frames: VecDeque<(i64, Kept)>,
    next_seq: u64,
}

impl Ring {
    fn of(rows: Vec<Row>) -> Ring {
        let next_seq = rows.last().map_or(0, |row| row.seq + 1);
        let frames = rows
            .into_iter()
            .map(|row| {
                let id = embedded_id(row.seq);
                (
                    row.at_micros,
                    Kept {
                        id,
                        message_id: Arc::from(row.message_id),
                        frame: OutFrame::text(&row.frame).kept_at(id),
                    },
                )
            })
            .collect();
        Ring { frames, next_seq }
    }

    /// Drops what `retention` no longer allows at `now` (µs); returns the change to persist.
    fn trim(&mut self, room_id: &str, retention: Retention, now: i64) -> Option<Change> {
        let oldest_allowed = now.saturating_sub(retention.max_age.as_micros() as i64);
        let mut trimmed = false;
        while let Some((at, _)) = self.frames.front() {
            if self.frames.len() > retention.count || *at < oldest_allowed {
                self.frames.pop_front();
                trimmed = true;
            } else {
                break;
            }
        }
        trimmed.then(|| Change::TrimBefore {
            room_id: room_id.to_string(),
            seq: self
                .frames
                .front()
                .map_or(self.next_seq, |(_, kept)| kept.id.low),
        })
    }
}

fn embedded_id(seq: u64) -> HistoryId {
    HistoryId { high: 0, low: seq }
}

impl EmbeddedHistory {
    pub async fn open(
        data_dir: &Path,
        rooms: Arc<dyn NodeRooms>,
        clock: Clock,
    ) -> anyhow::Result<EmbeddedHistory> {
        Ok(EmbeddedHistory {
            rooms,
            rings: Mutex::new(HashMap::new()),
            db: HistoryDb::open(data_dir).await?,
            clock,
        })
    }

    fn rings(&self) -> MutexGuard<'_, HashMap<String, Arc<Mutex<Ring>>>> {
        self.rings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room's ring, read from `history.db` the first time.
    async fn ring(&self, room_id: &str) -> anyhow::Result<Arc<Mutex<Ring>>> {
        if let Some(ring) = self.rings().get(room_id) {
            return Ok(ring.clone());
        }
        let ring = Ring::of(self.db.load(room_id).await?);
        // Two first uses may race: the first ring in is the one.
        Ok(self
            .rings()
            .entry(room_id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(ring)))
            .clone())
    }
}

fn lock(ring: &Mutex<Ring>) -> MutexGuard<'_, Ring> {
    ring.lock().unwrap_or_else(|e| e.into_inner())
}

impl History for EmbeddedHistory {
    fn publish<'a>(&'a self, room_id: &'a str, entry: Entry) -> BusCall<'a, ()> {
        waiting(async move {
            let ring = self.ring(room_id).await?;
            let now = self.clock.now_micros();
            let mut changes = Vec::with_capacity(3);
            {
                let mut ring = lock(&ring);
                if let Some(target) = entry.deletes.as_deref() {
                    if let Some(at) = ring
                        .frames
                        .iter()
                        .position(|(_, kept)| &*kept.message_id == target)
                    {
                        if let Some((_, kept)) = ring.frames.remove(at) {
                            changes.push(Change::Delete {
                                room_id: room_id.to_string(),
                                seq: kept.id.low,
                            });
                        }
                    }
                }
                let seq = ring.next_seq;
                ring.next_seq += 1;
                let id = embedded_id(seq);
                let frame = OutFrame::text(&entry.json).kept_at(id);
                ring.frames.push_back((
                    entry.at_micros,
                    Kept {
                        id,
                        message_id: Arc::from(entry.message_id.as_str()),
                        frame: frame.clone(),
                    },
                ));
                changes.push(Change::Append {
                    room_id: room_id.to_string(),
                    row: Row {
                        seq,
                        message_id: entry.message_id,
                        at_micros: entry.at_micros,
                        frame: entry.json,
                    },
                });
                changes.extend(ring.trim(room_id, entry.retention, now));
                // Under the ring lock: the ring's order is the delivery order.
                self.rooms.deliver(room_id, RoomEvent::Frame(frame));
            }
            for change in changes {
                self.db.change(change);
            }
            Ok(())
        })
    }

    fn read<'a>(&'a self, room_id: &'a str, retention: Retention) -> BusCall<'a, Vec<Kept>> {
        waiting(async move {
            let ring = self.ring(room_id).await?;
            let now = self.clock.now_micros();
            let (kept, trimmed) = {
                let mut ring = lock(&ring);
                let trimmed = ring.trim(room_id, retention, now);
                let kept: Vec<Kept> = ring.frames.iter().map(|(_, k)| k.clone()).collect();
                (kept, trimmed)
            };
            if let Some(change) = trimmed {
                self.db.change(change);
            }
            Ok(kept)
        })
    }

    fn forget_room<'a>(&'a self, room_id: &'a str) -> BusCall<'a, ()> {
        self.rings().remove(room_id);
        self.db.change(Change::ForgetRoom {
            room_id: room_id.to_string(),
        });
        crate::bus::done(Ok(()))
    }

    fn flush(&self) -> BusCall<'_, ()> {
        waiting(async move {
            self.db.flush().await;
            Ok(())
        })
    }
}

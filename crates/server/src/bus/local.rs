//! The in-process bus: one node, which is the whole service. A room's events go straight into
//! this node's live room (no copy, no task, no allocation), and what would be shared between
//! nodes is kept here: the account rate buckets, the redeemed chat tokens. A room's rate is the
//! bucket the live room keeps itself ([`Bucket::Room`]'s `on_this_node`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{done, Bucket, Bus, BusCall, NodeRooms};
use crate::expiring_ids::ExpiringIds;
use crate::room::{RoomEvent, RoomUpdate};
use crate::token_bucket::TokenBucket;

pub struct LocalBus {
    rooms: Arc<dyn NodeRooms>,
    // std Mutex: never held across .await; each critical section is one map operation.
    /// Account rates: by account key, then by rate name.
    accounts: Mutex<HashMap<String, HashMap<&'static str, TokenBucket>>>,
    /// Chat tokens redeemed (`docs/protocol/messaging.md` §1.3), until they expire.
    redeemed: ExpiringIds,
}

impl std::fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBus").finish_non_exhaustive()
    }
}

impl LocalBus {
    pub fn new(rooms: Arc<dyn NodeRooms>) -> LocalBus {
        LocalBus {
            rooms,
            accounts: Mutex::new(HashMap::new()),
            redeemed: ExpiringIds::default(),
        }
    }
}

impl Bus for LocalBus {
    fn publish<'a>(&'a self, room_id: &'a str, event: RoomEvent) -> BusCall<'a, ()> {
        self.rooms.deliver(room_id, event);
        done(Ok(()))
    }

    /// There are no other nodes.
    fn share_update(&self, _update: RoomUpdate) -> BusCall<'_, ()> {
        done(Ok(()))
    }

    /// This node receives every room's events already.
    fn subscribe<'a>(&'a self, _room_id: &'a str) -> BusCall<'a, ()> {
        done(Ok(()))
    }

    fn unsubscribe(&self, _room_id: &str) {}

    fn try_take<'a>(&'a self, bucket: Bucket<'a>) -> BusCall<'a, bool> {
        let allowed = match bucket {
            Bucket::Room { on_this_node, .. } => on_this_node
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_take(),
            Bucket::Account {
                name,
                account,
                rate,
            } => {
                let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
                // Looked up by `&str` first: the key is allocated once per account only.
                if !accounts.contains_key(account) {
                    accounts.insert(account.to_string(), HashMap::new());
                }
                accounts
                    .get_mut(account)
                    .map(|rates| {
                        rates
                            .entry(name)
                            .or_insert_with(|| TokenBucket::new(rate))
                            .try_take()
                    })
                    .unwrap_or(false)
            }
        };
        done(Ok(allowed))
    }

    /// Single use: the id is remembered until the token expires (`expiring_ids.rs`).
    fn redeem<'a>(&'a self, token_id: &'a str, expires: i64, now: i64) -> BusCall<'a, bool> {
        done(Ok(self.redeemed.insert(token_id, expires, now)))
    }

    fn redeemed_here(&self) -> Option<&ExpiringIds> {
        Some(&self.redeemed)
    }

    fn other_nodes_connections(&self) -> u64 {
        0
    }

    fn spans_nodes(&self) -> bool {
        false
    }

    fn ping(&self) -> BusCall<'_, ()> {
        done(Ok(()))
    }

    /// Nothing runs in the background.
    fn start(self: Arc<Self>, _tasks: &TaskTracker, _stop: CancellationToken) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    /// Records what the bus hands to this node's rooms.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<String>>);

    impl NodeRooms for Recorded {
        fn events_missed(&self) {}

        fn deliver(&self, room_id: &str, event: RoomEvent) {
            self.0.lock().unwrap().push(format!("{room_id}: {event:?}"));
        }
        fn apply(&self, update: RoomUpdate) {
            self.0
                .lock()
                .unwrap()
                .push(format!("apply {}", update.room_id));
        }
        fn is_live(&self, _room_id: &str) -> bool {
            true
        }
        fn connections_open(&self) -> u64 {
            0
        }
    }

    /// The embedded path stays direct: a publish reaches the room before the call returns,
    /// and every call is ready on its first poll (no task, nothing to wait for).
    #[test]
    fn a_publish_goes_straight_into_the_room() {
        let rooms = Arc::new(Recorded::default());
        let bus = LocalBus::new(rooms.clone());
        let published = bus.publish("r", RoomEvent::Deleted);
        assert_eq!(*rooms.0.lock().unwrap(), ["r: Deleted"]);
        assert!(published.now_or_never().unwrap().is_ok());
        assert!(bus.subscribe("r").now_or_never().unwrap().is_ok());
        assert!(bus.redeem("t", 100, 0).now_or_never().unwrap().unwrap());
        assert!(!bus.redeem("t", 100, 1).now_or_never().unwrap().unwrap());
    }

    /// A room's rate is the live room's own bucket; account rates are kept here, by name.
    #[test]
    fn buckets_are_the_rooms_own_and_one_per_account_rate() {
        let bus = LocalBus::new(Arc::new(Recorded::default()));
        let room = Mutex::new(TokenBucket::new(1));
        let take = |bucket| bus.try_take(bucket).now_or_never().unwrap().unwrap();
        let in_room = Bucket::Room {
            id: "r",
            rate: 100,
            on_this_node: &room,
        };
        assert!(take(in_room));
        assert!(
            !take(in_room),
            "the room's bucket (rate 1) decides, not `rate`"
        );
        let send_event = Bucket::Account {
            name: "account:send_event",
            account: "",
            rate: 1,
        };
        assert!(take(send_event));
        assert!(!take(send_event));
        assert!(take(Bucket::Account {
            name: "account:delete_message",
            account: "",
            rate: 1
        }));
        // Another account's rate is its own.
        let elsewhere = Bucket::Account {
            name: "account:send_event",
            account: "111111111111",
            rate: 1,
        };
        assert!(take(elsewhere));
        assert!(!take(elsewhere));
    }
}

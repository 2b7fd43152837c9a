//! Our join/leave EVENTs (`docs/protocol/messaging.md` §14): what one pump pass of a room
//! becomes. Ordinary EVENT frames, so the official SDK delivers them as events; their names
//! start with `ivschat-server:`, which no AWS event (`aws:…`) and no SendEvent from an AWS
//! client expecting AWS's behaviour uses.
//!
//! One pass makes at most one JOIN and one LEAVE per room, each listing at most
//! [`MAX_LISTED`] user ids plus the full count: a join storm costs a few events.

use std::sync::Arc;

use ivschat_proto::messaging::{to_json, Attributes, EventFrame};
use time::OffsetDateTime;

use super::Transitions;
use crate::domain::clock::format_time_nanos;
use crate::domain::ids::new_id;
use crate::room::frame::OutFrame;

pub const JOIN: &str = "ivschat-server:JOIN";
pub const LEAVE: &str = "ivschat-server:LEAVE";

/// User ids listed in one event at most; `count` says how many there were.
pub const MAX_LISTED: usize = 100;

/// The frames for one pass's transitions: a JOIN if anyone joined, a LEAVE if anyone left.
pub fn frames(transitions: &Transitions, at: OffsetDateTime) -> Vec<OutFrame> {
    let mut frames = Vec::with_capacity(2);
    for (name, users) in [(JOIN, &transitions.joined), (LEAVE, &transitions.left)] {
        if users.is_empty() {
            continue;
        }
        let frame = EventFrame::new(
            new_id(),
            None,
            name.to_string(),
            attributes(users),
            format_time_nanos(at),
        );
        frames.push(OutFrame::text(&to_json(&frame)));
    }
    frames
}

/// `userIds`: a JSON array of at most [`MAX_LISTED`] ids (sorted, so it reads the same
/// whatever order the pass saw them in); `count`: how many users; `truncated`: whether
/// `userIds` lists fewer than `count`. EVENT attributes are strings only, hence JSON text.
fn attributes(users: &[Arc<str>]) -> Attributes {
    let mut listed: Vec<&str> = users.iter().map(|u| u.as_ref()).collect();
    listed.sort_unstable();
    listed.truncate(MAX_LISTED);
    Attributes::from([
        (
            "userIds".to_string(),
            serde_json::to_string(&listed).unwrap_or_else(|_| "[]".to_string()),
        ),
        ("count".to_string(), users.len().to_string()),
        (
            "truncated".to_string(),
            (users.len() > MAX_LISTED).to_string(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::local::LocalBus;
    use crate::bus::NodeRooms;
    use crate::domain::clock::Clock;
    use crate::presence::Presence;
    use crate::room::{RoomEvent, RoomUpdate};
    use ivschat_proto::control::StringMap;
    use std::sync::Mutex;

    /// Keeps what the bus delivers to the room.
    #[derive(Default)]
    struct Delivered(Mutex<Vec<serde_json::Value>>);

    impl NodeRooms for Delivered {
        fn deliver(&self, _room_id: &str, event: RoomEvent) {
            if let RoomEvent::Frame(frame) = event {
                let json = serde_json::from_slice(frame.json()).unwrap();
                self.0.lock().unwrap().push(json);
            }
        }
        fn apply(&self, _update: RoomUpdate) {}
        fn is_live(&self, _room_id: &str) -> bool {
            true
        }
        fn connections_open(&self) -> u64 {
            0
        }
        fn events_missed(&self) {}
    }

    /// Issue 22: 10,000 arrivals within one pass are one JOIN event (listing the first 100
    /// ids, counting all), and their departures one LEAVE.
    #[tokio::test]
    async fn a_join_storm_is_one_event_per_pass() {
        let delivered = Arc::new(Delivered::default());
        let bus = LocalBus::new(delivered.clone());
        let node = Presence::new(None);
        let room = node.open_room("r", true);
        let seats: Vec<_> = (0..10_000)
            .map(|i| room.arrive(Arc::from(format!("user-{i:05}")), &StringMap::new()))
            .collect();
        let clock = Clock::system();
        node.pass(&bus, &clock).await;
        {
            let events = delivered.0.lock().unwrap();
            assert_eq!(events.len(), 1);
            let event = &events[0];
            assert_eq!(event["Type"], "EVENT");
            assert_eq!(event["EventName"], JOIN);
            assert_eq!(event["Attributes"]["count"], "10000");
            assert_eq!(event["Attributes"]["truncated"], "true");
            let ids: Vec<String> =
                serde_json::from_str(event["Attributes"]["userIds"].as_str().unwrap()).unwrap();
            assert_eq!(ids.len(), MAX_LISTED);
            assert_eq!(ids[0], "user-00000");
        }
        drop(seats);
        node.pass(&bus, &clock).await;
        let events = delivered.0.lock().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["EventName"], LEAVE);
        assert_eq!(events[1]["Attributes"]["count"], "10000");
    }

    #[test]
    fn a_pass_with_joins_and_leaves_makes_one_of_each() {
        let transitions = Transitions {
            joined: vec![Arc::from("b"), Arc::from("a")],
            left: vec![Arc::from("c")],
        };
        let frames = frames(&transitions, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(frames.len(), 2);
        let join: serde_json::Value = serde_json::from_slice(frames[0].json()).unwrap();
        assert_eq!(join["EventName"], JOIN);
        assert_eq!(join["Attributes"]["userIds"], r#"["a","b"]"#);
        assert_eq!(join["Attributes"]["count"], "2");
        assert_eq!(join["Attributes"]["truncated"], "false");
        let leave: serde_json::Value = serde_json::from_slice(frames[1].json()).unwrap();
        assert_eq!(leave["EventName"], LEAVE);
        assert_eq!(leave["Attributes"]["userIds"], r#"["c"]"#);
    }
}

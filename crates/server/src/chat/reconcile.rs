//! Reconciliation: this node's live rooms are brought in line with the store, periodically,
//! so a room change every node must apply reaches every node even when the bus lost it
//! (docs/scale-out.md, "Room changes under faults").
//!
//! UpdateRoom and DeleteRoom commit to the store first and are then published on the bus; a
//! node whose subscription was down, or a publish that failed, would otherwise leave live
//! connections on the old settings (or in a deleted room) until they end. The store is the
//! truth: every [`RECONCILE_EVERY`], each node re-reads the rooms it has connections in; a
//! room that is gone ends its sessions here (ERROR 404, as DeleteRoom does), a newer version
//! is applied. Only nodes that share a bus run it: with one node every change is applied
//! in-process before the request is answered.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Hub;
use crate::bus::NodeRooms;
use crate::room::{RoomEvent, RoomSettings, RoomUpdate};
use crate::store::{Owner, Store};

/// How long a room change the bus lost may take to reach a node's live connections.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(10);

/// Reconciles every [`RECONCILE_EVERY`] until `stop`.
pub async fn run(hub: Arc<Hub>, store: Arc<dyn Store>, stop: CancellationToken) {
    if !hub.bus.spans_nodes() {
        return;
    }
    let mut tick = tokio::time::interval(RECONCILE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = reconcile(&hub, store.as_ref()) => {}
        }
    }
}

/// One pass: re-reads each live room and applies what the bus may have lost. Returns how
/// many rooms were found deleted.
pub async fn reconcile(hub: &Hub, store: &dyn Store) -> usize {
    let mut deleted = 0;
    for room_id in hub.rooms.ids() {
        match store.get_room(Owner::Any, &room_id).await {
            Ok(None) => {
                tracing::warn!(room = %room_id, "a deleted room still had connections here (the bus lost its deletion): closing them");
                hub.rooms.deliver(&room_id, RoomEvent::Deleted);
                deleted += 1;
            }
            // Older or equal versions are ignored by the live room.
            Ok(Some(room)) => hub.rooms.apply(RoomUpdate {
                room_id,
                settings: RoomSettings::of(&room),
            }),
            // The store is away: the next pass tries again.
            Err(e) => {
                tracing::debug!(room = %room_id, error = %e, "cannot reconcile a room now");
            }
        }
    }
    deleted
}

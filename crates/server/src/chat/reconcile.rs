//! Reconciliation: this node's live rooms are brought in line with the store, periodically,
//! so a room change every node must apply reaches every node even when the bus lost it
//! (docs/scale-out.md, "Room changes under faults").
//!
//! UpdateRoom and DeleteRoom commit to the store first and are then published on the bus; a
//! node whose subscription was down, or a publish that failed, would otherwise leave live
//! connections on the old settings (or in a deleted room) until they end. The store is the
//! truth: every `[cluster] reconcile_interval_ms` (10 s), and as soon as the bus subscription
//! recovers from an outage ([`Bus::recoveries`](crate::bus::Bus::recoveries)), each node
//! re-reads the rooms it has connections in; a room that is gone ends its sessions here
//! (ERROR 404, as DeleteRoom does), a newer version is applied. Only nodes that share a bus run it: with one node every change is applied
//! in-process before the request is answered.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Hub;
use crate::bus::NodeRooms;
use crate::room::{RoomEvent, RoomSettings, RoomUpdate};
use crate::store::{Owner, Store};

/// Reconciles every `every` (`[cluster] reconcile_interval_ms`, 10 s by default), and at once
/// each time the bus subscription recovers from an outage, until `stop`.
pub async fn run(hub: Arc<Hub>, store: Arc<dyn Store>, every: Duration, stop: CancellationToken) {
    if !hub.bus.spans_nodes() {
        return;
    }
    let mut recoveries = Some(hub.bus.recoveries());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
            // Whatever the bus lost while the subscription was down is in the store: apply
            // it now rather than at the next tick (issue 18).
            recovered = recovered(&mut recoveries) => {
                if recovered.is_err() {
                    // This bus never recovers (or has stopped): only the ticks are left.
                    recoveries = None;
                    continue;
                }
                tracing::info!("the bus subscription recovered: reconciling live rooms with the store now");
                tick.reset();
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = reconcile(&hub, store.as_ref()) => {}
        }
    }
}

/// The next recovery of the bus; never, once there can be none.
async fn recovered(
    recoveries: &mut Option<watch::Receiver<u64>>,
) -> Result<(), watch::error::RecvError> {
    match recoveries {
        Some(recoveries) => recoveries.changed().await,
        None => std::future::pending().await,
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

//! Counts of the state the server keeps per connection or per token, for tests that check
//! nothing outlives the connections it was for (issue 26: memory must not grow with every
//! connection ever opened). Not an API: the fields change with the internals they count.

use std::sync::atomic::Ordering;

use crate::app::App;
use crate::expiring_ids::Held;

/// What the chat side holds right now.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// Rooms with live state on this node (forgotten when their last connection leaves).
    pub live_rooms: usize,
    /// Chat sessions counted open.
    pub open_connections: u64,
    /// Session tasks (and their review workers) still running.
    pub session_tasks: usize,
    /// Single-use token ids the bus remembers (until their token expires, then swept).
    pub redeemed: Held,
    /// The hub's own first-look set of spent tokens (the same lifetime; kept only when the
    /// bus's set is elsewhere).
    pub spent: Held,
}

#[doc(hidden)]
pub fn retained(app: &App) -> Retained {
    let chat = &app.chat;
    Retained {
        live_rooms: chat.live_rooms(),
        open_connections: chat.stats.connections_open.load(Ordering::Relaxed),
        session_tasks: app.sessions.tasks.len(),
        redeemed: chat
            .bus()
            .redeemed_here()
            .map(|set| set.held())
            .unwrap_or_default(),
        spent: chat.spent_held(),
    }
}

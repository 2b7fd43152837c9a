//! How a live room's events reach its connections on this node.
//!
//! Every event gets a sequence number and goes into the room's `broadcast` channel, which
//! fixes one order for everyone. The room's members are split into shards of at most
//! [`SHARD_SIZE`]; each shard is one task that reads the channel and hands each event to its
//! members' [`Outbox`]es, where a frame is written to the socket at once (`outbox.rs`). So a
//! message costs one task wake-up per shard, not per connection, and one `write` per
//! connection; shards spread a big room over the worker threads of the shards' own runtime
//! (`shard_runtime.rs`: apart from the sessions, so that a busy room does not hold up reading
//! a sender's message).
//!
//! A connection joins by taking the next sequence number as its first: events already in the
//! channel when it joined are not for it, whichever shard it lands in.
//!
//! A shard whose members have all left is dropped and its task ends (but for the room's last
//! shard, which goes with the room): a room that was big once does not keep a task and a
//! wake-up per event for every shard it ever needed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::sync::oneshot;

use super::outbox::{Outbox, RoomEnding};
use super::ROOM_BACKLOG;
use crate::room::frame::OutFrame;
use crate::room::RoomEvent;

/// Connections per shard task. Small enough that a 10,000-viewer room spreads over both
/// worker threads and a shard's turn stays well under a millisecond; large enough that 100
/// rooms of 100 are 100 task wake-ups per round of messages, not 10,000.
pub const SHARD_SIZE: usize = 128;

/// What a room's fan-out hands its members on this node: the room's events (the same on every
/// node) and this node's own, in one order.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    Room(RoomEvent),
    /// A frame for one connection only (its ERROR answers). It travels in the room's order,
    /// so an answer never overtakes a room frame sent before it: a sender that sends two
    /// messages into a room allowing one per second gets its first MESSAGE, then the ERROR 429
    /// for the second, as clients expect.
    Direct {
        to: Arc<Outbox>,
        frame: OutFrame,
    },
    /// The server is shutting down: close 1001.
    Shutdown,
    /// This node lost its bus subscription and may have missed room events: close 1001
    /// (`NodeRooms::events_missed`).
    EventsMissed,
    /// The (test-advanceable) clock moved: sessions re-arm their expiry timers.
    ClockChanged,
}

pub struct Fanout {
    members: Mutex<Members>,
    /// Where this room's shard tasks run (`shard_runtime.rs`).
    shards: tokio::runtime::Handle,
    events: broadcast::Sender<(u64, NodeEvent)>,
    /// Frames handed to sockets (for `/metrics`), shared with the hub.
    frames_out: Arc<AtomicU64>,
}

struct Members {
    next_seq: u64,
    count: usize,
    shards: Vec<ShardHandle>,
}

/// A shard as the room holds it. Dropping the handle (the shard emptied, or the room is gone)
/// ends the shard's task.
struct ShardHandle {
    shard: Arc<Shard>,
    /// Never sent on: the task watches for it to be dropped.
    _retire: oneshot::Sender<()>,
}

/// One shard's members. Copied on join and leave (at most [`SHARD_SIZE`] pointers), so the
/// shard task walks a snapshot without holding a lock while it writes.
#[derive(Default)]
struct Shard {
    members: Mutex<Arc<Vec<Arc<Outbox>>>>,
}

impl Shard {
    fn members(&self) -> MutexGuard<'_, Arc<Vec<Arc<Outbox>>>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Outbox>>> {
        self.members().clone()
    }
}

/// A connection's place in the fan-out, to leave it.
pub struct Seat {
    pub outbox: Arc<Outbox>,
    shard: Arc<Shard>,
}

impl Fanout {
    pub fn new(frames_out: Arc<AtomicU64>, shards: tokio::runtime::Handle) -> Fanout {
        Fanout {
            shards,
            members: Mutex::new(Members {
                next_seq: 0,
                count: 0,
                shards: Vec::new(),
            }),
            events: broadcast::channel(ROOM_BACKLOG).0,
            frames_out,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an event to every member (now, and none that joins later).
    pub fn publish(&self, event: NodeEvent) {
        let mut members = self.lock();
        let seq = members.next_seq;
        members.next_seq += 1;
        // An error only means no shard is listening (no members).
        let _ = self.events.send((seq, event));
    }

    /// Adds a connection; `make` builds its outbox given its first sequence number.
    pub fn join(&self, make: impl FnOnce(u64) -> Outbox) -> Seat {
        let mut members = self.lock();
        let outbox = Arc::new(make(members.next_seq));
        members.count += 1;
        let shard = match members
            .shards
            .iter()
            .find(|handle| handle.shard.members().len() < SHARD_SIZE)
        {
            Some(handle) => handle.shard.clone(),
            None => {
                let shard = Arc::new(Shard::default());
                let (retire, retired) = oneshot::channel();
                // Subscribed under the lock: the shard sees every event numbered from here on.
                self.shards.spawn(run_shard(
                    shard.clone(),
                    self.events.subscribe(),
                    retired,
                    self.frames_out.clone(),
                ));
                members.shards.push(ShardHandle {
                    shard: shard.clone(),
                    _retire: retire,
                });
                shard
            }
        };
        {
            let mut list = shard.members();
            let mut grown = Vec::with_capacity(list.len() + 1);
            grown.extend(list.iter().cloned());
            grown.push(outbox.clone());
            *list = Arc::new(grown);
        }
        Seat { outbox, shard }
    }

    /// Removes a connection; returns how many are left. Its shard is retired if it is now
    /// empty and not the room's last.
    pub fn leave(&self, seat: &Seat) -> usize {
        let mut members = self.lock();
        let emptied = {
            let mut list = seat.shard.members();
            let kept: Vec<Arc<Outbox>> = list
                .iter()
                .filter(|member| !Arc::ptr_eq(member, &seat.outbox))
                .cloned()
                .collect();
            if kept.len() < list.len() {
                members.count -= 1;
            }
            *list = Arc::new(kept);
            list.is_empty()
        };
        // Under the room's lock, so no connection can be joining the shard meanwhile.
        if emptied && members.shards.len() > 1 {
            members
                .shards
                .retain(|handle| !Arc::ptr_eq(&handle.shard, &seat.shard));
        }
        members.count
    }

    /// Shard tasks the room holds now.
    pub fn shard_count(&self) -> usize {
        self.lock().shards.len()
    }

    pub fn member_count(&self) -> usize {
        self.lock().count
    }
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("members", &self.member_count())
            .finish()
    }
}

/// Room events a shard takes from the channel in one turn. When frames arrive faster than a
/// shard writes them (a busy room on a loaded machine), each member gets the waiting frames in
/// one `writev` instead of one `write` each; at light load a turn is a single event.
const BATCH: usize = 64;

/// One shard: hands each room event to its members, in order. Ends when the room is dropped
/// or retires the shard (`retired` completes when its sender is dropped).
async fn run_shard(
    shard: Arc<Shard>,
    mut events: broadcast::Receiver<(u64, NodeEvent)>,
    mut retired: oneshot::Receiver<()>,
    frames_out: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            biased;
            _ = &mut retired => return,
            received = events.recv() => received,
        };
        let mut lagged = match received {
            Ok(event) => {
                batch.push(event);
                false
            }
            Err(RecvError::Lagged(_)) => true,
            Err(RecvError::Closed) => return,
        };
        while !lagged && batch.len() < BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(TryRecvError::Lagged(_)) => lagged = true,
                Err(_) => break,
            }
        }
        let members = shard.snapshot();
        let written = deliver(&members, &batch);
        batch.clear();
        if written > 0 {
            frames_out.fetch_add(written, Ordering::Relaxed);
        }
        // Let the other shards go first before the next turn (this room's and other rooms'):
        // in a saturated room a shard would otherwise go from turn to turn while they wait;
        // yielding also lets the next turn's batch grow, so each member gets more frames per
        // write.
        tokio::task::yield_now().await;
        // The shard itself fell a whole channel behind (the machine is overloaded): its
        // members missed frames, which must not pass silently.
        if lagged {
            tracing::warn!(
                "a room's fan-out fell behind its channel; disconnecting its connections"
            );
            for member in members.iter() {
                member.end(RoomEnding::TooSlow("fell too far behind the room"));
            }
        }
    }
}

/// Applies a batch of events to a shard's members, in order: each run of frames goes to a
/// member in one write. Returns the number of frames handed to sockets.
fn deliver(members: &[Arc<Outbox>], batch: &[(u64, NodeEvent)]) -> u64 {
    let mut written = 0;
    let mut rest = batch;
    let mut frames: Vec<&Bytes> = Vec::with_capacity(batch.len());
    while !rest.is_empty() {
        let run = rest
            .iter()
            .take_while(|(_, event)| matches!(event, NodeEvent::Room(RoomEvent::Frame(_))))
            .count();
        if run > 0 {
            for member in members {
                if member.replays() {
                    // Issue 22: only connections of a room that replays its history.
                    let kept: Vec<&OutFrame> = rest[..run]
                        .iter()
                        .filter_map(|(seq, event)| match event {
                            NodeEvent::Room(RoomEvent::Frame(frame)) if member.wants(*seq) => {
                                Some(frame)
                            }
                            _ => None,
                        })
                        .collect();
                    if !kept.is_empty() {
                        written += member.push_kept(&kept) as u64;
                    }
                    continue;
                }
                frames.clear();
                frames.extend(rest[..run].iter().filter_map(|(seq, event)| match event {
                    NodeEvent::Room(RoomEvent::Frame(frame)) if member.wants(*seq) => {
                        Some(frame.wire())
                    }
                    _ => None,
                }));
                if !frames.is_empty() {
                    written += member.push_frames(&frames) as u64;
                }
            }
            rest = &rest[run..];
            continue;
        }
        let (seq, event) = &rest[0];
        for member in members.iter().filter(|m| m.wants(*seq)) {
            match event {
                NodeEvent::Room(RoomEvent::Disconnect { user_id, reason }) => {
                    if member.user_id() == &**user_id {
                        member.end(RoomEnding::Disconnected(reason.clone()));
                    }
                }
                NodeEvent::Room(RoomEvent::Deleted) => member.end(RoomEnding::Deleted),
                NodeEvent::Shutdown => member.end(RoomEnding::Shutdown),
                NodeEvent::EventsMissed => member.end(RoomEnding::EventsMissed),
                NodeEvent::ClockChanged => member.clock_changed(),
                NodeEvent::Direct { to, frame } => {
                    if Arc::ptr_eq(member, to) {
                        // Exactly one shard holds the member: counted down once.
                        member.answer_delivered();
                        written += member.push_frames(&[frame.wire()]) as u64;
                    }
                }
                NodeEvent::Room(RoomEvent::Frame(_)) => {}
            }
        }
        rest = &rest[1..];
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use crate::chat::socket::ClientSocket;

    /// A connected loopback pair: (the server's socket, the client's).
    async fn socket_pair(listener: &TcpListener) -> (Arc<ClientSocket>, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        (Arc::new(accepted.unwrap().0.into()), client.unwrap())
    }

    fn join(fanout: &Fanout, socket: Arc<ClientSocket>, user: &str) -> Seat {
        let seat = fanout.join(|first| Outbox::new(socket, Arc::from(user), first));
        seat.outbox.open();
        seat
    }

    /// Reads one small (≤ 125 bytes) text frame and returns its payload.
    async fn read_frame(client: &mut TcpStream) -> String {
        let mut header = [0u8; 2];
        client.read_exact(&mut header).await.unwrap();
        assert_eq!(header[0], 0x81);
        let mut payload = vec![0u8; usize::from(header[1])];
        client.read_exact(&mut payload).await.unwrap();
        String::from_utf8(payload).unwrap()
    }

    fn frame(text: &str) -> NodeEvent {
        NodeEvent::Room(RoomEvent::Frame(OutFrame::text(text)))
    }

    /// A connection that joins while a shard is still behind does not get the frames sent
    /// before it joined, and gets every frame sent after, in order.
    #[tokio::test(flavor = "current_thread")]
    async fn a_newcomer_gets_exactly_the_frames_sent_after_it_joined() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fanout = Fanout::new(Arc::default(), tokio::runtime::Handle::current());
        let (socket, mut early_client) = socket_pair(&listener).await;
        let _early = join(&fanout, socket, "early");
        // One thread and no await since: the shard task has not looked at these yet.
        fanout.publish(frame("1"));
        fanout.publish(frame("2"));
        let (socket, mut late_client) = socket_pair(&listener).await;
        let _late = join(&fanout, socket, "late");
        fanout.publish(frame("3"));
        for expected in ["1", "2", "3"] {
            assert_eq!(read_frame(&mut early_client).await, expected);
        }
        assert_eq!(read_frame(&mut late_client).await, "3");
    }

    /// The shards run on the runtime they are given, not on the caller's: a room delivers
    /// while the runtime that reads its sockets is busy (here: its only thread is blocked).
    #[tokio::test(flavor = "current_thread")]
    async fn a_room_delivers_while_the_sessions_runtime_is_busy() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shards = crate::chat::shard_runtime::ShardRuntime::start(1).unwrap();
        let fanout = Fanout::new(Arc::default(), shards.handle().clone());
        let (socket, client) = socket_pair(&listener).await;
        // This runtime's driver has seen the socket writable: the shard's write goes through.
        socket.tcp().writable().await.unwrap();
        let _seat = join(&fanout, socket, "viewer");
        fanout.publish(frame("hello"));
        let mut client = client.into_std().unwrap();
        client.set_nonblocking(false).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut received = [0u8; 7];
        std::io::Read::read_exact(&mut client, &mut received).expect("delivered");
        assert_eq!(&received[2..], b"hello");
    }

    /// A room bigger than a shard is split over several shard tasks, and a member that leaves
    /// gets nothing more while the others get everything.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_big_room_is_sharded_and_leaving_stops_delivery() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let frames_out = Arc::new(AtomicU64::new(0));
        let fanout = Fanout::new(frames_out.clone(), tokio::runtime::Handle::current());
        let members = SHARD_SIZE * 2 + 3;
        let mut seats = Vec::new();
        let mut clients = Vec::new();
        for i in 0..members {
            let (socket, client) = socket_pair(&listener).await;
            seats.push(join(&fanout, socket, &format!("u{i}")));
            clients.push(client);
        }
        assert_eq!(fanout.shard_count(), 3);
        fanout.publish(frame("a"));
        for client in &mut clients {
            assert_eq!(read_frame(client).await, "a");
        }
        let gone = seats.pop().unwrap();
        let mut gone_client = clients.pop().unwrap();
        assert_eq!(fanout.leave(&gone), members - 1);
        fanout.publish(frame("b"));
        for client in &mut clients {
            assert_eq!(read_frame(client).await, "b");
        }
        // Counted after each shard's turn, which may end just after its clients read.
        let counted = (2 * members - 1) as u64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while frames_out.load(Ordering::Relaxed) != counted {
            assert!(std::time::Instant::now() < deadline, "{frames_out:?}");
            tokio::task::yield_now().await;
        }
        // The one that left got nothing after "a" (its socket is closed once dropped).
        drop(gone);
        let mut rest = Vec::new();
        gone_client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    }

    /// A member's answers waiting in the room's channel are bounded, so one client cannot
    /// fill the backlog every member shares; each answer handed over frees its place.
    #[tokio::test(flavor = "current_thread")]
    async fn a_members_answers_in_the_channel_are_bounded() {
        use super::super::outbox::MAX_ANSWERS_PENDING;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fanout = Fanout::new(Arc::default(), tokio::runtime::Handle::current());
        let (socket, mut client) = socket_pair(&listener).await;
        let seat = join(&fanout, socket, "chatty");
        // One thread and no await: the shard has handed over none of them yet.
        for _ in 0..MAX_ANSWERS_PENDING {
            assert!(seat.outbox.reserve_answer());
            fanout.publish(NodeEvent::Direct {
                to: seat.outbox.clone(),
                frame: OutFrame::text("e"),
            });
        }
        assert!(!seat.outbox.reserve_answer());
        for _ in 0..MAX_ANSWERS_PENDING {
            assert_eq!(read_frame(&mut client).await, "e");
        }
        assert!(seat.outbox.reserve_answer());
    }

    /// A shard whose members have all left is retired and its task ends; the others go on
    /// delivering, and the room's last shard stays (the hub drops it with the room).
    #[tokio::test(flavor = "current_thread")]
    async fn an_emptied_shard_is_retired() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fanout = Fanout::new(Arc::default(), tokio::runtime::Handle::current());
        let mut seats = Vec::new();
        let mut clients = Vec::new();
        for i in 0..SHARD_SIZE + 2 {
            let (socket, client) = socket_pair(&listener).await;
            seats.push(join(&fanout, socket, &format!("u{i}")));
            clients.push(client);
        }
        assert_eq!(fanout.shard_count(), 2);
        assert_eq!(fanout.events.receiver_count(), 2);
        for seat in seats.drain(SHARD_SIZE..) {
            fanout.leave(&seat);
        }
        assert_eq!(fanout.shard_count(), 1);
        // Its task ends at its next turn, dropping its subscription.
        for _ in 0..100 {
            if fanout.events.receiver_count() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(
            fanout.events.receiver_count(),
            1,
            "the retired shard's task ended"
        );
        fanout.publish(frame("still here"));
        assert_eq!(read_frame(&mut clients[0]).await, "still here");
        for seat in seats.drain(..) {
            fanout.leave(&seat);
        }
        assert_eq!(fanout.shard_count(), 1, "the last shard goes with the room");
    }

    /// Disconnect reaches only the named user's connections; the rest stay.
    #[tokio::test(flavor = "current_thread")]
    async fn disconnect_ends_only_the_named_users_connections() {
        use std::future::poll_fn;
        use std::task::Poll;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fanout = Fanout::new(Arc::default(), tokio::runtime::Handle::current());
        let (socket, _a) = socket_pair(&listener).await;
        let kicked = join(&fanout, socket, "kicked");
        let (socket, _b) = socket_pair(&listener).await;
        let stays = join(&fanout, socket, "stays");
        fanout.publish(NodeEvent::Room(RoomEvent::Disconnect {
            user_id: Arc::from("kicked"),
            reason: Some(Arc::from("spam")),
        }));
        let signal = poll_fn(|cx| kicked.outbox.poll_signal(cx)).await;
        assert_eq!(
            signal,
            super::super::outbox::Signal::End(RoomEnding::Disconnected(Some(Arc::from("spam"))))
        );
        // The shard has run (it woke the kicked session); the other one has nothing.
        let other = poll_fn(|cx| Poll::Ready(stays.outbox.poll_signal(cx))).await;
        assert!(other.is_pending());
    }
}

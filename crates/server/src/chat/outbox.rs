//! A chat connection's outgoing bytes. Two writers share the connection's socket:
//!
//! * the room's fan-out (`fanout.rs`) writes the MESSAGE/EVENT frames waiting for this
//!   connection with one non-blocking `write` (or `writev`) and never waits: no task wakes up
//!   per receiver, nothing is formatted per receiver;
//! * the session task (`session.rs`) writes its pongs and close frame through tungstenite,
//!   whose writes land here via [`OutboxWriter`]. Its ERROR answers go through the room's
//!   channel (`NodeEvent::Direct` in `fanout.rs`), so they keep their place behind earlier
//!   room frames.
//!
//! Whatever the socket does not take at once waits in one queue, in order, and everything
//! after it queues behind it, so frames never interleave. The session task drains the queue
//! when the socket becomes writable ([`Outbox::poll_signal`]), and is told about room events
//! that concern it (disconnect, deletion, shutdown) through the same signal, in the order the
//! room sent them.
//!
//! **Replay gate** (issue 22, `history/`). A connection to a room that replays its history
//! joins the fan-out first, then reads the history. Until it has read it, the room's frames
//! for it are held here with their history ids ([`Outbox::push_kept`]); then the kept frames
//! are queued first, followed by the held frames newer than the last kept one
//! ([`Outbox::start_after_replay`]), and from then on a frame at or below that id (one the
//! history read already showed, arriving late from the bus) is dropped. So the client gets the
//! history, then the live stream, with no gap and no duplicate at the seam. Only connections
//! created with [`Outbox::replaying`] pass through the gate: the fan-out checks one flag.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use super::socket::ClientSocket;
use super::ROOM_BACKLOG;
use crate::room::frame::{HistoryId, OutFrame};
use bytes::{Buf, Bytes};
use futures_util::task::AtomicWaker;
use tokio::io::AsyncWrite;

/// Buffers in one `writev`: a shard's batch (`fanout::BATCH`) or a slice of the queue.
const MAX_WRITE_SLICES: usize = 64;

/// Why the room wants a session to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEnding {
    /// DisconnectUser named this connection's user (close 1001 with the reason).
    Disconnected(Option<Arc<str>>),
    /// DeleteRoom: ERROR 404, then close.
    Deleted,
    /// The server is shutting down: close 1001.
    Shutdown,
    /// This node lost its bus subscription and may have missed room events: close 1001.
    EventsMissed,
    /// More than [`ROOM_BACKLOG`] frames waiting: the client stopped reading.
    TooSlow(&'static str),
    /// The socket failed (the client is gone).
    Broken,
}

/// What the session task must act on.
#[derive(Debug, PartialEq, Eq)]
pub enum Signal {
    End(RoomEnding),
    /// The (test-advanceable) clock moved: re-arm the expiry timer.
    ClockChanged,
    /// The queue could not be written out: the socket is full. The session starts its write
    /// timer; [`Signal::Drained`] stops it.
    Stalled,
    /// The queue was written out after a partial write or a stall.
    Drained,
}

pub struct Outbox {
    socket: Arc<ClientSocket>,
    user_id: Arc<str>,
    /// Room events numbered below this were sent before the connection joined: not for it.
    first_seq: u64,
    state: Mutex<State>,
    /// The session task, woken when there is a [`Signal`] for it.
    session: AtomicWaker,
    /// This connection's answers published into the room's channel and not yet handed to it
    /// by its shard: bounded, so one client's answers cannot fill the room's shared backlog
    /// (see [`Outbox::reserve_answer`]).
    answers_pending: AtomicUsize,
    /// Whether its room frames pass through the replay gate (see the module doc).
    replays: bool,
}

/// The replay gate's state (module doc).
#[derive(Default)]
enum Gate {
    /// Not a replaying connection, or one whose history holds nothing yet.
    #[default]
    Open,
    /// The history is being read: the room's frames wait here, with their history ids.
    Holding(Vec<(Option<HistoryId>, Bytes)>),
    /// The history up to this id was queued: frames at or below it are not sent again.
    After(HistoryId),
}

/// Whether a frame kept at `id` comes after the replayed history ending at `last`.
fn newer(id: Option<HistoryId>, last: HistoryId) -> bool {
    id.is_none_or(|id| id > last)
}

/// Answers of one connection that may wait in the room's channel at once. The channel holds
/// [`ROOM_BACKLOG`] events for everyone; a client within its frame budget (`session.rs`) never
/// has this many unless the room's fan-out is stuck.
pub const MAX_ANSWERS_PENDING: usize = ROOM_BACKLOG / 16;

#[derive(Default)]
struct State {
    /// False until the session starts, i.e. until the 101 is written: the handshake joins the
    /// room before that, and frames sent meanwhile wait in the queue.
    open: bool,
    /// The session is ending: no more room frames after its close frame.
    sealed: bool,
    queue: VecDeque<Bytes>,
    ending: Option<RoomEnding>,
    clock_changed: bool,
    /// The session has been told [`Signal::Stalled`] and not yet [`Signal::Drained`].
    stalled: bool,
    /// Something was queued since the session last looked (it must drain or report).
    must_drain: bool,
    /// Replayed frames queued on top of the room's backlog: the queue may hold that many more.
    replayed: usize,
    gate: Gate,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    pub fn new(socket: Arc<ClientSocket>, user_id: Arc<str>, first_seq: u64) -> Outbox {
        Outbox {
            socket,
            user_id,
            first_seq,
            state: Mutex::new(State::default()),
            session: AtomicWaker::new(),
            answers_pending: AtomicUsize::new(0),
            replays: false,
        }
    }

    /// A connection that first gets the room's history: its room frames are held until
    /// [`Outbox::start_after_replay`].
    pub fn replaying(socket: Arc<ClientSocket>, user_id: Arc<str>, first_seq: u64) -> Outbox {
        let outbox = Outbox {
            replays: true,
            ..Outbox::new(socket, user_id, first_seq)
        };
        outbox.state().gate = Gate::Holding(Vec::new());
        outbox
    }

    /// Whether the room's frames for this connection go through [`Outbox::push_kept`].
    pub fn replays(&self) -> bool {
        self.replays
    }

    /// The fan-out's write for a replaying connection (see the module doc).
    pub fn push_kept(&self, frames: &[&OutFrame]) -> usize {
        let mut state = self.state();
        let last = match &mut state.gate {
            Gate::Holding(held) => {
                if held.len() + frames.len() > ROOM_BACKLOG {
                    state.ending = Some(RoomEnding::TooSlow("fell too far behind the room"));
                    drop(state);
                    self.session.wake();
                    return 0;
                }
                held.extend(frames.iter().map(|f| (f.history(), f.wire().clone())));
                return frames.len();
            }
            Gate::After(last) => Some(*last),
            Gate::Open => None,
        };
        drop(state);
        let wanted: Vec<&Bytes> = frames
            .iter()
            .filter(|frame| last.is_none_or(|last| newer(frame.history(), last)))
            .map(|frame| frame.wire())
            .collect();
        if wanted.is_empty() {
            return 0;
        }
        self.push_frames(&wanted)
    }

    /// Queues the replayed history (`replay`, oldest first; `last`: the id of the last frame
    /// the history read returned, `None` if it was empty), then the frames held meanwhile
    /// that are newer, and opens the gate. Before the session opens the outbox: nothing has
    /// been written to the socket yet.
    pub fn start_after_replay(&self, replay: Vec<Bytes>, last: Option<HistoryId>) {
        let mut state = self.state();
        let gate = match last {
            Some(last) => Gate::After(last),
            None => Gate::Open,
        };
        let held = match std::mem::replace(&mut state.gate, gate) {
            Gate::Holding(held) => held,
            Gate::Open | Gate::After(_) => Vec::new(),
        };
        state.replayed = replay.len();
        state.queue.extend(replay);
        state.queue.extend(
            held.into_iter()
                .filter(|(id, _)| last.is_none_or(|last| newer(*id, last)))
                .map(|(_, frame)| frame),
        );
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The user id itself, shared (presence keeps it without another allocation).
    pub fn shared_user_id(&self) -> &Arc<str> {
        &self.user_id
    }

    /// Counts an answer about to be published into the room's channel; false (and nothing
    /// counted) if [`MAX_ANSWERS_PENDING`] are already on their way.
    pub fn reserve_answer(&self) -> bool {
        self.answers_pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                (pending < MAX_ANSWERS_PENDING).then_some(pending + 1)
            })
            .is_ok()
    }

    /// The shard handed over one of this connection's answers.
    pub fn answer_delivered(&self) {
        self.answers_pending.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the room event numbered `seq` was sent after this connection joined.
    pub fn wants(&self, seq: u64) -> bool {
        seq >= self.first_seq
    }

    /// The fan-out's write: the frames go to the socket now, in one write, if nothing is
    /// queued and the socket takes them; what it does not take is queued for the session task.
    /// Never waits. Returns how many frames were taken (none once the connection is ending).
    pub fn push_frames(&self, frames: &[&Bytes]) -> usize {
        let mut state = self.state();
        if state.sealed || state.ending.is_some() {
            return 0;
        }
        if !state.open || !state.queue.is_empty() {
            if state.queue.len() + frames.len() > ROOM_BACKLOG + state.replayed {
                state.ending = Some(RoomEnding::TooSlow("fell too far behind the room"));
                drop(state);
                self.session.wake();
                return 0;
            }
            state
                .queue
                .extend(frames.iter().map(|frame| (*frame).clone()));
            return frames.len();
        }
        let result = match frames {
            [frame] => self.socket.try_write(frame),
            _ => {
                // On the stack: this runs once per member per turn of a busy room.
                let mut slices = [io::IoSlice::new(&[]); MAX_WRITE_SLICES];
                let count = frames.len().min(MAX_WRITE_SLICES);
                for (slot, frame) in slices.iter_mut().zip(frames) {
                    *slot = io::IoSlice::new(frame);
                }
                self.socket.try_write_vectored(&slices[..count])
            }
        };
        let mut written = match result {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => {
                state.ending = Some(RoomEnding::Broken);
                drop(state);
                self.session.wake();
                return 0;
            }
        };
        // Queue what the socket did not take: the rest of a partly written frame, then the
        // frames after it.
        for frame in frames {
            if written >= frame.len() {
                written -= frame.len();
            } else {
                state.queue.push_back(frame.slice(written..));
                written = 0;
            }
        }
        // Over TLS the socket may have taken the frames and kept part of their records back.
        if !state.queue.is_empty() || self.socket.has_backlog() {
            state.must_drain = true;
            drop(state);
            self.session.wake();
        }
        frames.len()
    }

    /// The room asks the session to end (the first reason wins).
    pub fn end(&self, ending: RoomEnding) {
        {
            let mut state = self.state();
            if state.sealed || state.ending.is_some() {
                return;
            }
            state.ending = Some(ending);
        }
        self.session.wake();
    }

    pub fn clock_changed(&self) {
        self.state().clock_changed = true;
        self.session.wake();
    }

    /// The 101 is written: frames may go to the socket from now on (queued ones are written
    /// by the session's next [`Outbox::poll_signal`]).
    pub fn open(&self) {
        let mut state = self.state();
        state.open = true;
        state.must_drain = !state.queue.is_empty();
    }

    /// The session is ending: room frames are no longer taken, so nothing follows the close
    /// frame. Frames already queued are still written before it.
    pub fn seal(&self) {
        self.state().sealed = true;
    }

    /// For the session task's main loop: the next thing it must act on. Writes out the queue
    /// while the socket takes it.
    pub fn poll_signal(&self, cx: &mut Context<'_>) -> Poll<Signal> {
        // Registered first: a wake between the checks below and returning Pending is not lost.
        self.session.register(cx.waker());
        let mut state = self.state();
        if let Some(ending) = state.ending.take() {
            return Poll::Ready(Signal::End(ending));
        }
        if std::mem::take(&mut state.clock_changed) {
            return Poll::Ready(Signal::ClockChanged);
        }
        if !state.open
            || (state.queue.is_empty()
                && !state.stalled
                && !state.must_drain
                && !self.socket.has_backlog())
        {
            return Poll::Pending;
        }
        state.must_drain = false;
        match self.drain(&mut state, cx) {
            Poll::Ready(Ok(())) => {
                if std::mem::take(&mut state.stalled) {
                    Poll::Ready(Signal::Drained)
                } else {
                    Poll::Pending
                }
            }
            Poll::Ready(Err(_)) => Poll::Ready(Signal::End(RoomEnding::Broken)),
            // The socket is full; `drain` registered for writability.
            Poll::Pending if !state.stalled => {
                state.stalled = true;
                Poll::Ready(Signal::Stalled)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes the queue out while the socket takes it; `Pending` (registered with `cx` for
    /// writability) when it is full.
    fn drain(&self, state: &mut State, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !state.queue.is_empty() {
            // Several queued frames in one write: a backlog drains in few syscalls.
            let mut slices = [io::IoSlice::new(&[]); MAX_WRITE_SLICES];
            let mut count = 0;
            for (slot, chunk) in slices.iter_mut().zip(state.queue.iter()) {
                *slot = io::IoSlice::new(chunk);
                count += 1;
            }
            let written = match self.socket.poll_write_vectored(cx, &slices[..count]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            };
            let mut left = written;
            while left > 0 {
                let Some(front) = state.queue.front_mut() else {
                    break;
                };
                if front.len() <= left {
                    left -= front.len();
                    state.queue.pop_front();
                } else {
                    front.advance(left);
                    left = 0;
                }
            }
        }
        // The replayed history is out: the usual backlog applies again.
        state.replayed = 0;
        // Drained only once the socket has sent what it took (TLS records kept back).
        self.socket.poll_flush(cx)
    }

    /// The session's own write (through tungstenite): in order behind anything queued. Waits
    /// only when the queue is full, so a client that stops reading while sending requests
    /// runs into the session's write timeout.
    fn poll_write_own(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut state = self.state();
        if !state.queue.is_empty() {
            match self.drain(&mut state, cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if state.queue.len() >= ROOM_BACKLOG => return Poll::Pending,
                _ => {}
            }
        }
        if state.queue.is_empty() {
            match self.socket.poll_write(cx, buf) {
                Poll::Ready(Ok(n)) if n == buf.len() => return Poll::Ready(Ok(n)),
                Poll::Ready(Ok(n)) => state.queue.push_back(Bytes::copy_from_slice(&buf[n..])),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => state.queue.push_back(Bytes::copy_from_slice(buf)),
            }
        } else {
            state.queue.push_back(Bytes::copy_from_slice(buf));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush_own(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state();
        self.drain(&mut state, cx)
    }
}

/// The session's writes (tungstenite's `AsyncWrite`), through the outbox.
pub struct OutboxWriter(pub Arc<Outbox>);

impl AsyncWrite for OutboxWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_own(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush_own(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket itself closes when the session drops its handles.
        self.0.poll_flush_own(cx)
    }
}

/// A session's connection as tungstenite sees it: reads from hyper's upgraded stream (which
/// first returns any bytes read past the HTTP request), writes through the outbox.
pub struct SessionIo<R> {
    pub read: R,
    pub write: OutboxWriter,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for SessionIo<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for SessionIo<R> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    fn kept(n: u64) -> OutFrame {
        OutFrame::text(&format!("f{n}")).kept_at(HistoryId { high: 0, low: n })
    }

    /// Reads one small (≤ 125 bytes) text frame and returns its payload.
    async fn read_frame(client: &mut TcpStream) -> String {
        let mut header = [0u8; 2];
        client.read_exact(&mut header).await.unwrap();
        let mut payload = vec![0u8; usize::from(header[1] & 0x7f)];
        client.read_exact(&mut payload).await.unwrap();
        String::from_utf8(payload).unwrap()
    }

    /// Issue 22: frames that arrive while the history is read wait behind it, and a frame the
    /// history read already returned is not sent again, whether it was held or arrives late.
    #[tokio::test]
    async fn the_replay_gate_leaves_no_gap_and_no_duplicate() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        let mut client = client.unwrap();
        let outbox = Outbox::replaying(Arc::new(accepted.unwrap().0.into()), Arc::from("u"), 0);
        assert!(outbox.replays());
        // Live while the history is being read.
        assert_eq!(outbox.push_kept(&[&kept(2), &kept(3), &kept(4)]), 3);
        // The history read returned 1..=3.
        let replay = (1..=3).map(|n| kept(n).wire().clone()).collect();
        outbox.start_after_replay(replay, Some(HistoryId { high: 0, low: 3 }));
        // One the read had, arriving late from the bus; then a new one.
        outbox.push_kept(&[&kept(3), &kept(5)]);
        outbox.open();
        std::future::poll_fn(|cx| {
            let _ = outbox.poll_signal(cx);
            Poll::Ready(())
        })
        .await;
        outbox.push_kept(&[&kept(6)]);
        for expected in ["f1", "f2", "f3", "f4", "f5", "f6"] {
            assert_eq!(read_frame(&mut client).await, expected);
        }
    }
}

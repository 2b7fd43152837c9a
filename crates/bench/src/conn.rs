//! One benchmark connection: get in (mint + WebSocket handshake), then read deliveries and, for
//! senders, send on a fixed open-loop schedule, until told to stop; then close cleanly.
//!
//! Message contents are `"<sender>.<seq>.<send_ns>."` padded with `x` to `--message-bytes`,
//! where `sender` is the sender's index in its room, `seq` counts from 0 and `send_ns` is the
//! send instant in nanoseconds since the run's shared start [`Instant`]. Request IDs are
//! `"<seq>-<send_ns>"`, so an ERROR tells which message it refused and when it was sent.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::client::{generate_key, Request};
use tokio_tungstenite::tungstenite::http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use tokio_tungstenite::tungstenite::http::{HeaderValue, Method, Uri};

use crate::stats::{with_shard, Shard, MAX_LATENCY_NS};
use crate::target::{ConnState, Frame, Incoming, RoomRef, Target};
use crate::ws::{Event, WsClient};

/// When things happen, in nanoseconds since [`Shared::start`]. Set once every connection is in.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// Senders start here (the warm-up begins).
    pub send_from: u64,
    /// The measurement window `[measure_from, measure_to)`: deliveries of messages *sent* in it
    /// count towards latency and losses; deliveries *received* in it give the delivery rate.
    pub measure_from: u64,
    pub measure_to: u64,
}

/// What all connections share.
pub struct Shared {
    pub target: Target,
    pub start: std::time::Instant,
    /// Where connections go (`--ws-url` and `--sender-ws-url`, deduplicated); a connection's
    /// [`ConnSpec::ws`] indexes this.
    pub ws: Vec<WsTarget>,
    pub connect_limit: Semaphore,
    /// `--source-ips`: connection i binds to 127.0.0.(1 + i % source_ips) (1: no bind).
    pub source_ips: usize,
    pub connected: AtomicUsize,
    pub failed: AtomicUsize,
    pub timeline: OnceLock<Timeline>,
    /// `Some` once the timeline is set (wakes the senders).
    pub go: watch::Receiver<bool>,
    /// `true` when every connection must close.
    pub stop: watch::Receiver<bool>,
    pub message_bytes: usize,
    pub senders_per_room: usize,
    /// Interval between one sender's messages.
    pub send_interval: Duration,
    /// Gap between the first sends of consecutive senders of a room (spreads them out).
    pub sender_stagger: Duration,
    /// Offset of room r's schedule: r × this (rooms spread over one message interval).
    pub room_phase: Duration,
    pub close_timeout: Duration,
    /// Also measure send→arrival in the receiving socket (off with `--no-arrival-timestamps`).
    pub arrival_timestamps: bool,
    /// `--mint-ahead`: every connection mints its token first and counts itself here, then
    /// waits for `handshake_go` before its handshake, so the connect phase times handshakes
    /// with already-minted tokens only.
    pub mint_ahead: bool,
    pub minted: AtomicUsize,
    pub handshake_go: watch::Receiver<bool>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn instant_at(&self, ns: u64) -> Instant {
        Instant::from_std(self.start) + Duration::from_nanos(ns)
    }
}

/// One chat WebSocket URL: the address to connect to and what the upgrade request names,
/// resolved and parsed once for every connection that uses it.
#[derive(Debug, Clone)]
pub struct WsTarget {
    pub url: String,
    pub addr: SocketAddr,
    pub uri: Uri,
    pub host: HeaderValue,
}

impl WsTarget {
    /// A fresh upgrade request for this URL (what tungstenite's `into_client_request` makes
    /// of the URL string, without parsing it again): the target then adds what it needs.
    fn request(&self) -> Request {
        let mut request = Request::new(());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        if let Ok(key) = HeaderValue::try_from(generate_key()) {
            headers.insert(SEC_WEBSOCKET_KEY, key);
        }
        request
    }
}

/// Which connection this is.
#[derive(Debug, Clone)]
pub struct ConnSpec {
    pub index: usize,
    pub room_index: usize,
    /// Index into [`Shared::ws`].
    pub ws: usize,
    pub room: RoomRef,
    /// `Some(k)`: the k-th sender of its room.
    pub sender: Option<usize>,
}

/// What one connection saw; summed per room by the report.
#[derive(Debug, Default, Clone)]
pub struct ConnStats {
    pub room_index: usize,
    /// Index into [`Shared::ws`] (the URL this connection used).
    pub ws: usize,
    pub is_sender: bool,
    /// `Err(reason)` when the connection never got in.
    pub connect: Option<Result<Duration, String>>,
    /// Deliveries of messages sent in the measurement window.
    pub measured_deliveries: u64,
    /// Deliveries received in the measurement window (any send time).
    pub window_deliveries: u64,
    pub all_deliveries: u64,
    /// A sender's message arrived with a lower sequence number than one already seen.
    pub out_of_order: u64,
    /// The same sequence number again.
    pub duplicates: u64,
    /// Contents this generator did not write.
    pub foreign: u64,
    /// Senders: messages sent (all / in the window), refused by ERROR (all / in the window).
    pub sent: u64,
    pub sent_measured: u64,
    pub refused: u64,
    pub refused_measured: u64,
    /// Senders: own messages of the window echoed back.
    pub echoed_measured: u64,
    /// Senders: how far behind schedule sends went out (max, and the sum for a mean), ns.
    pub send_lag_max_ns: u64,
    pub send_lag_sum_ns: u64,
    /// ERROR frames by code.
    pub errors: Vec<(i64, u64)>,
    /// The server closed (or dropped) the connection before we asked: (code, reason, ns since start).
    pub server_close: Option<(u16, String, u64)>,
    /// Our close handshake did not complete in time.
    pub close_timed_out: bool,
}

impl ConnStats {
    fn error(&mut self, code: i64) {
        match self.errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((code, 1)),
        }
    }
}

/// Runs one connection from minting to close.
pub async fn run(shared: Arc<Shared>, spec: ConnSpec) -> ConnStats {
    let mut stats = ConnStats {
        room_index: spec.room_index,
        ws: spec.ws,
        is_sender: spec.sender.is_some(),
        ..ConnStats::default()
    };
    let mut state = ConnState::default();
    let mut prepared = None;
    if shared.mint_ahead {
        let request = {
            let _permit = shared.connect_limit.acquire().await;
            prepare(&shared, &spec).await
        };
        shared.minted.fetch_add(1, Ordering::Relaxed);
        match request {
            Ok(request) => prepared = Some(request),
            Err(e) => {
                stats.connect = Some(Err(e));
                shared.failed.fetch_add(1, Ordering::Relaxed);
                return stats;
            }
        }
        let mut go = shared.handshake_go.clone();
        if go.wait_for(|g| *g).await.is_err() {
            stats.connect = Some(Err("stopped before connecting".into()));
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return stats;
        }
    }
    let (ws, took) = {
        let _permit = shared.connect_limit.acquire().await;
        // Time the mint + handshake only, not the wait for a connect slot.
        let began = Instant::now();
        if *shared.stop.borrow() {
            stats.connect = Some(Err("stopped before connecting".into()));
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return stats;
        }
        // Then whatever the protocol needs before the connection counts as in (NATS: SUB).
        let joined = match connect(&shared, &spec, prepared.take()).await {
            Ok(mut ws) => shared
                .target
                .join(&mut ws, &spec.room, &mut state)
                .await
                .map(|()| ws),
            Err(e) => Err(e),
        };
        match joined {
            Ok(ws) => (ws, began.elapsed()),
            Err(e) => {
                stats.connect = Some(Err(e));
                shared.failed.fetch_add(1, Ordering::Relaxed);
                return stats;
            }
        }
    };
    stats.connect = Some(Ok(took));
    shared.connected.fetch_add(1, Ordering::Relaxed);
    if spec.sender.is_some() {
        state.publisher = shared.target.http_publisher(&spec.room);
    }
    session(&shared, &spec, ws, &mut state, &mut stats).await;
    // Publishes over HTTP that were refused or failed count as refused sends, like ERRORs.
    if let Some(publisher) = state.publisher.take() {
        for (request_id, code) in publisher.finish(shared.close_timeout).await {
            on_error(&shared, Some(request_id), code, &mut stats);
        }
    }
    stats
}

/// The upgrade request of one connection, with what its target adds (IVS: a minted token).
async fn prepare(shared: &Shared, spec: &ConnSpec) -> Result<Request, String> {
    let mut request = shared.ws[spec.ws].request();
    let user = format!("bench-{}", spec.index);
    shared
        .target
        .prepare_request(&spec.room, &user, spec.sender.is_some(), &mut request)
        .await
        .map_err(|e| format!("mint: {e:#}"))?;
    Ok(request)
}

/// Mint (IVS; unless `prepared` already holds the request), TCP connect, WebSocket
/// handshake. The URL was parsed and resolved once for all connections ([`WsTarget`]); what
/// is left per connection is what a client must do.
async fn connect(
    shared: &Shared,
    spec: &ConnSpec,
    prepared: Option<Request>,
) -> Result<WsClient, String> {
    let ws_target = &shared.ws[spec.ws];
    let request = match prepared {
        Some(request) => request,
        None => prepare(shared, spec).await?,
    };
    let stream = tcp_connect(ws_target.addr, shared.source_ips, spec.index)
        .await
        .map_err(|e| format!("tcp: {}", e.kind()))?;
    let _ = stream.set_nodelay(true);
    // Any odd seed will do for the masking keys; distinct per connection.
    let seed = (spec.index as u32).wrapping_mul(0x9E37_79B9);
    let mut ws = WsClient::connect(stream, &request, seed).await?;
    if shared.arrival_timestamps {
        ws.enable_arrival_timestamps()
            .map_err(|e| format!("arrival timestamps: {e}"))?;
    }
    Ok(ws)
}

/// Opens the TCP connection; with `source_ips` > 1 from 127.0.0.(1 + index % source_ips), so
/// that more connections than one address's ephemeral ports (about 28k) fit.
async fn tcp_connect(
    addr: SocketAddr,
    source_ips: usize,
    index: usize,
) -> std::io::Result<TcpStream> {
    if source_ips <= 1 || !addr.is_ipv4() {
        return TcpStream::connect(addr).await;
    }
    let source = Ipv4Addr::new(127, 0, 0, (1 + index % source_ips) as u8);
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(addr).await
}

async fn session(
    shared: &Shared,
    spec: &ConnSpec,
    mut ws: WsClient,
    state: &mut ConnState,
    stats: &mut ConnStats,
) {
    // Highest sequence number seen per sender of this room (u64::MAX = none yet).
    let mut last_seq = vec![u64::MAX; shared.senders_per_room];
    // Both waits are created once and stay registered (no per-frame re-registration).
    let mut stop = shared.stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    let mut go = shared.go.clone();
    let started = async move { go.wait_for(|g| *g).await.is_ok() };
    tokio::pin!(started);
    let mut waiting_for_go = spec.sender.is_some();
    // Senders: the next scheduled send (the sleep is re-armed, never re-created).
    let mut sending = false;
    let mut seq: u64 = 0;
    let mut schedule_ns: u64 = 0;
    let mut measure = (u64::MAX, u64::MAX);
    let next_send = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(next_send);
    // Send buffers: only senders need them.
    let (mut frame, mut content) = match spec.sender {
        Some(_) => (
            String::with_capacity(shared.message_bytes + 64),
            String::with_capacity(shared.message_bytes),
        ),
        None => (String::new(), String::new()),
    };
    let opcode = shared.target.opcode();
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            ok = &mut started, if waiting_for_go => {
                waiting_for_go = false;
                if ok {
                    if let (Some(timeline), Some(k)) = (shared.timeline.get(), spec.sender) {
                        measure = (timeline.measure_from, timeline.measure_to);
                        schedule_ns = timeline.send_from
                            + shared.sender_stagger.as_nanos() as u64 * k as u64
                            + shared.room_phase.as_nanos() as u64 * spec.room_index as u64;
                        sending = schedule_ns < timeline.measure_to;
                        next_send.as_mut().reset(shared.instant_at(schedule_ns));
                    }
                }
            }
            _ = &mut next_send, if sending => {
                let now_ns = shared.now_ns();
                let lag = now_ns.saturating_sub(schedule_ns);
                stats.send_lag_max_ns = stats.send_lag_max_ns.max(lag);
                stats.send_lag_sum_ns += lag;
                let k = spec.sender.unwrap_or(0);
                write_content(&mut content, k, seq, now_ns, shared.message_bytes);
                let request_id = format!("{seq}-{now_ns}");
                let sent = match &state.publisher {
                    Some(publisher) => publisher.publish(request_id, &content),
                    None => {
                        shared.target.encode_send(&spec.room, &request_id, &content, &mut frame);
                        ws.send(opcode, frame.as_bytes()).await.is_ok()
                    }
                };
                if !sent {
                    break;
                }
                stats.sent += 1;
                if now_ns >= measure.0 && now_ns < measure.1 {
                    stats.sent_measured += 1;
                }
                seq += 1;
                schedule_ns += shared.send_interval.as_nanos() as u64;
                if schedule_ns >= measure.1 {
                    sending = false;
                } else {
                    next_send.as_mut().reset(shared.instant_at(schedule_ns));
                }
            }
            read = ws.read() => {
                let ended = match read {
                    Ok(true) => None,
                    Ok(false) => Some("stream ended".to_string()),
                    Err(e) => Some(format!("error: {e}")),
                };
                if let Some(why) = ended {
                    stats.server_close = Some((1006, why, shared.now_ns()));
                    return;
                }
                match take_frames(shared, spec, state, &mut ws, &mut last_seq, stats) {
                    Ok(None) => {}
                    Ok(Some((code, reason))) => {
                        stats.server_close = Some((code, reason, shared.now_ns()));
                        // Our echo is queued: send it, then the server ends the stream.
                        let _ = ws.flush().await;
                        drain_until_end(&mut ws, shared.close_timeout).await;
                        return;
                    }
                    Err(e) => {
                        stats.server_close = Some((1006, format!("error: {e}"), shared.now_ns()));
                        return;
                    }
                }
                // Pongs and NATS answers, if any.
                if ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    // Our close: send the close frame, then read (counting late deliveries) until the server's
    // close arrives and the stream ends.
    let closing = async {
        if ws.close().await.is_err() {
            return;
        }
        // No answers once closing (NATS: a PING then goes unanswered, harmlessly).
        while let Ok(true) = ws.read().await {
            if take_frames(shared, spec, state, &mut ws, &mut last_seq, stats).is_err() {
                return;
            }
        }
    };
    if tokio::time::timeout(shared.close_timeout, closing)
        .await
        .is_err()
    {
        stats.close_timed_out = true;
    }
}

/// Reads until the server ends the stream (or `limit` passes), ignoring what comes.
async fn drain_until_end(ws: &mut WsClient, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        while let Ok(true) = ws.read().await {
            while let Ok(Some(_)) = ws.next_event() {}
        }
    })
    .await;
}

/// Accounts for every complete frame that has been read. They all count as received now:
/// one clock reading and one lock of this thread's statistics per read, not per frame.
/// Returns the server's close (code, reason) if one came; answers the server asked for
/// (NATS: `PONG`) are queued on `ws`.
fn take_frames(
    shared: &Shared,
    spec: &ConnSpec,
    state: &mut ConnState,
    ws: &mut WsClient,
    last_seq: &mut [u64],
    stats: &mut ConnStats,
) -> Result<Option<(u16, String)>, String> {
    let mut at = Received {
        now_ns: shared.now_ns(),
        wall_ns: crate::wall_clock_ns(),
        arrival_ns: None,
        server_ns: None,
    };
    at.arrival_ns = ws.arrival_unix_ns().map(|t| at.on_our_clock(t));
    with_shard(|shard| loop {
        let answer = match ws.next_event()? {
            None => return Ok(None),
            Some(Event::Close { code, reason }) => return Ok(Some((code, reason))),
            Some(Event::Text(payload)) => match std::str::from_utf8(ws.payload(&payload)) {
                Ok(text) => on_frame(
                    shared,
                    spec,
                    state,
                    Frame::Text(text),
                    at,
                    last_seq,
                    stats,
                    shard,
                ),
                Err(_) => {
                    stats.foreign += 1;
                    None
                }
            },
            Some(Event::Binary(payload)) => {
                let frame = Frame::Binary(ws.payload(&payload));
                on_frame(shared, spec, state, frame, at, last_seq, stats, shard)
            }
        };
        if let Some(answer) = answer {
            ws.queue(shared.target.opcode(), answer.as_bytes());
        }
    })
}

/// `"<sender>.<seq>.<send_ns>."` + `x` padding up to `bytes`.
pub fn write_content(out: &mut String, sender: usize, seq: u64, send_ns: u64, bytes: usize) {
    use std::fmt::Write;
    out.clear();
    let _ = write!(out, "{sender}.{seq}.{send_ns}.");
    while out.len() < bytes {
        out.push('x');
    }
}

/// `(sender, seq, send_ns)` from a content written by [`write_content`].
pub fn read_content(content: &str) -> Option<(usize, u64, u64)> {
    let mut parts = content.splitn(4, '.');
    let sender = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let send_ns = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((sender, seq, send_ns))
}

/// Accounts for everything one incoming frame carries; returns the answer the server asked
/// for, if any (NATS: `PONG`).
#[allow(clippy::too_many_arguments)]
fn on_frame(
    shared: &Shared,
    spec: &ConnSpec,
    state: &mut ConnState,
    frame: Frame<'_>,
    at: Received,
    last_seq: &mut [u64],
    stats: &mut ConnStats,
    shard: &mut Shard,
) -> Option<&'static str> {
    let mut reply = None;
    shared
        .target
        .classify(state, frame, &mut |incoming| match incoming {
            Incoming::Delivery {
                content,
                server_time,
            } => {
                let at = Received {
                    server_ns: server_time.map(|t| at.on_our_clock(t)),
                    ..at
                };
                on_delivery(shared, spec, &content, at, last_seq, stats, shard)
            }
            Incoming::Error { request_id, code } => on_error(shared, request_id, code, stats),
            Incoming::Reply(answer) => reply = Some(answer),
            Incoming::Other => {}
        });
    reply
}

fn on_delivery(
    shared: &Shared,
    spec: &ConnSpec,
    content: &str,
    at: Received,
    last_seq: &mut [u64],
    stats: &mut ConnStats,
    shard: &mut Shard,
) {
    let now_ns = at.now_ns;
    stats.all_deliveries += 1;
    let Some((sender, seq, send_ns)) = read_content(content) else {
        stats.foreign += 1;
        shard.frames += 1;
        return;
    };
    let (measure_from, measure_to) = shared
        .timeline
        .get()
        .map_or((u64::MAX, u64::MAX), |t| (t.measure_from, t.measure_to));
    if now_ns >= measure_from && now_ns < measure_to {
        stats.window_deliveries += 1;
    }
    if let Some(last) = last_seq.get_mut(sender) {
        if *last == u64::MAX || seq > *last {
            *last = seq;
        } else if seq == *last {
            stats.duplicates += 1;
        } else {
            stats.out_of_order += 1;
        }
    } else {
        stats.foreign += 1;
    }
    let measured = send_ns >= measure_from && send_ns < measure_to;
    if measured {
        stats.measured_deliveries += 1;
        if spec.sender == Some(sender) {
            stats.echoed_measured += 1;
        }
    }
    let latency = now_ns.saturating_sub(send_ns).clamp(1, MAX_LATENCY_NS);
    shard.frames += 1;
    if measured {
        let _ = shard.latency.record(latency);
        if let Some(arrival_ns) = at.arrival_ns {
            let arrival = arrival_ns.saturating_sub(send_ns).clamp(1, MAX_LATENCY_NS);
            let _ = shard.arrival.record(arrival);
        }
        if let Some(server_ns) = at.server_ns {
            let accepted = server_ns.saturating_sub(send_ns).clamp(1, MAX_LATENCY_NS);
            let _ = shard.accepted.record(accepted);
        }
    }
}

/// When a delivery was received: read by this process (`now_ns`) and, with arrival
/// timestamps, in the socket (`arrival_ns`); and when the server stamped it (`server_ns`, IVS
/// Chat's `SendTime`); all on [`Shared::now_ns`]'s clock.
#[derive(Debug, Clone, Copy)]
struct Received {
    now_ns: u64,
    /// The wall clock read together with `now_ns`.
    wall_ns: u64,
    arrival_ns: Option<u64>,
    server_ns: Option<u64>,
}

impl Received {
    /// A wall-clock time (Unix ns: the kernel's receive stamp, a server's `SendTime`) on
    /// `now_ns`'s clock: `now_ns` minus how long before `wall_ns` it was. Both clocks are
    /// read at this read, so a wall clock slewed or stepped during the run does not matter.
    fn on_our_clock(&self, unix_ns: u64) -> u64 {
        self.now_ns
            .saturating_sub(self.wall_ns.saturating_sub(unix_ns))
    }
}

fn on_error(shared: &Shared, request_id: Option<String>, code: i64, stats: &mut ConnStats) {
    stats.error(code);
    if let Some(send_ns) = request_id
        .as_deref()
        .and_then(|r| r.split_once('-'))
        .and_then(|(_, ns)| ns.parse::<u64>().ok())
    {
        stats.refused += 1;
        if let Some(t) = shared.timeline.get() {
            if send_ns >= t.measure_from && send_ns < t.measure_to {
                stats.refused_measured += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wall-clock stamps land on the generator's clock by their distance from the wall-clock
    /// reading taken with `now_ns`; one from the "future" (another clock's rounding) is now.
    #[test]
    fn wall_clock_stamps_map_onto_our_clock() {
        let at = Received {
            now_ns: 1_000_000,
            wall_ns: 1_700_000_000_000_000_000,
            arrival_ns: None,
            server_ns: None,
        };
        assert_eq!(at.on_our_clock(1_700_000_000_000_000_000 - 250), 999_750);
        assert_eq!(at.on_our_clock(1_700_000_000_000_000_000 + 5), 1_000_000);
        assert_eq!(at.on_our_clock(0), 0);
    }

    #[test]
    fn content_round_trips_at_the_requested_size() {
        let mut s = String::new();
        write_content(&mut s, 7, 12345, 987_654_321_000, 200);
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
        assert_eq!(read_content(&s), Some((7, 12345, 987_654_321_000)));
        write_content(&mut s, 1, 2, 3, 1);
        assert_eq!(read_content(&s), Some((1, 2, 3)));
        assert_eq!(read_content("hello"), None);
    }

    #[tokio::test]
    async fn source_addresses_are_spread() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for (source_ips, index, expected) in [(1, 5, [127, 0, 0, 1]), (3, 4, [127, 0, 0, 2])] {
            let stream = tcp_connect(addr, source_ips, index).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip(), std::net::IpAddr::from(expected));
            assert_eq!(stream.local_addr().unwrap().ip(), peer.ip());
        }
    }

    /// The prebuilt request is what tungstenite makes of the URL (but the random key).
    #[test]
    fn upgrade_requests_are_tungstenites() {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let node = WsTarget {
            url: "ws://127.0.0.1:2/x".into(),
            addr: "127.0.0.1:2".parse().unwrap(),
            uri: "ws://127.0.0.1:2/x".parse().unwrap(),
            host: HeaderValue::from_static("127.0.0.1:2"),
        };
        let ours = node.request();
        let theirs = node.url.as_str().into_client_request().unwrap();
        assert_eq!(ours.method(), theirs.method());
        assert_eq!(ours.uri(), theirs.uri());
        assert_eq!(ours.version(), theirs.version());
        assert_eq!(ours.headers().len(), theirs.headers().len());
        for (name, value) in theirs.headers() {
            if name == SEC_WEBSOCKET_KEY {
                assert_eq!(ours.headers()[name].len(), value.len());
                assert_ne!(ours.headers()[name], node.request().headers()[name]);
            } else {
                assert_eq!(&ours.headers()[name], value, "{name}");
            }
        }
    }
}

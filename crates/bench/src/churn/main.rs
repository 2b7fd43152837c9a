//! `ivschat-churn`: does the server's memory come back after connections come and go?
//!
//! It creates one room (or `--rooms`), then runs `--cycles` cycles of `--connections`
//! connections each. A connection mints its own single-use token (CreateChatToken, signed per
//! request, as `ivschat-bench --mint fast` does), opens the WebSocket, sends `--messages`
//! SEND_MESSAGE requests and waits for the answer to each (its own MESSAGE back, or an ERROR
//! such as 429 when the room's rate is spent: both are requests the server handled), then
//! closes (close frame, wait for the server's close and the end of the stream). At most
//! `--concurrency` connections are in flight at once, so the room always holds a few hundred.
//!
//! After each cycle, once the server's open descriptors are back to where they were before
//! the run (every socket of the cycle closed on its side too), it reads the server's `VmRSS`
//! from `/proc/<pid>/status` and prints a line, with `RssAnon` (the heap: what the allocator
//! keeps or gives back; `RssFile`, the binary's pages read in, is the rest). After the last cycle it stays idle for
//! `--idle` seconds, reading `VmRSS` every `--idle-sample` seconds: memory kept for a while on
//! purpose (the single-use token set holds each token until it expires, 60 s) must be gone
//! by then. The summary compares the end of the run with the first cycle that reached
//! `--reference` connections, and the end of the idle time with the idle server before the run.
//!
//! Only loopback addresses are contacted; every wait is bounded.

#[allow(dead_code)]
#[path = "../loopback.rs"]
mod loopback;
#[allow(dead_code)]
#[path = "../target/mint.rs"]
mod mint;
#[allow(dead_code)]
#[path = "../proc_read.rs"]
mod proc_read;
#[allow(dead_code)]
#[path = "../signer.rs"]
mod signer;
#[allow(dead_code)]
#[path = "../ws.rs"]
mod ws;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
use clap::Parser;
use serde::Serialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::client::{generate_key, Request};
use tokio_tungstenite::tungstenite::http::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use tokio_tungstenite::tungstenite::http::{HeaderValue, Method, Uri};

use loopback::loopback_address;
use mint::FastMint;
use proc_read::status_value;
use signer::SigningIdentity;
use ws::{Event, WsClient};

/// Opens and closes chat connections in cycles and reports the server's memory after each.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Control-plane and chat endpoint (must resolve to a loopback address).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// The server process whose memory and open descriptors are read from /proc.
    #[arg(long)]
    server_pid: u32,
    /// Connections per cycle.
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// Cycles (connections in all: cycles × connections).
    #[arg(long, default_value_t = 80)]
    cycles: usize,
    /// Connections in flight (minting, open or closing) at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// SEND_MESSAGE requests per connection (each waits for its answer).
    #[arg(long, default_value_t = 2)]
    messages: usize,
    /// Rooms; connection i joins room i % rooms.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Source addresses: connection i binds to 127.0.0.(1 + i % N), so that a million
    /// connections never run short of ephemeral ports (1: no bind).
    #[arg(long, default_value_t = 8)]
    source_ips: usize,
    /// The cycle whose memory is the reference: the first that reaches this many connections.
    #[arg(long, default_value_t = 50_000)]
    reference: u64,
    /// Seconds idle after the last cycle.
    #[arg(long, default_value_t = 120)]
    idle: u64,
    /// Seconds between memory readings while idle.
    #[arg(long, default_value_t = 10)]
    idle_sample: u64,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "test", env = "IVSCHAT_BENCH_ACCESS_KEY")]
    access_key: String,
    #[arg(
        long,
        default_value = "test",
        env = "IVSCHAT_BENCH_SECRET_KEY",
        hide_env_values = true
    )]
    secret_key: String,
    /// Write the readings as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What one connection's life came to.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    /// Requests answered by the room's MESSAGE / by an ERROR.
    delivered: AtomicU64,
    refused: AtomicU64,
    /// The first failure's reason, to show.
    first_error: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        first.get_or_insert(why);
    }
}

struct Shared {
    mint: FastMint,
    addr: SocketAddr,
    host: HeaderValue,
    rooms: Vec<String>,
    messages: usize,
    source_ips: usize,
    tally: Tally,
}

#[derive(Debug, Clone, Serialize)]
struct Reading {
    /// Connections opened and closed so far.
    connections: u64,
    /// Seconds since the first cycle started.
    at_s: f64,
    rss_kib: u64,
    /// `RssAnon`: the heap and stacks, what the allocator keeps or gives back.
    anon_kib: u64,
    /// `RssFile`: pages of the binary (and other files) read in; they grow with the code paths
    /// the run used, whatever the allocator does, and the kernel may drop them.
    file_kib: u64,
    fds: u64,
}

#[derive(Debug, Serialize)]
struct Cycle {
    cycle: usize,
    ok: u64,
    failed: u64,
    /// Connections per second over the cycle (mint, open, messages, close).
    rate: f64,
    /// Seconds from the end of the cycle's last connection until the server's descriptors
    /// were back to the baseline (`null`: not within 30 s).
    settle_s: Option<f64>,
    reading: Reading,
}

#[derive(Debug, Serialize)]
struct Report {
    tool: String,
    args: String,
    baseline: Reading,
    cycles: Vec<Cycle>,
    idle: Vec<Reading>,
    /// The end of the run against the first cycle that reached `--reference` connections.
    growth_after_reference_pct: Option<f64>,
    /// The end of the idle time against the idle server before the run.
    idle_over_baseline_pct: Option<f64>,
    failed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ivschat-churn: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(4),
        Err(e) => {
            eprintln!("ivschat-churn: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn reading(pid: u32, connections: u64, start: Instant) -> Result<Reading> {
    Ok(Reading {
        connections,
        at_s: start.elapsed().as_secs_f64(),
        rss_kib: status_value(pid, "VmRSS:")
            .ok_or_else(|| anyhow!("server {pid} is gone (no /proc/{pid}/status)"))?,
        anon_kib: status_value(pid, "RssAnon:").unwrap_or(0),
        file_kib: status_value(pid, "RssFile:").unwrap_or(0),
        fds: open_fds(pid),
    })
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// Waits (at most 30 s) until the server has closed the cycle's sockets: it holds no more
/// descriptors than `limit` (the baseline plus the mint pool's keep-alive connections, which
/// stay open between cycles), and the count held still for 100 ms. Returns how long that took.
async fn settle(pid: u32, limit: u64) -> Option<Duration> {
    let began = Instant::now();
    let mut last = u64::MAX;
    while began.elapsed() < Duration::from_secs(30) {
        let fds = open_fds(pid);
        if fds <= limit && fds == last {
            return Some(began.elapsed());
        }
        last = fds;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn pct(now: u64, then: u64) -> Option<f64> {
    (then > 0).then(|| 100.0 * (now as f64 - then as f64) / then as f64)
}

async fn run(args: Args) -> Result<bool> {
    ensure!(args.connections >= 1 && args.cycles >= 1, "nothing to do");
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    ensure!(args.rooms >= 1, "--rooms must be at least 1");
    ensure!(
        (1..=254).contains(&args.source_ips),
        "--source-ips must be 1..=254"
    );
    let authority = args
        .endpoint
        .strip_prefix("http://")
        .context("--endpoint must start with http://")?
        .trim_end_matches('/');
    let addr = loopback_address(authority, 80).await?;
    let pid = args.server_pid;
    ensure!(
        status_value(pid, "VmRSS:").is_some(),
        "--server-pid {pid}: no such process (or /proc unreadable)"
    );
    let _ = rlimit::increase_nofile_limit(args.concurrency as u64 * 2 + 512);

    let sdk = aws_sdk_ivschat::Client::from_conf(
        aws_sdk_ivschat::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(args.region.clone()))
            .endpoint_url(format!("http://{authority}"))
            .credentials_provider(Credentials::new(
                args.access_key.clone(),
                args.secret_key.clone(),
                None,
                None,
                "ivschat-churn",
            ))
            .build(),
    );
    let mut rooms = Vec::new();
    for i in 0..args.rooms {
        let out = sdk
            .create_room()
            .name(format!("churn-{}-{i}", std::process::id()))
            .maximum_message_rate_per_second(100)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "CreateRoom: {}",
                    aws_sdk_ivschat::error::DisplayErrorContext(e)
                )
            })?;
        rooms.push(out.arn.context("CreateRoom returned no arn")?);
    }
    let shared = Arc::new(Shared {
        mint: FastMint::new(
            addr,
            authority,
            SigningIdentity {
                access_key: args.access_key.clone(),
                secret_key: args.secret_key.clone(),
                region: args.region.clone(),
            },
        )?,
        addr,
        host: HeaderValue::from_str(authority).context("the endpoint's host")?,
        rooms,
        messages: args.messages,
        source_ips: args.source_ips,
        tally: Tally::default(),
    });

    // The baseline: the server with its room(s), before any chat connection. The mint pool's
    // keep-alive connections are open from the first cycle on: one mint first, so that they
    // count in the baseline's descriptors too.
    let start = Instant::now();
    shared
        .mint
        .mint(&shared.rooms[0], "churn-warmup", true)
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = reading(pid, 0, start)?;
    println!(
        "baseline: VmRSS {} KiB (RssAnon {}, RssFile {}), {} fds (room(s) created, no chat connection yet)",
        baseline.rss_kib, baseline.anon_kib, baseline.file_kib, baseline.fds
    );
    println!(
        "{:>6} {:>10} {:>8} {:>7} {:>9} {:>8} {:>12} {:>9} {:>6}",
        "cycle", "conns", "failed", "conn/s", "settle_s", "time_s", "VmRSS_KiB", "anon_KiB", "fds"
    );

    let limit = Arc::new(Semaphore::new(args.concurrency));
    let mut cycles = Vec::with_capacity(args.cycles);
    let mut total: u64 = 0;
    for cycle in 0..args.cycles {
        let began = Instant::now();
        let failed_before = shared.tally.failed.load(Ordering::Relaxed);
        let ok_before = shared.tally.ok.load(Ordering::Relaxed);
        let mut tasks = Vec::with_capacity(args.connections);
        for i in 0..args.connections {
            let index = total as usize + i;
            let permit = limit.clone().acquire_owned().await?;
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                // Bounded: a connection that hangs counts as failed and the cycle goes on.
                match tokio::time::timeout(Duration::from_secs(30), connection(&shared, index))
                    .await
                {
                    Ok(Ok(())) => {
                        shared.tally.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => shared.tally.fail(e),
                    Err(_) => shared.tally.fail("timed out after 30 s".into()),
                }
                drop(permit);
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
        let rate = args.connections as f64 / began.elapsed().as_secs_f64();
        // The mint pool holds at most one keep-alive connection per connection in flight.
        let settled = settle(pid, baseline.fds + args.concurrency as u64).await;
        total += args.connections as u64;
        let r = reading(pid, total, start)?;
        let ok = shared.tally.ok.load(Ordering::Relaxed) - ok_before;
        let failed = shared.tally.failed.load(Ordering::Relaxed) - failed_before;
        println!(
            "{:>6} {:>10} {:>8} {:>7.0} {:>9} {:>8.1} {:>12} {:>9} {:>6}",
            cycle + 1,
            total,
            failed,
            rate,
            settled.map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64())),
            r.at_s,
            r.rss_kib,
            r.anon_kib,
            r.fds
        );
        cycles.push(Cycle {
            cycle: cycle + 1,
            ok,
            failed,
            rate,
            settle_s: settled.map(|d| d.as_secs_f64()),
            reading: r,
        });
    }
    if let Some(e) = shared.tally.first_error.lock().ok().and_then(|e| e.clone()) {
        println!("first failure: {e}");
    }
    println!(
        "requests answered: {} by the room's MESSAGE, {} by an ERROR (the room's 100/s spent)",
        shared.tally.delivered.load(Ordering::Relaxed),
        shared.tally.refused.load(Ordering::Relaxed)
    );

    let mut idle = Vec::new();
    let idle_start = Instant::now();
    let step = Duration::from_secs(args.idle_sample.max(1));
    while idle_start.elapsed() + step <= Duration::from_secs(args.idle) {
        tokio::time::sleep(step).await;
        let r = reading(pid, total, start)?;
        println!(
            "idle {:>4.0} s: VmRSS {} KiB (RssAnon {}, RssFile {}), {} fds",
            idle_start.elapsed().as_secs_f64(),
            r.rss_kib,
            r.anon_kib,
            r.file_kib,
            r.fds
        );
        idle.push(r);
    }

    let end = cycles.last().map(|c| c.reading.rss_kib).unwrap_or(0);
    let reference = cycles
        .iter()
        .find(|c| c.reading.connections >= args.reference)
        .map(|c| c.reading.clone());
    let growth = reference.as_ref().and_then(|r| pct(end, r.rss_kib));
    let after_idle = idle.last().map_or(end, |r| r.rss_kib);
    let over_baseline = pct(after_idle, baseline.rss_kib);
    println!();
    println!(
        "baseline {} KiB | after {} connections {} KiB | after {} connections {} KiB ({}) | after {} s idle {} KiB ({} over the baseline)",
        baseline.rss_kib,
        reference.as_ref().map_or(0, |r| r.connections),
        reference.as_ref().map_or(0, |r| r.rss_kib),
        total,
        end,
        growth.map_or("-".into(), |g| format!("{g:+.1}% since then")),
        args.idle,
        after_idle,
        over_baseline.map_or("-".into(), |g| format!("{g:+.1}%")),
    );
    let failed = shared.tally.failed.load(Ordering::Relaxed);
    if let Some(path) = &args.json {
        let report = Report {
            tool: format!("ivschat-churn {}", env!("CARGO_PKG_VERSION")),
            args: std::env::args().collect::<Vec<_>>().join(" "),
            baseline,
            cycles,
            idle,
            growth_after_reference_pct: growth,
            idle_over_baseline_pct: over_baseline,
            failed,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(failed == 0)
}

/// One connection's life: mint, open, `messages` requests each answered, close.
async fn connection(shared: &Shared, index: usize) -> Result<(), String> {
    let room = &shared.rooms[index % shared.rooms.len()];
    let token = shared
        .mint
        .mint(room, &format!("churn-{index}"), true)
        .await
        .map_err(|e| format!("mint: {e:#}"))?;
    let request = upgrade_request(&shared.host, &token)?;
    let stream = tcp_connect(shared.addr, shared.source_ips, index)
        .await
        .map_err(|e| format!("tcp: {}", e.kind()))?;
    let _ = stream.set_nodelay(true);
    let seed = (index as u32).wrapping_mul(0x9E37_79B9);
    let mut ws = WsClient::connect(stream, &request, seed).await?;
    for k in 0..shared.messages {
        let request_id = format!("{index}-{k}");
        let frame = format!(
            r#"{{"Action":"SEND_MESSAGE","RequestId":"{request_id}","Content":"churn {index} {k}"}}"#
        );
        ws.send(ws::OP_TEXT, frame.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let needle = format!(r#""RequestId":"{request_id}""#);
        let answer = wait_for(&mut ws, &needle).await?;
        let counter = if answer {
            &shared.tally.delivered
        } else {
            &shared.tally.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    ws.close().await.map_err(|e| format!("close: {e}"))?;
    // The server answers with its close frame, then ends the stream.
    loop {
        match ws.read().await {
            Ok(true) => while let Ok(Some(_)) = ws.next_event() {},
            Ok(false) => return Ok(()),
            Err(e) => return Err(format!("closing: {e}")),
        }
    }
}

/// Reads until the frame carrying `needle` (this request's id) comes: `true` for a MESSAGE,
/// `false` for an ERROR. Other connections' messages in the room are skipped.
async fn wait_for(ws: &mut WsClient, needle: &str) -> Result<bool, String> {
    loop {
        while let Some(event) = ws.next_event()? {
            match event {
                Event::Text(payload) => {
                    let text = ws.payload(&payload);
                    if memchr::memmem::find(text, needle.as_bytes()).is_some() {
                        return Ok(memchr::memmem::find(text, b"\"Type\":\"ERROR\"").is_none());
                    }
                }
                Event::Binary(_) => {}
                Event::Close { code, reason } => {
                    return Err(format!("the server closed ({code} {reason})"))
                }
            }
        }
        ws.flush().await.map_err(|e| format!("pong: {e}"))?;
        match ws.read().await {
            Ok(true) => {}
            Ok(false) => return Err("the stream ended before the answer".into()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// The upgrade request the SDKs send: the token as the only subprotocol.
fn upgrade_request(host: &HeaderValue, token: &str) -> Result<Request, String> {
    let mut request = Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = Uri::from_static("/");
    let headers = request.headers_mut();
    headers.insert(HOST, host.clone());
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    headers.insert(
        SEC_WEBSOCKET_KEY,
        HeaderValue::try_from(generate_key()).map_err(|e| e.to_string())?,
    );
    headers.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::try_from(token).map_err(|_| "the token is not a header value".to_string())?,
    );
    Ok(request)
}

/// With `source_ips` > 1, from 127.0.0.(1 + index % source_ips).
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

/// The wall clock in nanoseconds, which `ws.rs`'s tests stamp frames with (the main generator
/// defines the same function).
#[cfg(test)]
fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

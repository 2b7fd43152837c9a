//! `ivschat-bench`: opens N WebSocket connections over M rooms of a chat server on this
//! machine, sends at a fixed rate per room, and reports deliveries per second, send→receive
//! latency, losses and the server's resident memory per connection.
//!
//! A run: create the rooms → mint a token and connect each connection (bounded concurrency) →
//! wait until all are in → warm up → measure → drain → close every connection cleanly →
//! delete the rooms → print the table (and `--json`). Every phase is bounded in time and a
//! watchdog ends the process if anything hangs. Only loopback addresses are ever contacted.

mod conn;
mod loopback;
mod proc_read;
mod report;
mod rfc3339;
mod room_tags;
mod signer;
mod stats;
mod target;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};

use conn::{ConnSpec, Shared, Timeline, WsTarget};
use loopback::loopback_address;
use report::{FdSamples, MemorySamples, RunInfo};
use stats::proc::{self as procfs, CpuSnapshot};
use target::{MintMode, ParseMode, Target, TargetConfig, TargetKind};

/// Load generator for ivschat-server (fan-out throughput, latency, losses, memory).
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None, args_override_self = true)]
pub struct Args {
    /// Server protocol to speak.
    #[arg(long, value_enum, default_value = "ivschat")]
    target: TargetKind,
    /// Control-plane endpoint (must resolve to a loopback address).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// Chat WebSocket URL(s), comma-separated (several nodes of a cluster): the receiving
    /// connections of every room are spread over them round-robin (default: ws:// on the
    /// endpoint's host and port).
    #[arg(long, value_delimiter = ',', value_name = "URL[,URL…]")]
    ws_url: Vec<String>,
    /// Where the sending connections go, comma-separated, spread the same way (default: the
    /// `--ws-url` list). E.g. senders on node 1, receivers on nodes 2 and 3.
    #[arg(long, value_delimiter = ',', value_name = "URL[,URL…]")]
    sender_ws_url: Vec<String>,
    /// How IVS connections get their chat token (CreateChatToken). Both send the same request
    /// and the server verifies a full SigV4 signature either way; `fast` costs the generator a
    /// fraction of the SDK's CPU, so a connect-rate run measures the server, not the generator.
    #[arg(long, value_enum, default_value = "fast")]
    mint: MintMode,
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
    /// `--target sockudo`: the Pusher app's id, key and secret (the server must know the same
    /// app; bench/run-compare.sh configures it). Senders publish through its HTTP API at
    /// `--endpoint`.
    #[arg(long, default_value = "bench")]
    pusher_app_id: String,
    #[arg(long, default_value = "bench-key")]
    pusher_key: String,
    #[arg(long, default_value = "bench-secret", hide_default_value = true)]
    pusher_secret: String,
    /// WebSocket connections in total (senders included), spread evenly over the rooms.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Connections per room that send (all connections receive).
    #[arg(long, default_value_t = 1)]
    senders_per_room: usize,
    /// Messages per second per room, spread over the room's senders (≤ 100; ≤ 10 per sender).
    #[arg(long, default_value_t = 10)]
    rate_per_room: u32,
    /// A tag put on every room the run creates, `KEY=VALUE` (repeatable; IVS only): e.g.
    /// `ivschat-server:history=100` to measure a room with our extensions on.
    #[arg(long = "room-tag", value_name = "KEY=VALUE", value_parser = room_tags::parse_room_tag)]
    room_tags: Vec<(String, String)>,
    /// Size of each message's content in bytes (48..=500).
    #[arg(long, default_value_t = 200)]
    message_bytes: usize,
    /// Length of the measurement window.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Sending before the measurement window starts.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Longest wait for in-flight deliveries after the last send.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    drain: Duration,
    /// Connections minting/handshaking at the same time.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// Mint every connection's token before the connect phase, so that the connect time and
    /// rate count TCP connects and WebSocket handshakes with already-minted tokens only (the
    /// handshake cost compared with the floor's; issue 24's connect-rate target).
    #[arg(long)]
    mint_ahead: bool,
    /// Source addresses to spread connections over: connection i binds to
    /// 127.0.0.(1 + i % N) before connecting, so more than one address's ~28k ephemeral
    /// ports' worth of connections fit (1: no bind).
    #[arg(long, default_value_t = 1)]
    source_ips: usize,
    /// Longest time for all connections to get in before the run is abandoned.
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Server process(es) to sample (VmRSS, open fds, threads and CPU from /proc); with
    /// several (the nodes of a cluster) the figures are their sums, CPU also per process.
    #[arg(long, value_delimiter = ',', value_name = "PID[,PID…]")]
    server_pid: Vec<u32>,
    /// Other processes whose CPU over the window is reported on its own line, not as the
    /// server's nor as "others" (e.g. redis-server).
    #[arg(long, value_delimiter = ',', value_name = "PID[,PID…]")]
    watch_pid: Vec<u32>,
    /// Write machine-readable results here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A name for this run, copied into the JSON.
    #[arg(long)]
    label: Option<String>,
    /// Tokio worker threads (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Do not ask the kernel when each read's bytes reached the socket. By default every read
    /// carries that timestamp (`SO_TIMESTAMPNS`), and the report gives send→arrival latency
    /// beside send→read: the part of the latency the generator's own reading adds.
    #[arg(long)]
    no_arrival_timestamps: bool,
    /// How incoming frames are parsed (`full` parses every frame as JSON, to measure its cost).
    #[arg(long, value_enum, default_value = "fast")]
    parse: ParseMode,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
    /// A shell command run (and waited for) at each phase boundary, with the phase's name in
    /// `IVSCHAT_BENCH_PHASE`: `connecting` (rooms made, before the first connection),
    /// `minted` (only with `--mint-ahead`: every token minted, before the first handshake),
    /// `connected` (every connection in, before the first send) and `drained` (after the last
    /// delivery, before the closes). bench/run-instructions.sh dumps the server's callgrind
    /// counters there, so each phase's instructions are counted on their own.
    #[arg(long, value_name = "CMD")]
    phase_command: Option<String>,
    /// Run nothing: print the median of each headline figure of these `--json` results.
    #[arg(long, num_args = 1.., value_name = "JSON")]
    summarize: Vec<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (use e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit in {s:?} (ms, s, m)")),
    };
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.summarize.is_empty() {
        return match report::median_table(&args.summarize) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ivschat-bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = check_args(&args) {
        eprintln!("ivschat-bench: {e:#}");
        return ExitCode::from(2);
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    // Hard stop: every phase is bounded, but if anything hangs the process still ends.
    let limit =
        args.connect_timeout + args.warmup + args.duration + args.drain + Duration::from_secs(120);
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "ivschat-bench: watchdog: still running after {}s; exiting",
            limit.as_secs()
        );
        std::process::exit(3);
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ivschat-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, threads)) {
        Ok(clean) => {
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(4)
            }
        }
        Err(e) => {
            eprintln!("ivschat-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_args(args: &Args) -> Result<()> {
    ensure!(args.rooms >= 1, "--rooms must be at least 1");
    ensure!(
        args.connections >= args.rooms,
        "--connections must be at least --rooms"
    );
    ensure!(
        args.senders_per_room >= 1,
        "--senders-per-room must be at least 1"
    );
    ensure!(
        args.connections / args.rooms >= args.senders_per_room,
        "each room has {} connections, fewer than --senders-per-room {}",
        args.connections / args.rooms,
        args.senders_per_room
    );
    ensure!(
        (48..=500).contains(&args.message_bytes),
        "--message-bytes must be 48..=500"
    );
    ensure!(
        args.rate_per_room >= 1,
        "--rate-per-room must be at least 1"
    );
    ensure!(
        args.duration >= Duration::from_millis(100),
        "--duration too short"
    );
    ensure!(
        args.connect_concurrency >= 1,
        "--connect-concurrency must be at least 1"
    );
    match args.target {
        TargetKind::Ivschat => {
            ensure!(
                args.rate_per_room <= 100,
                "IVS rooms allow at most 100 messages/s (--rate-per-room)"
            );
            let per_sender = f64::from(args.rate_per_room) / args.senders_per_room as f64;
            ensure!(
                per_sender <= 10.0,
                "each IVS connection may send at most 10 requests/s: use --senders-per-room ≥ {}",
                args.rate_per_room.div_ceil(10)
            );
        }
        // No rate limits: they do whatever they are sent.
        TargetKind::Bare | TargetKind::NatsWs | TargetKind::Centrifugo | TargetKind::Sockudo => {
            ensure!(
                args.room_tags.is_empty(),
                "--room-tag needs --target ivschat (only it has rooms with tags)"
            );
        }
    }
    ensure!(
        (1..=254).contains(&args.source_ips),
        "--source-ips must be 1..=254 (127.0.0.1 to 127.0.0.254)"
    );
    Ok(())
}

/// `host:port` of an `scheme://host:port/…` URL.
fn authority<'a>(url: &'a str, scheme: &str) -> Result<&'a str> {
    let rest = url
        .strip_prefix(scheme)
        .with_context(|| format!("{url:?} must start with {scheme}"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    ensure!(
        !authority.is_empty() && !authority.contains('@'),
        "{url:?} has no usable host"
    );
    Ok(authority)
}

/// Checks and resolves one chat WebSocket URL.
async fn ws_target(url: &str) -> Result<WsTarget> {
    let authority = authority(url, "ws://")?;
    let addr = loopback_address(authority, 80).await?;
    let uri: Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a valid URL"))?;
    ensure!(uri.path_and_query().is_some(), "{url:?} has no path");
    let host = HeaderValue::from_str(authority)
        .with_context(|| format!("{url:?}: the host is not a valid header value"))?;
    Ok(WsTarget {
        url: url.to_string(),
        addr,
        uri,
        host,
    })
}

/// Adds the URLs that are not in `all` yet; returns the indexes of `urls` in `all`.
async fn add_ws_targets(urls: &[String], all: &mut Vec<WsTarget>) -> Result<Vec<usize>> {
    let mut indexes = Vec::with_capacity(urls.len());
    for url in urls {
        let url = url.trim();
        let index = match all.iter().position(|t| t.url == url) {
            Some(i) => i,
            None => {
                all.push(ws_target(url).await?);
                all.len() - 1
            }
        };
        indexes.push(index);
    }
    Ok(indexes)
}

/// Which URL connection `position` of room `room_index` uses: a room's senders and its
/// receivers each go round-robin over their list, starting one further for each room, so
/// every room spans every URL and the URLs get even shares.
fn pick_url(list: &[usize], room_index: usize, rank_in_room: usize) -> usize {
    list[(room_index + rank_in_room) % list.len()]
}

/// Waits until `deadline`; `false` if Ctrl-C came first.
async fn wait_until(deadline: Instant) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => true,
        _ = tokio::signal::ctrl_c() => false,
    }
}

/// Runs the benchmark; `Ok(false)` when it ran but something went wrong (failed connections,
/// interruption) so scripts can tell.
async fn run(args: Args, threads: usize) -> Result<bool> {
    let endpoint_authority = authority(&args.endpoint, "http://")?;
    let endpoint_addr = loopback_address(endpoint_authority, 80).await?;
    let receiver_urls = if args.ws_url.is_empty() {
        vec![format!("ws://{endpoint_authority}/")]
    } else {
        args.ws_url.clone()
    };
    let sender_urls = if args.sender_ws_url.is_empty() {
        receiver_urls.clone()
    } else {
        args.sender_ws_url.clone()
    };
    let mut ws = Vec::new();
    let receiver_ws = add_ws_targets(&receiver_urls, &mut ws).await?;
    let sender_ws = add_ws_targets(&sender_urls, &mut ws).await?;
    let ws_url = receiver_urls.join(",");
    let sender_ws_url = sender_urls.join(",");

    // One descriptor per connection, plus the control plane's and some slack.
    let wanted = args.connections as u64 + 512;
    let nofile = rlimit::increase_nofile_limit(wanted).unwrap_or(0);
    ensure!(
        nofile >= wanted,
        "need {wanted} open files but RLIMIT_NOFILE allows {nofile}: raise the hard limit (ulimit -Hn)"
    );
    for pid in &args.server_pid {
        ensure!(
            procfs::rss_kib(*pid).is_some(),
            "--server-pid {pid}: no such process (or /proc unreadable)"
        );
    }
    for pid in &args.watch_pid {
        ensure!(
            procfs::cpu_ticks(*pid).is_some(),
            "--watch-pid {pid}: no such process (or /proc unreadable)"
        );
    }
    let pids = args.server_pid.as_slice();
    let rss = || procfs::sum(pids, procfs::rss_kib);
    let open_fds = || procfs::sum(pids, procfs::open_fds);
    let cpu_snapshot = || CpuSnapshot::take(pids, &args.watch_pid);

    let target = Target::new(
        args.target,
        TargetConfig {
            endpoint: args.endpoint.clone(),
            endpoint_host: endpoint_authority.to_string(),
            endpoint_addr,
            region: args.region.clone(),
            access_key: args.access_key.clone(),
            secret_key: args.secret_key.clone(),
            parse: args.parse,
            mint: args.mint,
            pusher: target::sockudo::App {
                id: args.pusher_app_id.clone(),
                key: args.pusher_key.clone(),
                secret: args.pusher_secret.clone(),
            },
        },
    )?;
    let run_id = format!("{}-{}", std::process::id(), unix_seconds());
    let progress = !args.quiet;
    let note = |s: String| {
        if progress {
            eprintln!("[bench] {s}");
        }
    };

    note(format!(
        "creating {} room(s) at {} msg/s on {}",
        args.rooms, args.rate_per_room, args.endpoint
    ));
    let rooms = target
        .create_rooms(&run_id, args.rooms, args.rate_per_room, &args.room_tags)
        .await
        .context("creating rooms")?;

    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (handshake_tx, handshake_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        target,
        start: std::time::Instant::now(),
        ws: ws.clone(),
        connect_limit: Semaphore::new(args.connect_concurrency),
        source_ips: args.source_ips,
        connected: Default::default(),
        failed: Default::default(),
        timeline: OnceLock::new(),
        go: go_rx,
        stop: stop_rx,
        message_bytes: args.message_bytes,
        senders_per_room: args.senders_per_room,
        send_interval: Duration::from_secs_f64(
            args.senders_per_room as f64 / f64::from(args.rate_per_room),
        ),
        sender_stagger: Duration::from_secs_f64(1.0 / f64::from(args.rate_per_room)),
        // Rooms are offset evenly within one message interval: independent rooms do not send
        // in lockstep (a synchronised start made every room's burst land at the same instant).
        room_phase: Duration::from_secs_f64(
            1.0 / f64::from(args.rate_per_room) / args.rooms.max(1) as f64,
        ),
        close_timeout: Duration::from_secs(10),
        arrival_timestamps: !args.no_arrival_timestamps,
        mint_ahead: args.mint_ahead,
        minted: Default::default(),
        handshake_go: handshake_rx,
    });

    let mut memory = MemorySamples {
        before: rss(),
        ..MemorySamples::default()
    };
    let mut fds = FdSamples {
        before: open_fds(),
        ..FdSamples::default()
    };
    run_phase_command(args.phase_command.as_deref(), "connecting").await?;

    // Connect.
    note(format!(
        "connecting {} WebSocket(s) to {ws_url} ({} at a time){}",
        args.connections,
        args.connect_concurrency,
        if sender_ws_url == ws_url {
            String::new()
        } else {
            format!(", senders to {sender_ws_url}")
        }
    ));
    let mut tasks = Vec::with_capacity(args.connections);
    for index in 0..args.connections {
        let room_index = index % args.rooms;
        let position = index / args.rooms;
        let sender = (position < args.senders_per_room).then_some(position);
        let ws = match sender {
            Some(k) => pick_url(&sender_ws, room_index, k),
            None => pick_url(&receiver_ws, room_index, position - args.senders_per_room),
        };
        let spec = ConnSpec {
            index,
            room_index,
            ws,
            room: rooms[room_index].clone(),
            sender,
        };
        tasks.push(tokio::spawn(conn::run(shared.clone(), spec)));
    }
    let mut interrupted = false;
    if args.mint_ahead {
        let mint_started = Instant::now();
        while shared.minted.load(Ordering::Relaxed) < args.connections {
            if mint_started.elapsed() >= args.connect_timeout
                || !wait_until(Instant::now() + Duration::from_millis(20)).await
            {
                interrupted = true;
                break;
            }
        }
        note(format!(
            "minted {} token(s) ahead in {:.2}s; handshakes now",
            shared.minted.load(Ordering::Relaxed),
            mint_started.elapsed().as_secs_f64()
        ));
        run_phase_command(args.phase_command.as_deref(), "minted").await?;
    }
    let connect_started = Instant::now();
    let cpu_connect_start = cpu_snapshot();
    let _ = handshake_tx.send(true);
    let connect_deadline = connect_started + args.connect_timeout;
    let mut next_note = Instant::now() + Duration::from_secs(1);
    loop {
        let done = shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed);
        if done >= args.connections {
            break;
        }
        if Instant::now() >= connect_deadline {
            note(format!(
                "connect timeout after {}s: {done} of {} done; going on with those connected",
                args.connect_timeout.as_secs(),
                args.connections
            ));
            break;
        }
        if !wait_until(Instant::now() + Duration::from_millis(50)).await {
            interrupted = true;
            break;
        }
        if Instant::now() >= next_note {
            next_note += Duration::from_secs(1);
            note(format!(
                "  connected {} failed {}",
                shared.connected.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed)
            ));
        }
    }
    let connect_time = connect_started.elapsed();
    let cpu_connect = procfs::cpu_use(&cpu_connect_start, &cpu_snapshot());
    let connected = shared.connected.load(Ordering::Relaxed);
    note(format!(
        "connected {connected}, failed {} in {:.2}s",
        shared.failed.load(Ordering::Relaxed),
        connect_time.as_secs_f64()
    ));
    // Let the server settle before reading its memory.
    if !interrupted {
        interrupted = !wait_until(Instant::now() + Duration::from_millis(500)).await;
    }
    memory.connected = rss();
    fds.connected = open_fds();
    let server_threads = procfs::sum(pids, procfs::threads);
    run_phase_command(args.phase_command.as_deref(), "connected").await?;

    // Warm up and measure.
    let mut cpu_window = Default::default();
    let mut progress_lines = Vec::new();
    let timeline = {
        let now = shared.start.elapsed().as_nanos() as u64;
        let send_from = now + 200_000_000;
        let measure_from = send_from + args.warmup.as_nanos() as u64;
        Timeline {
            send_from,
            measure_from,
            measure_to: measure_from + args.duration.as_nanos() as u64,
        }
    };
    let at = |ns: u64| Instant::from_std(shared.start) + Duration::from_nanos(ns);
    if !interrupted && connected > 0 {
        let _ = shared.timeline.set(timeline);
        let _ = go_tx.send(true);
        note(format!(
            "warming up {:.1}s, then measuring {:.1}s",
            args.warmup.as_secs_f64(),
            args.duration.as_secs_f64()
        ));
        interrupted = !wait_until(at(timeline.measure_from)).await;
        if !interrupted {
            let window_start = cpu_snapshot();
            let mut last = window_start.clone();
            let mut last_frames = stats::total_frames();
            let mut tick = at(timeline.measure_from);
            loop {
                tick = (tick + Duration::from_secs(1)).min(at(timeline.measure_to));
                if !wait_until(tick).await {
                    interrupted = true;
                    break;
                }
                let now = cpu_snapshot();
                let frames = stats::total_frames();
                let secs = now.at.duration_since(last.at).as_secs_f64().max(1e-9);
                let cpu = procfs::cpu_use(&last, &now);
                let line = report::progress_line(
                    now.at.duration_since(window_start.at).as_secs_f64(),
                    (frames - last_frames) as f64 / secs,
                    &cpu,
                    rss(),
                );
                note(line.clone());
                progress_lines.push(line);
                last = now;
                last_frames = frames;
                if tick >= at(timeline.measure_to) {
                    cpu_window = procfs::cpu_use(&window_start, &last);
                    break;
                }
            }
        }
        // Drain: wait for in-flight deliveries (until nothing arrives for 500 ms).
        if !interrupted {
            let drain_deadline = Instant::now() + args.drain;
            let mut frames = stats::total_frames();
            let mut quiet_since = Instant::now();
            while Instant::now() < drain_deadline {
                if !wait_until(Instant::now() + Duration::from_millis(100)).await {
                    interrupted = true;
                    break;
                }
                let now_frames = stats::total_frames();
                if now_frames != frames {
                    frames = now_frames;
                    quiet_since = Instant::now();
                } else if quiet_since.elapsed() >= Duration::from_millis(500) {
                    break;
                }
            }
        }
        memory.after_measure = rss();
        run_phase_command(args.phase_command.as_deref(), "drained").await?;
    }

    // Close everything.
    note("closing connections".to_string());
    let _ = stop_tx.send(true);
    let mut results = Vec::with_capacity(tasks.len());
    let join_deadline = Instant::now() + shared.close_timeout + Duration::from_secs(20);
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(join_deadline, task).await {
            Ok(Ok(stats)) => results.push(stats),
            Ok(Err(_)) => {}
            Err(_) => abort.abort(),
        }
    }
    // Give the server a moment to tear the sessions down before reading its memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory.after_close = rss();
    fds.after_close = open_fds();

    note(format!("deleting {} room(s)", rooms.len()));
    let rooms_not_deleted = shared.target.delete_rooms(&rooms).await;

    let info = RunInfo {
        args: &args,
        target: shared.target.name(),
        threads,
        ws_url: &ws_url,
        sender_ws_url: &sender_ws_url,
        ws: &ws,
        connect_time,
        cpu_connect,
        cpu_window,
        memory,
        fds,
        server_threads,
        interrupted,
        rooms_not_deleted,
        progress: progress_lines,
    };
    let summary = report::summarize(&info, &results);
    println!("{}", report::table(&info, &summary));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
        note(format!("results written to {}", path.display()));
    }
    Ok(!interrupted && summary.connect.failed == 0 && rooms_not_deleted == 0)
}

/// Runs `--phase-command` (if any) for `phase` and waits for it; a failure ends the run, since
/// the figures it was to separate would be wrong.
async fn run_phase_command(command: Option<&str>, phase: &'static str) -> Result<()> {
    let Some(command) = command else {
        return Ok(());
    };
    let command = command.to_string();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("IVSCHAT_BENCH_PHASE", phase)
            .status()
    })
    .await?
    .with_context(|| format!("--phase-command at {phase}"))?;
    ensure!(
        status.success(),
        "--phase-command at {phase} failed ({status})"
    );
    Ok(())
}

/// The wall clock in Unix nanoseconds (0 before 1970).
fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn unix_seconds() -> u64 {
    wall_clock_ns() / 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phase_command_gets_the_phase_and_its_failure_counts() {
        let dir = std::env::temp_dir().join(format!("phase-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("phases");
        let command = format!("echo $IVSCHAT_BENCH_PHASE >> {}", log.display());
        run_phase_command(Some(&command), "connecting")
            .await
            .unwrap();
        run_phase_command(Some(&command), "drained").await.unwrap();
        run_phase_command(None, "connected").await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "connecting\ndrained\n"
        );
        assert!(run_phase_command(Some("exit 3"), "connected")
            .await
            .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn only_http_urls() {
        assert_eq!(
            authority("http://127.0.0.1:8080/x", "http://").unwrap(),
            "127.0.0.1:8080"
        );
        assert!(authority("https://127.0.0.1", "http://").is_err());
    }

    #[test]
    fn url_and_pid_lists() {
        let a = Args::parse_from([
            "ivschat-bench",
            "--ws-url",
            "ws://127.0.0.1:1/,ws://127.0.0.1:2/",
            "--sender-ws-url",
            "ws://127.0.0.1:3/",
            "--server-pid",
            "10,11,12",
            "--watch-pid",
            "9",
        ]);
        assert_eq!(a.ws_url, ["ws://127.0.0.1:1/", "ws://127.0.0.1:2/"]);
        assert_eq!(a.sender_ws_url, ["ws://127.0.0.1:3/"]);
        assert_eq!(a.server_pid, [10, 11, 12]);
        assert_eq!(a.watch_pid, [9]);
        let b = Args::parse_from(["ivschat-bench"]);
        assert!(b.ws_url.is_empty() && b.server_pid.is_empty());
    }

    #[test]
    fn receivers_spread_round_robin_and_every_room_spans_every_url() {
        let list = [4, 7];
        let room0: Vec<usize> = (0..4).map(|r| pick_url(&list, 0, r)).collect();
        assert_eq!(room0, [4, 7, 4, 7]);
        // One receiver per room: the rooms alternate, not all on the first URL.
        assert_eq!(pick_url(&list, 0, 0), 4);
        assert_eq!(pick_url(&list, 1, 0), 7);
        assert_eq!(pick_url(&[3], 5, 9), 3);
    }

    #[tokio::test]
    async fn ws_url_lists_are_checked_and_deduplicated() {
        let mut all = Vec::new();
        let receivers = add_ws_targets(
            &["ws://127.0.0.1:1/".into(), "ws://127.0.0.1:2/chat".into()],
            &mut all,
        )
        .await
        .unwrap();
        let senders = add_ws_targets(&["ws://127.0.0.1:2/chat".into()], &mut all)
            .await
            .unwrap();
        assert_eq!(receivers, [0, 1]);
        assert_eq!(senders, [1]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].host, "127.0.0.1:2");
        assert_eq!(all[1].uri.path(), "/chat");
        assert_eq!(all[1].addr, "127.0.0.1:2".parse().unwrap());
        assert!(add_ws_targets(&["ws://10.0.0.1:80/".into()], &mut all)
            .await
            .is_err());
        assert!(add_ws_targets(&["http://127.0.0.1:1/".into()], &mut all)
            .await
            .is_err());
    }

    #[test]
    fn argument_checks() {
        let base = Args::parse_from(["ivschat-bench"]);
        assert!(check_args(&base).is_ok());
        let too_fast = Args::parse_from(["ivschat-bench", "--rate-per-room", "100"]);
        assert!(check_args(&too_fast).is_err());
        let ok = Args::parse_from([
            "ivschat-bench",
            "--rate-per-room",
            "100",
            "--senders-per-room",
            "10",
        ]);
        assert!(check_args(&ok).is_ok());
    }
}

//! Turns the connections' counters into the results (printed as a one-screen table and
//! written as JSON).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::conn::{ConnStats, WsTarget};
use crate::stats::proc::CpuUse;
use crate::stats::{merged, new_histogram};
use crate::Args;

/// Server VmRSS (KiB) at each point of the run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MemorySamples {
    /// After the rooms exist, before any connection.
    pub before: Option<u64>,
    /// All connections in, before any message.
    pub connected: Option<u64>,
    /// After the measurement and drain, before closing.
    pub after_measure: Option<u64>,
    /// 1 s after every connection closed.
    pub after_close: Option<u64>,
}

/// Server open file descriptors at the same points (a live socket each).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FdSamples {
    pub before: Option<u64>,
    pub connected: Option<u64>,
    pub after_close: Option<u64>,
}

/// Everything about the run that is not a per-connection counter.
pub struct RunInfo<'a> {
    pub args: &'a Args,
    pub target: &'static str,
    pub threads: usize,
    /// The receivers' URLs, comma-separated.
    pub ws_url: &'a str,
    /// The senders' URLs, comma-separated.
    pub sender_ws_url: &'a str,
    /// Every URL used; [`ConnStats::ws`] indexes this.
    pub ws: &'a [WsTarget],
    pub connect_time: Duration,
    pub cpu_connect: CpuUse,
    pub cpu_window: CpuUse,
    pub memory: MemorySamples,
    pub fds: FdSamples,
    pub server_threads: Option<u64>,
    pub interrupted: bool,
    pub rooms_not_deleted: usize,
    pub progress: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub label: Option<String>,
    pub target: &'static str,
    pub endpoint: String,
    /// Where the receivers connected (comma-separated).
    pub ws_url: String,
    /// Where the senders connected (comma-separated).
    pub sender_ws_url: String,
    /// Connections and deliveries per WebSocket URL (per node of a cluster).
    pub per_url: Vec<UrlSplit>,
    /// The processes whose memory and CPU are the "server" figures (summed).
    pub server_pids: Vec<u32>,
    /// `--watch-pid` processes (their CPU is `cpu_measure.watched_pct_of_core`).
    pub watch_pids: Vec<u32>,
    pub unix_time: u64,
    pub config: Config,
    pub connect: Connect,
    pub sent: Sent,
    pub deliveries: Deliveries,
    /// Send→read: until this process had read the delivery.
    pub latency_ms: Latency,
    /// Send→arrival: until the delivery's bytes were in the receiving socket (the kernel's
    /// receive timestamp), before the generator read them. `None` with
    /// `--no-arrival-timestamps`. The difference to `latency_ms` is the generator's own wait.
    pub arrival_latency_ms: Option<Latency>,
    /// Send→the server's own timestamp of the message (IVS Chat's `SendTime`, when it had
    /// read, checked and handed the message to its fan-out). `None` for servers that send
    /// no timestamp. The rest of `arrival_latency_ms` is the fan-out's.
    pub accepted_latency_ms: Option<Latency>,
    pub server_memory_kib: MemorySamples,
    pub server_open_fds: FdSamples,
    pub server_rss_per_connection_kib: Option<f64>,
    pub server_rss_growth_during_measure_kib: Option<i64>,
    pub server_threads: Option<u64>,
    /// CPU over the measurement window (100 = one full core).
    pub cpu_measure: CpuUse,
    /// CPU while connecting.
    pub cpu_connect: CpuUse,
    pub closes: Closes,
    /// ERROR frames received, by ErrorCode.
    pub errors: BTreeMap<i64, u64>,
    pub rooms_not_deleted: usize,
    pub interrupted: bool,
    pub progress: Vec<String>,
}

/// One WebSocket URL's share of the run.
#[derive(Debug, Serialize)]
pub struct UrlSplit {
    pub url: String,
    /// Connections that were to use this URL (senders included).
    pub connections: u64,
    pub connected: u64,
    /// Of the connected, how many send.
    pub senders: u64,
    /// Deliveries received in the measurement window by this URL's connections, per second.
    pub deliveries_per_second: f64,
    /// Deliveries of messages sent in the window: expected (accepted messages of the room ×
    /// this URL's connected connections in it), received (unique) and lost.
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub duplicates: u64,
}

#[derive(Debug, Serialize)]
pub struct Config {
    pub connections: usize,
    pub rooms: usize,
    pub senders_per_room: usize,
    pub rate_per_room: u32,
    pub message_bytes: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub connect_concurrency: usize,
    pub source_ips: usize,
    pub threads: usize,
    pub parse: String,
    /// How IVS tokens were minted (`--mint`: fast or sdk).
    pub mint: String,
}

#[derive(Debug, Serialize)]
pub struct Connect {
    pub ok: usize,
    pub failed: usize,
    /// Failure reasons with counts.
    pub failures: BTreeMap<String, u64>,
    pub seconds: f64,
    pub per_second: f64,
    /// Time from asking for a token to the open WebSocket, per connection.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Sent {
    /// Messages sent in the measurement window.
    pub measured: u64,
    pub per_second: f64,
    /// Of those, refused by the server (ERROR with our RequestId).
    pub refused_measured: u64,
    pub refused_total: u64,
    /// Sent in the window but never echoed to the sender nor refused.
    pub unanswered_measured: u64,
    /// How late sends left compared with their schedule (generator saturation).
    pub send_lag_mean_ms: f64,
    pub send_lag_max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Deliveries {
    /// Deliveries received during the measurement window, per second (the throughput).
    pub per_second: f64,
    pub received_in_window: u64,
    /// Accepted messages sent in the window × connections in their room.
    pub expected: u64,
    /// Deliveries of those messages actually received (before the close).
    pub received: u64,
    pub lost: u64,
    pub lost_pct: f64,
    pub out_of_order: u64,
    pub duplicates: u64,
    pub foreign: u64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
    pub mean: f64,
    /// The latency distribution for plots: `[percentile, ms]` pairs from 0 to 100.
    pub percentiles: Vec<(f64, f64)>,
}

/// The percentiles in [`Latency::percentiles`].
const CURVE: &[f64] = &[
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

#[derive(Debug, Serialize)]
pub struct Closes {
    /// Connections the server closed or dropped before we asked, by "code reason".
    pub by_server: BTreeMap<String, u64>,
    pub by_server_total: u64,
    /// Our close handshake did not finish within the timeout.
    pub close_timeouts: u64,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

pub fn summarize(info: &RunInfo<'_>, results: &[ConnStats]) -> Summary {
    let args = info.args;
    let window = info.args.duration.as_secs_f64();
    let mut connect_hist = new_histogram();
    let mut failures = BTreeMap::new();
    let mut ok = 0;
    let mut failed = 0;
    let mut connected_in_room = vec![0u64; args.rooms];
    let mut accepted_in_room = vec![0u64; args.rooms];
    let mut sent = Sent {
        measured: 0,
        per_second: 0.0,
        refused_measured: 0,
        refused_total: 0,
        unanswered_measured: 0,
        send_lag_mean_ms: 0.0,
        send_lag_max_ms: 0.0,
    };
    let mut sends_total = 0u64;
    let mut lag_sum = 0u64;
    let mut lag_max = 0u64;
    let mut d = Deliveries {
        per_second: 0.0,
        received_in_window: 0,
        expected: 0,
        received: 0,
        lost: 0,
        lost_pct: 0.0,
        out_of_order: 0,
        duplicates: 0,
        foreign: 0,
    };
    let mut closes = Closes {
        by_server: BTreeMap::new(),
        by_server_total: 0,
        close_timeouts: 0,
    };
    let mut errors = BTreeMap::new();
    for c in results {
        match &c.connect {
            Some(Ok(t)) => {
                ok += 1;
                connected_in_room[c.room_index] += 1;
                let _ = connect_hist.record((t.as_nanos() as u64).max(1));
            }
            Some(Err(reason)) => {
                failed += 1;
                *failures.entry(reason.clone()).or_insert(0) += 1;
            }
            None => failed += 1,
        }
        if c.is_sender {
            let accepted = c.sent_measured.saturating_sub(c.refused_measured);
            accepted_in_room[c.room_index] += accepted;
            sent.measured += c.sent_measured;
            sent.refused_measured += c.refused_measured;
            sent.refused_total += c.refused;
            sent.unanswered_measured += accepted.saturating_sub(c.echoed_measured);
            sends_total += c.sent;
            lag_sum += c.send_lag_sum_ns;
            lag_max = lag_max.max(c.send_lag_max_ns);
        }
        d.received += c.measured_deliveries;
        d.received_in_window += c.window_deliveries;
        d.out_of_order += c.out_of_order;
        d.duplicates += c.duplicates;
        d.foreign += c.foreign;
        if let Some((code, reason, _)) = &c.server_close {
            closes.by_server_total += 1;
            let mut key = format!("{code} {reason}");
            key.truncate(100);
            *closes.by_server.entry(key).or_insert(0) += 1;
        }
        if c.close_timed_out {
            closes.close_timeouts += 1;
        }
        for (code, n) in &c.errors {
            *errors.entry(*code).or_insert(0) += n;
        }
    }
    // Unknown results (tasks that had to be aborted) count as failed connections.
    failed += args.connections.saturating_sub(results.len());
    sent.per_second = sent.measured as f64 / window;
    sent.send_lag_mean_ms = lag_sum.checked_div(sends_total).map_or(0.0, ms);
    sent.send_lag_max_ms = ms(lag_max);
    d.expected = accepted_in_room
        .iter()
        .zip(&connected_in_room)
        .map(|(a, c)| a * c)
        .sum();
    let unique = d.received.saturating_sub(d.duplicates);
    d.lost = d.expected.saturating_sub(unique);
    d.lost_pct = if d.expected > 0 {
        d.lost as f64 * 100.0 / d.expected as f64
    } else {
        0.0
    };
    d.per_second = d.received_in_window as f64 / window;
    let per_url = split_by_url(info.ws, results, &accepted_in_room, window);
    let latency = latency_of(&merged(|s| &s.latency));
    let recorded = |h: Histogram<u64>| (!h.is_empty()).then(|| latency_of(&h));
    let arrival = recorded(merged(|s| &s.arrival));
    let accepted = recorded(merged(|s| &s.accepted));
    let m = info.memory;
    let per_conn = match (m.before, m.connected) {
        (Some(b), Some(c)) if ok > 0 => Some((c as f64 - b as f64) / ok as f64),
        _ => None,
    };
    let growth = match (m.connected, m.after_measure) {
        (Some(c), Some(a)) => Some(a as i64 - c as i64),
        _ => None,
    };
    Summary {
        label: args.label.clone(),
        target: info.target,
        endpoint: args.endpoint.clone(),
        ws_url: info.ws_url.to_string(),
        sender_ws_url: info.sender_ws_url.to_string(),
        per_url,
        server_pids: args.server_pid.clone(),
        watch_pids: args.watch_pid.clone(),
        unix_time: crate::unix_seconds(),
        config: Config {
            connections: args.connections,
            rooms: args.rooms,
            senders_per_room: args.senders_per_room,
            rate_per_room: args.rate_per_room,
            message_bytes: args.message_bytes,
            warmup_s: args.warmup.as_secs_f64(),
            duration_s: window,
            connect_concurrency: args.connect_concurrency,
            source_ips: args.source_ips,
            threads: info.threads,
            parse: format!("{:?}", args.parse).to_lowercase(),
            mint: args.mint.name().to_string(),
        },
        connect: Connect {
            ok,
            failed,
            failures,
            seconds: info.connect_time.as_secs_f64(),
            per_second: ok as f64 / info.connect_time.as_secs_f64().max(1e-9),
            p50_ms: ms(connect_hist.value_at_quantile(0.5)),
            p99_ms: ms(connect_hist.value_at_quantile(0.99)),
            max_ms: ms(connect_hist.max()),
        },
        sent,
        deliveries: d,
        latency_ms: latency,
        arrival_latency_ms: arrival,
        accepted_latency_ms: accepted,
        server_memory_kib: m,
        server_open_fds: info.fds,
        server_rss_per_connection_kib: per_conn,
        server_rss_growth_during_measure_kib: growth,
        server_threads: info.server_threads,
        cpu_measure: info.cpu_window.clone(),
        cpu_connect: info.cpu_connect.clone(),
        closes,
        errors,
        rooms_not_deleted: info.rooms_not_deleted,
        interrupted: info.interrupted,
        progress: info.progress.clone(),
    }
}

fn split_by_url(
    ws: &[WsTarget],
    results: &[ConnStats],
    accepted_in_room: &[u64],
    window: f64,
) -> Vec<UrlSplit> {
    let mut split: Vec<UrlSplit> = ws
        .iter()
        .map(|t| UrlSplit {
            url: t.url.clone(),
            connections: 0,
            connected: 0,
            senders: 0,
            deliveries_per_second: 0.0,
            expected: 0,
            received: 0,
            lost: 0,
            out_of_order: 0,
            duplicates: 0,
        })
        .collect();
    for c in results {
        let Some(u) = split.get_mut(c.ws) else {
            continue;
        };
        u.connections += 1;
        if !matches!(c.connect, Some(Ok(_))) {
            continue;
        }
        u.connected += 1;
        u.senders += u64::from(c.is_sender);
        u.deliveries_per_second += c.window_deliveries as f64 / window;
        let expected = accepted_in_room.get(c.room_index).copied().unwrap_or(0);
        let unique = c.measured_deliveries.saturating_sub(c.duplicates);
        u.expected += expected;
        u.received += unique;
        u.lost += expected.saturating_sub(unique);
        u.out_of_order += c.out_of_order;
        u.duplicates += c.duplicates;
    }
    split
}

fn latency_of(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency {
            count: 0,
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
            p999: 0.0,
            p9999: 0.0,
            max: 0.0,
            mean: 0.0,
            percentiles: Vec::new(),
        };
    }
    Latency {
        count: h.len(),
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        p9999: ms(h.value_at_quantile(0.9999)),
        max: ms(h.max()),
        mean: h.mean() / 1e6,
        percentiles: CURVE
            .iter()
            .map(|&p| (p, ms(h.value_at_quantile(p / 100.0))))
            .collect(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.0}%"))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// One progress line per second of the measurement window.
pub fn progress_line(t: f64, frames_per_s: f64, cpu: &CpuUse, rss: Option<u64>) -> String {
    format!(
        "  t={t:>5.1}s deliveries/s {frames_per_s:>9.0}  cpu server {} generator {} others {} machine {}  server rss {}",
        pct(cpu.server_pct_of_core),
        pct(cpu.generator_pct_of_core),
        pct(cpu.others_pct_of_core),
        pct(cpu.machine_busy_pct),
        mib(rss)
    )
}

/// The one-screen table.
pub fn table(info: &RunInfo<'_>, s: &Summary) -> String {
    let c = &s.config;
    let mut out = String::new();
    let per_room = c.connections as f64 / c.rooms as f64;
    let _ = writeln!(
        out,
        "ivschat-bench — target {} at {}{}",
        s.target,
        s.ws_url,
        s.label
            .as_deref()
            .map(|l| format!(" — {l}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "scenario    {} connections, {} room(s) ({per_room:.0}/room), {} sender(s)/room, {} msg/s/room, {} B, warm-up {:.0}s, measured {:.0}s, {} thread(s), parse {}{}",
        c.connections, c.rooms, c.senders_per_room, c.rate_per_room, c.message_bytes, c.warmup_s, c.duration_s, c.threads, c.parse,
        if s.target == "ivschat" { format!(", mint {}", c.mint) } else { String::new() }
    );
    let _ = writeln!(out, "{}", "-".repeat(78));
    let k = &s.connect;
    let _ = writeln!(
        out,
        "connect     {}/{} ok in {:.2}s ({:.0}/s); mint+handshake p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        k.ok, c.connections, k.seconds, k.per_second, k.p50_ms, k.p99_ms, k.max_ms
    );
    for (reason, n) in k.failures.iter().take(3) {
        let _ = writeln!(out, "            failed ×{n}: {reason}");
    }
    let t = &s.sent;
    let _ = writeln!(
        out,
        "sent        {} in window ({:.1}/s); refused {} (all run: {}); unanswered {}; send lag mean {:.2} ms max {:.1} ms",
        t.measured, t.per_second, t.refused_measured, t.refused_total, t.unanswered_measured, t.send_lag_mean_ms, t.send_lag_max_ms
    );
    let d = &s.deliveries;
    let _ = writeln!(
        out,
        "deliveries  {:.0}/s  ({} received in window)",
        d.per_second, d.received_in_window
    );
    let _ = writeln!(
        out,
        "losses      expected {} got {} lost {} ({:.3}%); out-of-order {}; duplicates {}",
        d.expected,
        d.received.saturating_sub(d.duplicates),
        d.lost,
        d.lost_pct,
        d.out_of_order,
        d.duplicates
    );
    let line = |out: &mut String, label: &str, l: &Latency, note: &str| {
        let _ = writeln!(
            out,
            "{label:<11} p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  {note}",
            l.p50, l.p90, l.p99, l.p999, l.max
        );
    };
    let l = &s.latency_ms;
    line(&mut out, "latency", l, &format!("(n={})", l.count));
    if let Some(a) = &s.arrival_latency_ms {
        line(
            &mut out,
            "  arrival",
            a,
            "(in the socket, before the generator read it)",
        );
    }
    if let Some(a) = &s.accepted_latency_ms {
        line(
            &mut out,
            "  accepted",
            a,
            "(the server's SendTime: request read and accepted)",
        );
    }
    let m = &s.server_memory_kib;
    let _ = writeln!(
        out,
        "server rss  {} idle → {} connected → {} after measure → {} after close",
        mib(m.before),
        mib(m.connected),
        mib(m.after_measure),
        mib(m.after_close)
    );
    let fds = |v: Option<u64>| v.map_or("n/a".into(), |v| v.to_string());
    let _ = writeln!(
        out,
        "            {} per connection; growth while measuring {}; {} threads; open fds {} → {} → {}",
        s.server_rss_per_connection_kib
            .map_or("n/a".into(), |v| format!("{v:.1} KiB")),
        s.server_rss_growth_during_measure_kib
            .map_or("n/a".into(), |v| format!("{:+.1} MiB", v as f64 / 1024.0)),
        s.server_threads.map_or("n/a".into(), |t| t.to_string()),
        fds(s.server_open_fds.before),
        fds(s.server_open_fds.connected),
        fds(s.server_open_fds.after_close)
    );
    let w = &s.cpu_measure;
    let _ = writeln!(
        out,
        "cpu window  server {}  generator {}  others {}  (of one core)  machine busy {}   connecting: server {} generator {}",
        pct(w.server_pct_of_core),
        pct(w.generator_pct_of_core),
        pct(w.others_pct_of_core),
        pct(w.machine_busy_pct),
        pct(s.cpu_connect.server_pct_of_core),
        pct(s.cpu_connect.generator_pct_of_core)
    );
    if w.per_server_pct_of_core.len() > 1 || w.watched_pct_of_core.is_some() {
        let per: Vec<String> = w
            .per_server_pct_of_core
            .iter()
            .zip(&s.server_pids)
            .map(|(v, pid)| format!("{pid}: {}", pct(*v)))
            .collect();
        let _ = writeln!(
            out,
            "            per server process {}{}",
            if per.is_empty() {
                "n/a".to_string()
            } else {
                per.join("  ")
            },
            w.watched_pct_of_core
                .map(|v| format!("   watched ({:?}): {v:.0}%", s.watch_pids))
                .unwrap_or_default()
        );
    }
    if s.per_url.len() > 1 {
        for u in &s.per_url {
            let _ = writeln!(
                out,
                "per url     {}: {}/{} connected ({} senders), {:.0} deliveries/s, lost {}",
                u.url, u.connected, u.connections, u.senders, u.deliveries_per_second, u.lost
            );
        }
    }
    let cl = &s.closes;
    let _ = write!(
        out,
        "closes      by server before ours: {}; close timeouts: {}",
        cl.by_server_total, cl.close_timeouts
    );
    for (reason, n) in cl.by_server.iter().take(3) {
        let _ = write!(out, "\n            ×{n}: {reason}");
    }
    let errors: Vec<String> = s.errors.iter().map(|(c, n)| format!("{c}×{n}")).collect();
    let _ = write!(
        out,
        "\nerrors      {}{}{}",
        if errors.is_empty() {
            "none".to_string()
        } else {
            errors.join(" ")
        },
        if s.rooms_not_deleted > 0 {
            format!("; {} room(s) not deleted", s.rooms_not_deleted)
        } else {
            String::new()
        },
        if info.interrupted {
            "; INTERRUPTED"
        } else {
            ""
        }
    );
    out
}

/// The median (and range) of each headline figure over several `--json` results.
pub fn median_table(paths: &[std::path::PathBuf]) -> anyhow::Result<String> {
    let mut runs = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        runs.push(value);
    }
    anyhow::ensure!(!runs.is_empty(), "no results given");
    const FIELDS: &[(&str, &str, usize)] = &[
        ("deliveries/s", "/deliveries/per_second", 0),
        ("latency p50 ms", "/latency_ms/p50", 2),
        ("latency p99 ms", "/latency_ms/p99", 2),
        ("latency max ms", "/latency_ms/max", 2),
        ("arrival p50 ms", "/arrival_latency_ms/p50", 2),
        ("arrival p99 ms", "/arrival_latency_ms/p99", 2),
        ("arrival max ms", "/arrival_latency_ms/max", 2),
        ("accepted p99 ms", "/accepted_latency_ms/p99", 2),
        ("lost", "/deliveries/lost", 0),
        ("lost %", "/deliveries/lost_pct", 3),
        ("out-of-order", "/deliveries/out_of_order", 0),
        ("sent/s", "/sent/per_second", 1),
        ("refused", "/sent/refused_measured", 0),
        ("connected", "/connect/ok", 0),
        ("connect failures", "/connect/failed", 0),
        ("connect s", "/connect/seconds", 2),
        ("connects/s", "/connect/per_second", 0),
        ("server closes", "/closes/by_server_total", 0),
        ("server RSS KiB/conn", "/server_rss_per_connection_kib", 1),
        (
            "server RSS connected MiB",
            "/server_memory_kib/connected",
            1,
        ),
        ("server CPU % core", "/cpu_measure/server_pct_of_core", 0),
        (
            "generator CPU % core",
            "/cpu_measure/generator_pct_of_core",
            0,
        ),
        ("watched CPU % core", "/cpu_measure/watched_pct_of_core", 0),
        ("others CPU % core", "/cpu_measure/others_pct_of_core", 0),
        ("machine busy %", "/cpu_measure/machine_busy_pct", 0),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>12} {:>12} {:>12}   (median of {} run(s))",
        "",
        "median",
        "min",
        "max",
        runs.len()
    );
    for (name, pointer, precision) in FIELDS {
        let mut values: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.pointer(pointer).and_then(|v| v.as_f64()))
            .collect();
        if values.is_empty() {
            continue;
        }
        values.sort_by(|a, b| a.total_cmp(b));
        let median = if values.len() % 2 == 1 {
            values[values.len() / 2]
        } else {
            (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
        };
        let (min, max) = (values[0], values[values.len() - 1]);
        let scale = if *pointer == "/server_memory_kib/connected" {
            1.0 / 1024.0
        } else {
            1.0
        };
        let show = |v: f64| format!("{:.*}", *precision, v * scale);
        let _ = writeln!(
            out,
            "{name:<26} {:>12} {:>12} {:>12}",
            show(median),
            show(min),
            show(max)
        );
    }
    Ok(out)
}

//! `ivschat-footprint`: how fast `ivschat-server` starts and how much memory it holds idle.
//!
//! For each start it spawns the server binary on a loopback port, then polls `GET /ready`
//! from this process every `--poll-interval-us` (a fresh TCP connection per attempt, blocking
//! sockets on one thread, so nothing but the poll interval sits between the server becoming
//! ready and the measurement). Start to ready is the time from just before `spawn()` (so
//! fork/exec, dynamic loading and everything up to the first `200 ready` count) to the end of
//! that answer. It also records when the listening socket first accepted a connection and,
//! when the server logs it, `startup_ms` (measured by the server from the start of `main`).
//! Memory: `VmRSS`/`VmHWM` (and the anonymous / file-backed split) right after ready and
//! after `--idle` with no traffic.
//!
//! Two kinds of start: `fresh` (a new, empty data directory each time: schema creation, key
//! generation) and `existing` (a data directory left by an earlier start of the same binary).
//!
//! Only loopback addresses are used; data directories are created under the system temp dir
//! and removed afterwards.

// Only the `/proc/<pid>/status` reader is used here; the CPU readers serve the other binaries.
#[allow(dead_code)]
#[path = "../proc_read.rs"]
mod proc_read;
#[path = "../spread.rs"]
mod spread;

use spread::{spread, Spread};

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use proc_read::status_value;
use serde::Serialize;

/// Start-to-ready time and idle memory of ivschat-server.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// The server binary.
    #[arg(long)]
    server_bin: PathBuf,
    /// Starts of each kind (fresh data dir, existing data dir).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// How long the server stays idle before the second memory reading (seconds).
    #[arg(long, default_value_t = 5.0)]
    idle_s: f64,
    /// First port; start n uses port + n.
    #[arg(long, default_value_t = 18480)]
    port: u16,
    /// Time between two readiness probes, µs.
    #[arg(long, default_value_t = 1000)]
    poll_interval_us: u64,
    /// Give up on a start after this many seconds.
    #[arg(long, default_value_t = 20.0)]
    timeout_s: f64,
    /// Server logs go here (one file per start); default: discarded with the data dir.
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Extra server arguments (after `--`).
    #[arg(last = true)]
    server_args: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Memory {
    rss_kib: Option<u64>,
    hwm_kib: Option<u64>,
    rss_anon_kib: Option<u64>,
    rss_file_kib: Option<u64>,
    threads: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
struct Start {
    kind: &'static str,
    run: usize,
    /// spawn() → first `200` from /ready, ms.
    ready_ms: f64,
    /// spawn() → first accepted TCP connection, ms.
    first_connect_ms: Option<f64>,
    /// What the server logged as its own start-up time (from `main`), ms.
    server_logged_ms: Option<f64>,
    probes: u64,
    at_ready: Memory,
    after_idle: Memory,
}

#[derive(Debug, Clone, Serialize)]
struct KindSummary {
    kind: &'static str,
    runs: usize,
    ready_ms: Option<Spread>,
    first_connect_ms: Option<Spread>,
    server_logged_ms: Option<Spread>,
    rss_at_ready_kib: Option<Spread>,
    hwm_at_ready_kib: Option<Spread>,
    rss_idle_kib: Option<Spread>,
    hwm_idle_kib: Option<Spread>,
    rss_anon_idle_kib: Option<Spread>,
    rss_file_idle_kib: Option<Spread>,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    tool: String,
    server_bin: PathBuf,
    server_args: Vec<String>,
    poll_interval_us: u64,
    idle_s: f64,
    cpus: usize,
    starts: Vec<Start>,
    summary: Vec<KindSummary>,
    unix_time: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    if !args.server_bin.is_file() {
        bail!("no server binary at {}", args.server_bin.display());
    }
    let base = std::env::temp_dir().join(format!("ivschat-footprint-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let result = measure_all(args, &base);
    let _ = std::fs::remove_dir_all(&base);
    let report = result?;
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn measure_all(args: &Args, base: &Path) -> Result<Report> {
    let mut starts = Vec::new();
    let mut port = args.port;
    for run in 0..args.runs {
        let dir = base.join(format!("fresh-{run}"));
        starts.push(one_start(args, "fresh", run, &dir, port)?);
        let _ = std::fs::remove_dir_all(&dir);
        port += 1;
    }
    // The existing data dir is made by one start that is not counted.
    let existing = base.join("existing");
    one_start(args, "prepare", 0, &existing, port)?;
    port += 1;
    for run in 0..args.runs {
        starts.push(one_start(args, "existing", run, &existing, port)?);
        port += 1;
    }
    let summary = ["fresh", "existing"]
        .into_iter()
        .map(|kind| summarize(kind, &starts))
        .collect();
    Ok(Report {
        tool: format!("ivschat-footprint {}", env!("CARGO_PKG_VERSION")),
        server_bin: args.server_bin.clone(),
        server_args: args.server_args.clone(),
        poll_interval_us: args.poll_interval_us,
        idle_s: args.idle_s,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        starts,
        summary,
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })
}

/// Starts the server once, waits for ready, reads memory, idles, reads again, stops it.
fn one_start(args: &Args, kind: &'static str, run: usize, dir: &Path, port: u16) -> Result<Start> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let log_path = match &args.log_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.join(format!("server-{kind}-{run}.log"))
        }
        None => dir.with_extension("log"),
    };
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut command = Command::new(&args.server_bin);
    command
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir)
        .args(&args.server_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let t0 = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", args.server_bin.display()))?;
    let pid = child.id();
    let probed = probe_until_ready(&mut child, addr, t0, args);
    let (ready, first_connect, probes) = match probed {
        Ok(v) => v,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.context(format!(
                "{kind} start {run}; server log: {}",
                log_path.display()
            )));
        }
    };
    let at_ready = memory(pid);
    std::thread::sleep(Duration::from_secs_f64(args.idle_s));
    let after_idle = memory(pid);
    stop(&mut child);
    let server_logged_ms = std::fs::read_to_string(&log_path)
        .ok()
        .and_then(|log| logged_startup_ms(&log));
    let start = Start {
        kind,
        run,
        ready_ms: ms(ready),
        first_connect_ms: first_connect.map(ms),
        server_logged_ms,
        probes,
        at_ready,
        after_idle,
    };
    eprintln!(
        "{kind:>8} #{run}: ready {:.1} ms (listening {} ms, server says {} ms), RSS {} → {} KiB",
        start.ready_ms,
        start
            .first_connect_ms
            .map_or("-".into(), |v| format!("{v:.1}")),
        start
            .server_logged_ms
            .map_or("-".into(), |v| format!("{v:.1}")),
        start.at_ready.rss_kib.unwrap_or(0),
        start.after_idle.rss_kib.unwrap_or(0)
    );
    Ok(start)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Polls `GET /ready` until a 200; returns (time to ready, time to first accepted connection,
/// probes sent).
fn probe_until_ready(
    child: &mut Child,
    addr: SocketAddr,
    t0: Instant,
    args: &Args,
) -> Result<(Duration, Option<Duration>, u64)> {
    let interval = Duration::from_micros(args.poll_interval_us.max(1));
    let deadline = t0 + Duration::from_secs_f64(args.timeout_s);
    let mut first_connect = None;
    let mut probes = 0u64;
    let mut next = t0;
    loop {
        let now = Instant::now();
        if now > deadline {
            bail!("not ready after {} s", args.timeout_s);
        }
        if let Some(status) = child.try_wait()? {
            bail!("the server exited during start-up ({status})");
        }
        if now < next {
            std::thread::sleep(next - now);
        }
        next += interval;
        probes += 1;
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            continue;
        };
        first_connect.get_or_insert_with(|| t0.elapsed());
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = b"GET /ready HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
        if stream.write_all(request).is_err() {
            continue;
        }
        // The status line is all we need: "HTTP/1.1 200".
        let mut head = [0u8; 12];
        let mut got = 0;
        while got < head.len() {
            match stream.read(&mut head[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        let ready_at = t0.elapsed();
        let _ = stream.shutdown(Shutdown::Both);
        if got == head.len() && &head[9..12] == b"200" {
            return Ok((ready_at, first_connect, probes));
        }
    }
}

fn memory(pid: u32) -> Memory {
    Memory {
        rss_kib: status_value(pid, "VmRSS:"),
        hwm_kib: status_value(pid, "VmHWM:"),
        rss_anon_kib: status_value(pid, "RssAnon:"),
        rss_file_kib: status_value(pid, "RssFile:"),
        threads: status_value(pid, "Threads:"),
    }
}

/// SIGTERM (a clean shutdown checkpoints SQLite), then SIGKILL after 5 s.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `startup_ms=12.3` (text log) or `"startup_ms":12.3` (JSON log) on the ready line.
fn logged_startup_ms(log: &str) -> Option<f64> {
    let line = log.lines().find(|l| l.contains("startup_ms"))?;
    let at = line.find("startup_ms")? + "startup_ms".len();
    let rest = line[at..].trim_start_matches(['=', '"', ':', ' ']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn summarize(kind: &'static str, starts: &[Start]) -> KindSummary {
    let of = |f: &dyn Fn(&Start) -> Option<f64>| -> Option<Spread> {
        spread(
            starts
                .iter()
                .filter(|s| s.kind == kind)
                .filter_map(f)
                .collect(),
        )
    };
    let kib = |v: Option<u64>| v.map(|v| v as f64);
    KindSummary {
        kind,
        runs: starts.iter().filter(|s| s.kind == kind).count(),
        ready_ms: of(&|s| Some(s.ready_ms)),
        first_connect_ms: of(&|s| s.first_connect_ms),
        server_logged_ms: of(&|s| s.server_logged_ms),
        rss_at_ready_kib: of(&|s| kib(s.at_ready.rss_kib)),
        hwm_at_ready_kib: of(&|s| kib(s.at_ready.hwm_kib)),
        rss_idle_kib: of(&|s| kib(s.after_idle.rss_kib)),
        hwm_idle_kib: of(&|s| kib(s.after_idle.hwm_kib)),
        rss_anon_idle_kib: of(&|s| kib(s.after_idle.rss_anon_kib)),
        rss_file_idle_kib: of(&|s| kib(s.after_idle.rss_file_kib)),
    }
}

fn table(report: &Report) -> String {
    use std::fmt::Write as _;
    let cell = |s: &Option<Spread>, scale: f64, d: usize| -> String {
        s.as_ref().map_or("-".into(), |s| {
            format!(
                "{:.d$} ({:.d$}–{:.d$})",
                s.median * scale,
                s.min * scale,
                s.max * scale
            )
        })
    };
    let mib = 1.0 / 1024.0;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nStart-up and idle memory, median (min–max) of {} starts each; probe every {} µs, idle {} s",
        report.starts.iter().filter(|s| s.kind == "fresh").count(),
        report.poll_interval_us,
        report.idle_s
    );
    type Row<'a> = (&'a str, &'a dyn Fn(&KindSummary) -> String);
    let rows: [Row<'_>; 9] = [
        ("start → ready (ms)", &|k| cell(&k.ready_ms, 1.0, 1)),
        ("start → listening (ms)", &|k| {
            cell(&k.first_connect_ms, 1.0, 1)
        }),
        ("server-logged start-up (ms)", &|k| {
            cell(&k.server_logged_ms, 1.0, 1)
        }),
        ("VmRSS at ready (MiB)", &|k| {
            cell(&k.rss_at_ready_kib, mib, 1)
        }),
        ("VmHWM at ready (MiB)", &|k| {
            cell(&k.hwm_at_ready_kib, mib, 1)
        }),
        ("VmRSS after idle (MiB)", &|k| cell(&k.rss_idle_kib, mib, 1)),
        ("VmHWM after idle (MiB)", &|k| cell(&k.hwm_idle_kib, mib, 1)),
        ("  of which anonymous (MiB)", &|k| {
            cell(&k.rss_anon_idle_kib, mib, 1)
        }),
        ("  of which file-backed (MiB)", &|k| {
            cell(&k.rss_file_idle_kib, mib, 1)
        }),
    ];
    let _ = write!(t, "{:<30}", "");
    for k in &report.summary {
        let _ = write!(t, " {:>26}", format!("{} data dir", k.kind));
    }
    let _ = writeln!(t);
    for (label, f) in rows {
        let _ = write!(t, "{label:<30}");
        for k in &report.summary {
            let _ = write!(t, " {:>26}", f(k));
        }
        let _ = writeln!(t);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_logged_startup_time() {
        assert_eq!(
            logged_startup_ms("2026-01-01T00:00:00Z  INFO ivschat_server: ready startup_ms=12.5 x"),
            Some(12.5)
        );
        assert_eq!(
            logged_startup_ms(r#"{"fields":{"startup_ms":7.25,"message":"ready"}}"#),
            Some(7.25)
        );
        assert_eq!(logged_startup_ms("no such field"), None);
    }
}

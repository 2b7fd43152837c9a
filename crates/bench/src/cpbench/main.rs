//! `ivschat-cpbench`: a closed-loop load generator for the ivschat control plane.
//!
//! `--concurrency` HTTP/1.1 keep-alive connections (hyper 1, one request in flight on each,
//! no pipelining) send one operation as fast as the server answers, every request signed
//! with SigV4 for the current second. The rooms the operation needs are created first (with
//! the AWS SDK) and deleted at the end. After `--warmup`, it measures for `--duration`:
//! requests per second, latency (HDR histogram, p50/p90/p99/max), status counts, and the CPU
//! used by the server (`--server-pid`), by the generator itself and by everything else, so a
//! reader sees whether the generator was the bottleneck on a small machine.
//!
//! Only loopback addresses are ever contacted.

#[path = "../loopback.rs"]
mod loopback;
#[path = "../proc_read.rs"]
mod proc_read;
mod procfs;
mod report;
#[path = "../signer.rs"]
mod signer;
#[path = "../spread.rs"]
mod spread;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, ensure, Context, Result};
use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use loopback::loopback_address;
use tokio::net::TcpStream;
use tokio::time::Instant;

use report::{ConnOutcome, RunInfo};
use signer::{FastSigner, SigningIdentity, Template};

/// Closed-loop, SigV4-signed load on one ivschat control-plane operation.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Control-plane endpoint (must resolve to a loopback address).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// The operation to load.
    #[arg(long, value_enum, default_value = "get-room")]
    operation: Operation,
    /// Connections, each with one request in flight (closed loop).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Length of the measurement window.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before the measurement window (not counted).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Rooms to create; connection i uses room i mod N.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// `fast`: per-request SigV4 with the day's signing key cached (checked against aws-sigv4
    /// at start). `aws-sigv4`: the aws-sigv4 crate for every request, as the Rust SDK does.
    #[arg(long, value_enum, default_value = "fast")]
    signer: SignerKind,
    /// Generator worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The server's process id: its CPU time and memory are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A name for this run in the table and the JSON.
    #[arg(long, default_value = "")]
    label: String,
    /// No per-second progress lines.
    #[arg(long)]
    quiet: bool,
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
    /// Instead of running: print the median (min–max) of these JSON results, grouped by
    /// operation, and write them as JSON to `--json` if given.
    #[arg(long, num_args = 1.., value_name = "RESULT.json")]
    summarize: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Operation {
    /// POST /CreateChatToken {roomIdentifier, userId, capabilities}: seals a token.
    CreateChatToken,
    /// POST /GetRoom {identifier}: one store read.
    GetRoom,
    /// POST /ListRooms {maxResults: 10}.
    ListRooms,
    /// GET /tags/{resourceArn} (double-encoded path).
    ListTagsForResource,
    /// GET /health, unsigned: the HTTP stack alone, as a ceiling for the signed operations.
    Health,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::CreateChatToken => "CreateChatToken",
            Operation::GetRoom => "GetRoom",
            Operation::ListRooms => "ListRooms",
            Operation::ListTagsForResource => "ListTagsForResource",
            Operation::Health => "health",
        }
    }

    fn needs_room(self) -> bool {
        !matches!(self, Operation::ListRooms | Operation::Health)
    }

    fn signed(self) -> bool {
        self != Operation::Health
    }

    /// The request for connection `conn` on room `room_arn`.
    fn template(self, host: &str, room_arn: &str, conn: usize) -> Template {
        let (method, raw_path, body) = match self {
            Operation::CreateChatToken => (
                "POST",
                "/CreateChatToken".to_string(),
                serde_json::json!({
                    "roomIdentifier": room_arn,
                    "userId": format!("bench-user-{conn}"),
                    "capabilities": ["SEND_MESSAGE"],
                })
                .to_string(),
            ),
            Operation::GetRoom => (
                "POST",
                "/GetRoom".to_string(),
                serde_json::json!({ "identifier": room_arn }).to_string(),
            ),
            Operation::ListRooms => (
                "POST",
                "/ListRooms".to_string(),
                r#"{"maxResults":10}"#.to_string(),
            ),
            Operation::ListTagsForResource => (
                "GET",
                format!("/tags/{}", encode_label(room_arn)),
                String::new(),
            ),
            Operation::Health => ("GET", "/health".to_string(), String::new()),
        };
        Template {
            method,
            raw_path,
            host: host.to_string(),
            body: body.into_bytes(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SignerKind {
    Fast,
    AwsSigv4,
}

/// An ARN as a single path label, as the SDKs send it: everything but unreserved bytes `%XX`.
fn encode_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(format!("not a duration: {s:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.summarize.is_empty() {
        return match report::summarize(&args.summarize, args.json.as_deref()) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    // One thread: a current-thread runtime (no work-stealing bookkeeping), so the generator
    // spends as little of a small machine as it can.
    let threads = args.threads.max(1);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(4),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `host:port` of an `http://` endpoint.
fn authority(endpoint: &str) -> Result<&str> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--endpoint must start with http:// (got {endpoint})"))?;
    Ok(rest.trim_end_matches('/'))
}

fn sdk_client(args: &Args) -> aws_sdk_ivschat::Client {
    let config = aws_sdk_ivschat::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(args.region.clone()))
        .endpoint_url(args.endpoint.trim_end_matches('/'))
        .credentials_provider(Credentials::new(
            args.access_key.clone(),
            args.secret_key.clone(),
            None,
            None,
            "ivschat-cpbench",
        ))
        .build();
    aws_sdk_ivschat::Client::from_conf(config)
}

async fn create_rooms(client: &aws_sdk_ivschat::Client, count: usize) -> Result<Vec<String>> {
    let run_id = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut arns = Vec::with_capacity(count);
    for i in 0..count {
        let created = client
            .create_room()
            .name(format!("cpbench-{run_id}-{i}"))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "CreateRoom: {}",
                    aws_sdk_ivschat::error::DisplayErrorContext(e)
                )
            });
        match created.and_then(|out| out.arn.context("CreateRoom returned no arn")) {
            Ok(arn) => arns.push(arn),
            Err(e) => {
                delete_rooms(client, &arns).await;
                return Err(e);
            }
        }
    }
    Ok(arns)
}

/// Deletes the rooms; returns how many could not be deleted.
async fn delete_rooms(client: &aws_sdk_ivschat::Client, arns: &[String]) -> usize {
    let mut failed = 0;
    for arn in arns {
        if client.delete_room().identifier(arn).send().await.is_err() {
            failed += 1;
        }
    }
    failed
}

/// The phases of a run, shared by every connection.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    measure_from: Instant,
    end: Instant,
}

async fn run(args: Args) -> Result<bool> {
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    ensure!(args.rooms > 0, "--rooms must be at least 1");
    ensure!(!args.duration.is_zero(), "--duration must be more than 0");
    let host = authority(&args.endpoint)?.to_string();
    let addr = loopback_address(&host, 80).await?;
    let identity = SigningIdentity {
        access_key: args.access_key.clone(),
        secret_key: args.secret_key.clone(),
        region: args.region.clone(),
    };

    let client = sdk_client(&args);
    let rooms = if args.operation.needs_room() {
        create_rooms(&client, args.rooms).await?
    } else {
        Vec::new()
    };
    let arn_of = |conn: usize| rooms.get(conn % rooms.len().max(1)).map_or("", |s| s);
    let templates: Vec<Template> = (0..args.concurrency)
        .map(|conn| args.operation.template(&host, arn_of(conn), conn))
        .collect();
    if args.operation.signed() {
        // The fast signer must produce byte-for-byte what aws-sigv4 does.
        FastSigner::self_test(&identity, &templates[0])?;
    }

    let outcome = load(&args, addr, &identity, templates).await;
    let leftover = delete_rooms(&client, &rooms).await;
    let (summary, clean) = match outcome {
        Ok((outcomes, timeline_info)) => {
            let info = RunInfo {
                label: &args.label,
                operation: args.operation.name(),
                concurrency: args.concurrency,
                threads: args.threads,
                rooms: rooms.len(),
                signer: match args.signer {
                    SignerKind::Fast => "fast",
                    SignerKind::AwsSigv4 => "aws-sigv4",
                },
                warmup: args.warmup,
                server_pid: args.server_pid,
                rooms_left_behind: leftover,
            };
            let summary = report::summary(&info, &outcomes, timeline_info);
            let clean = summary.non_2xx == 0 && summary.io_errors == 0 && leftover == 0;
            (summary, clean)
        }
        Err(e) => return Err(e),
    };
    print!("{}", report::table(&summary));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if leftover > 0 {
        eprintln!("warning: {leftover} room(s) could not be deleted");
    }
    Ok(clean)
}

/// Runs the load and returns every connection's outcome plus the measured CPU and memory.
async fn load(
    args: &Args,
    addr: SocketAddr,
    identity: &SigningIdentity,
    templates: Vec<Template>,
) -> Result<(Vec<ConnOutcome>, report::Measured)> {
    let start = Instant::now();
    let timeline = Timeline {
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
    };
    let completed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(templates.len());
    for template in templates {
        let mode = match (args.operation.signed(), args.signer) {
            (false, _) => Signing::None,
            (true, SignerKind::Fast) => {
                Signing::Fast(Box::new(FastSigner::new(identity.clone(), &template)))
            }
            (true, SignerKind::AwsSigv4) => Signing::AwsSigv4(identity.clone()),
        };
        tasks.push(tokio::spawn(connection(
            addr,
            template,
            mode,
            timeline,
            completed.clone(),
        )));
    }
    let watchdog_deadline = timeline.end + Duration::from_secs(30);
    tokio::spawn(async move {
        tokio::time::sleep_until(watchdog_deadline).await;
        eprintln!("watchdog: requests still in flight 30 s after the end; giving up");
        std::process::exit(3);
    });

    // Progress once a second; CPU and memory at the window's edges.
    let server_pid = args.server_pid;
    tokio::time::sleep_until(timeline.measure_from).await;
    let cpu_from = procfs::CpuSnapshot::take(server_pid);
    let rss_from = server_pid.and_then(|p| procfs::status_kib(p, "VmRSS:"));
    let mut last = completed.load(Ordering::Relaxed);
    let mut tick = timeline.measure_from;
    while tick < timeline.end {
        let next = (tick + Duration::from_secs(1)).min(timeline.end);
        tokio::time::sleep_until(next).await;
        let now = completed.load(Ordering::Relaxed);
        if !args.quiet {
            let secs = next.duration_since(tick).as_secs_f64().max(1e-9);
            eprintln!(
                "t={:>5.1}s  {:>9.0} req/s",
                next.duration_since(timeline.measure_from).as_secs_f64(),
                (now - last) as f64 / secs
            );
        }
        last = now;
        tick = next;
    }
    let cpu_to = procfs::CpuSnapshot::take(server_pid);
    let measured = report::Measured {
        window: timeline.end.duration_since(timeline.measure_from),
        cpu: procfs::cpu_use(&cpu_from, &cpu_to),
        server_rss_kib_before: rss_from,
        server_rss_kib_after: server_pid.and_then(|p| procfs::status_kib(p, "VmRSS:")),
        server_hwm_kib: server_pid.and_then(|p| procfs::status_kib(p, "VmHWM:")),
    };
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.context("a connection task panicked")?);
    }
    Ok((outcomes, measured))
}

enum Signing {
    None,
    Fast(Box<FastSigner>),
    AwsSigv4(SigningIdentity),
}

/// One keep-alive connection: request, wait for the whole answer, repeat until the end.
async fn connection(
    addr: SocketAddr,
    template: Template,
    mut signing: Signing,
    timeline: Timeline,
    completed: Arc<AtomicU64>,
) -> ConnOutcome {
    let mut out = ConnOutcome {
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        statuses: BTreeMap::new(),
        requests: 0,
        io_errors: 0,
        first_error: None,
    };
    // Prepared once: the body, the fixed headers, the URI.
    let body = Bytes::from(template.body.clone());
    let host = HeaderValue::from_str(&template.host).expect("host is a valid header value");
    let content_type = HeaderValue::from_static("application/json");
    let method = Method::from_bytes(template.method.as_bytes()).expect("valid method");
    let uri: http::Uri = template.raw_path.parse().expect("a valid path");
    let mut date_second = u64::MAX;
    let mut date = String::new();

    'reconnect: while Instant::now() < timeline.end {
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => {
                note_error(&mut out, format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(pair) => pair,
                Err(e) => {
                    note_error(&mut out, format!("handshake: {e}"));
                    continue;
                }
            };
        // The connection is driven by this task too (polled alongside each request below)
        // rather than by a task of its own: no cross-task wake-up per request.
        let mut conn = std::pin::pin!(conn);
        loop {
            let started = Instant::now();
            if started >= timeline.end {
                break 'reconnect;
            }
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            let headers = request.headers_mut();
            headers.insert(http::header::HOST, host.clone());
            if !body.is_empty() {
                headers.insert(http::header::CONTENT_TYPE, content_type.clone());
            }
            match &mut signing {
                Signing::None => {}
                Signing::Fast(signer) => {
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    if now != date_second {
                        date_second = now;
                        date = signer::amz_date(now);
                    }
                    let signed = signer.sign(&date);
                    insert_signed(headers, &signed);
                }
                Signing::AwsSigv4(identity) => {
                    match signer::sign_with_aws_sigv4(identity, &template, SystemTime::now()) {
                        Ok(signed) => insert_signed(headers, &signed),
                        Err(e) => {
                            note_error(&mut out, format!("signing: {e:#}"));
                            break 'reconnect;
                        }
                    }
                }
            }
            let exchange = async {
                sender
                    .ready()
                    .await
                    .map_err(|e| format!("connection not ready: {e}"))?;
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| format!("request: {e}"))?;
                let status = response.status().as_u16();
                let error_type = (status >= 300).then(|| {
                    response
                        .headers()
                        .get("x-amzn-errortype")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                });
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("response body: {e}"))?;
                Ok::<_, String>((status, error_type))
            };
            let result = tokio::select! {
                biased;
                result = exchange => result,
                closed = &mut conn => Err(match closed {
                    Ok(()) => "the server closed the connection".to_string(),
                    Err(e) => format!("connection: {e}"),
                }),
            };
            let (status, error_type) = match result {
                Ok(answer) => answer,
                Err(e) => {
                    note_error(&mut out, e);
                    continue 'reconnect;
                }
            };
            let finished = Instant::now();
            completed.fetch_add(1, Ordering::Relaxed);
            if started >= timeline.measure_from && finished <= timeline.end {
                let micros = finished.duration_since(started).as_micros() as u64;
                let _ = out.latency.record(micros.max(1));
                out.requests += 1;
                let key = match error_type {
                    Some(t) if !t.is_empty() => format!("{status} {t}"),
                    _ => status.to_string(),
                };
                *out.statuses.entry(key).or_insert(0) += 1;
            }
        }
    }
    out
}

fn insert_signed(headers: &mut http::HeaderMap, signed: &signer::Signed) {
    if let Ok(v) = HeaderValue::from_str(&signed.amz_date) {
        headers.insert("x-amz-date", v);
    }
    if let Ok(v) = HeaderValue::from_str(&signed.authorization) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
}

fn note_error(out: &mut ConnOutcome, message: String) {
    out.io_errors += 1;
    out.first_error.get_or_insert(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_encoded_like_the_sdks() {
        assert_eq!(
            encode_label("arn:aws:ivschat:us-east-1:000000000000:room/abc"),
            "arn%3Aaws%3Aivschat%3Aus-east-1%3A000000000000%3Aroom%2Fabc"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("x").is_err());
    }
}

//! `ivschat-replaybench`: how fast a room's history reaches a joining client (issue 22,
//! README "Extensions (not AWS)").
//!
//! Creates a room tagged `ivschat-server:history=<messages>` and `ivschat-server:replay=on`,
//! fills its history with `--messages` messages from several senders, then, `--joins` times one
//! after the other, opens a chat connection and reads until it has every replayed frame. For
//! each join it times, from the start of the TCP connect: the 101 (the handshake, which
//! includes the history read), and the last replayed frame. The same joins into a room without
//! our tags give the handshake alone, for comparison. Prints p50/p90/p99/max in ms. The rooms
//! are deleted at the end. Only loopback addresses are contacted.
//!
//! `--since-last K`: each join asks with `?ivschat-server-since=<Id>` for only the last K
//! messages (docs/protocol/messaging.md §13). `--redis-url URL` (the scale-out node's Redis,
//! private to the run): instead of timings, prints the Redis work per replaying join, from
//! `redis-cli INFO` read right before and after the joins (no other joins in between):
//! commands, the stream reads (`XRANGE`/`XREVRANGE`, counted by Redis also when a script
//! calls them), script calls, and bytes Redis sent. The node's own background traffic
//! (heartbeats, connection counts, presence renewals) over those seconds is included.

#[path = "../loopback.rs"]
mod loopback;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ivschat::types::ChatTokenCapability;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Time for a joining client to receive a room's history.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Control-plane and chat endpoint (must resolve to a loopback address).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "test", env = "IVSCHAT_BENCH_ACCESS_KEY")]
    access_key: String,
    #[arg(long, default_value = "test", env = "IVSCHAT_BENCH_SECRET_KEY")]
    secret_key: String,
    /// Messages kept and replayed (1..=1000).
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Joins measured (one after the other).
    #[arg(long, default_value_t = 200)]
    joins: usize,
    /// Bytes of content per message.
    #[arg(long, default_value_t = 100)]
    content_bytes: usize,
    /// Each join asks for only the last K messages (`?ivschat-server-since=`); 0: all.
    #[arg(long, default_value_t = 0)]
    since_last: usize,
    /// The node's Redis (scale-out, private to the run): print the Redis work per join.
    #[arg(long)]
    redis_url: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    ensure!(
        (1..=1000).contains(&args.messages),
        "--messages must be from 1 to 1000"
    );
    ensure!(
        args.since_last < args.messages,
        "--since-last must be below --messages"
    );
    let authority = args
        .endpoint
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--endpoint must start with http://"))?
        .trim_end_matches('/')
        .to_string();
    loopback::loopback_address(&authority, 80).await?;
    let sdk = sdk_client(&args);
    let kept = args.messages.to_string();
    let replaying = sdk
        .create_room()
        .maximum_message_rate_per_second(100)
        .tags("ivschat-server:history", &kept)
        .tags("ivschat-server:replay", "on")
        .send()
        .await
        .context("CreateRoom")?
        .arn
        .context("no arn")?;
    let plain = sdk
        .create_room()
        .send()
        .await
        .context("CreateRoom")?
        .arn
        .context("no arn")?;
    let result = measure(&args, &sdk, &authority, &replaying, &plain).await;
    for arn in [&replaying, &plain] {
        let _ = sdk.delete_room().identifier(arn).send().await;
    }
    result
}

async fn measure(
    args: &Args,
    sdk: &aws_sdk_ivschat::Client,
    authority: &str,
    replaying: &str,
    plain: &str,
) -> Result<()> {
    let ids = fill(args, sdk, authority, replaying).await?;
    // The frames a join gets, and the `since` it asks with.
    let (frames, since) = match args.since_last {
        0 => (args.messages, None),
        k => (k, Some(ids[ids.len() - 1 - k].as_str())),
    };
    if let Some(url) = &args.redis_url {
        return redis_work(args, sdk, authority, replaying, url, frames, since).await;
    }
    let mut handshake = histogram()?;
    let mut replayed = histogram()?;
    let mut plain_handshake = histogram()?;
    for _ in 0..args.joins {
        let (open, last) = join(sdk, authority, replaying, frames, since).await?;
        handshake.record(open.as_micros() as u64)?;
        replayed.record(last.as_micros() as u64)?;
        let (open, _) = join(sdk, authority, plain, 0, None).await?;
        plain_handshake.record(open.as_micros() as u64)?;
    }
    println!(
        "replay of {frames} of {} messages ({} content bytes each), {} joins, ms from TCP connect:",
        args.messages, args.content_bytes, args.joins
    );
    print_row("101, room without history", &plain_handshake);
    print_row("101, replaying room", &handshake);
    print_row("last replayed frame", &replayed);
    Ok(())
}

/// `--redis-url`: the replaying joins alone, between two readings of Redis's counters.
async fn redis_work(
    args: &Args,
    sdk: &aws_sdk_ivschat::Client,
    authority: &str,
    room: &str,
    url: &str,
    frames: usize,
    since: Option<&str>,
) -> Result<()> {
    let before = redis_counters(url)?;
    for _ in 0..args.joins {
        join(sdk, authority, room, frames, since).await?;
    }
    let after = redis_counters(url)?;
    let per_join = |key: &str| {
        (after.get(key).unwrap_or(&0.0) - before.get(key).unwrap_or(&0.0)) / args.joins as f64
    };
    println!(
        "Redis work per replaying join: {} joins, {frames} of {} messages replayed ({} content \
         bytes each), since: {}",
        args.joins,
        args.messages,
        args.content_bytes,
        since.unwrap_or("none")
    );
    println!(
        "  commands processed          {:>10.1}",
        per_join("total_commands_processed")
    );
    println!(
        "  XRANGE + XREVRANGE calls    {:>10.1}   µs in them {:>8.1}",
        per_join("xrange_calls") + per_join("xrevrange_calls"),
        per_join("xrange_usec") + per_join("xrevrange_usec")
    );
    println!(
        "  EVALSHA calls               {:>10.1}   µs in them {:>8.1}",
        per_join("evalsha_calls"),
        per_join("evalsha_usec")
    );
    println!(
        "  bytes sent by Redis         {:>10.0}",
        per_join("total_net_output_bytes")
    );
    Ok(())
}

/// `redis-cli INFO` counters: `total_*` of `stats`, and `<command>_calls`/`<command>_usec`
/// of `commandstats`.
fn redis_counters(url: &str) -> Result<std::collections::HashMap<String, f64>> {
    let output = std::process::Command::new("redis-cli")
        .args(["-u", url, "INFO", "everything"])
        .output()
        .context("running redis-cli")?;
    ensure!(output.status.success(), "redis-cli INFO failed");
    let mut counters = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((name, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        if let Some(command) = name.strip_prefix("cmdstat_") {
            for field in value.split(',') {
                if let Some((key, number)) = field.split_once('=') {
                    if let Ok(number) = number.parse::<f64>() {
                        counters.insert(format!("{command}_{key}"), number);
                    }
                }
            }
        } else if name.starts_with("total_") {
            if let Ok(number) = value.parse::<f64>() {
                counters.insert(name.to_string(), number);
            }
        }
    }
    Ok(counters)
}

/// Fills the room's history: ten senders, so the connection rate (10/s) is no limit. Returns
/// the messages' `Id`s, oldest first.
async fn fill(
    args: &Args,
    sdk: &aws_sdk_ivschat::Client,
    authority: &str,
    room: &str,
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(args.messages);
    let content = "x".repeat(args.content_bytes);
    let senders = 10.min(args.messages);
    let mut sent = 0;
    let mut connections = Vec::new();
    for s in 0..senders {
        let token = token(sdk, room, &format!("sender{s}"), true).await?;
        connections.push(connect(authority, &token).await?);
    }
    while sent < args.messages {
        for ws in connections.iter_mut() {
            if sent == args.messages {
                break;
            }
            let request = format!(
                r#"{{"Action":"SEND_MESSAGE","RequestId":"r{sent}","Content":"{content}"}}"#
            );
            ws.send(Message::Text(request.into())).await?;
            // The echo: the message is kept before it is delivered.
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) if text.contains(&format!("\"r{sent}\"")) => {
                        ensure!(text.contains("\"MESSAGE\""), "refused: {text}");
                        let frame: serde_json::Value = serde_json::from_str(&text)?;
                        let id = frame["Id"].as_str().context("a MESSAGE without Id")?;
                        ids.push(id.to_string());
                        break;
                    }
                    Some(Ok(_)) => {}
                    other => return Err(anyhow!("sender connection ended: {other:?}")),
                }
            }
            sent += 1;
        }
        // Within each connection's 10 requests per second.
        tokio::time::sleep(Duration::from_millis(110)).await;
    }
    Ok(ids)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(authority: &str, token: &str) -> Result<Socket> {
    connect_since(authority, token, None).await
}

/// Connects, asking for only the frames after `since` when given.
async fn connect_since(authority: &str, token: &str, since: Option<&str>) -> Result<Socket> {
    let url = match since {
        Some(since) => format!("ws://{authority}/?ivschat-server-since={since}"),
        None => format!("ws://{authority}/"),
    };
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", token.parse()?);
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(ws)
}

/// One join: (time to the 101, time to the `frames`-th frame), both from the TCP connect.
async fn join(
    sdk: &aws_sdk_ivschat::Client,
    authority: &str,
    room: &str,
    frames: usize,
    since: Option<&str>,
) -> Result<(Duration, Duration)> {
    let token = token(sdk, room, "joiner", false).await?;
    let started = Instant::now();
    let mut ws = connect_since(authority, &token, since).await?;
    let open = started.elapsed();
    let mut received = 0;
    while received < frames {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => received += 1,
            Ok(Some(Ok(_))) => {}
            other => return Err(anyhow!("replay ended after {received} frames: {other:?}")),
        }
    }
    let last = started.elapsed();
    let _ = ws.close(None).await;
    Ok((open, last))
}

async fn token(
    sdk: &aws_sdk_ivschat::Client,
    room: &str,
    user: &str,
    sends: bool,
) -> Result<String> {
    let mut request = sdk.create_chat_token().room_identifier(room).user_id(user);
    if sends {
        request = request.capabilities(ChatTokenCapability::SendMessage);
    }
    request
        .send()
        .await
        .context("CreateChatToken")?
        .token
        .context("no token")
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
            "ivschat-replaybench",
        ))
        .build();
    aws_sdk_ivschat::Client::from_conf(config)
}

fn histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

fn print_row(what: &str, h: &Histogram<u64>) {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "  {what:<28} p50 {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  max {:>7.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        h.max() as f64 / 1000.0
    );
}

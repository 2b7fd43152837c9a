//! `floor-server`: the smallest WebSocket fan-out server on ivschat-server's own stack (tokio and
//! tokio-tungstenite), used as a floor in the benchmarks (`ivschat-bench --target bare`).
//!
//! No chat logic: no tokens, no JSON, no limits, no control plane. A connection to
//! `ws://ADDR/<path>` joins the room named by the path; each text frame it sends is broadcast,
//! serialised once (one shared `Utf8Bytes`), to every connection of that room, itself included.
//! What is left is the cost of the runtime, the WebSocket codec and the kernel.
//!
//! Two designs (`--design`), so that the floor is the strongest simple server we can write,
//! not just one of them (BENCHMARKS.md, "The floor"):
//! - `writer-task` (default): each connection's socket is split; a writer task takes the first
//!   queued frame, feeds every other frame already queued for it, then flushes once (one
//!   `write` for the whole batch: tungstenite's default 128 KiB write threshold), while the
//!   reader task only reads and broadcasts. Nothing on the delivery path waits for a read.
//! - `select`: one task per connection selects between its reads and its room's queue and
//!   writes up to 64 frames per flush through a 4 KiB write buffer (the real server's
//!   settings before issue 24; kept to compare).
//!
//! Both keep a 1 KiB read buffer and a 1,024-frame room backlog after which a lagging
//! connection is closed (1008), as the real server does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{ensure, Context, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames a room keeps for connections that are behind (the server's `ROOM_BACKLOG`).
const ROOM_BACKLOG: usize = 1024;
/// Most frames written before one flush (the server's `WRITE_BATCH`).
const WRITE_BATCH: usize = 64;

/// Minimal WebSocket fan-out server (benchmark floor; loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (a loopback address).
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// How a connection's frames are written (see the module documentation).
    #[arg(long, value_enum, default_value = "writer-task")]
    design: Design,
}

/// `--design`: how a connection writes what its room broadcasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Design {
    /// A writer task per connection: every queued frame fed, then one flush.
    WriterTask,
    /// One task per connection selecting between reads and writes, 64 frames per flush.
    Select,
}

/// Room name (the URL path) → its broadcast channel.
type Rooms = Arc<Mutex<HashMap<String, broadcast::Sender<Utf8Bytes>>>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.listen.ip().is_loopback(),
        "--listen must be a loopback address"
    );
    // One descriptor per connection: raise the soft limit as far as the hard one allows.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    println!(
        "listening on {} ({:?})",
        listener.local_addr()?,
        args.design
    );
    serve(listener, args.design).await
}

/// Accepts connections for ever, one task each.
async fn serve(listener: TcpListener, design: Design) -> Result<()> {
    let rooms = Rooms::default();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(session(stream, rooms.clone(), design));
    }
}

async fn session(stream: TcpStream, rooms: Rooms, design: Design) {
    let _ = stream.set_nodelay(true);
    let config = match design {
        Design::WriterTask => WebSocketConfig::default().read_buffer_size(1024),
        Design::Select => WebSocketConfig::default()
            .read_buffer_size(1024)
            .write_buffer_size(4 * 1024),
    };
    let mut path = String::new();
    // tungstenite's callback type has a large error variant; it is never built here.
    #[allow(clippy::result_large_err)]
    let remember_path = |request: &Request, response: Response| {
        path = request.uri().path().to_string();
        Ok(response)
    };
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, remember_path, Some(config)).await
    else {
        return;
    };
    // Join (or open) the room. Subscribing under the lock means a room being forgotten by
    // its last leaver (below) cannot be joined at the same moment.
    let (room, inbox) = {
        let mut rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
        let room = rooms
            .entry(path.clone())
            .or_insert_with(|| broadcast::channel(ROOM_BACKLOG).0);
        (room.clone(), room.subscribe())
    };
    match design {
        Design::WriterTask => split_session(ws, &room, inbox).await,
        Design::Select => select_session(ws, &room, inbox).await,
    }
    // Forget the room once its last connection has gone.
    let mut rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
    if room.receiver_count() == 0 {
        rooms.remove(&path);
    }
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// `--design writer-task`: the reader broadcasts, a writer task per connection drains the
/// room's queue; whichever ends first ends the other.
async fn split_session(ws: Ws, room: &broadcast::Sender<Utf8Bytes>, mut inbox: Inbox) {
    let (mut sink, mut stream) = ws.split();
    let writer = async move {
        loop {
            match inbox.recv().await {
                Ok(frame) => {
                    // Every frame already queued goes into the same write, then one flush.
                    let mut ok = sink.feed(Message::Text(frame)).await.is_ok();
                    while ok {
                        // Lagged: the next recv() reports it and closes.
                        let Ok(frame) = inbox.try_recv() else { break };
                        ok = sink.feed(Message::Text(frame)).await.is_ok();
                    }
                    if !ok || sink.flush().await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let close = CloseFrame {
                        code: CloseCode::Policy,
                        reason: "too slow".into(),
                    };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            }
        }
    };
    let reader = async move {
        while let Some(Ok(message)) = stream.next().await {
            // Broadcast as is: the frame's bytes are shared, never copied per receiver.
            if let Message::Text(text) = message {
                let _ = room.send(text);
            }
        }
    };
    let mut writer = tokio::spawn(writer);
    tokio::select! {
        _ = reader => {
            writer.abort();
            // Wait for the abort, so the inbox is gone before the room's count is read.
            let _ = writer.await;
        }
        _ = &mut writer => {}
    }
}

type Inbox = broadcast::Receiver<Utf8Bytes>;

/// `--design select`: one task selects between the connection's reads and its room's queue.
async fn select_session(mut ws: Ws, room: &broadcast::Sender<Utf8Bytes>, mut inbox: Inbox) {
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                // Broadcast as is: the frame's bytes are shared, never copied per receiver.
                Some(Ok(Message::Text(text))) => {
                    let _ = room.send(text);
                }
                // Pings are answered and a close is echoed by tungstenite on the next read;
                // the stream then ends.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            frame = inbox.recv() => match frame {
                Ok(frame) => {
                    // Write what is queued (up to a batch), then flush once.
                    let mut ok = ws.feed(Message::Text(frame)).await.is_ok();
                    let mut batched = 1;
                    while ok && batched < WRITE_BATCH {
                        // Lagged: the next recv() reports it and closes.
                        let Ok(frame) = inbox.try_recv() else { break };
                        ok = ws.feed(Message::Text(frame)).await.is_ok();
                        batched += 1;
                    }
                    if !ok || ws.flush().await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let close = CloseFrame { code: CloseCode::Policy, reason: "too slow".into() };
                    let _ = ws.close(Some(close)).await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_frame_reaches_everyone_in_its_room_only() {
        for design in [Design::WriterTask, Design::Select] {
            reaches_everyone_in_its_room_only(design).await;
        }
    }

    async fn reaches_everyone_in_its_room_only(design: Design) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, design));
        let connect = |path: &'static str| async move {
            let url = format!("ws://{addr}{path}");
            tokio_tungstenite::connect_async(url).await.unwrap().0
        };
        let mut a = connect("/room/1").await;
        let mut b = connect("/room/1").await;
        let mut other = connect("/room/2").await;
        // The server subscribes right after the handshake; give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.send(Message::text("hello")).await.unwrap();
        for ws in [&mut a, &mut b] {
            let got = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
            assert_eq!(got.unwrap().unwrap().unwrap(), Message::text("hello"));
        }
        let nothing = tokio::time::timeout(Duration::from_millis(200), other.next()).await;
        assert!(nothing.is_err(), "room 2 must not get room 1's frame");
        // A burst is written in batches: all of it arrives, in order.
        for i in 0..500 {
            a.feed(Message::text(i.to_string())).await.unwrap();
        }
        a.flush().await.unwrap();
        for i in 0..500 {
            let got = tokio::time::timeout(Duration::from_secs(5), b.next()).await;
            assert_eq!(
                got.unwrap().unwrap().unwrap(),
                Message::text(i.to_string()),
                "{design:?}"
            );
        }
    }
}

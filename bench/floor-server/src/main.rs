//! `floor-server`: the smallest WebSocket fan-out server on ivschat-server's own stack (tokio and
//! tokio-tungstenite), used as a floor in the benchmarks (`ivschat-bench --target bare`).
//!
//! No chat logic: no tokens, no JSON, no limits, no control plane. A connection to
//! `ws://ADDR/<path>` joins the room named by the path; each text frame it sends is broadcast,
//! serialised once (one shared `Utf8Bytes`), to every connection of that room, itself included.
//! What is left is the cost of the runtime, the WebSocket codec and the kernel.
//!
//! Sessions mirror the real server's choices where they affect the figures: 1 KiB read and
//! 4 KiB write buffers, up to 64 frames written per flush, a 1,024-frame room backlog after
//! which a lagging connection is closed (1008).

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
    println!("listening on {}", listener.local_addr()?);
    serve(listener).await
}

/// Accepts connections for ever, one task each.
async fn serve(listener: TcpListener) -> Result<()> {
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
        tokio::spawn(session(stream, rooms.clone()));
    }
}

async fn session(stream: TcpStream, rooms: Rooms) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(4 * 1024);
    let mut path = String::new();
    // tungstenite's callback type has a large error variant; it is never built here.
    #[allow(clippy::result_large_err)]
    let remember_path = |request: &Request, response: Response| {
        path = request.uri().path().to_string();
        Ok(response)
    };
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, remember_path, Some(config)).await
    else {
        return;
    };
    // Join (or open) the room. Subscribing under the lock means a room being forgotten by
    // its last leaver (below) cannot be joined at the same moment.
    let (room, mut inbox) = {
        let mut rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
        let room = rooms
            .entry(path.clone())
            .or_insert_with(|| broadcast::channel(ROOM_BACKLOG).0);
        (room.clone(), room.subscribe())
    };
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
    drop(inbox);
    // Forget the room once its last connection has gone.
    let mut rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
    if room.receiver_count() == 0 {
        rooms.remove(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_frame_reaches_everyone_in_its_room_only() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
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
    }
}

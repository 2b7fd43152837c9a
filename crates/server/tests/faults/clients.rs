//! Chat clients that send continuously across the nodes and reconnect (to the next node) when
//! their connection ends, and the [`Recorder`] they report every send, answer and delivery
//! to, with the time it happened. The checker (`checker.rs`) judges the record afterwards.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// One connection of one client, from its 101 to its end.
#[derive(Debug, Clone)]
pub struct Incarnation {
    pub client: usize,
    pub node: usize,
    pub connected: Instant,
    pub ended: Option<Instant>,
    pub end_reason: String,
    /// Message ids (`c<client>-<seq>`) received, in order, with when.
    pub received: Vec<(String, Instant)>,
}

#[derive(Debug, Clone)]
pub struct Sent {
    pub id: String,
    pub incarnation: usize,
    pub sent: Instant,
    /// The sender got its MESSAGE back: the acknowledgement.
    pub acked: Option<Instant>,
    /// The sender got an ERROR for it.
    pub refused: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Record {
    pub incarnations: Vec<Incarnation>,
    pub sent: Vec<Sent>,
    /// Failed attempts to connect, per node.
    pub refused_connects: Vec<(usize, String, Instant)>,
}

#[derive(Debug, Default, Clone)]
pub struct Recorder(Arc<Mutex<Record>>);

impl Recorder {
    fn with<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    pub fn snapshot(&self) -> Record {
        self.with(|r| Record {
            incarnations: r.incarnations.clone(),
            sent: r.sent.clone(),
            refused_connects: r.refused_connects.clone(),
        })
    }
}

/// Where the nodes are and how to mint tokens.
#[derive(Clone)]
pub struct Target {
    pub nodes: Vec<SocketAddr>,
    pub room: String,
}

/// A token for `user` in the room, minted on the first node (from `first`) that answers.
async fn mint(target: &Target, first: usize, user: &str) -> Option<String> {
    for k in 0..target.nodes.len() {
        let node = (first + k) % target.nodes.len();
        let client = sdk_client(target.nodes[node]);
        let minted = tokio::time::timeout(
            Duration::from_secs(3),
            client
                .create_chat_token()
                .room_identifier(&target.room)
                .user_id(user)
                .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::SendMessage)
                .send(),
        )
        .await;
        if let Ok(Ok(answer)) = minted {
            return answer.token;
        }
    }
    None
}

/// The AWS SDK for Rust against one node, without retries (the suite retries itself).
pub fn sdk_client(node: SocketAddr) -> aws_sdk_ivschat::Client {
    use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_ivschat::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{node}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "faults"))
        .retry_config(aws_sdk_ivschat::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ivschat::Client::from_conf(config)
}

/// Who a client is and how it behaves.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub client: usize,
    /// The node it connects to first, and again after each connection ends.
    pub home: usize,
    /// Waits for its home node rather than failing over.
    pub pinned: bool,
    /// How often it sends a message.
    pub every: Duration,
}

/// Runs client `client` until `stop` turns true: connects to `home`, sends a message every
/// `every` until `stop_sending`, and when the connection ends connects again: to its home
/// node, or (unless `pinned`) to the next one while that refuses. Pinned clients keep every
/// node populated, so cross-node delivery stays observable after any fault; the others show
/// failover.
pub async fn run_client(
    plan: Plan,
    target: Target,
    recorder: Recorder,
    stop_sending: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let Plan {
        client,
        home,
        pinned,
        every,
    } = plan;
    let mut seq = 0u64;
    let mut node = home;
    while !*stop.borrow() {
        let user = format!("c{client}");
        let attempt = async {
            let token = mint(&target, node, &user).await.ok_or("no token")?;
            let mut request = format!("ws://{}/", target.nodes[node])
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("sec-websocket-protocol", token.parse().unwrap());
            match tokio::time::timeout(
                Duration::from_secs(3),
                tokio_tungstenite::connect_async(request),
            )
            .await
            {
                Ok(Ok((ws, _))) => Ok(ws),
                Ok(Err(_)) => Err("handshake refused"),
                Err(_) => Err("handshake timed out"),
            }
        };
        let ws = match attempt.await {
            Ok(ws) => ws,
            Err(why) => {
                recorder.with(|r| r.refused_connects.push((node, why.into(), Instant::now())));
                // The next node at once; a pause after each full round, which starts at home
                // again: after an outage of the whole cluster, clients land back on their own
                // nodes rather than wherever their round happened to be.
                if !pinned {
                    node = (node + 1) % target.nodes.len();
                }
                if node == home {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = stop.changed() => {}
                    }
                }
                continue;
            }
        };
        let incarnation = recorder.with(|r| {
            r.incarnations.push(Incarnation {
                client,
                node,
                connected: Instant::now(),
                ended: None,
                end_reason: String::new(),
                received: Vec::new(),
            });
            r.incarnations.len() - 1
        });
        let (mut write, mut read) = ws.split();
        let mut ticker = tokio::time::interval(every);
        let reason = loop {
            tokio::select! {
                _ = stop.changed() => {
                    let _ = write.send(Message::Close(None)).await;
                    break "the run ended".to_string();
                }
                _ = ticker.tick() => {
                    if *stop_sending.borrow() {
                        continue;
                    }
                    seq += 1;
                    let id = format!("c{client}-{seq}");
                    recorder.with(|r| r.sent.push(Sent {
                        id: id.clone(), incarnation, sent: Instant::now(),
                        acked: None, refused: None,
                    }));
                    let frame = json!({"Action":"SEND_MESSAGE","RequestId":id,"Content":id});
                    if write.send(Message::Text(frame.to_string().into())).await.is_err() {
                        break "send failed".to_string();
                    }
                }
                frame = read.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let at = Instant::now();
                        let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                        record_frame(&recorder, client, incarnation, &frame, at);
                    }
                    Some(Ok(Message::Close(close))) => {
                        break format!("closed {:?}", close.map(|c| u16::from(c.code)));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("broken: {e}"),
                    None => break "ended".to_string(),
                }
            }
        };
        recorder.with(|r| {
            let inc = &mut r.incarnations[incarnation];
            inc.ended = Some(Instant::now());
            inc.end_reason = reason;
        });
        // Home first again (then the next ones, as attempts fail), so the clients stay spread
        // over the nodes and cross-node delivery stays observable.
        node = home;
    }
}

fn record_frame(
    recorder: &Recorder,
    client: usize,
    incarnation: usize,
    frame: &Value,
    at: Instant,
) {
    match frame["Type"].as_str() {
        Some("MESSAGE") => {
            let Some(id) = frame["Content"].as_str() else {
                return;
            };
            let mine = id.starts_with(&format!("c{client}-"));
            recorder.with(|r| {
                r.incarnations[incarnation]
                    .received
                    .push((id.to_string(), at));
                if mine {
                    if let Some(sent) = r.sent.iter_mut().rev().find(|s| s.id == id) {
                        sent.acked.get_or_insert(at);
                    }
                }
            });
        }
        Some("ERROR") => {
            let (Some(id), Some(code)) = (frame["RequestId"].as_str(), frame["ErrorCode"].as_u64())
            else {
                return;
            };
            recorder.with(|r| {
                if let Some(sent) = r.sent.iter_mut().rev().find(|s| s.id == id) {
                    sent.refused = Some(code);
                }
            });
        }
        _ => {}
    }
}

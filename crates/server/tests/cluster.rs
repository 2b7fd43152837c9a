//! Three `ivschat-server` processes sharing a PostgreSQL database and a Redis server behave as
//! one service. Both come from the environment (`IVSCHAT_TEST_DATABASE_URL`,
//! `IVSCHAT_TEST_REDIS_URL`; `scripts/test.sh` starts private instances); without them these
//! tests skip, see `common/services.rs`. Each test uses its own cluster name, so its PostgreSQL
//! schema and Redis keys are its own; both are removed at the end.

mod common;

use std::time::Duration;

use common::chat::ChatClient;
use common::process::Node;
use ivschat_server::domain::token::TokenKey;
use serde_json::json;

/// A three-node cluster with a fresh schema and key prefix.
struct Cluster {
    name: String,
    database_url: String,
    redis_url: String,
    nodes: Vec<Node>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    /// `None` when the environment names no PostgreSQL or Redis: the test skips (said so).
    fn start(nodes: usize) -> Option<Cluster> {
        let redis_url = common::services::redis_url()?;
        Cluster::start_on(nodes, &redis_url)
    }

    /// A cluster on the given Redis (the environment's PostgreSQL).
    fn start_on(nodes: usize, redis_url: &str) -> Option<Cluster> {
        let token_key = hex::encode(rand::random::<[u8; 32]>());
        Cluster::start_with(nodes, redis_url, Some(&token_key))
    }

    /// Started as README's scale-out section says: each node's data directory does not
    /// exist yet, and without `--token-key` unless `token_key` is given.
    fn start_with(nodes: usize, redis_url: &str, token_key: Option<&str>) -> Option<Cluster> {
        let database_url = common::services::database_url()?;
        Some(Cluster::start_through(
            nodes,
            &database_url,
            &database_url,
            redis_url,
            token_key,
            &[],
        ))
    }

    /// Nodes that reach PostgreSQL at `node_database_url` (a proxy, say) while the test
    /// cleans up through `database_url`.
    /// Every node also gets `extra` arguments.
    fn start_through(
        nodes: usize,
        database_url: &str,
        node_database_url: &str,
        redis_url: &str,
        token_key: Option<&str>,
        extra: &[String],
    ) -> Cluster {
        let database_url = database_url.to_string();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut dirs = Vec::new();
        let mut started = Vec::new();
        for node in 0..nodes {
            let dir = tempfile::tempdir().unwrap();
            let mut args = vec![
                "--data-dir".to_string(),
                dir.path()
                    .join(format!("node-{node}"))
                    .display()
                    .to_string(),
                "--database-url".to_string(),
                node_database_url.to_string(),
                "--bus".to_string(),
                redis_url.to_string(),
                "--cluster-name".to_string(),
                name.clone(),
            ];
            if let Some(key) = token_key {
                args.extend(["--token-key".to_string(), key.to_string()]);
            }
            args.extend(extra.iter().cloned());
            started.push(Node::start(&args, &[]));
            dirs.push(dir);
        }
        Cluster {
            name,
            database_url,
            redis_url: redis_url.to_string(),
            nodes: started,
            _dirs: dirs,
        }
    }

    async fn room(&self, rate: i32) -> String {
        self.nodes[0]
            .client()
            .create_room()
            .maximum_message_rate_per_second(rate)
            .send()
            .await
            .unwrap()
            .arn
            .unwrap()
    }

    /// Connects to node `node` with a token minted by another node (0, or 1 for node 0).
    async fn join(&self, room: &str, user: &str, caps: &[&str], node: usize) -> ChatClient {
        let minter = if node == 0 { 1 } else { 0 };
        let token = token(&self.nodes[minter], room, user, caps).await;
        ChatClient::connect(self.nodes[node].addr(), &token)
            .await
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        drop_schema(&self.database_url, &self.name);
        if let Ok(mut redis) =
            redis::Client::open(self.redis_url.as_str()).and_then(|c| c.get_connection())
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:*", self.name))
                .query(&mut redis)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut redis);
            }
        }
    }
}

/// Drops a test cluster's schema. On a thread of its own: `Drop` runs inside the test's runtime,
/// where another runtime cannot block.
fn drop_schema(database_url: &str, schema: &str) {
    let (url, statement) = (
        database_url.to_string(),
        format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
    );
    let _ = std::thread::spawn(move || {
        use sqlx::Connection;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                let _ = sqlx::query(&statement).execute(&mut conn).await;
                let _ = conn.close().await;
            }
        });
    })
    .join();
}

async fn token(node: &Node, room: &str, user: &str, caps: &[&str]) -> String {
    let mut request = node
        .client()
        .create_chat_token()
        .room_identifier(room)
        .user_id(user);
    for c in caps {
        request = request.capabilities(aws_sdk_ivschat::types::ChatTokenCapability::from(*c));
    }
    request.send().await.unwrap().token.unwrap()
}

/// Issue 18: nodes started as README says (fresh data directories, no `--token-key`) start,
/// and agree on the chat-token key through PostgreSQL: a token minted on one node opens a
/// chat connection on every other.
#[tokio::test]
async fn nodes_without_a_token_key_flag_share_the_clusters_key() {
    let Some(redis_url) = common::services::redis_url() else {
        return;
    };
    let Some(cluster) = Cluster::start_with(3, &redis_url, None) else {
        return;
    };
    let room = cluster.room(10).await;
    for node in 0..3 {
        let mut a = cluster
            .join(&room, &format!("u{node}"), &["SEND_MESSAGE"], node)
            .await;
        a.send(json!({"Action":"SEND_MESSAGE","RequestId":"hi","Content":"x"}))
            .await;
        assert_eq!(a.frame_of("MESSAGE").await["RequestId"], "hi");
    }
}

#[tokio::test]
async fn clients_on_different_nodes_chat_and_control_plane_twins_reach_every_node() {
    let Some(cluster) = Cluster::start(3) else {
        return; // skipped, and said so
    };
    let room = cluster.room(100).await;
    let mut a = cluster.join(&room, "a", &["SEND_MESSAGE"], 0).await;
    let mut b = cluster.join(&room, "b", &["SEND_MESSAGE"], 1).await;
    let mut c = cluster.join(&room, "c", &[], 2).await;

    a.send(json!({"Action":"SEND_MESSAGE","RequestId":"from-a","Content":"hi from node 1"}))
        .await;
    b.send(json!({"Action":"SEND_MESSAGE","RequestId":"from-b","Content":"hi from node 2"}))
        .await;
    // Every node delivers the room's events once and in the same order.
    let mut orders = Vec::new();
    for client in [&mut a, &mut b, &mut c] {
        let first = client.frame_of("MESSAGE").await;
        let second = client.frame_of("MESSAGE").await;
        orders.push((first["Id"].clone(), second["Id"].clone()));
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "{orders:?}");

    // Control-plane twins sent to node 1 reach clients on nodes 2 and 3.
    let api = cluster.nodes[0].client();
    let event = api
        .send_event()
        .room_identifier(&room)
        .event_name("app:poll")
        .send()
        .await
        .unwrap();
    for client in [&mut b, &mut c] {
        assert_eq!(client.frame_of("EVENT").await["Id"], event.id().unwrap());
    }
    a.frame_of("EVENT").await;
    let deleted = api
        .delete_message()
        .room_identifier(&room)
        .id("AbCdEfGhIjKl")
        .send()
        .await
        .unwrap();
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.frame_of("EVENT").await["Id"], deleted.id().unwrap());
    }
    api.disconnect_user()
        .room_identifier(&room)
        .user_id("c")
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.frame_of("EVENT").await["EventName"],
        "aws:DISCONNECT_USER"
    );
    assert_eq!(c.closed().await.code, 1001);
    assert_eq!(
        b.frame_of("EVENT").await["EventName"],
        "aws:DISCONNECT_USER"
    );
}

#[tokio::test]
async fn room_updates_and_deletion_apply_on_every_node() {
    let Some(cluster) = Cluster::start(3) else {
        return; // skipped, and said so
    };
    let room = cluster.room(100).await;
    let mut on_two = cluster.join(&room, "u2", &["SEND_MESSAGE"], 1).await;
    let mut on_three = cluster.join(&room, "u3", &[], 2).await;
    // UpdateRoom through node 1 lowers the length limit on node 2 at once.
    let api = cluster.nodes[0].client();
    api.update_room()
        .identifier(&room)
        .maximum_message_length(3)
        .send()
        .await
        .unwrap();
    // The update travels on the room's channel, ahead of anything published after it.
    api.send_event()
        .room_identifier(&room)
        .event_name("after-update")
        .send()
        .await
        .unwrap();
    assert_eq!(on_two.frame_of("EVENT").await["EventName"], "after-update");
    on_two
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"long","Content":"four"}))
        .await;
    assert_eq!(on_two.frame_of("ERROR").await["ErrorCode"], 400);
    on_three.frame_of("EVENT").await;

    api.delete_room().identifier(&room).send().await.unwrap();
    for client in [&mut on_two, &mut on_three] {
        assert_eq!(client.frame_of("ERROR").await["ErrorCode"], 404);
        assert_eq!(client.closed().await.code, 1000);
    }
}

#[tokio::test]
async fn a_token_opens_one_connection_in_the_whole_cluster() {
    let Some(cluster) = Cluster::start(2) else {
        return; // skipped, and said so
    };
    let room = cluster.room(10).await;
    let token = token(&cluster.nodes[0], &room, "u", &[]).await;
    let first = ChatClient::connect(cluster.nodes[0].addr(), &token).await;
    assert!(first.is_ok());
    assert_eq!(
        ChatClient::connect(cluster.nodes[1].addr(), &token)
            .await
            .err(),
        Some(401)
    );
}

/// The room's rate holds across nodes. Tolerance: the bucket holds one second of messages and
/// refills while the burst is sent, so a burst sent within ~200 ms gets at most rate + 1.
#[tokio::test]
async fn the_room_rate_holds_with_senders_on_three_nodes() {
    let Some(cluster) = Cluster::start(3) else {
        return; // skipped, and said so
    };
    let rate = 5;
    let room = cluster.room(rate).await;
    let mut senders = Vec::new();
    for node in 0..3 {
        senders.push(
            cluster
                .join(&room, &format!("s{node}"), &["SEND_MESSAGE"], node)
                .await,
        );
    }
    for (i, sender) in senders.iter_mut().enumerate() {
        for j in 0..4 {
            sender
                .send(json!({"Action":"SEND_MESSAGE","RequestId":format!("{i}-{j}"),"Content":"x"}))
                .await;
        }
    }
    // Each sender gets an answer to each of its requests: its MESSAGE echo or an ERROR 429,
    // plus the other senders' MESSAGEs.
    let mut accepted = std::collections::HashSet::new();
    let mut refused = 0;
    for (i, sender) in senders.iter_mut().enumerate() {
        let mut mine = 0;
        while mine < 4 {
            let frame = sender.frame().await;
            let request_id = frame["RequestId"].as_str().unwrap_or("").to_string();
            match frame["Type"].as_str() {
                Some("MESSAGE") => {
                    if request_id.starts_with(&format!("{i}-")) {
                        mine += 1;
                    }
                    accepted.insert(request_id);
                }
                Some("ERROR") => {
                    assert_eq!(frame["ErrorCode"], 429);
                    refused += 1;
                    mine += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(accepted.len() + refused, 12);
    assert!(
        (rate as usize..=rate as usize + 1).contains(&accepted.len()),
        "{} accepted",
        accepted.len()
    );
}

#[tokio::test]
async fn killing_a_node_loses_no_acknowledged_write_and_the_others_keep_serving() {
    let Some(mut cluster) = Cluster::start(3) else {
        return; // skipped, and said so
    };
    let room = cluster.room(100).await;
    // Writes acknowledged by node 3 just before it dies.
    let doomed = cluster.nodes[2].client();
    let mut arns = Vec::new();
    for i in 0..20 {
        let r = doomed
            .create_room()
            .name(format!("k{i}"))
            .send()
            .await
            .unwrap();
        arns.push(r.arn.unwrap());
    }
    doomed
        .tag_resource()
        .resource_arn(&room)
        .tags("acked", "yes")
        .send()
        .await
        .unwrap();
    let mut victim = cluster.join(&room, "victim", &[], 2).await;
    cluster.nodes[2].kill();
    // Its clients see a broken connection (the official SDK reconnects by itself).
    use futures_util::StreamExt;
    let broken = tokio::time::timeout(Duration::from_secs(10), victim.ws.next())
        .await
        .unwrap();
    assert!(
        !matches!(
            broken,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_)))
        ),
        "{broken:?}"
    );

    let survivor = cluster.nodes[0].client();
    for arn in &arns {
        survivor.get_room().identifier(arn).send().await.unwrap();
    }
    let tags = survivor
        .list_tags_for_resource()
        .resource_arn(&room)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().get("acked").map(String::as_str), Some("yes"));

    let mut a = cluster.join(&room, "a", &["SEND_MESSAGE"], 0).await;
    let mut b = cluster.join(&room, "b", &[], 1).await;
    a.send(json!({"Action":"SEND_MESSAGE","RequestId":"still","Content":"here"}))
        .await;
    assert_eq!(b.frame_of("MESSAGE").await["RequestId"], "still");
}

/// A private Redis server on a free port, so a test can stop it without disturbing others.
struct PrivateRedis {
    child: std::process::Child,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let mut redis = PrivateRedis {
            child: std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server"),
        };
        // Ready when it answers PING (bounded).
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        for _ in 0..200 {
            if let Ok(mut c) = client.get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return redis;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        redis.stop();
        panic!("private redis-server did not start");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cluster of `nodes` on a private Redis (with its port), for a test that stops Redis or
/// counts its clients; `None` (the test skips) without PostgreSQL or `redis-server`.
fn cluster_on_private_redis(nodes: usize) -> Option<(Cluster, PrivateRedis, u16)> {
    if common::services::database_url().is_none()
        || !common::services::program_available("redis-server")
    {
        return None;
    }
    let port = common::process::free_port();
    let redis = PrivateRedis::start(port);
    let cluster = Cluster::start_on(nodes, &format!("redis://127.0.0.1:{port}"))?;
    Some((cluster, redis, port))
}

async fn ready_status(node: &Node) -> u16 {
    reqwest::get(format!("{}/ready", node.endpoint()))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Polls `/ready` until it answers `status` (bounded): recovery is observed, not assumed.
async fn wait_ready(node: &Node, status: u16) {
    for _ in 0..200 {
        if ready_status(node).await == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/ready never answered {status}");
}

#[tokio::test]
async fn a_redis_outage_is_reported_refused_and_recovered_from_without_restart() {
    // This test stops Redis or counts its clients, so it needs a Redis of its own.
    let Some((cluster, mut redis, port)) = cluster_on_private_redis(2) else {
        return; // skipped, and said so
    };
    let room = cluster.room(100).await;
    let mut a = cluster.join(&room, "a", &["SEND_MESSAGE"], 0).await;
    let mut b = cluster.join(&room, "b", &[], 1).await;
    assert_eq!(ready_status(&cluster.nodes[0]).await, 200);

    redis.stop();
    wait_ready(&cluster.nodes[0], 503).await;
    // The nodes lost their subscriptions, so they may miss messages: their members are
    // disconnected rather than left connected and behind (the fault suite, tests/faults,
    // found them left behind).
    for member in [&mut a, &mut b] {
        assert_eq!(member.closed().await.code, 1001);
    }
    // What needs Redis is refused with a clear error, never silently dropped.
    let token = token(&cluster.nodes[0], &room, "late", &[]).await;
    assert_eq!(
        ChatClient::connect(cluster.nodes[1].addr(), &token)
            .await
            .err(),
        Some(503)
    );
    let err = cluster.nodes[0]
        .client()
        .send_event()
        .room_identifier(&room)
        .event_name("e")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));

    // Redis comes back: the nodes recover by themselves, existing connections included.
    let _redis = PrivateRedis::start(port);
    wait_ready(&cluster.nodes[0], 200).await;
    wait_ready(&cluster.nodes[1], 200).await;
    let mut a = cluster.join(&room, "a2", &["SEND_MESSAGE"], 0).await;
    let mut b = cluster.join(&room, "b2", &[], 1).await;
    // Subscriptions are restored in the background right after the reconnect; until then a
    // message can be refused (ERROR 500) or published to nobody (Redis pub/sub does not
    // replay), so each attempt waits a bounded time for its answer.
    let mut delivered = false;
    for attempt in 0..50 {
        let request_id = format!("after-{attempt}");
        a.send(json!({"Action":"SEND_MESSAGE","RequestId":request_id,"Content":"back"}))
            .await;
        match tokio::time::timeout(Duration::from_secs(1), a.frame()).await {
            Ok(frame) if frame["Type"] == "MESSAGE" => {
                let seen = b.frame_of("MESSAGE").await;
                assert_eq!(seen["RequestId"], frame["RequestId"]);
                delivered = true;
                break;
            }
            Ok(frame) => assert_eq!(frame["ErrorCode"], 500, "{frame}"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delivered, "chat did not recover after Redis came back");
}

/// A TCP proxy in front of Redis or PostgreSQL that injects three faults: going silent on the
/// connections that subscribed (their bytes are swallowed both ways and nothing is closed, as
/// when a Redis failover or a NAT drops a connection without telling either end; the other
/// connections keep working), going silent on every connection, and going down (every
/// connection closed, as when the server is stopped).
struct FaultProxy {
    port: u16,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Every connection's bytes swallowed, new connections' included.
    silent_all: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Down: connections are closed at their next byte and new ones at once, as when the
    /// server behind is stopped.
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FaultProxy {
    /// In front of `target` (`host:port`).
    fn start(target: &str) -> FaultProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let target = target.to_string();
        let down = Arc::new(AtomicBool::new(false));
        let is_down = down.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = Arc::new(AtomicBool::new(false));
        let silencing = silent.clone();
        let silent_all = Arc::new(AtomicBool::new(false));
        let silencing_all = silent_all.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if is_down.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let subscribed = Arc::new(AtomicBool::new(false));
                for (mut from, mut to, upstream) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (server, client, false),
                ] {
                    let (silent, subscribed) = (silencing.clone(), subscribed.clone());
                    let silent_all = silencing_all.clone();
                    let down = is_down.clone();
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let mut buffer = [0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buffer) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if down.load(Ordering::SeqCst) {
                                break;
                            }
                            let bytes = &buffer[..n];
                            if upstream
                                && bytes
                                    .windows(9)
                                    .any(|w| w.eq_ignore_ascii_case(b"SUBSCRIBE"))
                            {
                                subscribed.store(true, Ordering::SeqCst);
                            }
                            if silent_all.load(Ordering::SeqCst)
                                || (silent.load(Ordering::SeqCst)
                                    && subscribed.load(Ordering::SeqCst))
                            {
                                continue;
                            }
                            if to.write_all(bytes).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        FaultProxy {
            port,
            silent,
            silent_all,
            down,
        }
    }

    fn silence_all(&self, silent: bool) {
        self.silent_all
            .store(silent, std::sync::atomic::Ordering::SeqCst);
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn silence(&self, silent: bool) {
        self.silent
            .store(silent, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Issue 18: a subscription connection that goes silent without closing left the node
/// reporting ready while it received nothing from the other nodes. The heartbeat notices:
/// `/ready` answers 503, the node reconnects, and chat across nodes works again.
#[tokio::test]
async fn a_silently_dropped_subscription_makes_the_node_unready_until_it_recovers() {
    let Some(redis_url) = common::services::redis_url() else {
        return;
    };
    let proxy = FaultProxy::start(host_and_port(&redis_url));
    let Some(cluster) = Cluster::start_on(2, &format!("redis://127.0.0.1:{}", proxy.port)) else {
        return;
    };
    let room = cluster.room(100).await;
    let mut a = cluster.join(&room, "a", &["SEND_MESSAGE"], 0).await;
    let mut b = cluster.join(&room, "b", &[], 1).await;
    wait_ready(&cluster.nodes[0], 200).await;

    proxy.silence(true);
    wait_ready(&cluster.nodes[0], 503).await;
    wait_ready(&cluster.nodes[1], 503).await;
    // Found by the fault suite (tests/faults, fault d): the members of a deaf node stayed
    // connected and silently missed every message the other nodes sent meanwhile. They are
    // disconnected instead, told why, and reconnect.
    for member in [&mut a, &mut b] {
        let closed = member.closed().await;
        assert_eq!(closed.code, 1001, "{closed:?}");
        assert!(closed.reason.contains("may have missed"), "{closed:?}");
    }

    proxy.silence(false);
    wait_ready(&cluster.nodes[0], 200).await;
    wait_ready(&cluster.nodes[1], 200).await;
    let mut a = cluster.join(&room, "a2", &["SEND_MESSAGE"], 0).await;
    let mut b = cluster.join(&room, "b2", &[], 1).await;
    // Ready means subscribed again (the rooms are subscribed before the heartbeat can arrive).
    a.send(json!({"Action":"SEND_MESSAGE","RequestId":"back","Content":"x"}))
        .await;
    assert_eq!(a.frame_of("MESSAGE").await["RequestId"], "back");
    assert_eq!(b.frame_of("MESSAGE").await["RequestId"], "back");
}

/// Issue 22 leftover: a node opened a Redis command connection each for the bus, the history
/// and presence, besides its subscription connection. They now share one multiplexed
/// connection (`bus/redis_link.rs`): two connections per node, counted by Redis itself.
#[tokio::test]
async fn a_node_holds_one_redis_command_connection_and_one_subscription() {
    // Counts Redis's clients, so it needs a Redis of its own.
    let Some((cluster, _redis, port)) = cluster_on_private_redis(1) else {
        return; // skipped, and said so
    };
    let url = format!("redis://127.0.0.1:{port}");
    // Ready: the subscription is made and heard; the command connection is made at start.
    wait_ready(&cluster.nodes[0], 200).await;
    // History and presence in use, so none of their connections can still be pending.
    let room = history_room(&cluster.nodes[0]).await;
    let token = token(&cluster.nodes[0], &room, "a", &["SEND_MESSAGE"]).await;
    let mut member = ChatClient::connect(cluster.nodes[0].addr(), &token)
        .await
        .unwrap();
    member
        .send(json!({"Action":"SEND_MESSAGE","RequestId":"r","Content":"x"}))
        .await;
    assert_eq!(member.frame_of("MESSAGE").await["RequestId"], "r");
    assert_eq!(
        extension(&cluster.nodes[0], "ListRoomMessages", &room)
            .await
            .status,
        200
    );
    assert_eq!(
        extension(&cluster.nodes[0], "GetRoomPresence", &room)
            .await
            .status,
        200
    );

    let mut redis = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let me: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut redis)
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut redis)
        .await
        .unwrap();
    let node: Vec<&str> = list
        .lines()
        .filter(|line| !line.starts_with(&format!("id={me} ")))
        .collect();
    let subscribed = node
        .iter()
        .filter(|line| line.contains(" flags=P "))
        .count();
    assert_eq!((node.len(), subscribed), (2, 1), "{list}");
}

/// A room that keeps 5 frames (`ivschat-server:history`), so ListRoomMessages reads Redis.
async fn history_room(node: &Node) -> String {
    node.client()
        .create_room()
        .tags("ivschat-server:history", "5")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// POST /ivschat-server/<operation> for `room` on `node`, bounded by a hang guard (30 s, far
/// above the Redis command deadline of 1 s).
async fn extension(node: &Node, operation: &str, room: &str) -> common::raw::RawResponse {
    tokio::time::timeout(
        Duration::from_secs(30),
        common::raw::send(
            &node.endpoint(),
            "POST",
            &format!("/ivschat-server/{operation}"),
            &[("content-type", "application/json")],
            json!({"roomIdentifier": room}).to_string().as_bytes(),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("{operation} hung"))
}

/// RELIABILITY.md "Redis down" and fault b1 "Redis paused": the history and presence (ours,
/// issue 22) fail as the bus does, whether Redis is paused (`SIGSTOP`: commands hang) or killed
/// and restarted empty: their operations are refused with a clear InternalServerException within
/// the command deadline, never hang, `/ready` answers 503, and everything works again once
/// Redis answers, without restart.
#[tokio::test]
async fn history_and_presence_fail_like_the_bus_when_redis_is_paused_or_killed() {
    // This test stops Redis or counts its clients, so it needs a Redis of its own.
    let Some((cluster, mut redis, port)) = cluster_on_private_redis(1) else {
        return; // skipped, and said so
    };
    let node = &cluster.nodes[0];
    let room = history_room(node).await;
    let token = token(node, &room, "a", &[]).await;
    let _member = ChatClient::connect(node.addr(), &token).await.unwrap();
    wait_ready(node, 200).await;
    const OPERATIONS: [&str; 3] = ["ListRoomMessages", "GetRoomPresence", "ListRoomUsers"];
    let all_answer = || async {
        for operation in OPERATIONS {
            if extension(node, operation, &room).await.status != 200 {
                return false;
            }
        }
        true
    };
    assert!(all_answer().await);

    for fault in ["paused", "killed"] {
        let pid = redis.child.id().to_string();
        let signal = |signal: &str| {
            let sent = std::process::Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap();
            assert!(sent.success());
        };
        match fault {
            "paused" => signal("-STOP"),
            _ => redis.stop(),
        }
        for operation in OPERATIONS {
            let refused = extension(node, operation, &room).await;
            assert_eq!(
                refused.status, 500,
                "{fault}: {operation}: {}",
                refused.body
            );
            assert_eq!(refused.error_type(), "InternalServerException");
            assert!(refused.body.contains("unreachable"), "{}", refused.body);
        }
        wait_ready(node, 503).await;
        match fault {
            "paused" => signal("-CONT"),
            _ => redis = PrivateRedis::start(port),
        }
        wait_ready(node, 200).await;
        let mut recovered = false;
        for _ in 0..100 {
            if all_answer().await {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(recovered, "{fault}: history and presence did not recover");
    }
}

/// `host:port` of a `scheme://[user@]host:port[/path]` URL.
fn host_and_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// PostgreSQL stopped and started again (as the nodes see it: every connection reset, new ones
/// refused): `/ready` answers 503 and control-plane writes are refused with
/// InternalServerException while it is away; chat between connected clients goes on (it needs
/// Redis, not PostgreSQL); the nodes recover by themselves.
#[tokio::test]
async fn a_postgres_outage_is_reported_refused_and_recovered_from_without_restart() {
    let (Some(database_url), Some(redis_url)) = (
        common::services::database_url(),
        common::services::redis_url(),
    ) else {
        return;
    };
    let proxy = FaultProxy::start(host_and_port(&database_url));
    let through_proxy = database_url.replacen(
        host_and_port(&database_url),
        &format!("127.0.0.1:{}", proxy.port),
        1,
    );
    let cluster = Cluster::start_through(2, &database_url, &through_proxy, &redis_url, None, &[]);
    let room = cluster.room(100).await;
    let mut a = cluster.join(&room, "a", &["SEND_MESSAGE"], 0).await;
    let mut b = cluster.join(&room, "b", &[], 1).await;
    wait_ready(&cluster.nodes[0], 200).await;

    proxy.set_down(true);
    wait_ready(&cluster.nodes[0], 503).await;
    wait_ready(&cluster.nodes[1], 503).await;
    let refused = cluster.nodes[0]
        .client()
        .create_room()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(500)
    );
    a.send(json!({"Action":"SEND_MESSAGE","RequestId":"during","Content":"x"}))
        .await;
    assert_eq!(b.frame_of("MESSAGE").await["RequestId"], "during");

    proxy.set_down(false);
    wait_ready(&cluster.nodes[0], 200).await;
    wait_ready(&cluster.nodes[1], 200).await;
    cluster.nodes[1]
        .client()
        .create_room()
        .send()
        .await
        .unwrap();
}

/// Issue 18 (liveness on every backend connection): PostgreSQL connections that go silent
/// without closing (every byte swallowed both ways; TCP itself stays up, so no keepalive or
/// retransmission timeout can notice) must not hang the node. Store calls fail within their
/// deadline, `/ready` answers 503, and connections that stopped answering are closed rather
/// than kept: once the network forwards again, the node serves again by itself. Before the
/// deadlines, the requests made during the silence hung for good and held every pooled
/// connection, so the node never recovered.
#[tokio::test]
async fn silent_postgres_connections_are_detected_and_replaced() {
    let (Some(database_url), Some(redis_url)) = (
        common::services::database_url(),
        common::services::redis_url(),
    ) else {
        return;
    };
    let proxy = FaultProxy::start(host_and_port(&database_url));
    let through_proxy = database_url.replacen(
        host_and_port(&database_url),
        &format!("127.0.0.1:{}", proxy.port),
        1,
    );
    let cluster = Cluster::start_through(1, &database_url, &through_proxy, &redis_url, None, &[]);
    let node = &cluster.nodes[0];
    let room = cluster.room(100).await;
    wait_ready(node, 200).await;

    proxy.silence_all(true);
    // More requests at once than the pool has connections (10), so every connection is in
    // one of them. Each ends with an error within a bound (operation deadline: 10 s), never
    // hangs: the outer timeout only turns a hang into a failure.
    // Without the SDK's retries: each request is one store call.
    let api = aws_sdk_ivschat::Client::from_conf(
        node.client()
            .config()
            .to_builder()
            .retry_config(aws_sdk_ivschat::config::retry::RetryConfig::disabled())
            .build(),
    );
    let requests = (0..12).map(|_| {
        let api = api.clone();
        let room = room.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(60),
                api.get_room().identifier(room).send(),
            )
            .await
        }
    });
    for answer in futures_util::future::join_all(requests).await {
        let answer = answer.expect("a store call hung on a silent connection");
        let status = answer
            .unwrap_err()
            .raw_response()
            .map(|r| r.status().as_u16());
        assert_eq!(status, Some(500));
    }
    let ready = tokio::time::timeout(Duration::from_secs(30), ready_status(node))
        .await
        .expect("/ready hung on a silent connection");
    assert_eq!(ready, 503);

    proxy.silence_all(false);
    // Recovered without a restart: ready, and reads and writes work (bounded).
    let recovered = async {
        loop {
            if ready_status(node).await == 200
                && api.get_room().identifier(&room).send().await.is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), recovered)
        .await
        .expect("the node did not recover once PostgreSQL answered again");
    api.create_room().send().await.unwrap();
}

/// Issue 18: a store call whose connection goes silent while the call is in PostgreSQL's hands
/// (here: UpdateRoom waiting on a row lock the test holds, whose answer the proxy then
/// swallows) fails within the operation deadline (10 s) instead of waiting for an answer that
/// never comes; the connection is closed and the node serves again once the network forwards.
#[tokio::test]
async fn a_store_call_in_flight_when_postgres_goes_silent_fails_within_its_deadline() {
    use sqlx::Connection;
    let (Some(database_url), Some(redis_url)) = (
        common::services::database_url(),
        common::services::redis_url(),
    ) else {
        return;
    };
    let proxy = FaultProxy::start(host_and_port(&database_url));
    let through_proxy = database_url.replacen(
        host_and_port(&database_url),
        &format!("127.0.0.1:{}", proxy.port),
        1,
    );
    let cluster = Cluster::start_through(1, &database_url, &through_proxy, &redis_url, None, &[]);
    let node = &cluster.nodes[0];
    let room = cluster.room(100).await;
    let room_id = room.rsplit('/').next().unwrap().to_string();

    // The test holds the room's row lock, directly (not through the proxy).
    let mut holder = sqlx::PgConnection::connect(&database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query(&format!(
        "SELECT id FROM \"{}\".rooms WHERE id = $1 FOR UPDATE",
        cluster.name
    ))
    .bind(&room_id)
    .execute(&mut holder)
    .await
    .unwrap();

    let api = aws_sdk_ivschat::Client::from_conf(
        node.client()
            .config()
            .to_builder()
            .retry_config(aws_sdk_ivschat::config::retry::RetryConfig::disabled())
            .build(),
    );
    let update = tokio::spawn({
        let (api, room) = (api.clone(), room.clone());
        async move {
            tokio::time::timeout(
                Duration::from_secs(60),
                api.update_room().identifier(room).name("late").send(),
            )
            .await
        }
    });
    // Once the node's UpdateRoom waits on the lock, its connection goes silent, then the lock
    // is released: PostgreSQL answers, and the proxy swallows the answer. (Watched from a
    // connection of its own: in the holder's transaction pg_stat_activity would not change.)
    let mut watcher = sqlx::PgConnection::connect(&database_url).await.unwrap();
    let mut waiting = false;
    for _ in 0..200 {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE '%FROM rooms WHERE id = $1 %FOR NO KEY UPDATE%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if n > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(waiting, "UpdateRoom never waited on the row lock");
    proxy.silence_all(true);
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();

    let answer = update
        .await
        .unwrap()
        .expect("UpdateRoom hung on a silent connection");
    let status = answer
        .unwrap_err()
        .raw_response()
        .map(|r| r.status().as_u16());
    assert_eq!(status, Some(500));

    proxy.silence_all(false);
    let recovered = async {
        while api.get_room().identifier(&room).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), recovered)
        .await
        .expect("the node did not recover once PostgreSQL answered again");
    api.update_room()
        .identifier(&room)
        .name("after")
        .send()
        .await
        .unwrap();
}

/// The cluster's chat-token keys as PostgreSQL holds them: (generation, key).
async fn stored_keys(cluster: &Cluster) -> Vec<(i64, TokenKey)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&cluster.database_url)
        .await
        .unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as(&format!(
        "SELECT generation, key_hex FROM \"{}\".chat_token_keys ORDER BY generation",
        cluster.name
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(generation, hex)| {
            let key = TokenKey::from_hex(&hex, "us-east-1", "000000000000").unwrap();
            (generation, key)
        })
        .collect()
}

/// Issue 18: the chat-token key rotated with `ivschat-server rotate-token-key` on the
/// cluster's PostgreSQL reaches every running node without a restart. A token the other node
/// mints once it has taken up the new key opens on both nodes, and a token minted just before
/// the rotation (old key) still opens within the overlap.
#[tokio::test]
async fn a_rotated_token_key_reaches_every_node_and_the_old_one_overlaps() {
    let Some(redis_url) = common::services::redis_url() else {
        return;
    };
    let Some(cluster) = Cluster::start_with(2, &redis_url, None) else {
        return;
    };
    let room = cluster.room(10).await;
    let before = token(&cluster.nodes[1], &room, "before", &[]).await;
    let data_dir = tempfile::tempdir().unwrap();
    let rotated = std::process::Command::new(common::process::BIN)
        .arg("rotate-token-key")
        .args(["--database-url", &cluster.database_url])
        .args(["--cluster-name", &cluster.name])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env_remove("IVSCHAT_TOKEN_KEY")
        .env_remove("IVSCHAT_CONFIG")
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let keys = stored_keys(&cluster).await;
    assert_eq!(
        keys.iter().map(|(g, _)| *g).collect::<Vec<_>>(),
        [1, 2],
        "the cluster's keys after one rotation"
    );
    let (old_key, new_key) = (&keys[0].1, &keys[1].1);
    assert!(old_key.open(&before).is_ok());

    // Node 2 seals with the new key once it has read it and the key has activated (10 s after
    // the rotation); until then its tokens are the old key's, which every node still opens.
    let mut sealed_new = Vec::new();
    for _ in 0..120 {
        let minted = token(
            &cluster.nodes[1],
            &room,
            &format!("u{}", sealed_new.len()),
            &[],
        )
        .await;
        if new_key.open(&minted).is_ok() {
            sealed_new.push(minted);
            if sealed_new.len() == 2 {
                break;
            }
            continue;
        }
        assert!(old_key.open(&minted).is_ok(), "sealed with neither key");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(sealed_new.len(), 2, "node 2 never sealed with the new key");
    for (node, minted) in sealed_new.iter().enumerate() {
        ChatClient::connect(cluster.nodes[node].addr(), minted)
            .await
            .unwrap_or_else(|status| panic!("node {} refused a new-key token: {status}", node + 1));
    }
    // Within the overlap the token minted before the rotation opens too.
    ChatClient::connect(cluster.nodes[0].addr(), &before)
        .await
        .unwrap();
}

/// Issue 18: when a node's bus subscription recovers from an outage, it reconciles with the
/// store at once: a room deleted during the outage (the deletion published while the node could
/// not hear it) closes the node's connections in it promptly, not at the next periodic pass,
/// made an hour long here.
#[tokio::test]
async fn a_node_reconciles_as_soon_as_its_bus_subscription_recovers() {
    let (Some(database_url), Some(redis_url)) = (
        common::services::database_url(),
        common::services::redis_url(),
    ) else {
        return;
    };
    let proxy = FaultProxy::start(host_and_port(&redis_url));
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("node.toml");
    std::fs::write(&config, "[cluster]\nreconcile_interval_ms = 3600000\n").unwrap();
    let cluster = Cluster::start_through(
        2,
        &database_url,
        &database_url,
        &format!("redis://127.0.0.1:{}", proxy.port),
        None,
        &["--config".to_string(), config.display().to_string()],
    );
    let room = cluster.room(100).await;
    let mut member = cluster.join(&room, "m", &[], 1).await;
    wait_ready(&cluster.nodes[1], 200).await;

    // The node stops hearing the bus (its subscription goes silent); it notices.
    proxy.silence(true);
    wait_ready(&cluster.nodes[1], 503).await;
    cluster.nodes[0]
        .client()
        .delete_room()
        .identifier(&room)
        .send()
        .await
        .unwrap();

    // Since the fault suite (RELIABILITY.md, "Fault injection"), a node that stops hearing the
    // bus closes its members (1001: they may have missed messages) instead of keeping them,
    // so the deleted room's member is gone before the recovery's reconciliation runs; what the
    // reconciliation still guards is a member that joined meanwhile.
    let closed = tokio::time::timeout(Duration::from_secs(20), member.closed())
        .await
        .expect("the member of a node that lost the bus stayed connected");
    assert_eq!(closed.code, 1001);
    proxy.silence(false);
    wait_ready(&cluster.nodes[1], 200).await;
}

/// The account request rates are per account in Redis as on one node (README "Several
/// accounts"); the server's own account keeps the key it had before accounts existed.
#[tokio::test]
async fn account_rates_are_kept_per_account_in_redis() {
    use ivschat_server::bus::{Bucket, NodeRooms};
    use ivschat_server::room::{RoomEvent, RoomUpdate};
    use std::sync::Arc;

    struct NoRooms;
    impl NodeRooms for NoRooms {
        fn deliver(&self, _room_id: &str, _event: RoomEvent) {}
        fn apply(&self, _update: RoomUpdate) {}
        fn is_live(&self, _room_id: &str) -> bool {
            false
        }
        fn connections_open(&self) -> u64 {
            0
        }
        fn events_missed(&self) {}
    }

    let Some(redis_url) = common::services::redis_url() else {
        return; // skipped, and said so
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = ivschat_server::config::Config::for_tests(dir.path());
    config.bus_url = Some(ivschat_server::config::Secret::new(redis_url));
    config.cluster_name = format!("t_{}", hex::encode(rand::random::<[u8; 6]>()));
    let link = ivschat_server::bus::redis_link::RedisLink::open(&config)
        .await
        .unwrap();
    let bus = ivschat_server::bus::open(&config, link.as_ref(), Arc::new(NoRooms));
    let take = |account: &'static str| {
        bus.try_take(Bucket::Account {
            name: "account:send_event",
            account,
            rate: 1,
        })
    };
    assert!(take("").await.unwrap());
    assert!(
        !take("").await.unwrap(),
        "the server account's rate is spent"
    );
    assert!(
        take("111111111111").await.unwrap(),
        "another account has its own"
    );
    assert!(!take("111111111111").await.unwrap());
}

/// GetRoomPresence on `node`: (connections, users).
async fn presence_on(node: &Node, room: &str) -> (u64, u64) {
    let reply = common::raw::send(
        &node.endpoint(),
        "POST",
        "/ivschat-server/GetRoomPresence",
        &[("content-type", "application/json")],
        json!({"roomIdentifier": room}).to_string().as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    (
        body["connections"].as_u64().unwrap(),
        body["users"].as_u64().unwrap(),
    )
}

/// Polls every listed node until each answers `want` (bounded: 10 s; the condition is awaited,
/// not slept for).
async fn await_presence_on(nodes: &[&Node], room: &str, want: (u64, u64)) {
    for node in nodes {
        let mut last = (0, 0);
        let mut seen = false;
        for _ in 0..200 {
            last = presence_on(node, room).await;
            if last == want {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            seen,
            "presence on {} stayed {last:?}, expected {want:?}",
            node.endpoint()
        );
    }
}

async fn close(mut client: ChatClient) {
    use futures_util::StreamExt;
    let _ = client.ws.close(None).await;
    let drained = async { while let Some(Ok(_)) = client.ws.next().await {} };
    tokio::time::timeout(Duration::from_secs(10), drained)
        .await
        .expect("the server did not close within the hang guard");
}

/// Issue 22: presence counts the whole cluster, on every node: a user connected to two nodes
/// is one user with two connections, and leaves are counted everywhere; a node killed with
/// `kill -9` stops counting within seconds (its entries expire in Redis).
#[tokio::test]
async fn presence_counts_the_whole_cluster_and_forgets_a_killed_node() {
    let Some(mut cluster) = Cluster::start(3) else {
        return; // skipped, and said so
    };
    let room = cluster.room(10).await;
    let a_on_one = cluster.join(&room, "a", &[], 0).await;
    let a_on_two = cluster.join(&room, "a", &[], 1).await;
    let b_on_three = cluster.join(&room, "b", &[], 2).await;
    let c_on_two = cluster.join(&room, "c", &[], 1).await;
    let all: Vec<&Node> = cluster.nodes.iter().collect();
    await_presence_on(&all, &room, (4, 3)).await;

    // One page lists every node's users, merged.
    let page = common::raw::send(
        &cluster.nodes[2].endpoint(),
        "POST",
        "/ivschat-server/ListRoomUsers",
        &[("content-type", "application/json")],
        json!({"roomIdentifier": room}).to_string().as_bytes(),
    )
    .await
    .json();
    let users: Vec<(&str, u64)> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["userId"].as_str().unwrap(),
                u["connections"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(users, [("a", 2), ("b", 1), ("c", 1)]);

    close(a_on_one).await;
    await_presence_on(&all, &room, (3, 3)).await;
    close(b_on_three).await;
    await_presence_on(&all, &room, (2, 2)).await;

    // Node 2 (a and c) dies without a word.
    cluster.nodes[1].kill();
    let survivors = [&cluster.nodes[0], &cluster.nodes[2]];
    await_presence_on(&survivors, &room, (0, 0)).await;
    drop((a_on_two, c_on_two));
}

/// Issue 22: with the events on, a user's first connection anywhere in the cluster is the
/// join and their last the leave, whichever nodes they are on; the events reach members on
/// every node.
#[tokio::test]
async fn presence_events_follow_users_across_nodes() {
    let Some(cluster) = Cluster::start(3) else {
        return; // skipped, and said so
    };
    let room = cluster.nodes[0]
        .client()
        .create_room()
        .tags("ivschat-server:presence-events", "on")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let mut observer = cluster.join(&room, "observer", &[], 2).await;
    let mut next_event = async || {
        let frame = observer.frame_of("EVENT").await;
        let ids: Vec<String> =
            serde_json::from_str(frame["Attributes"]["userIds"].as_str().unwrap()).unwrap();
        (frame["EventName"].as_str().unwrap().to_string(), ids)
    };
    let join = |user: &str| ("ivschat-server:JOIN".to_string(), vec![user.to_string()]);
    let leave = |user: &str| ("ivschat-server:LEAVE".to_string(), vec![user.to_string()]);
    // The observer's own arrival first, so that it is not in the same pass as u's.
    assert_eq!(next_event().await, join("observer"));

    let u_on_one = cluster.join(&room, "u", &[], 0).await;
    assert_eq!(next_event().await, join("u"));
    let all: Vec<&Node> = cluster.nodes.iter().collect();
    let u_on_two = cluster.join(&room, "u", &[], 1).await;
    await_presence_on(&all, &room, (3, 2)).await;
    let v_on_two = cluster.join(&room, "v", &[], 1).await;
    // u's connection on node 2 was no join.
    assert_eq!(next_event().await, join("v"));

    close(u_on_one).await;
    await_presence_on(&all, &room, (3, 3)).await;
    close(v_on_two).await;
    // u is still connected through node 2: the first leave is v's.
    assert_eq!(next_event().await, leave("v"));
    close(u_on_two).await;
    assert_eq!(next_event().await, leave("u"));
}

//! Nothing per connection outlives the connection (issue 26): after 2,000 chat connections
//! opened, used and closed, the chat side's maps and tasks are back to what they were, and the
//! single-use token set holds only tokens that have not expired yet.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::chat::ChatClient;
use common::TestServer;
use ivschat_proto::control::ChatTokenCapability;
use ivschat_server::config::Config;
use ivschat_server::domain::token::TokenClaims;
use ivschat_server::expiring_ids::Held;
use ivschat_server::introspect::{retained, Retained};
use serde_json::json;
use tokio::sync::Semaphore;

const CONNECTIONS: usize = 2000;
/// A chat token's lifetime (`docs/protocol/messaging.md` §1.3).
const TOKEN_LIFETIME_MICROS: i64 = 60_000_000;
const IN_FLIGHT: usize = 50;

/// A token for `user` in room `room_id`, sealed in-process (what CreateChatToken returns,
/// without 2,000 control-plane round trips in a debug build).
fn token(server: &TestServer, room_id: &str, user: &str) -> String {
    let now = server.app.clock.now_micros();
    let claims = TokenClaims {
        account: String::new(),
        room: room_id.to_string(),
        user_id: user.to_string(),
        capabilities: vec![ChatTokenCapability::SendMessage],
        attributes: Default::default(),
        token_expires: now + TOKEN_LIFETIME_MICROS,
        session_expires: now + 3_600_000_000,
        token_id: uuid::Uuid::new_v4().simple().to_string(),
    };
    server.app.token_keys.seal(&claims)
}

/// One connection's life: open, one message answered, close.
async fn use_once(server: &TestServer, room_id: &str, user: &str) {
    let token = token(server, room_id, user);
    let mut client = ChatClient::connect(server.addr, &token).await.unwrap();
    client
        .send(json!({"Action":"SEND_MESSAGE","RequestId":user,"Content":"hi"}))
        .await;
    // Our own MESSAGE, or ERROR 429 once the room's rate is spent: either is an answer.
    loop {
        let frame = client.frame().await;
        if frame["RequestId"] == user {
            break;
        }
    }
    client.ws.close(None).await.unwrap();
    client.closed().await;
}

/// Waits (bounded) until `done` holds; the state it watches is released by tasks that end
/// on their own, after the clients saw their close.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    // 2,000 upgrades from one address, faster than the default per-address handshake rate
    // (100/s after a burst of 1,000) lets through on a fast machine.
    config.limits.handshakes_per_second = 0;
    let server = Arc::new(TestServer::start_with(config).await);
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let client = server.client();
    let arn = client.create_room().send().await.unwrap().arn.unwrap();
    drop(client);
    let room_id = arn.rsplit('/').next().unwrap().to_string();
    // The SDK client's keep-alive connection may still be served by a task (for how long
    // depends on the listener's idle deadline): it is in the baseline, and can only end.
    let idle_tasks = tasks();
    let empty = retained(&server.app);

    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut joins = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let (server, room_id) = (server.clone(), room_id.clone());
        joins.push(tokio::spawn(async move {
            use_once(&server, &room_id, &format!("u{i}")).await;
            drop(permit);
        }));
    }
    for join in joins {
        join.await.unwrap();
    }

    let app = &server.app;
    eventually("every session ends", || {
        retained(app).session_tasks == 0 && retained(app).open_connections == 0
    })
    .await;
    let after = retained(app);
    assert_eq!(
        after.live_rooms, 0,
        "the room is forgotten with its last connection"
    );
    // Every token is remembered until it expires, and only until then.
    assert_eq!(after.redeemed.ids, CONNECTIONS);
    // With the in-process bus the hub keeps no second copy of them.
    assert_eq!(after.spent, Held::default());
    // The set's background sweeper is the one task that stays (one per server, not per
    // connection).
    eventually("no task per connection is left", || {
        tasks() <= idle_tasks + 1
    })
    .await;

    // Once the tokens have expired, the next redeem sweeps them and the table shrinks.
    app.clock
        .advance(Duration::from_micros(TOKEN_LIFETIME_MICROS as u64) * 2);
    use_once(&server, &room_id, "late").await;
    eventually("the late session ends", || retained(app).session_tasks == 0).await;
    let swept = retained(app);
    assert_eq!(
        swept,
        Retained {
            redeemed: Held {
                ids: 1,
                capacity: swept.redeemed.capacity,
            },
            ..empty
        },
        "only the late token is remembered"
    );
    assert!(
        swept.redeemed.capacity < CONNECTIONS,
        "the token table keeps room for {} ids after the burst",
        swept.redeemed.capacity
    );
}

/// Freed memory goes back to the system once connections stop coming and going
/// (`idle_trim.rs`): with glibc, whose heaps otherwise keep every page a burst of connections
/// used (BENCHMARKS.md §8). What is checked is that the trim runs, not how much it returns.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_connections_give_freed_memory_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path());
    config.memory.idle_trim_after_ms = 300;
    let server = TestServer::start_with(config).await;
    let client = server.client();
    let arn = client.create_room().send().await.unwrap().arn.unwrap();
    let room_id = arn.rsplit('/').next().unwrap().to_string();
    let app = &server.app;

    // A few connections come and go (whether the start's quiet period trimmed already
    // depends on how fast the room was created): then none.
    for i in 0..20 {
        use_once(&server, &room_id, &format!("u{i}")).await;
    }
    let before = app.metrics.heap_trims();
    eventually("every session ends", || {
        retained(app).session_tasks == 0 && retained(app).open_connections == 0
    })
    .await;

    // The trim comes (in 0.3 s: at most 20 s is waited), once.
    eventually("a trim after the connections stopped", || {
        app.metrics.heap_trims() > before
    })
    .await;
    let trimmed = app.metrics.heap_trims();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app.metrics.heap_trims(),
        trimmed,
        "one trim per quiet period (the next is when the token ids are gone, a minute on)"
    );
    server.stop().await;
}

//! Chat logging in the embedded default (files under `<data-dir>/logs/`, laid out like S3,
//! CloudWatch Logs and Firehose) and the spool's durability across a restart while a
//! destination is unreachable. The same pipeline against real AWS wire endpoints (moto) is in
//! `tests/compat/python/test_logging_moto.py`.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use aws_sdk_ivschat::types::{
    CloudWatchLogsDestinationConfiguration, DestinationConfiguration,
    FirehoseDestinationConfiguration, S3DestinationConfiguration,
};
use common::TestServer;
use ivschat_server::config::Config;
use serde_json::{json, Value};

fn config(dir: &Path) -> Config {
    let mut config = Config::for_tests(dir);
    config.logging.s3_batch_seconds = 0;
    config.logging.flush_interval_ms = 50;
    config
}

/// Creates one logging configuration of each kind and a room that uses all three.
async fn logged_room(server: &TestServer) -> (String, String) {
    let client = server.client();
    let destinations = [
        DestinationConfiguration::S3(
            S3DestinationConfiguration::builder()
                .bucket_name("chat-archive")
                .build()
                .unwrap(),
        ),
        DestinationConfiguration::CloudWatchLogs(
            CloudWatchLogsDestinationConfiguration::builder()
                .log_group_name("/ivs/chat")
                .build()
                .unwrap(),
        ),
        DestinationConfiguration::Firehose(
            FirehoseDestinationConfiguration::builder()
                .delivery_stream_name("chat-stream")
                .build()
                .unwrap(),
        ),
    ];
    let mut arns = Vec::new();
    for destination in destinations {
        let created = client
            .create_logging_configuration()
            .destination_configuration(destination)
            .send()
            .await
            .unwrap();
        arns.push(created.arn.unwrap());
    }
    let room = client
        .create_room()
        .set_logging_configuration_identifiers(Some(arns))
        .send()
        .await
        .unwrap();
    (room.arn.unwrap(), room.id.unwrap())
}

/// Waits until the server has delivered at least `n` records (an event, not a delay).
async fn delivered(server: &TestServer, n: u64) {
    let mut count = server.app.chat.logger.delivered();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        count.wait_for(|c| *c >= n),
    )
    .await
    .expect("records were not delivered")
    .unwrap();
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn every_message_and_event_reaches_all_three_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(config(dir.path())).await;
    let (room, room_id) = logged_room(&server).await;
    let mut user = server
        .join(&room, "alice", &["SEND_MESSAGE", "DELETE_MESSAGE"])
        .await;

    user.send(
        json!({"Action":"SEND_MESSAGE","RequestId":"r1","Content":"hello","Attributes":{"k":"v"}}),
    )
    .await;
    let message = user.frame_of("MESSAGE").await;
    user.send(
        json!({"Action":"DELETE_MESSAGE","RequestId":"r2","Id":message["Id"],"Reason":"oops"}),
    )
    .await;
    let deletion = user.frame_of("EVENT").await;
    let sent = server
        .client()
        .send_event()
        .room_identifier(&room)
        .event_name("app:custom")
        .send()
        .await
        .unwrap();
    let event = user.frame_of("EVENT").await;
    server
        .client()
        .disconnect_user()
        .room_identifier(&room)
        .user_id("nobody")
        .send()
        .await
        .unwrap();
    let kick = user.frame_of("EVENT").await;
    // An ERROR is not logged.
    user.send(json!({"Action":"SHOUT","RequestId":"bad"})).await;
    user.frame_of("ERROR").await;
    // 4 frames x 3 destinations.
    delivered(&server, 12).await;

    let expected = [&message, &deletion, &event, &kick];
    let check = |records: &[Value]| {
        assert_eq!(records.len(), 4, "{records:?}");
        for (record, frame) in records.iter().zip(expected) {
            assert_eq!(
                record["payload"], *frame,
                "the payload is the frame clients received"
            );
            assert_eq!(record["version"], "1.0");
            assert_eq!(record["type"], frame["Type"]);
            let ts = record["event_timestamp"].as_str().unwrap();
            assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
            assert!(frame["SendTime"].as_str().unwrap().starts_with(&ts[..23]));
        }
        assert_eq!(records[2]["payload"]["Id"], sent.id().unwrap());
    };

    let logs = dir.path().join("logs");
    // S3: gzip JSON lines under the documented key layout.
    let s3_files = files_under(&logs.join("s3/chat-archive"));
    assert!(!s3_files.is_empty());
    let mut s3_records = Vec::new();
    for file in &s3_files {
        let key = file
            .strip_prefix(logs.join("s3/chat-archive"))
            .unwrap()
            .to_str()
            .unwrap();
        let prefix = format!("AWSLogs/000000000000/IVSChatLogs/1.0/us-east-1/room_{room_id}/");
        assert!(key.starts_with(&prefix), "{key}");
        let name = key.rsplit('/').next().unwrap();
        assert!(
            name.starts_with(&format!(
                "000000000000_IVSChatLogs_1.0_us-east-1_room_{room_id}_"
            )) && name.ends_with(".log.gz"),
            "{name}"
        );
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        s3_records.extend(lines(&text));
    }
    // Objects hold records in order; across objects, order by the time IVS received them.
    s3_records.sort_by_key(|r| {
        time::OffsetDateTime::parse(
            r["payload"]["SendTime"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    });
    check(&s3_records);

    // CloudWatch Logs: the room's stream in the configured group.
    let stream = logs.join(format!(
        "cloudwatch/ivs/chat/aws/IVSChatLogs/1.0/room_{room_id}"
    ));
    check(&lines(&std::fs::read_to_string(stream).unwrap()));

    // Firehose: one record per line in the delivery stream.
    check(&lines(
        &std::fs::read_to_string(logs.join("firehose/chat-stream")).unwrap(),
    ));
}

#[tokio::test]
async fn spooled_records_survive_a_restart_while_the_destination_is_down() {
    let dir = tempfile::tempdir().unwrap();
    // A destination nobody listens on: every delivery fails and records stay spooled.
    let mut down = config(dir.path());
    down.logging.aws_endpoint = Some("http://127.0.0.1:9".to_string());
    let server = TestServer::start_with(down).await;
    let (room, room_id) = logged_room(&server).await;
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;
    for i in 0..5 {
        user.send(json!({"Action":"SEND_MESSAGE","Content":format!("m{i}")}))
            .await;
        user.frame_of("MESSAGE").await;
    }
    // Every record is in the spool before its frame is delivered.
    assert_eq!(
        server
            .app
            .chat
            .logger
            .spool()
            .stats
            .pending
            .load(std::sync::atomic::Ordering::Relaxed),
        15
    );
    drop(user);
    server.stop().await;

    // Back with working (local) destinations: everything arrives.
    let server = TestServer::start_with(config(dir.path())).await;
    delivered(&server, 15).await;
    let stream = dir.path().join(format!(
        "logs/cloudwatch/ivs/chat/aws/IVSChatLogs/1.0/room_{room_id}"
    ));
    let contents: Vec<String> = lines(&std::fs::read_to_string(stream).unwrap())
        .iter()
        .map(|r| r["payload"]["Content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents, ["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn rooms_without_logging_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(config(dir.path())).await;
    let room = server.room().await;
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;
    user.send(json!({"Action":"SEND_MESSAGE","Content":"x"}))
        .await;
    user.frame_of("MESSAGE").await;
    assert_eq!(
        server
            .app
            .chat
            .logger
            .spool()
            .stats
            .pending
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(files_under(&dir.path().join("logs")).is_empty());
}

/// Shutdown is not held up by a destination that takes the connection and never answers:
/// shipping stops mid-round, and the record stays spooled for the next start.
#[tokio::test]
async fn a_destination_that_never_answers_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = config(dir.path());
    config.logging.aws_endpoint = Some(format!("http://{}", silent.local_addr().unwrap()));
    let server = TestServer::start_with(config).await;
    let (room, _) = logged_room(&server).await;
    let mut user = server.join(&room, "u", &["SEND_MESSAGE"]).await;
    user.send(json!({"Action":"SEND_MESSAGE","Content":"m"}))
        .await;
    user.frame_of("MESSAGE").await;
    // A shipment is under way once the destination has its connection; no answer will come.
    let (_held, _) = silent.accept().await.unwrap();
    let logger = server.app.chat.logger.clone();
    // A hang guard only: without the fix, shutdown waited for the shipment forever.
    tokio::time::timeout(std::time::Duration::from_secs(20), server.stop())
        .await
        .expect("shutdown waited for a destination that never answers");
    assert_eq!(
        logger
            .spool()
            .stats
            .pending
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

/// Issue 18, "no silent loss": while the spool cannot write (a full disk, made here by a
/// trigger that fails every insert into `spool.db`), a message or event in a room with chat
/// logging is refused to its sender (ERROR 500, InternalServerException) rather than delivered
/// unlogged; `/ready` answers 503 and `/metrics` shows it; once writes succeed again the node is
/// ready by itself and what is sent is delivered and logged.
#[tokio::test]
async fn a_spool_that_cannot_write_refuses_logged_messages_and_recovers() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(config(dir.path())).await;
    let (room, _) = logged_room(&server).await;
    let mut user = server.join(&room, "alice", &["SEND_MESSAGE"]).await;
    let ready = || async {
        reqwest::get(format!("{}/ready", server.endpoint()))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 200);

    let url = format!("sqlite://{}", dir.path().join("spool.db").display());
    let mut spool = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER disk_full BEFORE INSERT ON records \
         BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END",
    )
    .execute(&mut spool)
    .await
    .unwrap();
    user.send(json!({"Action":"SEND_MESSAGE","RequestId":"during","Content":"x"}))
        .await;
    let error = user.frame_of("ERROR").await;
    assert_eq!(
        (error["ErrorCode"].as_u64(), error["RequestId"].as_str()),
        (Some(500), Some("during"))
    );
    let refused = server
        .client_without_retries()
        .send_event()
        .room_identifier(&room)
        .event_name("during")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(500)
    );
    assert_eq!(ready().await, 503);
    let stats = &server.app.chat.logger.spool().stats;
    assert_eq!(
        stats.unwritten.load(std::sync::atomic::Ordering::Relaxed),
        6
    );
    assert_eq!(stats.pending.load(std::sync::atomic::Ordering::Relaxed), 0);

    sqlx::query("DROP TRIGGER disk_full")
        .execute(&mut spool)
        .await
        .unwrap();
    assert_eq!(ready().await, 200);
    user.send(json!({"Action":"SEND_MESSAGE","RequestId":"after","Content":"y"}))
        .await;
    // Nothing refused was delivered: the next frame is the message sent after recovery.
    assert_eq!(user.frame_of("MESSAGE").await["RequestId"], "after");
    delivered(&server, 3).await;
}

/// Another account's logging configuration (README "Several accounts") logs its rooms' records
/// under that account: S3 object keys start `AWSLogs/<its account>/`, as AWS writes them.
#[tokio::test]
async fn another_accounts_s3_logs_are_under_its_account() {
    const OTHER: &str = "111111111111";
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    common::add_tenant(&mut config, dir.path(), OTHER);
    let server = TestServer::start_with(config).await;
    let tenant = server.client_with("tenant", "tenant-secret");
    let logging = tenant
        .create_logging_configuration()
        .destination_configuration(DestinationConfiguration::S3(
            S3DestinationConfiguration::builder()
                .bucket_name("tenant-archive")
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let room = tenant
        .create_room()
        .logging_configuration_identifiers(logging)
        .send()
        .await
        .unwrap();
    tenant
        .send_event()
        .room_identifier(room.arn.unwrap())
        .event_name("app:custom")
        .send()
        .await
        .unwrap();
    delivered(&server, 1).await;
    let bucket = dir.path().join("logs/s3/tenant-archive");
    let files = files_under(&bucket);
    assert_eq!(files.len(), 1, "{files:?}");
    let key = files[0]
        .strip_prefix(&bucket)
        .unwrap()
        .to_string_lossy()
        .to_string();
    let room_id = room.id.unwrap();
    assert!(
        key.starts_with(&format!(
            "AWSLogs/{OTHER}/IVSChatLogs/1.0/us-east-1/room_{room_id}/"
        )),
        "{key}"
    );
    server.stop().await;
}

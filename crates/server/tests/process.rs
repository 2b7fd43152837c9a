//! The real `ivschat-server` binary as a process: start-up messages and refusals, and
//! durability of acknowledged writes across `kill -9`.

mod common;

use std::process::Command;

use common::process::{Node, BIN};

fn node_in(dir: &std::path::Path) -> Node {
    Node::start(
        &["--data-dir".to_string(), dir.display().to_string()],
        &[("IVSCHAT_LOG_FORMAT", "text")],
    )
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = node_in(dir.path());
    assert!(
        server
            .startup_log
            .iter()
            .any(|l| l.contains("accepting access key 'test'")),
        "the dev credentials are announced: {:?}",
        server.startup_log
    );
    let api = server.client();
    let mut arns = Vec::new();
    for i in 0..50 {
        let room = api
            .create_room()
            .name(format!("r{i}"))
            .send()
            .await
            .unwrap();
        arns.push(room.arn.unwrap());
    }
    api.update_room()
        .identifier(&arns[0])
        .name("renamed")
        .send()
        .await
        .unwrap();
    api.tag_resource()
        .resource_arn(&arns[1])
        .tags("k", "v")
        .send()
        .await
        .unwrap();
    api.delete_room().identifier(&arns[2]).send().await.unwrap();
    server.kill();

    let server = node_in(dir.path());
    let api = server.client();
    let mut listed = Vec::new();
    let mut pages = api.list_rooms().into_paginator().send();
    while let Some(page) = pages.next().await {
        listed.extend(page.unwrap().rooms.into_iter().map(|r| r.arn.unwrap()));
    }
    assert_eq!(listed.len(), 49);
    let renamed = api.get_room().identifier(&arns[0]).send().await.unwrap();
    assert_eq!(renamed.name(), Some("renamed"));
    let tagged = api.get_room().identifier(&arns[1]).send().await.unwrap();
    assert_eq!(
        tagged.tags().unwrap().get("k").map(String::as_str),
        Some("v")
    );
    assert!(api.get_room().identifier(&arns[2]).send().await.is_err());
}

#[test]
fn refuses_a_public_address_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("IVSCHAT_CREDENTIALS")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no credentials are configured"), "{stderr}");
}

#[test]
fn refuses_a_bus_that_is_not_redis() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            // Only parsed, never dialled: the server refuses the scheme before connecting.
            "--bus",
            "nats://127.0.0.1:4222",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--bus must be a redis:// or rediss:// URL"),
        "{stderr}"
    );
}

#[test]
fn configured_secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(
        &["--data-dir".to_string(), dir.path().display().to_string()],
        &[
            ("IVSCHAT_CREDENTIALS", "AKIDPROCESS:verysecretvalue"),
            ("IVSCHAT_LOG", "debug"),
        ],
    );
    let log = node.startup_log.join("\n");
    assert!(!log.contains("verysecretvalue"), "{log}");
    assert!(!log.contains("accepting access key 'test'"), "{log}");
}

#[tokio::test]
async fn prometheus_metrics_on_their_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = common::process::free_port();
    let node = Node::start(
        &[
            "--data-dir".to_string(),
            dir.path().display().to_string(),
            "--metrics-listen".to_string(),
            format!("127.0.0.1:{metrics_port}"),
        ],
        &[],
    );
    let api = node.client();
    api.create_room().send().await.unwrap();
    let _ = api
        .get_room()
        .identifier("arn:aws:ivschat:us-east-1:000000000000:room/AAAAAAAAAAAA")
        .send()
        .await;
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "ivschat_requests_total{operation=\"CreateRoom\",status=\"200\"} 1",
        "ivschat_requests_total{operation=\"GetRoom\",status=\"404\"} 1",
        "ivschat_request_duration_seconds_count{operation=\"CreateRoom\"} 1",
        "ivschat_chat_connections 0",
        "ivschat_logging_backlog_records 0",
        "ivschat_chat_slow_disconnects_total 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // Not on the public port.
    let public = reqwest::get(format!("{}/metrics", node.endpoint()))
        .await
        .unwrap();
    assert_ne!(public.status().as_u16(), 200);
}

/// A full disk (or a closed pipe) under the server's log must cost log lines, not requests:
/// the log writer used to report its own write failure with `eprintln!`, which panics when
/// standard error cannot be written either, inside whatever request was logging.
#[tokio::test]
async fn a_log_that_cannot_be_written_does_not_fail_requests() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::process::free_port();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", &dir.path().display().to_string()])
        .env_remove("IVSCHAT_CREDENTIALS")
        .env("IVSCHAT_LOG", "debug")
        .stdout(full())
        .stderr(full())
        .spawn()
        .unwrap();
    // No ready line can be read from /dev/full: wait for the port to answer instead.
    let ready = format!("http://127.0.0.1:{port}/ready");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while reqwest::get(&ready).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "server exited at start"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "server never became ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let node = Node::adopt(port, child);
    let api = node.client();
    for _ in 0..5 {
        api.create_room()
            .send()
            .await
            .expect("CreateRoom with an unwritable log");
    }
    let rooms = api.list_rooms().send().await.unwrap();
    assert_eq!(rooms.rooms().len(), 5);
}

/// Issue 19: what the server writes is its owner's only. A node started in a data directory
/// that does not exist yet (as README says), with a room logged to all three file
/// destinations and a message sent: every directory under the data directory is 0700 and every
/// file (the database and its -wal/-shm, the spool and its, the chat-token key, the chat logs)
/// is 0600, whatever the umask (the test's is the usual 022). No warning about the directory.
#[tokio::test]
async fn everything_in_the_data_directory_is_the_owners_only() {
    use aws_sdk_ivschat::types::{
        CloudWatchLogsDestinationConfiguration, DestinationConfiguration,
        FirehoseDestinationConfiguration, S3DestinationConfiguration,
    };
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("nested/data");
    let config = root.path().join("c.toml");
    std::fs::write(
        &config,
        "[logging]\ns3_batch_seconds = 0\nflush_interval_ms = 50\n",
    )
    .unwrap();
    let node = Node::start(
        &[
            "--data-dir".to_string(),
            data.display().to_string(),
            "--config".to_string(),
            config.display().to_string(),
        ],
        &[],
    );
    assert!(
        !node.startup_log.iter().any(|l| l.contains("chmod 700")),
        "{:?}",
        node.startup_log
    );
    let api = node.client();
    let mut logging = Vec::new();
    for destination in [
        DestinationConfiguration::S3(
            S3DestinationConfiguration::builder()
                .bucket_name("chat-bucket")
                .build()
                .unwrap(),
        ),
        DestinationConfiguration::CloudWatchLogs(
            CloudWatchLogsDestinationConfiguration::builder()
                .log_group_name("chat-group")
                .build()
                .unwrap(),
        ),
        DestinationConfiguration::Firehose(
            FirehoseDestinationConfiguration::builder()
                .delivery_stream_name("chat-stream")
                .build()
                .unwrap(),
        ),
    ] {
        let created = api
            .create_logging_configuration()
            .destination_configuration(destination)
            .send()
            .await
            .unwrap();
        logging.push(created.arn.unwrap());
    }
    let room = api
        .create_room()
        .set_logging_configuration_identifiers(Some(logging))
        .send()
        .await
        .unwrap();
    let token = api
        .create_chat_token()
        .room_identifier(room.arn().unwrap())
        .user_id("u")
        .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::SendMessage)
        .send()
        .await
        .unwrap()
        .token
        .unwrap();
    let mut chat = common::chat::ChatClient::connect(node.addr(), &token)
        .await
        .unwrap();
    chat.send(serde_json::json!({"Action":"SEND_MESSAGE","RequestId":"r","Content":"x"}))
        .await;
    chat.frame_of("MESSAGE").await;

    // The records reach the three destinations' files (polled, bounded: they are written by
    // another process).
    let room_id = room.id().unwrap();
    let expected = [
        data.join("logs/firehose/chat-stream"),
        data.join(format!(
            "logs/cloudwatch/chat-group/aws/IVSChatLogs/1.0/room_{room_id}"
        )),
        data.join("logs/s3/chat-bucket"),
    ];
    for _ in 0..600 {
        if expected.iter().all(|p| p.exists()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut seen = Vec::new();
    let mut shared = Vec::new();
    walk(&data, &mut |path, mode, is_dir| {
        seen.push(path.strip_prefix(&data).unwrap().display().to_string());
        let wanted = if is_dir { 0o700 } else { 0o600 };
        if mode != wanted {
            shared.push(format!("{} {mode:o}", path.display()));
        }
    });
    assert!(shared.is_empty(), "not the owner's only: {shared:?}");
    for name in [
        "ivschat.db",
        "ivschat.db-wal",
        "ivschat.db-shm",
        "spool.db",
        "spool.db-wal",
        "spool.db-shm",
        "chat-token.key",
        "logs/firehose/chat-stream",
    ] {
        assert!(seen.iter().any(|s| s == name), "{name} missing in {seen:?}");
    }
    assert!(
        seen.iter()
            .any(|s| s.starts_with("logs/s3/chat-bucket/") && s.ends_with(".gz")),
        "{seen:?}"
    );
    assert_eq!(mode_of(&data), 0o700);
    // The directories made on the way to it too.
    assert_eq!(mode_of(&root.path().join("nested")), 0o700);
}

/// Issue 19: an existing data directory that others can reach is named in a start-up warning
/// with its mode (and left as it is).
#[test]
fn a_data_directory_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let node = node_in(dir.path());
    let warning = node
        .startup_log
        .iter()
        .find(|l| l.contains("WARN") && l.contains("chmod 700"))
        .unwrap_or_else(|| panic!("no warning: {:?}", node.startup_log));
    assert!(
        warning.contains(&dir.path().display().to_string()) && warning.contains("0755"),
        "{warning}"
    );
    assert_eq!(mode_of(dir.path()), 0o755);
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Calls `visit(path, mode, is_dir)` for everything under `dir`.
fn walk(dir: &std::path::Path, visit: &mut dyn FnMut(&std::path::Path, u32, bool)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let is_dir = path.is_dir();
        visit(&path, mode_of(&path), is_dir);
        if is_dir {
            walk(&path, visit);
        }
    }
}

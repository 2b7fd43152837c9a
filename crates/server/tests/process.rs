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
    assert!(stderr.contains("--bus must be a redis:// URL"), "{stderr}");
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

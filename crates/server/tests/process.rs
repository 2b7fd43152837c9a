//! The real `ivschat-server` binary as a process: start-up messages and refusals, and
//! durability of acknowledged writes across `kill -9`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};

const BIN: &str = env!("CARGO_BIN_EXE_ivschat-server");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary and waits for its "ready" log line (the event, not a delay).
fn start(data_dir: &Path, port: u16) -> Child {
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .env("IVSCHAT_LOG_FORMAT", "text")
        .env_remove("IVSCHAT_CREDENTIALS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("server exited before ready: {seen:?}"))
            .unwrap();
        if line.contains("ivschat-server ready") {
            break;
        }
        seen.push(line);
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("accepting access key 'test'")),
        "the dev credentials are announced: {seen:?}"
    );
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

fn client(port: u16) -> aws_sdk_ivschat::Client {
    let config = aws_sdk_ivschat::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "process"))
        .build();
    aws_sdk_ivschat::Client::from_conf(config)
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(dir.path(), port);
    let api = client(port);
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
    // SIGKILL: no shutdown code runs.
    server.kill().unwrap();
    server.wait().unwrap();

    let port = free_port();
    let mut server = start(dir.path(), port);
    let api = client(port);
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
    server.kill().unwrap();
    server.wait().unwrap();
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
fn configured_secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .env("IVSCHAT_CREDENTIALS", "AKIDPROCESS:verysecretvalue")
        .env("IVSCHAT_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut log = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("ivschat-server ready") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(log.contains("ready"), "{log}");
    assert!(!log.contains("verysecretvalue"), "{log}");
    assert!(!log.contains("accepting access key 'test'"), "{log}");
}

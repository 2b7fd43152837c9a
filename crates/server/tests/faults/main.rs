//! The fault-injection suite (issue 18, RELIABILITY.md "Fault injection"): three real
//! `ivschat-server` processes on a private PostgreSQL and Redis, six chat clients spread over
//! the nodes (three pinned to their node, three that fail over) sending continuously in one
//! logged room, and faults the suite makes itself, one
//! after the other:
//!
//! * a. `kill -9` of a node during fan-out, restarted on its data directory;
//! * b. Redis paused (`SIGSTOP` / `SIGCONT`), then Redis killed and restarted on its port;
//! * c. PostgreSQL stopped (`pg_ctl stop -m immediate`) and started again;
//! * d. one node (running in a network namespace) cut off from Redis: the host end of its
//!   veth pair to Redis set down, then up (root only);
//! * e. the file system of one node's data directory (a 16 MiB tmpfs) filled, then freed
//!   (root only).
//!
//! `checker.rs` judges the record per fault and the suite fails when a promise is broken.
//! Ignored by default (it needs root for d and e, and about two minutes); `scripts/test.sh`
//! runs it: `cargo test -p ivschat-server --test faults -- --ignored --nocapture`.

mod checker;
mod clients;
mod infra;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_ivschat::types::{DestinationConfiguration, FirehoseDestinationConfiguration};
use checker::{judge, judge_log, millis, Phase};
use clients::{run_client, sdk_client, Plan, Recorder, Target};
use infra::{is_root, run, Namespace, Node, Postgres, Redis, Tmpfs};

const CLIENTS: usize = 6;
const SEND_EVERY: Duration = Duration::from_millis(300);
/// Traffic before each fault and after recovery: what the fault is compared with.
const STEADY: Duration = Duration::from_secs(2);
/// How long each fault lasts (longer than the bus heartbeat's 3 s timeout).
const HOLD: Duration = Duration::from_secs(4);
const FIREHOSE_STREAM: &str = "faults";

/// Straight to the terminal, past the harness's capture.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "[faults] {text}");
}

fn required() -> bool {
    std::env::var("IVSCHAT_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A fault this machine cannot make: said loudly; fatal only for what `scripts/test.sh` requires.
fn skipped(what: &str, why: &str, fatal: bool) {
    if fatal && required() {
        panic!("{what}: {why}, and IVSCHAT_REQUIRE_SERVICES=1");
    }
    say(&format!("SKIPPED: {what}: {why}"));
}

fn program_on_path(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `ip` from Debian's iproute2, installed when missing (as `scripts/services.sh` installs
/// PostgreSQL and Redis).
fn ensure_ip() -> bool {
    if program_on_path("ip") {
        return true;
    }
    say("`ip` not found: installing Debian's iproute2");
    let install = || {
        run(
            "apt-get",
            &[
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "iproute2",
            ],
        )
    };
    if install().is_err() {
        let _ = run("apt-get", &["update", "-qq"]);
        let _ = install();
    }
    program_on_path("ip")
}

struct World {
    // Dropped in this order: the processes before the mount and services they use.
    nodes: Vec<Node>,
    tmpfs: Option<Tmpfs>,
    postgres: Postgres,
    redis: Redis,
    namespace: Option<Namespace>,
    _root: tempfile::TempDir,
}

impl World {
    fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }
}

async fn ready_status(node: SocketAddr) -> u16 {
    let client = reqwest::Client::builder()
        // Longer than the server's own 1 s bound on its Redis check: 0 means no answer at all.
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    match client.get(format!("http://{node}/ready")).send().await {
        Ok(answer) => answer.status().as_u16(),
        Err(_) => 0,
    }
}

/// Polls every node's `/ready` until all answer 200 (bounded: 20 s); the time they did.
async fn all_ready(nodes: &[SocketAddr]) -> Option<Instant> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let mut all = true;
        for node in nodes {
            all &= ready_status(*node).await == 200;
        }
        if all {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Waits (bounded: 10 s) until a message sent after `since` reached a member on another node.
async fn cross_node_delivery(recorder: &Recorder, since: Instant) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let record = recorder.snapshot();
        let sent: HashMap<&str, usize> = record
            .sent
            .iter()
            .filter(|s| s.sent >= since)
            .map(|s| (s.id.as_str(), record.incarnations[s.incarnation].node))
            .collect();
        let crossed = record.incarnations.iter().any(|inc| {
            inc.received
                .iter()
                .any(|(id, _)| sent.get(id.as_str()).is_some_and(|n| *n != inc.node))
        });
        if crossed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What each node's `/ready` answered while a fault lasted, and how fast ("none in 3 s" when
/// it did not answer within the probe's timeout, or the node is down).
async fn during(nodes: &[SocketAddr]) -> String {
    let mut statuses = Vec::new();
    for node in nodes {
        let asked = Instant::now();
        let status = ready_status(*node).await;
        statuses.push(match status {
            0 => format!("none in {:.0} s", asked.elapsed().as_secs_f64()),
            status => format!("{status} in {:.1} s", asked.elapsed().as_secs_f64()),
        });
    }
    format!("`/ready` during: {}", statuses.join(", "))
}

/// The counter `name` on a node's metrics listener.
async fn metric(addr: Option<SocketAddr>, name: &str) -> Option<f64> {
    let answer = reqwest::get(format!("http://{}/metrics", addr?)).await;
    let text = match answer {
        Ok(answer) => answer.text().await.ok()?,
        Err(e) => {
            say(&format!("reading {name}: {e}"));
            return None;
        }
    };
    let value = text
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok());
    if value.is_none() {
        say(&format!(
            "no {name} in the metrics: {}",
            &text[..text.len().min(400)]
        ));
    }
    value
}

/// Every message id in the nodes' Firehose files, with how many records each has.
fn logged_ids(world: &World) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for node in &world.nodes {
        let file = node.data_dir.join("logs/firehose").join(FIREHOSE_STREAM);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(id) = record["payload"]["Content"].as_str() {
                *ids.entry(id.to_string()).or_default() += 1;
            }
        }
    }
    ids
}

fn start_world() -> Option<World> {
    if !program_on_path("redis-server") {
        skipped("the fault suite", "`redis-server` is not on PATH", true);
        return None;
    }
    let Some(pg_bin) = Postgres::bin_dir() else {
        skipped(
            "the fault suite",
            "PostgreSQL's server binaries are not installed",
            true,
        );
        return None;
    };
    let root = tempfile::tempdir().unwrap();
    run("chmod", &["0755", &root.path().display().to_string()]).unwrap();
    let privileged = is_root();
    let namespace = if !privileged {
        skipped(
            "d (network partition)",
            "not root: network namespaces need it",
            false,
        );
        None
    } else if !ensure_ip() {
        skipped("d (network partition)", "`ip` (iproute2) unavailable", true);
        None
    } else {
        match Namespace::create() {
            Ok(ns) => Some(ns),
            Err(why) => {
                skipped(
                    "d (network partition)",
                    &format!("cannot make a network namespace here: {why}"),
                    false,
                );
                None
            }
        }
    };
    let tmpfs = if privileged {
        match Tmpfs::mount(root.path().join("small"), "16m") {
            Ok(t) => Some(t),
            Err(why) => {
                skipped(
                    "e (spool file system full)",
                    &format!("cannot mount a tmpfs here: {why}"),
                    false,
                );
                None
            }
        }
    } else {
        skipped(
            "e (spool file system full)",
            "not root: mounting a tmpfs needs it",
            false,
        );
        None
    };
    let postgres = Postgres::start(pg_bin, root.path(), namespace.as_ref().map(|n| n.host_main));
    let redis = Redis::start(namespace.as_ref().map(|n| n.host_redis));
    let bin = std::env::var("IVSCHAT_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ivschat-server").to_string());
    let mut nodes = Vec::new();
    for index in 0..3 {
        let on_host = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let (addr, ns, db, bus) = match (&namespace, index) {
            (Some(ns), 1) => (
                SocketAddr::from((ns.inside_main, 8080)),
                Some(ns.name.clone()),
                postgres.url(&ns.host_main.to_string()),
                redis.url(&ns.host_redis.to_string()),
            ),
            _ => (
                on_host(infra::free_port()),
                None,
                postgres.url("127.0.0.1"),
                redis.url("127.0.0.1"),
            ),
        };
        let data_dir = match (&tmpfs, index) {
            (Some(t), 2) => t.dir.join("node-2"),
            _ => root.path().join(format!("node-{index}")),
        };
        let metrics = (index == 2).then(|| on_host(infra::free_port()));
        nodes.push(Node::start(
            &bin,
            index,
            addr,
            data_dir,
            root.path().join(format!("node-{index}.log")),
            ns,
            &db,
            &bus,
            "faults",
            metrics,
        ));
    }
    Some(World {
        nodes,
        tmpfs,
        postgres,
        redis,
        namespace,
        _root: root,
    })
}

/// A logged room (Firehose, written as files in each node's data directory).
async fn logged_room(node: SocketAddr) -> String {
    let api = sdk_client(node);
    let logging = api
        .create_logging_configuration()
        .destination_configuration(DestinationConfiguration::Firehose(
            FirehoseDestinationConfiguration::builder()
                .delivery_stream_name(FIREHOSE_STREAM)
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    api.create_room()
        .maximum_message_rate_per_second(100)
        .logging_configuration_identifiers(logging.arn.unwrap())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[derive(Clone, Copy)]
enum Fault {
    KillNode,
    PauseRedis,
    KillRedis,
    StopPostgres,
    PartitionFromRedis,
    FillSpoolDisk,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillNode => "a. node killed",
            Fault::PauseRedis => "b1. Redis paused",
            Fault::KillRedis => "b2. Redis killed",
            Fault::StopPostgres => "c. PostgreSQL stopped",
            Fault::PartitionFromRedis => "d. node cut off from Redis",
            Fault::FillSpoolDisk => "e. spool disk full",
        }
    }

    fn injected(self) -> &'static str {
        match self {
            Fault::KillNode => "`kill -9` of node 0 (2 of 6 clients on it), 4 s, restarted on its data dir",
            Fault::PauseRedis => "`SIGSTOP` Redis 4 s, `SIGCONT`",
            Fault::KillRedis => "`kill -9` Redis, 4 s, restarted on its port (empty)",
            Fault::StopPostgres => "`pg_ctl stop -m immediate`, 4 s, `pg_ctl start`",
            Fault::PartitionFromRedis => {
                "node 1 (in a netns) loses its veth link to Redis (`ip link set … down`) 4 s; its clients' link stays up"
            }
            Fault::FillSpoolDisk => "node 2's data dir (16 MiB tmpfs) filled to ENOSPC 4 s, then freed",
        }
    }

    fn possible(self, world: &World) -> bool {
        match self {
            Fault::PartitionFromRedis => world.namespace.is_some(),
            Fault::FillSpoolDisk => world.tmpfs.is_some(),
            _ => true,
        }
    }

    fn inject(self, world: &mut World) {
        match self {
            Fault::KillNode => world.nodes[0].kill(),
            Fault::PauseRedis => world.redis.pause(true),
            Fault::KillRedis => world.redis.kill(),
            Fault::StopPostgres => world.postgres.stop_immediate().unwrap(),
            Fault::PartitionFromRedis => world.namespace.as_ref().unwrap().set_redis_link(false),
            Fault::FillSpoolDisk => {
                let filled = world.tmpfs.as_ref().unwrap().fill();
                say(&format!("filled the tmpfs with {filled} bytes"));
            }
        }
    }

    fn heal(self, world: &mut World) {
        match self {
            Fault::KillNode => world.nodes[0].restart(),
            Fault::PauseRedis => world.redis.pause(false),
            Fault::KillRedis => world.redis.start_server(),
            Fault::StopPostgres => world.postgres.start_server().unwrap(),
            Fault::PartitionFromRedis => world.namespace.as_ref().unwrap().set_redis_link(true),
            Fault::FillSpoolDisk => world.tmpfs.as_ref().unwrap().free(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the fault-injection suite: starts its own PostgreSQL and Redis, needs root for two faults; scripts/test.sh runs it"]
async fn faults_lose_no_acknowledged_message() {
    let Some(mut world) = tokio::task::block_in_place(start_world) else {
        return;
    };
    let run_started = Instant::now();
    let room = logged_room(world.nodes[0].addr).await;
    let target = Target {
        nodes: world.addrs(),
        room,
    };
    let recorder = Recorder::default();
    let (stop_sending, sending) = tokio::sync::watch::channel(false);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        tasks.push(tokio::spawn(run_client(
            Plan {
                client,
                home: client % 3,
                pinned: client < 3,
                every: SEND_EVERY,
            },
            target.clone(),
            recorder.clone(),
            sending.clone(),
            stopped.clone(),
        )));
    }

    let mut phases = Vec::new();
    let baseline_start = Instant::now();
    all_ready(&target.nodes).await.expect("cluster ready");
    cross_node_delivery(&recorder, baseline_start).await;
    tokio::time::sleep(STEADY).await;
    phases.push(Phase {
        name: "none (baseline)".into(),
        injected: "nothing".into(),
        start: baseline_start,
        healed: None,
        ready: None,
        end: Instant::now(),
        notes: vec![],
    });
    let lost_records_before =
        metric(world.nodes[2].metrics, "ivschat_logging_unwritten_records").await;
    // The full disk first, while the spool's SQLite WAL is still small: later, the WAL has
    // grown to its checkpoint size (about 4 MB) and commits reuse its space, so a full disk
    // only shows at the log files (observed; the table says so).
    for fault in [
        Fault::FillSpoolDisk,
        Fault::KillNode,
        Fault::PauseRedis,
        Fault::KillRedis,
        Fault::StopPostgres,
        Fault::PartitionFromRedis,
    ] {
        if !fault.possible(&world) {
            continue;
        }
        say(&format!("fault {}", fault.name()));
        let start = Instant::now();
        tokio::time::sleep(STEADY).await;
        tokio::task::block_in_place(|| fault.inject(&mut world));
        // The fault lasts HOLD: a duration under test, not a wait for an event.
        tokio::time::sleep(HOLD / 2).await;
        let mut notes = vec![during(&target.nodes).await];
        tokio::time::sleep(HOLD / 2).await;
        tokio::task::block_in_place(|| fault.heal(&mut world));
        let healed = Instant::now();
        let ready = all_ready(&target.nodes).await;
        cross_node_delivery(&recorder, healed).await;
        let members: Vec<String> = recorder
            .snapshot()
            .incarnations
            .iter()
            .filter(|i| i.ended.is_none())
            .map(|i| format!("c{}@{}", i.client, i.node))
            .collect();
        notes.push(format!("members once recovered: {}", members.join(" ")));
        tokio::time::sleep(STEADY).await;
        if let Fault::FillSpoolDisk = fault {
            let lost = metric(world.nodes[2].metrics, "ivschat_logging_unwritten_records").await;
            notes.push(format!(
                "node 2 `logging_unwritten_records` {} → {}",
                lost_records_before.unwrap_or(-1.0),
                lost.unwrap_or(-1.0)
            ));
        }
        phases.push(Phase {
            name: fault.name().into(),
            injected: fault.injected().into(),
            start,
            healed: Some(healed),
            ready,
            end: Instant::now(),
            notes,
        });
    }

    // Drain: no more sends; wait until nothing more arrives for a second (bounded).
    stop_sending.send(true).unwrap();
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    let mut last_count = 0;
    let mut quiet_since = Instant::now();
    while Instant::now() < drain_deadline && quiet_since.elapsed() < Duration::from_secs(1) {
        let count: usize = recorder
            .snapshot()
            .incarnations
            .iter()
            .map(|i| i.received.len())
            .sum();
        if count != last_count {
            last_count = count;
            quiet_since = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let record = recorder.snapshot();
    let run_end = Instant::now();
    stop.send(true).unwrap();
    for task in tasks {
        let _ = task.await;
    }

    // The chat log: wait (bounded) until every acknowledged message is in a node's files.
    let acked: Vec<&str> = record
        .sent
        .iter()
        .filter(|s| s.acked.is_some())
        .map(|s| s.id.as_str())
        .collect();
    let log_deadline = Instant::now() + Duration::from_secs(20);
    let mut logged = logged_ids(&world);
    while Instant::now() < log_deadline && !acked.iter().all(|id| logged.contains_key(*id)) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        logged = logged_ids(&world);
    }

    report(&phases, &record, run_end, &logged, run_started);
    let mut broken = Vec::new();
    for phase in &phases {
        let v = judge(&record, phase, run_end);
        let l = judge_log(&record, phase, &logged);
        if v.lost > 0 {
            broken.push(format!(
                "{}: {} acknowledged deliveries lost, e.g. {:?}",
                phase.name, v.lost, v.lost_examples
            ));
        }
        if v.duplicated > 0 || v.reordered > 0 {
            broken.push(format!(
                "{}: {} duplicated, {} reordered",
                phase.name, v.duplicated, v.reordered
            ));
        }
        if v.acked == 0 {
            broken.push(format!("{}: nothing acknowledged", phase.name));
        }
        if phase.healed.is_some() && (v.to_ready.is_none() || v.to_cross_node.is_none()) {
            broken.push(format!("{}: did not recover", phase.name));
        }
        if l.refused_logged > 0 {
            broken.push(format!(
                "{}: {} refused messages in the chat log",
                phase.name, l.refused_logged
            ));
        }
        // Log, publish, acknowledge: a message whose records the spool could not write (a full
        // disk) is refused to its sender, so every acknowledged message is in the log, under a
        // full disk too (the refusals are counted in `logging_unwritten_records`, noted above).
        if l.missing > 0 {
            broken.push(format!(
                "{}: {} acknowledged messages missing from the chat log (sent through nodes 0/1/2: {:?})",
                phase.name, l.missing, l.missing_by_node
            ));
        }
    }
    if !broken.is_empty() {
        for node in &world.nodes {
            say(&format!(
                "node {} log ({}), last lines:\n{}",
                node.index,
                node.data_dir.display(),
                node.log_tail(15)
            ));
        }
    }
    assert!(broken.is_empty(), "promises broken:\n{}", broken.join("\n"));
}

fn report(
    phases: &[Phase],
    record: &clients::Record,
    run_end: Instant,
    logged: &HashMap<String, usize>,
    run_started: Instant,
) {
    let mut out = String::new();
    out.push_str(
        "| fault | injected | sent | acked | refused (ERROR) | unanswered | lost | duplicated | reordered | refused yet delivered | disconnects / failed connects | /ready 200 after heal | first cross-node delivery after heal | log: acked missing / refused logged / in-doubt logged / duplicate records | notes |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for phase in phases {
        let v = judge(record, phase, run_end);
        let l = judge_log(record, phase, logged);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} / {} / {} / {} | {} |\n",
            phase.name,
            phase.injected,
            v.sent,
            v.acked,
            v.refused,
            v.unanswered,
            v.lost,
            v.duplicated,
            v.reordered,
            v.refused_yet_delivered,
            v.disconnects,
            v.refused_connects,
            millis(v.to_ready),
            millis(v.to_cross_node),
            l.missing,
            l.refused_logged,
            l.unanswered_logged,
            l.duplicate_records,
            phase.notes.join("; "),
        ));
    }
    out.push_str(&format!(
        "\n{} messages sent by {} clients in {:.0} s; {} connections in all.\n",
        record.sent.len(),
        CLIENTS,
        (run_end - run_started).as_secs_f64(),
        record.incarnations.len()
    ));
    say(&format!("results:\n{out}"));
    if let Ok(path) = std::env::var("IVSCHAT_FAULTS_REPORT") {
        let _ = std::fs::write(PathBuf::from(path), &out);
    }
}

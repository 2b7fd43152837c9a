//! Encrypted backends (issue 19): nodes reach PostgreSQL with `sslmode=verify-full` and Redis
//! with `rediss://`, against private servers this file starts with TLS only, under a
//! certificate authority it makes (the `openssl` command). It needs PostgreSQL's server
//! binaries, `redis-server` and `openssl`; without them the tests skip, and fail under
//! `IVSCHAT_REQUIRE_SERVICES=1` (`common/services.rs`), as in `scripts/test.sh`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::chat::ChatClient;
use common::process::{free_port, Node, BIN};
use serde_json::json;

/// A certificate authority and a server certificate it signed for `localhost` and 127.0.0.1.
struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn make() -> Certificates {
        let dir = tempfile::tempdir().unwrap();
        // Each command is one line of words (no argument has a space).
        let run = |command: &str| {
            let output = Command::new("openssl")
                .args(command.split_whitespace())
                .current_dir(dir.path())
                .output()
                .expect("openssl");
            assert!(output.status.success(), "openssl {command}: {output:?}");
        };
        const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        for ca in ["ca", "other-ca"] {
            run(&format!(
                "req -x509 {EC} -keyout {ca}.key -out {ca}.pem -days 2 -subj /CN=ivschat-test-{ca} \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign"
            ));
        }
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&format!(
            "req {EC} -keyout server.key -out server.csr -subj /CN=localhost"
        ));
        run(
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 \
             -out server.pem -extfile server.ext",
        );
        Certificates { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA that signed the server's certificate.
    fn ca(&self) -> String {
        self.path("ca.pem").display().to_string()
    }

    /// A CA that did not.
    fn other_ca(&self) -> String {
        self.path("other-ca.pem").display().to_string()
    }
}

/// What these tests need on the machine; `false` (the test skips, or fails when services are
/// required) when something is missing.
fn programs_available() -> bool {
    let postgres = postgres_bin().is_some() || common::services::program_available("pg_ctl");
    postgres
        && common::services::program_available("openssl")
        && common::services::program_available("redis-server")
}

/// PostgreSQL's server binaries (Debian keeps them under /usr/lib/postgresql/<version>/bin).
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop().or_else(|| {
        let on_path = Command::new("pg_ctl").arg("--version").output().ok()?;
        on_path.status.success().then(PathBuf::new)
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A command run as the owner of the private cluster: PostgreSQL refuses to run as root, so
/// as root it is `nobody` (as in scripts/services.sh).
fn as_postgres_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A private PostgreSQL that accepts TLS connections only (`hostssl` in pg_hba.conf), with
/// the server certificate of [`Certificates`]; stopped when dropped.
struct TlsPostgres {
    _root: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl TlsPostgres {
    fn start(certificates: &Certificates) -> TlsPostgres {
        let bin = postgres_bin().expect("PostgreSQL's server binaries");
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("pg");
        std::fs::create_dir(&data).unwrap();
        set_mode(root.path(), 0o755);
        set_mode(&data, 0o700);
        if is_root() {
            chown_nobody(&data);
        }
        let initdb = as_postgres_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .output()
            .unwrap();
        assert!(initdb.status.success(), "initdb: {initdb:?}");
        // TLS or nothing: a connection in clear is rejected, so a node that connects at all
        // connected over TLS.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        for file in ["server.pem", "server.key"] {
            std::fs::copy(certificates.path(file), data.join(file)).unwrap();
            set_mode(&data.join(file), 0o600);
            if is_root() {
                chown_nobody(&data.join(file));
            }
        }
        for _ in 0..3 {
            let port = free_port();
            let started = as_postgres_user(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-w", "-t", "60", "-l"])
                .arg(data.join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -c listen_addresses=127.0.0.1 -k {} -c ssl=on \
                     -c ssl_cert_file=server.pem -c ssl_key_file=server.key -c fsync=off",
                    data.display()
                ))
                .arg("start")
                .stdout(Stdio::null())
                .status()
                .unwrap();
            if started.success() {
                return TlsPostgres {
                    _root: root,
                    data,
                    bin,
                    port,
                };
            }
        }
        panic!(
            "the private TLS PostgreSQL did not start: {}",
            std::fs::read_to_string(data.join("server.log")).unwrap_or_default()
        );
    }

    /// A `--database-url` for this server with these query parameters.
    fn url(&self, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?{query}",
            self.port
        )
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = as_postgres_user(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_nobody(path: &Path) {
    let status = Command::new("chown")
        .arg("nobody")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A private redis-server that listens with TLS only (`--port 0 --tls-port`); killed when
/// dropped.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
}

impl TlsRedis {
    fn start(certificates: &Certificates) -> TlsRedis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(certificates.path("server.pem"))
            .arg("--tls-key-file")
            .arg(certificates.path("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(certificates.path("ca.pem"))
            .args(["--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        let mut redis = TlsRedis { child, port };
        // Ready when it answers PING over TLS (bounded).
        let ca = std::fs::read(certificates.path("ca.pem")).unwrap();
        let client = redis::Client::build_with_tls(
            redis.url(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca),
            },
        )
        .unwrap();
        for _ in 0..200 {
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited ({status}): is it built with TLS support?");
            }
            if let Ok(mut c) = client.get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return redis;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the private TLS redis-server did not answer");
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the server binary with `args`, expecting it to refuse to start: its exit status and
/// everything it printed. Bounded: a server that starts after all is killed and the test fails.
fn refused_start(args: &[String]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(data.path().join("node"))
        .args(args)
        .env_remove("IVSCHAT_CREDENTIALS")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started (or hung) instead of refusing: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "{output:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn node(args: &[String]) -> (Node, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut all = vec![
        "--data-dir".to_string(),
        data.path().join("node").display().to_string(),
    ];
    all.extend_from_slice(args);
    (Node::start(&all, &[]), data)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_node_on_postgres_with_verify_full_serves_the_control_plane() {
    if !programs_available() {
        return; // skipped, and said so
    }
    let certificates = Certificates::make();
    let postgres = TlsPostgres::start(&certificates);
    // The server takes no connection in clear (so the node's, below, is TLS).
    let refused = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&postgres.url("sslmode=disable")).await
    };
    let Err(refused) = refused else {
        panic!("a connection in clear was accepted");
    };
    assert!(refused.to_string().contains("no encryption"), "{refused}");

    let url = postgres.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        certificates.ca()
    ));
    let (node, _data) = node(&args(&["--database-url", &url]));
    let api = node.client();
    let room = api.create_room().name("tls").send().await.unwrap();
    let read = api
        .get_room()
        .identifier(room.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(read.name(), Some("tls"));
    assert!(
        node.startup_log
            .iter()
            .any(|l| l.contains("sslmode=verify-full")),
        "the start-up log names the TLS mode: {:?}",
        node.startup_log
    );
}

#[tokio::test]
async fn verify_full_against_a_certificate_from_another_ca_is_refused_at_start_up() {
    if !programs_available() {
        return;
    }
    let certificates = Certificates::make();
    let postgres = TlsPostgres::start(&certificates);
    let url = postgres.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        certificates.other_ca()
    ));
    let printed = refused_start(&args(&["--database-url", &url]));
    assert!(
        printed.contains("sslmode=verify-full") && printed.contains("UnknownIssuer"),
        "the refusal names the TLS mode and the certificate problem: {printed}"
    );
}

/// Two nodes, everything between them encrypted: the store on PostgreSQL with verify-full and
/// the bus on `rediss://` checked against the test's CA (`--bus-ca-file`). Chat crosses nodes.
#[tokio::test]
async fn chat_crosses_nodes_over_a_rediss_bus() {
    if !programs_available() {
        return;
    }
    let certificates = Certificates::make();
    let postgres = TlsPostgres::start(&certificates);
    let redis = TlsRedis::start(&certificates);
    let database_url = postgres.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        certificates.ca()
    ));
    let cluster = args(&[
        "--database-url",
        &database_url,
        "--bus",
        &redis.url(),
        "--bus-ca-file",
        &certificates.ca(),
        "--cluster-name",
        "tls",
    ]);
    let (first, _first_data) = node(&cluster);
    let (second, _second_data) = node(&cluster);
    let room = first
        .client()
        .create_room()
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let token = |node: &Node, user: &str| {
        let request = node
            .client()
            .create_chat_token()
            .room_identifier(&room)
            .user_id(user)
            .capabilities(aws_sdk_ivschat::types::ChatTokenCapability::SendMessage);
        async move { request.send().await.unwrap().token.unwrap() }
    };
    let mut a = ChatClient::connect(first.addr(), &token(&second, "a").await)
        .await
        .unwrap();
    let mut b = ChatClient::connect(second.addr(), &token(&first, "b").await)
        .await
        .unwrap();
    a.send(json!({"Action":"SEND_MESSAGE","RequestId":"over-tls","Content":"hi"}))
        .await;
    assert_eq!(b.frame_of("MESSAGE").await["RequestId"], "over-tls");
    assert_eq!(a.frame_of("MESSAGE").await["RequestId"], "over-tls");
}

#[tokio::test]
async fn a_redis_url_to_a_tls_only_port_is_refused_with_the_reason() {
    if !programs_available() {
        return;
    }
    let certificates = Certificates::make();
    let redis = TlsRedis::start(&certificates);
    let postgres = TlsPostgres::start(&certificates);
    let database_url = postgres.url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        certificates.ca()
    ));
    let plain = format!("redis://127.0.0.1:{}", redis.port);
    let printed = refused_start(&args(&[
        "--database-url",
        &database_url,
        "--bus",
        &plain,
        "--cluster-name",
        "plain_to_tls",
    ]));
    assert!(
        printed.contains("connecting to Redis (--bus)") && printed.contains("use a rediss:// URL"),
        "{printed}"
    );
    // And TLS to it with a CA that did not sign its certificate.
    let printed = refused_start(&args(&[
        "--database-url",
        &database_url,
        "--bus",
        &redis.url(),
        "--bus-ca-file",
        &certificates.other_ca(),
        "--cluster-name",
        "wrong_ca",
    ]));
    assert!(
        printed.contains("connecting to Redis (--bus)") && printed.contains("UnknownIssuer"),
        "{printed}"
    );
}

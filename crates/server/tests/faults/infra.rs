//! What the fault suite starts and breaks, each stopped or removed when dropped (also when the
//! suite panics): a private PostgreSQL cluster and Redis server (loopback and the suite's own
//! veth addresses only), a network namespace joined to the host by two veth pairs, a
//! size-limited tmpfs mount, and `ivschat-server` processes.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs a command to completion; `Err` with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` every 25 ms until it holds or `limit` passes (for processes, whose readiness
/// has no event to await).
fn poll_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// A private PostgreSQL cluster in a temporary directory, owned by `nobody` when the suite runs
/// as root (PostgreSQL refuses root), listening on 127.0.0.1 and `extra_address`.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    listen: String,
}

impl Postgres {
    /// `None` when PostgreSQL's binaries are not installed.
    pub fn bin_dir() -> Option<PathBuf> {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("pg_ctl").exists() && p.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop()
    }

    pub fn start(bin: PathBuf, root: &Path, extra_address: Option<Ipv4Addr>) -> Postgres {
        let data = root.join("postgres");
        std::fs::create_dir_all(&data).unwrap();
        if is_root() {
            run("chown", &["nobody", &data.display().to_string()]).unwrap();
        }
        run("chmod", &["0700", &data.display().to_string()]).unwrap();
        let mut listen = "127.0.0.1".to_string();
        if let Some(address) = extra_address {
            listen.push_str(&format!(",{address}"));
        }
        let postgres = Postgres {
            bin,
            data,
            port: free_port(),
            listen,
        };
        postgres
            .as_owner("initdb", &["-U", "postgres", "--auth=trust", "--no-sync"])
            .unwrap();
        if let Some(address) = extra_address {
            // initdb trusts loopback only; the node in the namespace comes from its veth.
            let hba = postgres.data.join("pg_hba.conf");
            let mut rules = std::fs::read_to_string(&hba).unwrap();
            rules.push_str(&format!("host all all {address}/30 trust\n"));
            std::fs::write(&hba, rules).unwrap();
        }
        postgres.start_server().unwrap();
        run(
            &postgres.bin.join("createdb").display().to_string(),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &postgres.port.to_string(),
                "-U",
                "postgres",
                "faults",
            ],
        )
        .unwrap();
        postgres
    }

    fn as_owner(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let tool = self.bin.join(tool).display().to_string();
        let data = self.data.display().to_string();
        let mut full = vec![tool.as_str(), "-D", data.as_str()];
        full.extend_from_slice(args);
        if is_root() {
            let mut with_user = vec!["-u", "nobody", "--"];
            with_user.extend(full);
            run("runuser", &with_user)
        } else {
            run(full[0], &full[1..])
        }
    }

    /// Starts (or starts again) the server on its port; returns once it accepts connections.
    pub fn start_server(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses={} -k {} -c max_connections=200 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.listen,
            self.data.display()
        );
        let log = self.data.join("server.log").display().to_string();
        self.as_owner(
            "pg_ctl",
            &["-w", "-t", "60", "-l", &log, "-o", &options, "start"],
        )
    }

    /// `pg_ctl stop -m immediate`: the server quits without a checkpoint, as in a crash.
    pub fn stop_immediate(&self) -> Result<(), String> {
        self.as_owner("pg_ctl", &["-m", "immediate", "-w", "stop"])
    }

    /// The URL for a node reaching PostgreSQL at `host`.
    pub fn url(&self, host: &str) -> String {
        format!("postgres://postgres@{host}:{}/faults", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
    }
}

// ---------------------------------------------------------------------------------------------
// Redis

/// A private `redis-server` (no persistence) on a fixed port, so it can be restarted on it.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    binds: String,
}

impl Redis {
    pub fn start(extra_address: Option<Ipv4Addr>) -> Redis {
        let mut binds = "127.0.0.1".to_string();
        if let Some(address) = extra_address {
            binds.push_str(&format!(" {address}"));
        }
        let mut redis = Redis {
            child: None,
            port: free_port(),
            binds,
        };
        redis.start_server();
        redis
    }

    /// Starts (or starts again) the server on its port; returns once it answers PING.
    pub fn start_server(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind"])
            .args(self.binds.split(' '))
            // Protected mode would refuse the namespaced node (not loopback); the server listens
            // only on loopback and the suite's own veth address.
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        let client = redis::Client::open(self.url("127.0.0.1")).unwrap();
        let answers = poll_until(Duration::from_secs(10), || {
            client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
        assert!(answers, "private redis-server did not start");
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): the process stays, its sockets go silent.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("redis running").id().to_string();
        run("kill", &[if paused { "-STOP" } else { "-CONT" }, &pid]).unwrap();
    }

    pub fn url(&self, host: &str) -> String {
        format!("redis://{host}:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = run("kill", &["-CONT", &child.id().to_string()]);
        }
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Network namespace

/// A network namespace joined to the host by two veth pairs with private /30 addresses
/// (10.213.N.0/30 carries clients and PostgreSQL, 10.213.N.4/30 carries Redis), so one link
/// can be cut without the other. Nothing is routed beyond the pairs: no default route, no
/// forwarding, nothing leaves the machine.
pub struct Namespace {
    pub name: String,
    /// Host end of the client/PostgreSQL pair, and the namespace's address on it.
    pub host_main: Ipv4Addr,
    pub inside_main: Ipv4Addr,
    /// Host end of the Redis pair (Redis listens here) and its host-side interface.
    pub host_redis: Ipv4Addr,
    pub redis_link: String,
    main_link: String,
}

impl Namespace {
    pub fn create() -> Result<Namespace, String> {
        let tag = std::process::id() % 10_000;
        let subnet = (std::process::id() % 250) as u8 + 1;
        let namespace = Namespace {
            name: format!("ivsf{tag}"),
            host_main: Ipv4Addr::new(10, 213, subnet, 1),
            inside_main: Ipv4Addr::new(10, 213, subnet, 2),
            host_redis: Ipv4Addr::new(10, 213, subnet, 5),
            redis_link: format!("ivsf{tag}r0"),
            main_link: format!("ivsf{tag}m0"),
        };
        // Torn down by Drop from here on, whatever step fails.
        let ns = namespace.name.clone();
        run("ip", &["netns", "add", &ns])?;
        for (link, host, inside) in [
            (
                &namespace.main_link,
                namespace.host_main,
                namespace.inside_main,
            ),
            (
                &namespace.redis_link,
                namespace.host_redis,
                Ipv4Addr::new(10, 213, subnet, 6),
            ),
        ] {
            let peer = format!("{}1", &link[..link.len() - 1]);
            run(
                "ip",
                &["link", "add", link, "type", "veth", "peer", "name", &peer],
            )?;
            run("ip", &["link", "set", &peer, "netns", &ns])?;
            run("ip", &["addr", "add", &format!("{host}/30"), "dev", link])?;
            run("ip", &["link", "set", link, "up"])?;
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "ip",
                    "addr",
                    "add",
                    &format!("{inside}/30"),
                    "dev",
                    &peer,
                ],
            )?;
            run(
                "ip",
                &["netns", "exec", &ns, "ip", "link", "set", &peer, "up"],
            )?;
        }
        run(
            "ip",
            &["netns", "exec", &ns, "ip", "link", "set", "lo", "up"],
        )?;
        Ok(namespace)
    }

    /// Cuts (`false`) or restores (`true`) the namespace's link to Redis: with the host end
    /// down, packets are dropped, nothing is reset, as in a real partition.
    pub fn set_redis_link(&self, up: bool) {
        run(
            "ip",
            &[
                "link",
                "set",
                &self.redis_link,
                if up { "up" } else { "down" },
            ],
        )
        .unwrap();
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both; deleting the namespace removes the rest.
        let _ = run("ip", &["link", "del", &self.main_link]);
        let _ = run("ip", &["link", "del", &self.redis_link]);
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

// ---------------------------------------------------------------------------------------------
// A small file system

/// A size-limited tmpfs mounted on a directory of the suite's, to be filled and freed.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(dir: PathBuf, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
                &dir.display().to_string(),
            ],
        )?;
        Ok(Tmpfs { dir })
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Writes a file until the file system is full (ENOSPC); returns the bytes written.
    pub fn fill(&self) -> u64 {
        let mut file = std::fs::File::create(self.filler()).unwrap();
        let block = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        let _ = file.flush();
        written
    }

    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process killed a moment ago may still hold a file open.
        let _ = run("umount", &["-l", &self.dir.display().to_string()]);
    }
}

// ---------------------------------------------------------------------------------------------
// Server processes

/// One `ivschat-server` process, restartable on the same address and data directory; killed
/// (SIGKILL) when dropped.
pub struct Node {
    pub index: usize,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub metrics: Option<SocketAddr>,
    /// Runs inside this network namespace (`ip netns exec`), or on the host.
    namespace: Option<String>,
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        bin: &str,
        index: usize,
        addr: SocketAddr,
        data_dir: PathBuf,
        log: PathBuf,
        namespace: Option<String>,
        database_url: &str,
        redis_url: &str,
        cluster: &str,
        metrics: Option<SocketAddr>,
    ) -> Node {
        let mut args = vec![
            bin.to_string(),
            "--listen".into(),
            addr.to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--database-url".into(),
            database_url.into(),
            "--bus".into(),
            redis_url.into(),
            "--cluster-name".into(),
            cluster.into(),
        ];
        if let Some(metrics) = metrics {
            args.extend(["--metrics-listen".into(), metrics.to_string()]);
        }
        let mut node = Node {
            index,
            addr,
            data_dir,
            metrics,
            namespace,
            args,
            child: None,
            log,
        };
        node.restart();
        node
    }

    /// Starts the process (again) and returns once it has logged that it is ready.
    pub fn restart(&mut self) {
        let mut command = match &self.namespace {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).args(&self.args);
                c
            }
            None => {
                let mut c = Command::new(&self.args[0]);
                c.args(&self.args[1..]);
                c
            }
        };
        command
            // The node in the namespace listens on a non-loopback (veth) address, which the
            // server allows only with credentials configured: the ones the clients sign with.
            .env("IVSCHAT_CREDENTIALS", "test:test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let _ = writeln!(log, "---- node {} started", self.index);
        let mut err_log = log.try_clone().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(err_log, "{line}");
            }
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ivschat-server ready") {
                    let _ = ready_tx.send(());
                }
                let _ = writeln!(log, "{line}");
            }
        });
        self.child = Some(child);
        if ready_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            panic!(
                "node {} did not log ready; its log:\n{}",
                self.index,
                self.log_tail(20)
            );
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

//! The real `ivschat-server` binary as a child process, for tests of what only a process
//! shows: start-up, `kill -9`, several nodes.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_ivschat-server");

/// The server binary to run: `IVSCHAT_SERVER_BIN` if set (a release build for the ignored
/// acceptance runs), else the one cargo built for these tests.
fn server_bin() -> String {
    std::env::var("IVSCHAT_SERVER_BIN").unwrap_or_else(|_| BIN.to_string())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server process; killed (SIGKILL) when dropped.
pub struct Node {
    pub port: u16,
    pub child: Child,
    /// Log lines printed before "ready".
    pub startup_log: Vec<String>,
}

impl Node {
    /// Starts the binary with `args` on a free port and waits for its "ready" log line (the
    /// event, not a delay).
    pub fn start(args: &[String], envs: &[(&str, &str)]) -> Node {
        Node::start_on(free_port(), args, envs)
    }

    /// As [`Node::start`], on a given port (a restart where clients reconnect to the same URL).
    pub fn start_on(port: u16, args: &[String], envs: &[(&str, &str)]) -> Node {
        let mut command = Command::new(server_bin());
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env_remove("IVSCHAT_CREDENTIALS")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut startup_log = Vec::new();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("server exited before ready: {startup_log:?}"))
                .unwrap();
            if line.contains("ivschat-server ready") {
                break;
            }
            startup_log.push(line);
        }
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            port,
            child,
            startup_log,
        }
    }

    /// A server the test started itself (with its own stdio), on `port`.
    pub fn adopt(port: u16, child: Child) -> Node {
        Node {
            port,
            child,
            startup_log: Vec::new(),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn client(&self) -> aws_sdk_ivschat::Client {
        use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_ivschat::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new("test", "test", None, None, "node"))
            .build();
        aws_sdk_ivschat::Client::from_conf(config)
    }

    /// SIGTERM, then waits for the exit: the server's graceful shutdown (close 1001 to every
    /// chat connection).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

//! Server configuration: one struct, filled from (highest precedence first) command-line
//! flags, `IVSCHAT_*` environment variables, a TOML file given by `--config`, and defaults.
//!
//! Defaults are written once, in [`Config::default`]. Secrets (credential secrets, the chat
//! token key) are wrapped so that `Debug` never prints them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use serde::Deserialize;

use crate::http_server::forwarded::ForwardedHeader;
use crate::iam::users::{load_users, User, UserFile};

/// Command-line flags. Every flag can also come from the environment variable named next to it.
#[derive(Debug, Parser)]
#[command(
    name = "ivschat-server",
    version,
    about = "A self-hostable Amazon IVS Chat server"
)]
pub struct Flags {
    /// TOML configuration file (its keys are the flag names with `_` for `-`).
    #[arg(long, env = "IVSCHAT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on for the control plane and the chat WebSocket [default: 127.0.0.1:8080].
    #[arg(long, env = "IVSCHAT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite database and generated keys [default: ./ivschat-data].
    #[arg(long, env = "IVSCHAT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// AWS region this server answers for (ARNs, SigV4 scope) [default: us-east-1].
    #[arg(long, env = "IVSCHAT_REGION")]
    pub region: Option<String>,
    /// 12-digit AWS account id used in ARNs [default: 000000000000].
    #[arg(long, env = "IVSCHAT_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Accepted credentials, `ACCESS_KEY_ID:SECRET` pairs separated by commas.
    #[arg(long, env = "IVSCHAT_CREDENTIALS", hide_env_values = true)]
    pub credentials: Option<String>,
    /// Chat-token encryption key: 64 hex characters (32 bytes). Nodes of one cluster must share it.
    /// Without it, a key is generated on first start and kept in the data directory (or, with
    /// --database-url, in PostgreSQL), and rotated with the `rotate-token-key` command.
    #[arg(long, env = "IVSCHAT_TOKEN_KEY", hide_env_values = true, global = true)]
    pub token_key: Option<String>,
    /// A further chat-token key (64 hex characters) that opens tokens but never seals one: the
    /// previous (or the next) --token-key while rotating it by restarts.
    #[arg(long, env = "IVSCHAT_ACCEPT_TOKEN_KEY", hide_env_values = true)]
    pub accept_token_key: Option<String>,
    /// Where message review handlers (Lambda functions) are invoked: a URL speaking the Lambda
    /// Invoke API (`sam local start-lambda`, LocalStack, moto), or `aws` for AWS Lambda itself.
    /// Unset: review handlers are not called and each room's `fallbackResult` applies.
    #[arg(long, env = "IVSCHAT_LAMBDA_ENDPOINT")]
    pub lambda_endpoint: Option<String>,
    /// Default endpoint (URL, or `aws`) for every AWS service this server calls: Lambda, S3,
    /// CloudWatch Logs, Firehose. One emulator such as LocalStack or moto serves them all.
    #[arg(long, env = "IVSCHAT_AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,
    /// Chat logging to S3 through this endpoint (URL, or `aws`) [default: files in the data dir].
    #[arg(long, env = "IVSCHAT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Chat logging to CloudWatch Logs through this endpoint [default: files in the data dir].
    #[arg(long, env = "IVSCHAT_CLOUDWATCH_LOGS_ENDPOINT")]
    pub cloudwatch_logs_endpoint: Option<String>,
    /// Chat logging to Firehose through this endpoint [default: files in the data dir].
    #[arg(long, env = "IVSCHAT_FIREHOSE_ENDPOINT")]
    pub firehose_endpoint: Option<String>,
    /// How long chat log records gather before an S3 object is written [default: 300].
    #[arg(long, env = "IVSCHAT_S3_BATCH_SECONDS")]
    pub s3_batch_seconds: Option<u64>,
    /// Shared database for scale-out: `postgres://user@host/db`. Unset: SQLite in the data dir.
    #[arg(
        long,
        env = "IVSCHAT_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// Cross-node bus for scale-out: `redis://host:6379`, or `rediss://host:6380` for TLS.
    /// Unset: in-memory (one node).
    #[arg(long, env = "IVSCHAT_BUS", hide_env_values = true)]
    pub bus: Option<String>,
    /// PEM file of the CA certificate(s) that sign the `rediss://` bus's certificate; they are
    /// then the only ones trusted [default: the system's trusted roots].
    #[arg(long, env = "IVSCHAT_BUS_CA_FILE")]
    pub bus_ca_file: Option<PathBuf>,
    /// Prefix of every key and channel this cluster uses in Redis, and the PostgreSQL schema,
    /// so several clusters (or test runs) can share one Redis and one database [default: ivschat].
    #[arg(long, env = "IVSCHAT_CLUSTER_NAME", global = true)]
    pub cluster_name: Option<String>,
    /// Serve Prometheus metrics at `GET /metrics` on this address (a separate listener, e.g.
    /// 127.0.0.1:9464) [default: no metrics listener].
    #[arg(long, env = "IVSCHAT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "IVSCHAT_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Serve `https://` and `wss://` on `--listen` with this certificate chain (PEM, the
    /// server's certificate first, then intermediates); needs `--tls-key`. Reloaded when the
    /// file changes and on SIGHUP [default: plain HTTP].
    #[arg(long, env = "IVSCHAT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM: PKCS#8, RSA or EC).
    #[arg(long, env = "IVSCHAT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// How often the TLS files are read to see whether they changed, in milliseconds; 0 =
    /// only on SIGHUP [default: 2000].
    #[arg(long, env = "IVSCHAT_TLS_RELOAD_POLL_MS")]
    pub tls_reload_poll_ms: Option<u64>,
    /// Every connection must start with a PROXY protocol header (v1 or v2) naming the client,
    /// and come from `--proxy-protocol-from`; others are closed [default: off].
    #[arg(long, env = "IVSCHAT_PROXY_PROTOCOL")]
    pub proxy_protocol: bool,
    /// Networks (`CIDR,…`) that may send PROXY protocol headers [default: loopback and private:
    /// 127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7].
    #[arg(long, env = "IVSCHAT_PROXY_PROTOCOL_FROM")]
    pub proxy_protocol_from: Option<String>,
    /// Proxies (`CIDR,…`) whose `--trusted-proxy-header` names the client [default: none].
    #[arg(long, env = "IVSCHAT_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// The header trusted proxies write the client into [default: x-forwarded-for].
    #[arg(long, env = "IVSCHAT_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<ForwardedHeader>,
    /// What to do instead of serving (none: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The web console at `/console`: `auto` (on when `--listen` is a loopback address), `on`
    /// or `off` [default: auto].
    #[arg(long, env = "IVSCHAT_CONSOLE")]
    pub console: Option<ConsoleMode>,
}

/// When the web console (`console.rs`) is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleMode {
    /// On for a loopback listener only: a developer's machine gets it without asking, a server
    /// on the internet shows nothing new unless its operator turns it on.
    Auto,
    On,
    Off,
}

/// Commands other than serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Rotates the chat-token key: a new key seals new tokens 10 s from now (once every
    /// running node has read it; they poll every 2 s), and the previous key keeps opening
    /// tokens for 60 s after that. Works on the cluster's keys in PostgreSQL with
    /// --database-url (and --cluster-name), else on the key file in --data-dir.
    RotateTokenKey,
}

/// Where the TLS certificate chain and its key are (`--tls-cert`, `--tls-key`;
/// `http_server/tls.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate first, then the intermediates.
    pub cert: PathBuf,
    /// PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    pub key: PathBuf,
    /// How often the files are read to see whether they changed; 0 = only on SIGHUP.
    pub reload_poll_ms: u64,
}

/// `tls_reload_poll_ms` when unset: a renewed certificate is served within seconds.
pub const DEFAULT_TLS_RELOAD_POLL_MS: u64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A string that must never be printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One accepted access key.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct CredentialConfig {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    #[serde(default)]
    pub session_token: Option<Secret>,
}

/// Account-level quotas (`docs/protocol/messaging.md` §9); AWS's defaults.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    pub rooms: u64,
    pub logging_configurations: u64,
    pub logging_configurations_per_room: u64,
    /// Concurrent chat connections, all rooms together.
    pub concurrent_connections: u64,
    /// Requests per second across all rooms, WebSocket and HTTP together.
    pub delete_message_per_second: u32,
    pub disconnect_user_per_second: u32,
    /// SendEvent API requests per second.
    pub send_event_per_second: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            rooms: 50_000,
            logging_configurations: 10,
            logging_configurations_per_room: 3,
            concurrent_connections: 50_000,
            delete_message_per_second: 100,
            disconnect_user_per_second: 100,
            send_event_per_second: 100,
        }
    }
}

/// Chat connection limits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ChatLimits {
    /// A write to a chat socket that cannot complete in this time (the client stopped
    /// reading) disconnects it as too slow.
    pub write_timeout_ms: u64,
    /// Largest WebSocket message (and frame) a chat client may send, in bytes. A larger one
    /// gets ERROR 413, then close 1009. Requests are a 500-character message plus 1 KB of
    /// attributes, so the default is ample.
    pub max_message_bytes: usize,
    /// The server pings every chat connection this often (WebSocket ping frames: browsers and
    /// Node's `ws` answer them by themselves, and no SDK shows them as messages); 0 = no pings.
    pub ping_interval_ms: u64,
    /// A chat connection from which nothing (no pong, no frame) arrives this long after a ping
    /// is closed and its connection slots freed: a client that vanished without a FIN (a phone
    /// that lost its network) is found within `ping_interval_ms + pong_timeout_ms`.
    pub pong_timeout_ms: u64,
    /// Worker threads of the runtime the rooms' fan-out runs on, apart from the sessions
    /// (`chat/shard_runtime.rs`); 0: one fewer than the CPUs, at least one.
    pub fanout_threads: usize,
}

impl Default for ChatLimits {
    fn default() -> Self {
        ChatLimits {
            write_timeout_ms: 10_000,
            max_message_bytes: 64 * 1024,
            // A mobile viewer survives a minute without signal; a vanished one is found within
            // 60–90 s of silence.
            ping_interval_ms: 30_000,
            pong_timeout_ms: 60_000,
            fanout_threads: 0,
        }
    }
}

/// More fan-out threads than this is a typo, not a machine (each is a thread with its stack).
pub const MAX_FANOUT_THREADS: usize = 1024;

/// Listener limits against hostile or broken clients.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerLimits {
    /// Open TCP connections (HTTP and chat together); 0 = no limit.
    pub max_connections: usize,
    /// Open TCP connections from one client IP address; 0 = no limit.
    pub max_connections_per_ip: usize,
    /// Time a client has to send a complete request head (slowloris defence); also bounds
    /// the WebSocket handshake. A new connection must have sent its first complete request
    /// (HTTP/1 head, or HTTP/2 preface, settings and request headers) within this time of
    /// being accepted, else it is closed.
    pub header_timeout_ms: u64,
    /// Largest request head (request line + headers), in bytes; HTTP/2 header lists too.
    pub max_header_bytes: usize,
    /// Time a client has to send a request body once its head is in.
    pub body_timeout_ms: u64,
    /// An HTTP connection with no request in progress for this long is closed (an HTTP/1
    /// connection is also bound, between requests, by `header_timeout_ms`).
    pub idle_timeout_ms: u64,
    /// Requests one HTTP/2 connection may have in progress at once; more are refused with
    /// `REFUSED_STREAM`.
    pub max_streams_per_connection: u32,
    /// TCP keepalive on accepted connections: the kernel probes a connection silent for this
    /// long (then every 10 s, 3 probes) and closes it if the peer is gone; 0 = off.
    pub tcp_keepalive_ms: u64,
    /// Chat WebSocket upgrade attempts per second from one client IP address (a token bucket
    /// holding `handshake_burst`); more are answered 429 before the token is looked at.
    /// 0 = no limit. The defaults leave room for many viewers behind one address (a carrier
    /// NAT, an office, a reverse proxy on the same host: the official SDK's own test suite
    /// opens dozens of connections a second from 127.0.0.1) while still bounding a token storm,
    /// which costs little anyway now that spent tokens are refused before any work.
    pub handshakes_per_second: u32,
    pub handshake_burst: u32,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: 100_000,
            max_connections_per_ip: 10_000,
            header_timeout_ms: 10_000,
            max_header_bytes: 64 * 1024,
            body_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_streams_per_connection: 32,
            tcp_keepalive_ms: 60_000,
            handshakes_per_second: 100,
            handshake_burst: 1000,
        }
    }
}

/// Where client addresses come from behind proxies (`http_server/client_address.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddressConfig {
    /// Every connection starts with a PROXY protocol header.
    pub proxy_protocol: bool,
    /// Peers that may send one; connections from elsewhere are closed.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
    /// Peers whose `trusted_proxy_header` names the client; empty: headers are never read.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub trusted_proxy_header: ForwardedHeader,
}

/// Loopback and private networks: where a load balancer in the same network or host connects
/// from. Narrow it to the balancer's own addresses where other hosts share those networks.
pub const DEFAULT_PROXY_PROTOCOL_FROM: &str =
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

impl Default for ClientAddressConfig {
    fn default() -> Self {
        ClientAddressConfig {
            proxy_protocol: false,
            proxy_protocol_from: parse_networks("", DEFAULT_PROXY_PROTOCOL_FROM.split(','))
                .unwrap_or_default(),
            trusted_proxies: Vec::new(),
            trusted_proxy_header: ForwardedHeader::XForwardedFor,
        }
    }
}

/// `CIDR` or bare addresses (a single host); `setting` names the setting in errors.
pub fn parse_networks<'a>(
    setting: &str,
    items: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<Vec<ipnet::IpNet>> {
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let network = item
                .parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| {
                    format!("{setting}: {item:?} is not a network like 10.0.0.0/8 or an address")
                })?;
            // 10.1.2.3/8 means 10.0.0.0/8; IPv4-mapped IPv6 peers are compared as IPv4.
            Ok(network.trunc())
        })
        .collect()
}

/// Message review handlers (`docs/protocol/messaging.md` §7).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// Lambda Invoke API endpoint URL, or `aws`; `None` means "not configured".
    pub lambda_endpoint: Option<String>,
    /// How long a review may take before `fallbackResult` applies (AWS: 200 ms, fixed).
    pub timeout_ms: u64,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            lambda_endpoint: None,
            timeout_ms: 200,
        }
    }
}

/// Chat logging (`docs/protocol/messaging.md` §8): where records go and how they are batched.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// One endpoint (URL, or `aws`) for all three destination services; the specific settings
    /// below win. With none, records are written as files under `<data-dir>/logs/`.
    pub aws_endpoint: Option<String>,
    pub s3_endpoint: Option<String>,
    pub cloudwatch_logs_endpoint: Option<String>,
    pub firehose_endpoint: Option<String>,
    /// How long S3 objects gather records (AWS: about 5 minutes).
    pub s3_batch_seconds: u64,
    /// How often the spool is checked for records to ship.
    pub flush_interval_ms: u64,
    /// Most records kept waiting; beyond it new records are dropped and counted.
    pub spool_max_records: u64,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            aws_endpoint: None,
            s3_endpoint: None,
            cloudwatch_logs_endpoint: None,
            firehose_endpoint: None,
            s3_batch_seconds: 300,
            flush_interval_ms: 1000,
            spool_max_records: 1_000_000,
        }
    }
}

/// `[cluster]`: how a node of a cluster keeps up with the others (docs/scale-out.md).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// How often a node re-reads its live rooms from the store (`chat/reconcile.rs`): the
    /// longest a room change the bus lost takes to reach its connections (it also reconciles
    /// as soon as its bus subscription recovers).
    pub reconcile_interval_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            reconcile_interval_ms: 10_000,
        }
    }
}

/// `[memory]`: how the node gives memory back (`idle_trim.rs`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySettings {
    /// After this long with no chat connection opened or closed, free heap memory is given
    /// back to the system (and once more when the last connections' token ids have expired);
    /// 0: never. glibc builds only.
    pub idle_trim_after_ms: u64,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            idle_trim_after_ms: 30_000,
        }
    }
}

/// The whole configuration, after merging every source.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    pub credentials: Vec<CredentialConfig>,
    pub token_key: Option<Secret>,
    /// `--accept-token-key`: opens chat tokens, never seals one.
    pub accept_token_key: Option<Secret>,
    pub quotas: Quotas,
    pub chat: ChatLimits,
    pub limits: ListenerLimits,
    pub review: ReviewConfig,
    pub logging: LoggingConfig,
    /// `postgres://…` for scale-out; `None` = SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// `redis://…` or `rediss://…` for scale-out; `None` = in-memory bus.
    pub bus_url: Option<Secret>,
    /// The CA certificates a `rediss://` bus is checked against, instead of the system's.
    pub bus_ca_file: Option<PathBuf>,
    /// Names this cluster's Redis keys/channels and PostgreSQL schema.
    pub cluster_name: String,
    pub cluster: ClusterSettings,
    pub memory: MemorySettings,
    /// Where `GET /metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    pub log_format: LogFormat,
    /// TLS on `listen`, if configured.
    pub tls: Option<TlsFiles>,
    /// PROXY protocol and trusted proxies' headers.
    pub client_address: ClientAddressConfig,
    /// Whether `/console` is served (`--console`, resolved against `listen`).
    pub console: bool,

    // Identities and permissions (`iam/`): kept apart to merge easily.
    /// `[[users]]`: access keys limited by IAM policies (compiled at load).
    pub users: Vec<User>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("ivschat-data"),
            region: "us-east-1".to_string(),
            account_id: "000000000000".to_string(),
            credentials: Vec::new(),
            token_key: None,
            accept_token_key: None,
            quotas: Quotas::default(),
            chat: ChatLimits::default(),
            limits: ListenerLimits::default(),
            review: ReviewConfig::default(),
            logging: LoggingConfig::default(),
            database_url: None,
            bus_url: None,
            bus_ca_file: None,
            cluster_name: "ivschat".to_string(),
            cluster: ClusterSettings::default(),
            memory: MemorySettings::default(),
            metrics_listen: None,
            log_format: LogFormat::Text,
            tls: None,
            client_address: ClientAddressConfig::default(),
            console: true,
            users: Vec::new(),
        }
    }
}

/// The TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
    #[serde(default)]
    credentials: Vec<CredentialConfig>,
    token_key: Option<Secret>,
    accept_token_key: Option<Secret>,
    #[serde(default)]
    quotas: Option<Quotas>,
    #[serde(default)]
    chat: Option<ChatLimits>,
    #[serde(default)]
    limits: Option<ListenerLimits>,
    #[serde(default)]
    review: Option<ReviewConfig>,
    #[serde(default)]
    logging: Option<LoggingConfig>,
    database_url: Option<Secret>,
    bus: Option<Secret>,
    bus_ca_file: Option<PathBuf>,
    cluster_name: Option<String>,
    #[serde(default)]
    cluster: Option<ClusterSettings>,
    #[serde(default)]
    memory: Option<MemorySettings>,
    metrics_listen: Option<SocketAddr>,
    log_format: Option<LogFormat>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_reload_poll_ms: Option<u64>,
    proxy_protocol: Option<bool>,
    proxy_protocol_from: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    trusted_proxy_header: Option<ForwardedHeader>,
    console: Option<ConsoleMode>,

    // Identities and permissions (`iam/`).
    #[serde(default)]
    users: Vec<UserFile>,
}

/// The access key accepted when none is configured and the server listens on loopback only,
/// as LocalStack and other local AWS tools do.
pub const DEV_ACCESS_KEY: &str = "test";

impl Config {
    /// Merges flags (which already include the environment) over the file over defaults.
    pub fn from_flags(flags: Flags) -> anyhow::Result<Config> {
        let file = match &flags.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let defaults = Config::default();
        let client_address = client_address_config(&flags, &file)?;
        let account_id = flags
            .account_id
            .clone()
            .or(file.account_id.clone())
            .unwrap_or(defaults.account_id.clone());
        // Relative policy paths are relative to the configuration file.
        let config_dir = flags
            .config
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        let users = load_users(file.users, config_dir, &account_id)?;
        let credentials = match &flags.credentials {
            Some(list) => parse_credential_list(list)?,
            None => file.credentials,
        };
        let tls = match (
            flags.tls_cert.or(file.tls_cert),
            flags.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                reload_poll_ms: flags
                    .tls_reload_poll_ms
                    .or(file.tls_reload_poll_ms)
                    .unwrap_or(DEFAULT_TLS_RELOAD_POLL_MS),
            }),
            (None, None) => None,
            _ => bail!(
                "--tls-cert and --tls-key go together (tls_cert and tls_key in the config \
                 file): give both to serve https:// and wss://, or neither"
            ),
        };
        let listen = flags.listen.or(file.listen).unwrap_or(defaults.listen);
        let config = Config {
            tls,
            listen,
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .unwrap_or(defaults.data_dir),
            region: flags.region.or(file.region).unwrap_or(defaults.region),
            account_id,
            credentials,
            token_key: flags.token_key.map(Secret::new).or(file.token_key),
            accept_token_key: flags
                .accept_token_key
                .map(Secret::new)
                .or(file.accept_token_key),
            quotas: file.quotas.unwrap_or_default(),
            chat: file.chat.unwrap_or_default(),
            limits: file.limits.unwrap_or_default(),
            review: {
                let mut review = file.review.unwrap_or_default();
                review.lambda_endpoint = flags
                    .lambda_endpoint
                    .or(review.lambda_endpoint)
                    .or(flags.aws_endpoint.clone());
                review
            },
            logging: {
                let mut logging = file.logging.unwrap_or_default();
                let or = |flag: Option<String>, file: &mut Option<String>| {
                    if flag.is_some() {
                        *file = flag;
                    }
                };
                or(flags.aws_endpoint, &mut logging.aws_endpoint);
                or(flags.s3_endpoint, &mut logging.s3_endpoint);
                or(
                    flags.cloudwatch_logs_endpoint,
                    &mut logging.cloudwatch_logs_endpoint,
                );
                or(flags.firehose_endpoint, &mut logging.firehose_endpoint);
                if let Some(seconds) = flags.s3_batch_seconds {
                    logging.s3_batch_seconds = seconds;
                }
                logging
            },
            database_url: flags.database_url.map(Secret::new).or(file.database_url),
            bus_url: flags.bus.map(Secret::new).or(file.bus),
            bus_ca_file: flags.bus_ca_file.or(file.bus_ca_file),
            cluster_name: flags
                .cluster_name
                .or(file.cluster_name)
                .unwrap_or(defaults.cluster_name),
            cluster: file.cluster.unwrap_or_default(),
            memory: file.memory.unwrap_or_default(),
            metrics_listen: flags.metrics_listen.or(file.metrics_listen),
            log_format: flags
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            client_address,
            console: match flags.console.or(file.console).unwrap_or(ConsoleMode::Auto) {
                ConsoleMode::Auto => listen.ip().is_loopback(),
                ConsoleMode::On => true,
                ConsoleMode::Off => false,
            },
            users,
        };
        config.check()?;
        Ok(config)
    }

    /// Rejects values the server could not work with, with a message that says how to fix them.
    pub fn check(&self) -> anyhow::Result<()> {
        let region_ok = !self.region.is_empty()
            && self.region.len() <= 32
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            bail!(
                "--region {:?} is not a region name like us-east-1",
                self.region
            );
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!(
                "--account-id {:?} must be exactly 12 digits",
                self.account_id
            );
        }
        for c in &self.credentials {
            if c.access_key_id.is_empty() || c.secret_access_key.expose().is_empty() {
                bail!("a configured credential has an empty access key id or secret");
            }
        }
        if self.cluster.reconcile_interval_ms == 0 {
            bail!("[cluster] reconcile_interval_ms must be at least 1");
        }
        if self.accept_token_key.is_some() && self.token_key.is_none() {
            bail!("--accept-token-key is for rotating a --token-key by restarts: give --token-key too");
        }
        let name_ok = !self.cluster_name.is_empty()
            && self.cluster_name.len() <= 48
            && self
                .cluster_name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            bail!(
                "--cluster-name {:?} must be 1..48 characters of a-z, 0-9 and _ (it names a \
                 PostgreSQL schema and prefixes Redis keys)",
                self.cluster_name
            );
        }
        if self.limits.header_timeout_ms == 0 || self.limits.idle_timeout_ms == 0 {
            bail!(
                "[limits] header_timeout_ms and idle_timeout_ms must be above 0: every \
                 connection would be closed at once"
            );
        }
        if self.limits.max_streams_per_connection == 0 {
            bail!("[limits] max_streams_per_connection must be at least 1");
        }
        if self.chat.ping_interval_ms > 0 && self.chat.pong_timeout_ms == 0 {
            bail!(
                "[chat] pong_timeout_ms must be above 0 when ping_interval_ms is set (or set \
                 ping_interval_ms = 0 to send no pings)"
            );
        }
        if self.chat.fanout_threads > MAX_FANOUT_THREADS {
            bail!(
                "[chat] fanout_threads must be at most {MAX_FANOUT_THREADS} (0: one fewer than \
                 the CPUs)"
            );
        }
        if self.bus_ca_file.is_some()
            && !self
                .bus_url
                .as_ref()
                .is_some_and(|url| url.expose().starts_with("rediss://"))
        {
            bail!(
                "--bus-ca-file is set but --bus is not a rediss:// URL: the CA file only \
                 applies to a Redis bus reached over TLS"
            );
        }
        self.check_users()?;
        if self.credentials.is_empty() && self.users.is_empty() && !self.listen.ip().is_loopback() {
            bail!(
                "no credentials are configured and --listen {} is not a loopback address: \
                 anyone who can reach it could use the API. Configure credentials \
                 (IVSCHAT_CREDENTIALS=AKID:SECRET, or [[credentials]] in the --config file), \
                 or listen on 127.0.0.1",
                self.listen
            );
        }
        Ok(())
    }

    /// Users' account ids (12 digits, any account), and access key ids unique across users and
    /// `[[credentials]]`.
    fn check_users(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::HashSet::new();
        let keys = self
            .credentials
            .iter()
            .map(|c| (&c.access_key_id, "[[credentials]]".to_string()));
        let user_keys = self.users.iter().flat_map(|u| {
            u.access_keys
                .iter()
                .map(move |k| (&k.access_key_id, format!("user {:?}", u.name)))
        });
        for (key, owner) in keys.chain(user_keys) {
            if key.is_empty() {
                bail!("{owner} has an empty access key id");
            }
            if !seen.insert(key) {
                bail!("access key id {key:?} is configured twice (again for {owner})");
            }
        }
        for user in &self.users {
            // Any account may have users (README "Several accounts"); its id names its ARNs.
            if user.account_id.len() != 12 || !user.account_id.bytes().all(|b| b.is_ascii_digit()) {
                bail!(
                    "user {:?} has account_id {:?}, which must be exactly 12 digits",
                    user.name,
                    user.account_id
                );
            }
            if user
                .access_keys
                .iter()
                .any(|k| k.secret_access_key.expose().is_empty())
            {
                bail!(
                    "user {:?} has an access key with an empty secret",
                    user.name
                );
            }
        }
        Ok(())
    }

    /// The credentials the server accepts with full access: the configured ones, or
    /// `test`/`test` on loopback when neither credentials nor users are configured.
    pub fn effective_credentials(&self) -> Vec<CredentialConfig> {
        if self.credentials.is_empty() && self.users.is_empty() {
            vec![CredentialConfig {
                access_key_id: DEV_ACCESS_KEY.to_string(),
                secret_access_key: Secret::new(DEV_ACCESS_KEY),
                session_token: None,
            }]
        } else {
            self.credentials.clone()
        }
    }

    /// A configuration for tests and embedding: loopback, port 0, the given data directory.
    pub fn for_tests(data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            ..Config::default()
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

/// `--proxy-protocol*` and `--trusted-proxies*` over the file's keys over the defaults.
fn client_address_config(flags: &Flags, file: &FileConfig) -> anyhow::Result<ClientAddressConfig> {
    let defaults = ClientAddressConfig::default();
    let networks =
        |setting: &str, flag: &Option<String>, key: &Option<Vec<String>>| match (flag, key) {
            (Some(list), _) => parse_networks(setting, list.split(',')).map(Some),
            (None, Some(list)) => {
                parse_networks(setting, list.iter().map(String::as_str)).map(Some)
            }
            (None, None) => Ok(None),
        };
    Ok(ClientAddressConfig {
        proxy_protocol: flags.proxy_protocol || file.proxy_protocol.unwrap_or(false),
        proxy_protocol_from: networks(
            "--proxy-protocol-from",
            &flags.proxy_protocol_from,
            &file.proxy_protocol_from,
        )?
        .unwrap_or(defaults.proxy_protocol_from),
        trusted_proxies: networks(
            "--trusted-proxies",
            &flags.trusted_proxies,
            &file.trusted_proxies,
        )?
        .unwrap_or_default(),
        trusted_proxy_header: flags
            .trusted_proxy_header
            .or(file.trusted_proxy_header)
            .unwrap_or(defaults.trusted_proxy_header),
    })
}

fn parse_credential_list(list: &str) -> anyhow::Result<Vec<CredentialConfig>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (key, secret) = pair
                .split_once(':')
                .context("IVSCHAT_CREDENTIALS entries must look like ACCESS_KEY_ID:SECRET")?;
            Ok(CredentialConfig {
                access_key_id: key.to_string(),
                secret_access_key: Secret::new(secret),
                session_token: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let mut all = vec!["ivschat-server"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all).unwrap()
    }

    #[test]
    fn defaults_are_the_embedded_mode() {
        let c = Config::from_flags(flags(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("ivschat-data"));
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.account_id, "000000000000");
        assert_eq!(c.effective_credentials()[0].access_key_id, "test");
    }

    #[test]
    fn refuses_public_listen_without_credentials() {
        let err = Config::from_flags(flags(&["--listen", "0.0.0.0:8080"])).unwrap_err();
        assert!(err.to_string().contains("no credentials are configured"));
        let ok = Config::from_flags(flags(&[
            "--listen",
            "0.0.0.0:8080",
            "--credentials",
            "AK:SK",
        ]));
        assert!(ok.is_ok());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::from_flags(flags(&[
            "--credentials",
            "AKID1:supersecretvalue",
            "--token-key",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ]))
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("supersecretvalue"));
        assert!(!printed.contains("00112233445566778899"));
        assert!(printed.contains("AKID1"));
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "region = \"eu-west-1\"\naccount_id = \"123456789012\"\n\
             [[credentials]]\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"\n\
             [quotas]\nrooms = 5\n",
        )
        .unwrap();
        let c = Config::from_flags(flags(&[
            "--config",
            path.to_str().unwrap(),
            "--region",
            "us-west-2",
        ]))
        .unwrap();
        assert_eq!(c.region, "us-west-2");
        assert_eq!(c.account_id, "123456789012");
        assert_eq!(c.credentials.len(), 1);
        assert_eq!(c.quotas.rooms, 5);
        assert_eq!(c.quotas.logging_configurations, 10);
    }

    fn config_file(toml: &str) -> (tempfile::TempDir, Flags) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).unwrap();
        let flags = flags(&["--config", path.to_str().unwrap()]);
        (dir, flags)
    }

    const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ivschat:Get*","Resource":"*"}}"#;

    #[test]
    fn users_come_from_the_file_with_inline_and_file_policies() {
        let (dir, flags) = config_file(&format!(
            "[[users]]\nname = \"auditor\"\n\
             access_keys = [{{ access_key_id = \"AK1\", secret_access_key = \"SK1\" }}]\n\
             policies = ['{READ_ONLY}', \"read.json\"]\n"
        ));
        std::fs::write(dir.path().join("read.json"), READ_ONLY).unwrap();
        let c = Config::from_flags(flags).unwrap();
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].account_id, "000000000000");
        assert_eq!(c.users[0].policies.policies.len(), 2);
        // With users configured, the loopback `test` key is not added.
        assert!(c.effective_credentials().is_empty());
    }

    #[test]
    fn tls_files_come_from_flags_or_the_file_and_only_as_a_pair() {
        let (_dir, flags_from_file) =
            config_file("tls_cert = \"/etc/chat/cert.pem\"\ntls_key = \"/etc/chat/key.pem\"\n");
        let c = Config::from_flags(flags_from_file).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/chat/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/chat/key.pem"));
        assert_eq!(tls.reload_poll_ms, DEFAULT_TLS_RELOAD_POLL_MS);
        let c = Config::from_flags(flags(&[
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-reload-poll-ms",
            "0",
        ]))
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!((tls.cert, tls.reload_poll_ms), (PathBuf::from("c.pem"), 0));
        assert!(Config::from_flags(flags(&[])).unwrap().tls.is_none());
        let e = Config::from_flags(flags(&["--tls-cert", "c.pem"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tls-cert and --tls-key go together"), "{e}");
    }

    #[test]
    fn a_bad_policy_stops_start_up_naming_user_statement_and_field() {
        let (_dir, flags) = config_file(
            "[[users]]\nname = \"mod\"\n\
             access_keys = [{ access_key_id = \"AK1\", secret_access_key = \"SK1\" }]\n\
             policies = ['{\"Statement\":{\"Sid\":\"S\",\"Effect\":\"Allow\",\"Action\":\"ivschat:*\",\"Resource\":\"rooms\"}}']\n",
        );
        let e = Config::from_flags(flags).unwrap_err().to_string();
        assert!(
            e.starts_with("user \"mod\", policies[0]: Statement[0] (Sid \"S\"), Resource:"),
            "{e}"
        );
    }

    #[test]
    fn access_keys_must_be_unique_and_account_ids_twelve_digits() {
        let user = |name: &str, key: &str, extra: &str| {
            format!(
                "[[users]]\nname = \"{name}\"\n{extra}\
                 access_keys = [{{ access_key_id = \"{key}\", secret_access_key = \"S\" }}]\n\
                 policies = ['{READ_ONLY}']\n"
            )
        };
        let (_dir, flags) = config_file(&format!(
            "[[credentials]]\naccess_key_id = \"AK\"\nsecret_access_key = \"S\"\n{}",
            user("a", "AK", "")
        ));
        let e = Config::from_flags(flags).unwrap_err().to_string();
        assert!(e.contains("\"AK\" is configured twice"), "{e}");
        let (_dir, flags) = config_file(&user("a", "AK", "account_id = \"1111\"\n"));
        let e = Config::from_flags(flags).unwrap_err().to_string();
        assert!(e.contains("must be exactly 12 digits"), "{e}");
        // Another account than the server's is fine: several accounts share a server.
        let (_dir, flags) = config_file(&user("a", "AK", "account_id = \"111111111111\"\n"));
        assert_eq!(
            Config::from_flags(flags).unwrap().users[0].account_id,
            "111111111111"
        );
    }

    #[test]
    fn users_alone_allow_a_public_listen() {
        let (_dir, mut flags) = config_file(&format!(
            "[[users]]\nname = \"a\"\n\
             access_keys = [{{ access_key_id = \"AK\", secret_access_key = \"S\" }}]\n\
             policies = ['{READ_ONLY}']\n"
        ));
        flags.listen = Some("0.0.0.0:8080".parse().unwrap());
        assert!(Config::from_flags(flags).is_ok());
    }

    #[test]
    fn connection_deadlines_come_from_the_file_and_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[limits]\nidle_timeout_ms = 5\nmax_streams_per_connection = 2\n\
             tcp_keepalive_ms = 0\n[chat]\nping_interval_ms = 7\npong_timeout_ms = 9\n",
        )
        .unwrap();
        let c = Config::from_flags(flags(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(c.limits.idle_timeout_ms, 5);
        assert_eq!(c.limits.max_streams_per_connection, 2);
        assert_eq!(c.limits.tcp_keepalive_ms, 0);
        assert_eq!(c.limits.header_timeout_ms, 10_000);
        assert_eq!((c.chat.ping_interval_ms, c.chat.pong_timeout_ms), (7, 9));

        assert_eq!(c.chat.fanout_threads, 0, "automatic unless set");
        std::fs::write(&path, "[chat]\nfanout_threads = 3\n").unwrap();
        let c = Config::from_flags(flags(&["--config", path.to_str().unwrap()])).unwrap();
        assert_eq!(c.chat.fanout_threads, 3);
        std::fs::write(&path, "[chat]\nfanout_threads = 100000\n").unwrap();
        let err = Config::from_flags(flags(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("fanout_threads"), "{err}");

        std::fs::write(&path, "[chat]\npong_timeout_ms = 0\n").unwrap();
        let err = Config::from_flags(flags(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("pong_timeout_ms"), "{err}");
        std::fs::write(&path, "[limits]\nheader_timeout_ms = 0\n").unwrap();
        let err = Config::from_flags(flags(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("header_timeout_ms"), "{err}");
    }

    #[test]
    fn a_bus_ca_file_needs_a_tls_bus() {
        // Only parsed: Config::from_flags dials nothing.
        let err = Config::from_flags(flags(&[
            "--bus",
            "redis://127.0.0.1:6379",
            "--bus-ca-file",
            "ca.pem",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("not a rediss:// URL"), "{err}");
        let c = Config::from_flags(flags(&[
            "--bus",
            "rediss://127.0.0.1:6380",
            "--bus-ca-file",
            "ca.pem",
        ]))
        .unwrap();
        assert_eq!(c.bus_ca_file, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn the_console_is_on_by_default_only_on_a_loopback_listener() {
        assert!(Config::from_flags(flags(&[])).unwrap().console);
        let public = Config::from_flags(flags(&[
            "--listen",
            "0.0.0.0:8080",
            "--credentials",
            "AKIDPUBLIC:secret",
        ]))
        .unwrap();
        assert!(!public.console);
        let on = Config::from_flags(flags(&[
            "--listen",
            "0.0.0.0:8080",
            "--credentials",
            "AKIDPUBLIC:secret",
            "--console",
            "on",
        ]))
        .unwrap();
        assert!(on.console);
        assert!(
            !Config::from_flags(flags(&["--console", "off"]))
                .unwrap()
                .console
        );
    }

    #[test]
    fn client_address_settings_from_flags_and_file() {
        let c = Config::from_flags(flags(&[])).unwrap();
        assert!(!c.client_address.proxy_protocol);
        assert!(c.client_address.trusted_proxies.is_empty());
        assert_eq!(c.client_address.proxy_protocol_from.len(), 6);

        let (_dir, file) = config_file(
            "proxy_protocol = true\nproxy_protocol_from = [\"10.1.0.0/16\"]\n\
             trusted_proxies = [\"192.0.2.1\", \"2001:db8::/32\"]\n\
             trusted_proxy_header = \"forwarded\"\n",
        );
        let c = Config::from_flags(file).unwrap().client_address;
        assert!(c.proxy_protocol);
        assert_eq!(c.proxy_protocol_from, vec!["10.1.0.0/16".parse().unwrap()]);
        assert_eq!(
            c.trusted_proxies,
            vec![
                "192.0.2.1/32".parse().unwrap(),
                "2001:db8::/32".parse().unwrap()
            ]
        );
        assert_eq!(c.trusted_proxy_header, ForwardedHeader::Forwarded);

        let c = Config::from_flags(flags(&[
            "--proxy-protocol",
            "--proxy-protocol-from",
            "10.0.0.5/8, ::1",
            "--trusted-proxies",
            "172.16.0.0/12",
            "--trusted-proxy-header",
            "x-forwarded-for",
        ]))
        .unwrap()
        .client_address;
        assert!(c.proxy_protocol);
        assert_eq!(
            c.proxy_protocol_from,
            vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
        );
        assert_eq!(c.trusted_proxies, vec!["172.16.0.0/12".parse().unwrap()]);

        let e = Config::from_flags(flags(&["--trusted-proxies", "10.0.0.0/33"]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--trusted-proxies: \"10.0.0.0/33\""), "{e}");
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(Config::from_flags(flags(&["--account-id", "123"]))
            .unwrap_err()
            .to_string()
            .contains("12 digits"));
        assert!(Config::from_flags(flags(&["--region", "US East"]))
            .unwrap_err()
            .to_string()
            .contains("region"));
    }
}

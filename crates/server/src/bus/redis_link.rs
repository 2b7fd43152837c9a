//! The node's connections to the bus's Redis (`--bus`, `--bus-ca-file`): the client every
//! connection is made from, and the ONE command connection the bus, the history
//! (`history/redis.rs`) and presence (`presence/shared.rs`) share.
//!
//! One multiplexed connection rather than one per user of it: Redis runs commands one at a
//! time whatever connection they come on, so more connections would add sockets and buffers
//! on every node and on Redis, not throughput; and `/ready`'s PING (`Bus::ping`) then goes
//! through the very connection history and presence use, so when they cannot reach Redis the
//! node says so, as the bus does. A node holds two Redis connections in all: this one and the
//! bus's subscription connection (`bus/redis.rs`), which pub/sub needs to itself.

use std::time::Duration;

use anyhow::Context;
use redis::aio::ConnectionManager;

use super::redis::REDIS_TIMEOUT;

/// The client and the shared command connection; cheap to clone (both are handles).
#[derive(Clone)]
pub struct RedisLink {
    client: redis::Client,
    commands: ConnectionManager,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink").finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Connects to the Redis at `url`; `ca_file` (PEM) replaces the system's trusted roots for
    /// a `rediss://` URL.
    pub async fn connect(
        url: &str,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<RedisLink> {
        let client = client(url, ca_file)?;
        let commands = command_connection(client.clone(), url.starts_with("rediss://")).await?;
        Ok(RedisLink { client, commands })
    }

    /// The link `config` names (`--bus`), if any.
    pub async fn open(config: &crate::config::Config) -> anyhow::Result<Option<RedisLink>> {
        match &config.bus_url {
            Some(url) => Ok(Some(
                RedisLink::connect(url.expose(), config.bus_ca_file.as_deref()).await?,
            )),
            None => Ok(None),
        }
    }

    /// A handle on the shared command connection (every clone is the same connection; each
    /// command has the deadline [`REDIS_TIMEOUT`]).
    pub fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// The client, for connections that cannot be shared (the bus's subscription).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }
}

/// The settings of a command connection: fail fast while Redis is away, so requests get a
/// clear refusal instead of waiting; the manager reconnects by itself on the next command.
fn command_connection_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500))
}

/// Opens the command connection, saying what the usual TLS mistakes look like when it fails:
/// they show as a reset or a garbled handshake.
async fn command_connection(client: redis::Client, tls: bool) -> anyhow::Result<ConnectionManager> {
    ConnectionManager::new_with_config(client, command_connection_config())
        .await
        .map_err(|e| {
            let hint = if tls {
                " (is TLS enabled on that port? With a private CA, give its certificate \
                 with --bus-ca-file)"
            } else {
                " (if that Redis accepts TLS only, use a rediss:// URL)"
            };
            anyhow::Error::new(e).context(format!("connecting to Redis (--bus){hint}"))
        })
}

/// The client for `--bus`: `redis://` or `rediss://` (TLS, checked against `ca_file` when
/// given, else the system's roots), with [`tcp_settings`] on every connection.
fn client(url: &str, ca_file: Option<&std::path::Path>) -> anyhow::Result<redis::Client> {
    // Only Redis can be the bus (docs/scale-out.md says why not NATS): say so plainly
    // rather than let a `nats://` URL fail as a malformed Redis URL.
    let tls = url.starts_with("rediss://");
    if !tls && !url.starts_with("redis://") {
        anyhow::bail!(
            "--bus must be a redis:// or rediss:// URL (the cluster bus is Redis; see \
             docs/scale-out.md)"
        );
    }
    // The redis crate reads `#insecure` as "do not check the certificate": not offered.
    if url.contains('#') {
        anyhow::bail!(
            "--bus: a URL fragment (such as #insecure) is not accepted; the server's \
             certificate is always checked (give a private CA with --bus-ca-file)"
        );
    }
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .context("parsing the --bus Redis URL")?
        .set_tcp_settings(tcp_settings());
    let Some(ca_file) = ca_file else {
        return redis::Client::open(info).context("parsing the --bus Redis URL");
    };
    if !tls {
        anyhow::bail!("--bus-ca-file applies to a rediss:// (TLS) bus only");
    }
    let pem = std::fs::read(ca_file)
        .with_context(|| format!("reading --bus-ca-file {}", ca_file.display()))?;
    // An empty root store would only fail later, at every connection, as an unknown issuer.
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        anyhow::bail!(
            "--bus-ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            ca_file.display()
        );
    }
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(info, certificates)
        .with_context(|| format!("using --bus-ca-file {}", ca_file.display()))
}

/// TCP settings of every Redis connection: keepalive probes after 10 s of silence, every 5 s,
/// 3 of them, and unacknowledged data given up after 25 s, so a peer that vanished without a
/// word is found out by the kernel within about 25 s even between commands (the heartbeat
/// covers the subscription connection within seconds, and commands have their own deadline).
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    use redis::io::tcp::socket2::TcpKeepalive;
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(10))
        .with_interval(Duration::from_secs(5));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let keepalive = keepalive.with_retries(3);
    let settings = redis::io::tcp::TcpSettings::default().set_keepalive(keepalive);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let settings = settings.set_user_timeout(Duration::from_secs(25));
    settings
}

#[cfg(test)]
mod tests {
    use super::client;

    fn refusal(url: &str, ca_file: Option<&std::path::Path>) -> String {
        format!("{:#}", client(url, ca_file).unwrap_err())
    }

    /// The URL and CA file are checked before anything is dialled (no Redis here).
    #[test]
    fn bus_urls_and_ca_files_are_checked_before_connecting() {
        assert!(client("redis://127.0.0.1:6379", None).is_ok());
        assert!(client("rediss://127.0.0.1:6380", None).is_ok());
        assert!(refusal("nats://127.0.0.1:4222", None).contains("redis:// or rediss://"));
        // The redis crate would skip the certificate check for this fragment.
        assert!(refusal("rediss://127.0.0.1:6380/#insecure", None).contains("not accepted"));

        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let e = refusal("rediss://127.0.0.1:6380", Some(&not_pem));
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = refusal("redis://127.0.0.1:6379", Some(&not_pem));
        assert!(e.contains("rediss:// (TLS) bus only"), "{e}");
        let e = refusal(
            "rediss://127.0.0.1:6380",
            Some(&dir.path().join("missing.pem")),
        );
        assert!(e.contains("reading --bus-ca-file"), "{e}");
    }
}

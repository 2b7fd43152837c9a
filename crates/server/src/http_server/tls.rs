//! TLS on the public listener (`--tls-cert`, `--tls-key`): the certificate in use, its reload,
//! and the handshake of each accepted connection.
//!
//! * **What is offered:** rustls with the aws-lc-rs provider and its defaults: TLS 1.3 and
//!   TLS 1.2 only (rustls has nothing older), ECDHE key exchange and AEAD cipher suites only
//!   (AES-GCM, ChaCha20-Poly1305). ALPN offers `h2` and `http/1.1`; the connection then speaks
//!   what was chosen, or is detected from its first bytes when the client sent no ALPN.
//! * **Reload:** the certificate and key files are read again every `tls_reload_poll_ms`
//!   (2 s by default; 0 = never) and on SIGHUP. A pair whose content changed and is valid serves every connection accepted from
//!   then on; connections already open keep their session. A pair that is not valid (a key
//!   that does not match, a file half written) is refused with an error in the log, once per
//!   content, and the pair in use goes on serving.
//! * **Deadline:** the handshake is part of the "accepted, no request yet" state
//!   (`deadline.rs`): it must finish, and the first request arrive, within
//!   `[limits] header_timeout_ms` of the accept. The connection holds its slot in the listener
//!   limits from the accept on, handshake included.
//! * **Counted:** `ivschat_tls_handshake_failures_total{reason}` and
//!   `ivschat_tls_reloads_total{outcome}` (`metrics.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::chat::socket::ClientSocket;
use crate::chat::tls_socket::TlsSocket;
use crate::config::TlsFiles;
use crate::metrics::Metrics;

/// The protocol a connection speaks once it is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Detected from the first bytes (plain TCP, or TLS without ALPN).
    Detect,
    Http1,
    Http2,
}

/// An accepted connection, ready for HTTP.
pub struct Secured {
    pub socket: ClientSocket,
    pub protocol: Protocol,
}

/// The listener's TLS: the configuration new connections get, and how to reload it.
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    /// Hash of the files behind `current`, and of the last content refused (logged once).
    seen: Mutex<Seen>,
    metrics: Arc<Metrics>,
}

/// `Seen::refused` for files that could not be read.
const UNREADABLE: [u8; 32] = [0; 32];

struct Seen {
    serving: [u8; 32],
    refused: Option<[u8; 32]>,
}

impl Tls {
    /// Loads the pair; an error stops start-up (the message names the file and the problem).
    pub fn load(files: TlsFiles, metrics: Arc<Metrics>) -> anyhow::Result<Tls> {
        let (cert, key) = read_pair(&files)?;
        let config = server_config(&cert, &key)
            .with_context(|| format!("TLS certificate {}", files.cert.display()))?;
        Ok(Tls {
            current: RwLock::new(config),
            seen: Mutex::new(Seen {
                serving: content_hash(&cert, &key),
                refused: None,
            }),
            files,
            metrics,
        })
    }

    fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again and, if their content changed and is a valid pair, serves it to
    /// new connections. `forced` (SIGHUP) logs even when nothing changed.
    pub fn reload(&self, forced: bool) {
        let (cert, key) = match read_pair(&self.files) {
            Ok(pair) => pair,
            Err(e) => {
                // A file missing for a moment (a rename in progress) is retried next round;
                // the pair in use goes on serving.
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                if forced || seen.refused != Some(UNREADABLE) {
                    tracing::error!(error = %format!("{e:#}"), "TLS reload refused: the certificate in use goes on serving");
                    self.metrics.tls_reload("refused");
                }
                seen.refused = Some(UNREADABLE);
                return;
            }
        };
        let hash = content_hash(&cert, &key);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if hash == seen.serving {
            seen.refused = None;
            if forced {
                tracing::info!(cert = %self.files.cert.display(), "TLS reload: certificate and key unchanged");
            }
            return;
        }
        if seen.refused == Some(hash) && !forced {
            return;
        }
        match server_config(&cert, &key) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
                seen.serving = hash;
                seen.refused = None;
                self.metrics.tls_reload("loaded");
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded: new connections get it");
            }
            Err(e) => {
                seen.refused = Some(hash);
                self.metrics.tls_reload("refused");
                tracing::error!(
                    cert = %self.files.cert.display(),
                    key = %self.files.key.display(),
                    error = %format!("{e:#}"),
                    "TLS reload refused: the certificate in use goes on serving"
                );
            }
        }
    }

    /// Reloads on SIGHUP and whenever the files change, until `stop`.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let poll = Duration::from_millis(self.files.reload_poll_ms);
        let mut tick =
            tokio::time::interval_at(Instant::now() + poll, poll.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let polled = async {
                if poll.is_zero() {
                    std::future::pending().await
                } else {
                    tick.tick().await
                }
            };
            #[cfg(unix)]
            let hung_up = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hung_up = std::future::pending::<Option<()>>();
            let forced = tokio::select! {
                _ = stop.cancelled() => return,
                _ = polled => false,
                _ = hung_up => true,
            };
            if forced {
                tracing::info!("SIGHUP: reloading the TLS certificate");
            }
            self.reload(forced);
        }
    }

    /// The TLS handshake, bounded by `deadline`; `None` (counted, and logged at debug) if it
    /// failed or did not finish in time.
    async fn handshake(
        &self,
        stream: TcpStream,
        deadline: Instant,
        peer: std::net::SocketAddr,
    ) -> Option<Secured> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.current());
        let reason = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                let (tcp, connection) = stream.into_inner();
                let protocol = match connection.alpn_protocol() {
                    Some(b"h2") => Protocol::Http2,
                    Some(b"http/1.1") => Protocol::Http1,
                    _ => Protocol::Detect,
                };
                return Some(Secured {
                    socket: ClientSocket::Tls(Box::new(TlsSocket::new(tcp, connection))),
                    protocol,
                });
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake not finished within the header timeout");
                "timeout"
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                // rustls's own errors (no common version or cipher suite, not TLS at all)
                // come as InvalidData; anything else is the client going away.
                if e.kind() == std::io::ErrorKind::InvalidData {
                    "refused"
                } else {
                    "closed"
                }
            }
        };
        self.metrics.tls_handshake_failed(reason);
        None
    }
}

/// The one call the accept path makes: with TLS configured, the handshake (bounded by
/// `deadline`, the connection's first-request deadline); without, the socket as it is.
pub async fn secure(
    tls: Option<&Tls>,
    stream: TcpStream,
    deadline: Instant,
    peer: std::net::SocketAddr,
) -> Option<Secured> {
    match tls {
        Some(tls) => tls.handshake(stream, deadline, peer).await,
        None => Some(Secured {
            socket: ClientSocket::Plain(stream),
            protocol: Protocol::Detect,
        }),
    }
}

fn read_pair(files: &TlsFiles) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).with_context(|| format!("reading the TLS {what} {}", path.display()))
    };
    Ok((read(&files.cert, "certificate")?, read(&files.key, "key")?))
}

fn content_hash(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((cert.len() as u64).to_be_bytes());
    hash.update(cert);
    hash.update(key);
    hash.finalize().into()
}

/// A server configuration from PEM: the chain (leaf first) and its key, which must match.
fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("the certificate file is not PEM")?;
    if chain.is_empty() {
        bail!("the certificate file holds no CERTIFICATE block");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .context("the key file holds no PEM private key (PKCS#8, RSA or EC)")?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the key does not fit the certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

//! Who the client is, behind proxies: the one address used for per-address limits, logs and
//! the review handler's `Sender.Ip` (`docs/protocol/messaging.md` §7).
//!
//! Two steps, both opt-in (README, "Client addresses behind a proxy"):
//!
//! 1. **Per connection** ([`Policy::origin_at_accept`], else [`arrive`]), before anything else reads the socket (and before any
//!    TLS): with `--proxy-protocol`, the connection must come from `--proxy-protocol-from` and
//!    start with a PROXY header (`proxy_protocol.rs`), whose source address becomes the
//!    connection's. Otherwise it is closed, logged and counted
//!    (`ivschat_proxy_protocol_rejected_connections`).
//! 2. **Per request** ([`Origin::client`]): when the connection's address is one of
//!    `--trusted-proxies`, the `--trusted-proxy-header` (`X-Forwarded-For` or `Forwarded`) is
//!    read (`forwarded.rs`); from any other peer it is ignored.
//!
//! A connection from a trusted proxy carries many clients over time, so it is counted in the
//! listener's total but under no address; a chat session it becomes is counted under its
//! client's address when the upgrade is accepted (`chat/handshake.rs`).

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::forwarded::{self, ForwardedHeader};
use super::proxy_protocol::{self, Header, ReadError};
use crate::config::ClientAddressConfig;
use crate::metrics::Metrics;

/// The settings, as the listener uses them.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `Some(allowed sources)` when every connection must start with a PROXY header.
    proxy_protocol_from: Option<Vec<IpNet>>,
    trusted_proxies: Vec<IpNet>,
    header: ForwardedHeader,
}

impl Policy {
    pub fn new(config: &ClientAddressConfig) -> Policy {
        Policy {
            proxy_protocol_from: config
                .proxy_protocol
                .then(|| config.proxy_protocol_from.clone()),
            trusted_proxies: config.trusted_proxies.clone(),
            header: config.trusted_proxy_header,
        }
    }

    /// Where a connection comes from, when that is known at accept: always, unless a PROXY
    /// header is expected ([`arrive`] reads it).
    pub fn origin_at_accept(&self, peer: SocketAddr) -> Option<Origin> {
        if self.proxy_protocol_from.is_some() {
            return None;
        }
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        Some(Origin {
            peer,
            address: peer,
            via_trusted_proxy: self.is_trusted_proxy(peer.ip()),
        })
    }

    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        contains(&self.trusted_proxies, ip)
    }
}

fn contains(networks: &[IpNet], ip: IpAddr) -> bool {
    networks.iter().any(|network| network.contains(&ip))
}

/// Where a connection comes from, once its PROXY header (if any) is read.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    /// The socket's peer (the proxy, behind one).
    pub peer: SocketAddr,
    /// The PROXY header's source, else the peer; IPv4-mapped IPv6 as IPv4.
    pub address: SocketAddr,
    /// The address is a trusted proxy: each request names its client in a header.
    pub via_trusted_proxy: bool,
}

/// One request's client, in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: IpAddr,
    /// Taken from a trusted proxy's header rather than from the connection.
    pub forwarded: bool,
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ip.fmt(f)
    }
}

impl Origin {
    /// The address the listener's per-address limit counts this connection under at accept:
    /// none for a trusted proxy's connection (see the module comment).
    pub fn counted_address(&self) -> Option<IpAddr> {
        (!self.via_trusted_proxy).then_some(self.address.ip())
    }

    /// The client of one request on this connection.
    pub fn client(&self, headers: &HeaderMap, policy: &Policy) -> ClientAddress {
        if self.via_trusted_proxy {
            if let Some(ip) =
                forwarded::client_of(headers, policy.header, |ip| policy.is_trusted_proxy(ip))
            {
                return ClientAddress {
                    ip,
                    forwarded: true,
                };
            }
        }
        ClientAddress {
            ip: self.address.ip(),
            forwarded: false,
        }
    }
}

/// Establishes where an accepted connection comes from when [`Policy::origin_at_accept`]
/// cannot: with PROXY protocol on, reads its header, which must be complete by `deadline` (the
/// connection's first-request deadline: the header and the first request share it). `None`
/// means the connection was refused (logged and counted here) and is to be dropped.
pub async fn arrive(
    stream: &mut TcpStream,
    peer: SocketAddr,
    policy: &Policy,
    deadline: Instant,
    metrics: &Metrics,
) -> Option<Origin> {
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    let mut address = peer;
    if let Some(allowed) = &policy.proxy_protocol_from {
        if !contains(allowed, peer.ip()) {
            tracing::warn!(%peer, "connection closed: PROXY protocol is on and this address is not in --proxy-protocol-from");
            metrics.proxy_protocol_rejected("source_not_allowed");
            return None;
        }
        // Boxed: the reading state would otherwise enlarge every connection's task.
        match tokio::time::timeout_at(deadline, Box::pin(proxy_protocol::read_header(stream))).await
        {
            Ok(Ok(Header::Proxied { source, .. })) => {
                address = SocketAddr::new(source.ip().to_canonical(), source.port());
            }
            Ok(Ok(Header::Local)) => {}
            Ok(Err(ReadError::Invalid(why))) => {
                tracing::warn!(%peer, why, "connection closed: no valid PROXY protocol header");
                metrics.proxy_protocol_rejected("invalid");
                return None;
            }
            Ok(Err(ReadError::Closed)) => {
                tracing::debug!(%peer, "connection closed before its PROXY protocol header");
                metrics.proxy_protocol_rejected("closed");
                return None;
            }
            Err(_) => {
                tracing::warn!(%peer, "connection closed: no PROXY protocol header within the header timeout");
                metrics.proxy_protocol_rejected("timeout");
                return None;
            }
        }
    }
    Some(Origin {
        peer,
        address,
        via_trusted_proxy: policy.is_trusted_proxy(address.ip()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ReasonLabel;

    fn policy(trusted: &[&str], header: ForwardedHeader) -> Policy {
        Policy {
            proxy_protocol_from: None,
            trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
            header,
        }
    }

    fn origin(address: &str, policy: &Policy) -> Origin {
        policy.origin_at_accept(address.parse().unwrap()).unwrap()
    }

    fn with_xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let policy = policy(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let proxy = origin("10.1.2.3:40000", &policy);
        assert!(proxy.via_trusted_proxy);
        assert_eq!(proxy.counted_address(), None);
        assert_eq!(
            proxy.client(&with_xff("203.0.113.7"), &policy),
            ClientAddress {
                ip: "203.0.113.7".parse().unwrap(),
                forwarded: true
            }
        );
        // Malformed, or absent: the connection's address.
        for headers in [with_xff("nonsense"), HeaderMap::new()] {
            assert_eq!(
                proxy.client(&headers, &policy),
                ClientAddress {
                    ip: "10.1.2.3".parse().unwrap(),
                    forwarded: false
                }
            );
        }
        // IPv4-mapped (a dual-stack listener) is the IPv4 address.
        let mapped = origin("[::ffff:10.1.2.3]:40000", &policy);
        assert!(mapped.via_trusted_proxy);
        assert_eq!(mapped.address, "10.1.2.3:40000".parse().unwrap());
        let direct = origin("198.51.100.1:40000", &policy);
        assert_eq!(
            direct.counted_address(),
            Some("198.51.100.1".parse().unwrap())
        );
        assert_eq!(
            direct.client(&with_xff("203.0.113.7"), &policy).ip,
            "198.51.100.1".parse::<IpAddr>().unwrap(),
            "an untrusted peer's header is ignored"
        );
        // No trusted proxies (the default): never read.
        let none = super::tests::policy(&[], ForwardedHeader::XForwardedFor);
        let loopback = origin("127.0.0.1:40000", &none);
        assert_eq!(
            loopback.client(&with_xff("203.0.113.7"), &none).ip,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    async fn accepted_with(bytes: &[u8]) -> (TcpStream, SocketAddr, TcpStream) {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (accepted, client) = tokio::join!(listener.accept(), TcpStream::connect(address));
        let mut client = client.unwrap();
        client.write_all(bytes).await.unwrap();
        let (stream, peer) = accepted.unwrap();
        (stream, peer, client)
    }

    #[tokio::test]
    async fn with_proxy_protocol_the_header_gives_the_address_and_refusals_are_counted() {
        let metrics = Metrics::default();
        let mut policy = policy(&["203.0.113.0/24"], ForwardedHeader::XForwardedFor);
        policy.proxy_protocol_from = Some(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(policy
            .origin_at_accept("127.0.0.1:1".parse().unwrap())
            .is_none());
        let later = Instant::now() + std::time::Duration::from_secs(10);

        let (mut stream, peer, _client) =
            accepted_with(b"PROXY TCP4 198.51.100.7 10.0.0.1 5000 80\r\n").await;
        let origin = arrive(&mut stream, peer, &policy, later, &metrics)
            .await
            .unwrap();
        assert_eq!(origin.address, "198.51.100.7:5000".parse().unwrap());
        assert_eq!(origin.peer, peer);
        assert!(!origin.via_trusted_proxy);

        // The header's address may itself be a trusted proxy (a CDN in front of the balancer).
        let (mut stream, peer, _client) =
            accepted_with(b"PROXY TCP4 203.0.113.9 10.0.0.1 5000 80\r\n").await;
        let origin = arrive(&mut stream, peer, &policy, later, &metrics)
            .await
            .unwrap();
        assert!(origin.via_trusted_proxy);

        let (mut stream, peer, _client) = accepted_with(b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(arrive(&mut stream, peer, &policy, later, &metrics)
            .await
            .is_none());
        // Silent past the deadline.
        let (mut stream, peer, _client) = accepted_with(b"PROXY ").await;
        assert!(arrive(&mut stream, peer, &policy, Instant::now(), &metrics)
            .await
            .is_none());
        // From outside the allowed sources, nothing is read.
        policy.proxy_protocol_from = Some(vec!["192.0.2.0/24".parse().unwrap()]);
        let (mut stream, peer, _client) =
            accepted_with(b"PROXY TCP4 198.51.100.7 10.0.0.1 5000 80\r\n").await;
        assert!(arrive(&mut stream, peer, &policy, later, &metrics)
            .await
            .is_none());
        for reason in ["invalid", "timeout", "source_not_allowed"] {
            let counted = metrics
                .proxy_protocol_rejections
                .get_or_create(&ReasonLabel { reason })
                .get();
            assert_eq!(counted, 1, "{reason}");
        }
    }
}

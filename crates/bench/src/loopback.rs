//! The generators' safety rule: they only load addresses on this machine. Shared by
//! `ivschat-bench` and `ivschat-cpbench` (through `#[path]`).

use std::net::SocketAddr;

use anyhow::{bail, ensure, Context, Result};

/// Resolves `authority` (`host[:port]`, `default_port` when it has none) and refuses anything
/// that is not a loopback address; prefers an IPv4 address.
pub async fn loopback_address(authority: &str, default_port: u16) -> Result<SocketAddr> {
    let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
    });
    let host_port = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(&host_port)
        .await
        .with_context(|| format!("resolving {host_port}"))?
        .collect();
    ensure!(!addresses.is_empty(), "{host_port} resolves to nothing");
    if let Some(bad) = addresses.iter().find(|a| !a.ip().is_loopback()) {
        bail!("refusing to load {host_port}: it resolves to {bad}, not a loopback address");
    }
    Ok(*addresses
        .iter()
        .find(|a| a.is_ipv4())
        .unwrap_or(&addresses[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_loopback_targets() {
        assert!(loopback_address("127.0.0.1:8080", 80).await.is_ok());
        assert!(loopback_address("[::1]:8080", 80).await.is_ok());
        assert!(loopback_address("localhost:1", 80).await.is_ok());
        assert_eq!(
            loopback_address("127.0.0.2", 80).await.unwrap(),
            "127.0.0.2:80".parse().unwrap()
        );
        assert!(loopback_address("10.0.0.1:8080", 80).await.is_err());
        assert!(loopback_address("192.168.1.1", 80).await.is_err());
    }
}

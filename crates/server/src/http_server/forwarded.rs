//! The client address that proxies report in `X-Forwarded-For` or `Forwarded` (RFC 7239):
//! each proxy appends the address it received the request from, so the list reads from the
//! original client (left) to the last proxy's peer (right). Only the right end is written by
//! proxies this server trusts; everything to its left may be whatever the client sent. So the
//! list is read from the right, skipping trusted proxies, and the first address that is not
//! one is the client ([`client_of`]).
//!
//! An entry that cannot be read where the answer is needed (not an address, `unknown`, an
//! obfuscated `_name`, a `Forwarded` element without `for=`) makes the whole header useless:
//! the caller falls back to the connection's own address. Entries left of the answer are
//! never read, so a client cannot spoil the header by sending garbage.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use serde::Deserialize;

/// Which header the trusted proxies write (`--trusted-proxy-header`). Only one is read: a
/// client could send the other itself, and the proxy would pass it along untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`: nginx, HAProxy, cloud load balancers.
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The client address the `header` lines report, given which addresses are trusted proxies;
/// `None` when the header is absent or unreadable where it matters.
pub fn client_of(
    headers: &HeaderMap,
    header: ForwardedHeader,
    is_trusted: impl Fn(IpAddr) -> bool,
) -> Option<IpAddr> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut lines = Vec::new();
    for value in headers.get_all(name) {
        lines.push(value.to_str().ok()?);
    }
    // Several header lines form one list, in order (RFC 9110 §5.3).
    let mut hops: Vec<&str> = Vec::new();
    for line in &lines {
        match header {
            ForwardedHeader::XForwardedFor => hops.extend(line.split(',')),
            ForwardedHeader::Forwarded => hops.extend(forwarded_elements(line)),
        }
    }
    let mut leftmost = None;
    for hop in hops.iter().rev() {
        let ip = match header {
            ForwardedHeader::XForwardedFor => hop_address(hop.trim())?,
            ForwardedHeader::Forwarded => hop_address(&forwarded_for(hop)?)?,
        };
        if !is_trusted(ip) {
            return Some(ip);
        }
        leftmost = Some(ip);
    }
    // Every hop is a trusted proxy: the first of them is the client (an internal one).
    leftmost
}

/// The elements of a `Forwarded` line: split at commas outside quoted strings.
fn forwarded_elements(line: &str) -> Vec<&str> {
    let mut elements = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                elements.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    elements.push(&line[start..]);
    elements
}

/// The `for` parameter of one `Forwarded` element (`for=192.0.2.60;proto=http`), unquoted.
fn forwarded_for(element: &str) -> Option<String> {
    // Parameters are split at `;` outside quotes, as elements are at `,`.
    let mut pairs = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in element.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pairs.push(&element[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pairs.push(&element[start..]);
    let value = pairs.iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim())
    })?;
    match value.strip_prefix('"') {
        Some(rest) => {
            let inner = rest.strip_suffix('"')?;
            let mut unquoted = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped || c != '\\' {
                    unquoted.push(c);
                    escaped = false;
                } else {
                    escaped = true;
                }
            }
            Some(unquoted)
        }
        None => Some(value.to_string()),
    }
}

/// One hop's address: `192.0.2.7`, `192.0.2.7:443`, `2001:db8::7`, `[2001:db8::7]`,
/// `[2001:db8::7]:443`. IPv4-mapped IPv6 addresses are taken as the IPv4 address.
fn hop_address(text: &str) -> Option<IpAddr> {
    let ip = if let Ok(ip) = text.parse::<IpAddr>() {
        ip
    } else if let Ok(socket) = text.parse::<SocketAddr>() {
        socket.ip()
    } else {
        let inner = text.strip_prefix('[')?.strip_suffix(']')?;
        IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    /// 10.0.0.0/8 are the trusted proxies.
    fn trusted(ip: IpAddr) -> bool {
        matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 10)
    }

    fn xff(values: &[&str]) -> Option<String> {
        client_of(
            &headers("x-forwarded-for", values),
            ForwardedHeader::XForwardedFor,
            trusted,
        )
        .map(|ip| ip.to_string())
    }

    fn fwd(values: &[&str]) -> Option<String> {
        client_of(
            &headers("forwarded", values),
            ForwardedHeader::Forwarded,
            trusted,
        )
        .map(|ip| ip.to_string())
    }

    #[test]
    fn x_forwarded_for_gives_the_rightmost_untrusted_address() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(xff(&["203.0.113.7"]), some("203.0.113.7"));
        // A client's own claim on the left is passed over.
        assert_eq!(xff(&["1.1.1.1, 203.0.113.7"]), some("203.0.113.7"));
        assert_eq!(
            xff(&["1.1.1.1, 203.0.113.7, 10.0.0.2"]),
            some("203.0.113.7")
        );
        // Garbage left of the answer does not matter.
        assert_eq!(xff(&["<script>, 203.0.113.7"]), some("203.0.113.7"));
        // Several lines are one list.
        assert_eq!(
            xff(&["1.1.1.1", "203.0.113.7, 10.0.0.2"]),
            some("203.0.113.7")
        );
        // Ports, brackets, IPv6, IPv4-mapped.
        assert_eq!(xff(&["203.0.113.7:5555"]), some("203.0.113.7"));
        assert_eq!(xff(&["[2001:db8::7]:5555"]), some("2001:db8::7"));
        assert_eq!(xff(&["[2001:db8::7]"]), some("2001:db8::7"));
        assert_eq!(xff(&[" 2001:db8::7 "]), some("2001:db8::7"));
        assert_eq!(xff(&["::ffff:203.0.113.7"]), some("203.0.113.7"));
        // Only trusted hops: the left-most.
        assert_eq!(xff(&["10.0.0.9, 10.0.0.2"]), some("10.0.0.9"));
    }

    #[test]
    fn an_unreadable_x_forwarded_for_gives_nothing() {
        assert_eq!(xff(&[]), None);
        assert_eq!(xff(&[""]), None);
        assert_eq!(xff(&["203.0.113.7, unknown"]), None);
        assert_eq!(xff(&["203.0.113.7,"]), None);
        assert_eq!(xff(&["203.0.113.7, 10.0.0.2, nonsense"]), None);
        assert_eq!(xff(&["999.0.113.7"]), None);
        // Not visible ASCII.
        let mut map = HeaderMap::new();
        map.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"203.0.113.7\xff").unwrap(),
        );
        assert_eq!(
            client_of(&map, ForwardedHeader::XForwardedFor, trusted),
            None
        );
    }

    #[test]
    fn forwarded_gives_the_rightmost_untrusted_for() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(fwd(&["for=203.0.113.7"]), some("203.0.113.7"));
        assert_eq!(
            fwd(&["for=1.1.1.1, for=203.0.113.7;proto=https;by=10.0.0.1, for=10.0.0.2"]),
            some("203.0.113.7")
        );
        assert_eq!(
            fwd(&[r#"For="[2001:db8:cafe::17]:4711""#]),
            some("2001:db8:cafe::17")
        );
        assert_eq!(fwd(&["proto=http; FOR = 203.0.113.7"]), some("203.0.113.7"));
        // A comma or semicolon inside a quoted value does not split.
        assert_eq!(
            fwd(&[r#"for=203.0.113.7;host="a,b;c""#]),
            some("203.0.113.7")
        );
        assert_eq!(
            fwd(&[r#"for="203.0.113.7""#, "for=10.0.0.2"]),
            some("203.0.113.7")
        );
        // X-Forwarded-For is not read when Forwarded is the header.
        let mut both = headers("forwarded", &["for=203.0.113.7"]);
        both.insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
        assert_eq!(
            client_of(&both, ForwardedHeader::Forwarded, trusted),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            client_of(&both, ForwardedHeader::XForwardedFor, trusted),
            Some("198.51.100.1".parse().unwrap())
        );
    }

    #[test]
    fn an_unreadable_forwarded_gives_nothing() {
        for value in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=\"203.0.113.7",
            "for=203.0.113.7, by=10.0.0.1",
            "for=\"[2001:db8::7\"",
            "",
        ] {
            assert_eq!(fwd(&[value]), None, "{value}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_headers_never_panic(value in "[ -~]{0,200}") {
            for name in ["x-forwarded-for", "forwarded"] {
                let map = headers(name, &[&value]);
                let _ = client_of(&map, ForwardedHeader::XForwardedFor, trusted);
                let _ = client_of(&map, ForwardedHeader::Forwarded, trusted);
            }
        }

        #[test]
        fn forwarded_like_headers_never_panic(
            parts in proptest::collection::vec("(for|by|proto|FOR)=(\"|\\[|\\]|:|,|;|\\\\|[0-9a-f.]){0,12}", 0..8)
        ) {
            let value = parts.join(";");
            let map = headers("forwarded", &[&value]);
            let _ = client_of(&map, ForwardedHeader::Forwarded, trusted);
        }
    }
}

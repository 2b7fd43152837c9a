//! The PROXY protocol header (HAProxy's "PROXY protocol" specification, versions 1 and 2) that
//! a load balancer sends at the start of each connection to say which client it carries:
//! parsing it ([`parse`]) and reading it off an accepted socket without taking a byte more
//! ([`read_header`]), so that what follows (HTTP, or a TLS handshake) is untouched.
//!
//! | version | form | size |
//! |---|---|---|
//! | 1 | `PROXY TCP4\|TCP6 <src> <dst> <sport> <dport>\r\n`, or `PROXY UNKNOWN…\r\n` | at most 107 bytes (the specification's bound) |
//! | 2 | 12-byte signature, version/command, family/protocol, 16-bit length, addresses, TLVs | 16 + length; this server caps it at [`MAX_HEADER_BYTES`] |
//!
//! A v2 `LOCAL` command (the balancer's own health checks), a v1 `UNKNOWN`, and v2 address
//! families that carry no IP (`UNSPEC`, `UNIX`) all mean "use the socket's own address". TLVs
//! (TLS details, VPC endpoint ids…) are skipped. Anything else is refused: the caller closes
//! the connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The specification's bound on a v1 header, CRLF included.
const V1_MAX_BYTES: usize = 107;
/// v2 allows 16 + 65,535 bytes. Balancers send the addresses plus a few small TLVs (AWS's VPC
/// endpoint id, GCP's PSC connection id, HAProxy's TLS details: tens to a few hundred bytes);
/// 4 KiB leaves ample room without letting each pending connection hold 64 KiB.
pub const MAX_HEADER_BYTES: usize = 4096;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A client's connection relayed by the proxy: its address, and the address it reached.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// The proxy's own connection (v2 `LOCAL`), or one whose client address is not an IP
    /// (v1 `UNKNOWN`, v2 `UNSPEC`/`UNIX`): the socket's address stands.
    Local,
}

/// The outcome of [`parse`] on the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// Every byte so far can be the start of a valid header; more are needed.
    Incomplete,
    /// A whole header of `length` bytes (what follows it is not the header's).
    Complete { length: usize, header: Header },
    /// Not a valid header, and no further bytes can make it one.
    Invalid(&'static str),
}

/// Parses the start of a connection.
pub fn parse(bytes: &[u8]) -> Parse {
    if bytes.first() == Some(&V2_SIGNATURE[0]) {
        parse_v2(bytes)
    } else {
        parse_v1(bytes)
    }
}

fn parse_v1(bytes: &[u8]) -> Parse {
    let prefix = bytes.len().min(V1_PREFIX.len());
    if bytes[..prefix] != V1_PREFIX[..prefix] {
        return Parse::Invalid("not a PROXY protocol header");
    }
    let searched = &bytes[..bytes.len().min(V1_MAX_BYTES)];
    let Some(cr) = searched.windows(2).position(|w| w == b"\r\n") else {
        if bytes.len() >= V1_MAX_BYTES {
            return Parse::Invalid("v1 header longer than 107 bytes");
        }
        // A lone LF, or a CR not followed by LF, can never become valid.
        if searched.contains(&b'\n')
            || searched[..searched.len().saturating_sub(1)].contains(&b'\r')
        {
            return Parse::Invalid("v1 header with a stray CR or LF");
        }
        return Parse::Incomplete;
    };
    let line = &bytes[V1_PREFIX.len().min(cr)..cr];
    let length = cr + 2;
    let Ok(line) = std::str::from_utf8(line) else {
        return Parse::Invalid("v1 header is not ASCII");
    };
    match v1_fields(line) {
        Ok(header) => Parse::Complete { length, header },
        Err(why) => Parse::Invalid(why),
    }
}

/// The fields after `PROXY `: `TCP4|TCP6 src dst sport dport`, or `UNKNOWN` and anything.
fn v1_fields(line: &str) -> Result<Header, &'static str> {
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        return Ok(Header::Local);
    }
    let fields: Vec<&str> = line.split(' ').collect();
    let [family, source, destination, source_port, destination_port] = fields[..] else {
        return Err("v1 header must have 6 fields separated by single spaces");
    };
    let (source, destination) = match family {
        "TCP4" => (
            IpAddr::V4(v1_address::<Ipv4Addr>(source)?),
            IpAddr::V4(v1_address::<Ipv4Addr>(destination)?),
        ),
        "TCP6" => (
            IpAddr::V6(v1_address::<Ipv6Addr>(source)?),
            IpAddr::V6(v1_address::<Ipv6Addr>(destination)?),
        ),
        _ => return Err("v1 protocol must be TCP4, TCP6 or UNKNOWN"),
    };
    Ok(Header::Proxied {
        source: SocketAddr::new(source, v1_port(source_port)?),
        destination: SocketAddr::new(destination, v1_port(destination_port)?),
    })
}

fn v1_address<T: std::str::FromStr>(text: &str) -> Result<T, &'static str> {
    text.parse()
        .map_err(|_| "v1 address does not match its protocol")
}

fn v1_port(text: &str) -> Result<u16, &'static str> {
    // Decimal digits only: `parse` would also take a leading `+`.
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("v1 port is not a number from 0 to 65535");
    }
    text.parse()
        .map_err(|_| "v1 port is not a number from 0 to 65535")
}

fn parse_v2(bytes: &[u8]) -> Parse {
    let signature = bytes.len().min(V2_SIGNATURE.len());
    if bytes[..signature] != V2_SIGNATURE[..signature] {
        return Parse::Invalid("not a PROXY protocol header");
    }
    if bytes.len() >= 13 && bytes[12] >> 4 != 2 {
        return Parse::Invalid("v2 header with a version other than 2");
    }
    if bytes.len() < 16 {
        return Parse::Incomplete;
    }
    let command = bytes[12] & 0x0f;
    let family = bytes[13] >> 4;
    let protocol = bytes[13] & 0x0f;
    let declared = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let length = 16 + declared;
    if length > MAX_HEADER_BYTES {
        return Parse::Invalid("v2 header longer than this server accepts (4096 bytes)");
    }
    if command > 1 {
        return Parse::Invalid("v2 command must be LOCAL or PROXY");
    }
    // Checked before the body arrives, so a bad header is refused without waiting for it.
    let needed = match family {
        0 => 0,
        1 => 12,
        2 => 36,
        3 => 216,
        _ => return Parse::Invalid("v2 address family must be UNSPEC, INET, INET6 or UNIX"),
    };
    if protocol > 2 {
        return Parse::Invalid("v2 transport must be UNSPEC, STREAM or DGRAM");
    }
    if declared < needed {
        return Parse::Invalid("v2 length is shorter than its addresses");
    }
    if bytes.len() < length {
        return Parse::Incomplete;
    }
    if command == 0 {
        // LOCAL: the proxy's own connection; whatever address block follows is ignored.
        return Parse::Complete {
            length,
            header: Header::Local,
        };
    }
    let body = &bytes[16..length];
    let header = match family {
        1 => {
            let ip = |at: usize| {
                IpAddr::from(<[u8; 4]>::try_from(&body[at..at + 4]).unwrap_or_default())
            };
            proxied(ip(0), ip(4), &body[8..12])
        }
        2 => {
            let ip = |at: usize| {
                IpAddr::from(<[u8; 16]>::try_from(&body[at..at + 16]).unwrap_or_default())
            };
            proxied(ip(0), ip(16), &body[32..36])
        }
        // UNSPEC and UNIX: no IP to take.
        _ => Header::Local,
    };
    Parse::Complete { length, header }
}

fn proxied(source: IpAddr, destination: IpAddr, ports: &[u8]) -> Header {
    Header::Proxied {
        source: SocketAddr::new(source, u16::from_be_bytes([ports[0], ports[1]])),
        destination: SocketAddr::new(destination, u16::from_be_bytes([ports[2], ports[3]])),
    }
}

/// Why no header could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The bytes are not a valid header.
    Invalid(&'static str),
    /// The peer closed (or the socket failed) before a whole header arrived.
    Closed,
}

/// Reads one header from the start of `stream`, consuming exactly its bytes: the rest of the
/// connection stays in the socket for whoever reads next. The caller bounds the time.
///
/// It peeks, and takes only bytes known to be the header's: while no header end is in sight,
/// every byte received is part of it (or the connection is refused anyway).
pub async fn read_header(stream: &mut TcpStream) -> Result<Header, ReadError> {
    // The header so far, then the peeked bytes after it.
    let mut received: Vec<u8> = Vec::with_capacity(256);
    let mut window = vec![0u8; MAX_HEADER_BYTES];
    loop {
        let room = MAX_HEADER_BYTES - received.len();
        let peeked = match stream.peek(&mut window[..room]).await {
            Ok(0) | Err(_) => return Err(ReadError::Closed),
            Ok(n) => n,
        };
        let before = received.len();
        received.extend_from_slice(&window[..peeked]);
        let take = match parse(&received) {
            Parse::Complete { length, header } => {
                consume(stream, &mut window[..length - before]).await?;
                return Ok(header);
            }
            Parse::Incomplete if received.len() < MAX_HEADER_BYTES => peeked,
            Parse::Incomplete => return Err(ReadError::Invalid("header too long")),
            Parse::Invalid(why) => return Err(ReadError::Invalid(why)),
        };
        consume(stream, &mut window[..take]).await?;
    }
}

/// Takes bytes already seen by `peek` off the socket.
async fn consume(stream: &mut TcpStream, into: &mut [u8]) -> Result<(), ReadError> {
    stream
        .read_exact(into)
        .await
        .map(|_| ())
        .map_err(|_| ReadError::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v2(command: u8, family_protocol: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family_protocol);
        bytes.extend_from_slice(&(body.len() as u16).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    fn v2_inet(source: [u8; 4], sport: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut body = source.to_vec();
        body.extend_from_slice(&[10, 0, 0, 1]);
        body.extend_from_slice(&sport.to_be_bytes());
        body.extend_from_slice(&8080u16.to_be_bytes());
        body.extend_from_slice(tlvs);
        v2(1, 0x11, &body)
    }

    fn proxied(source: &str, destination: &str) -> Header {
        Header::Proxied {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    #[test]
    fn v1_headers() {
        let header = b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 8080\r\nGET / HTTP/1.1\r\n";
        assert_eq!(
            parse(header),
            Parse::Complete {
                length: 44,
                header: proxied("203.0.113.7:56324", "10.0.0.1:8080")
            }
        );
        assert_eq!(
            parse(b"PROXY TCP6 2001:db8::7 2001:db8::1 1 65535\r\n"),
            Parse::Complete {
                length: 44,
                header: proxied("[2001:db8::7]:1", "[2001:db8::1]:65535")
            }
        );
        for unknown in [
            &b"PROXY UNKNOWN\r\n"[..],
            b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
        ] {
            assert_eq!(
                parse(unknown),
                Parse::Complete {
                    length: unknown.len(),
                    header: Header::Local
                }
            );
        }
        // The specification's worst case.
        let longest = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(longest.len(), V1_MAX_BYTES);
        assert!(matches!(
            parse(longest),
            Parse::Complete { length: 107, .. }
        ));
        let longest_tcp = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert!(matches!(
            parse(longest_tcp),
            Parse::Complete {
                length: 104,
                header: Header::Proxied { .. }
            }
        ));
    }

    #[test]
    fn v1_refusals() {
        for (bytes, why) in [
            (&b"GET / HTTP/1.1\r\n"[..], "not a PROXY"),
            (b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", "not a PROXY"),
            (b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", "6 fields"),
            (b"PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", "6 fields"),
            (b"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n", "6 fields"),
            (b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n", "does not match"),
            (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "does not match"),
            (b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", "port"),
            (b"PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n", "port"),
            (b"PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", "port"),
            (b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n", "TCP4, TCP6"),
            (b"PROXY TCP4 1.2.3.4\n", "stray"),
            (b"PROXY TCP4 1.2.3.4\rx", "stray"),
            (b"PROXY \xff\r\n", "ASCII"),
        ] {
            match parse(bytes) {
                Parse::Invalid(e) => assert!(e.contains(why), "{bytes:?}: {e}"),
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert_eq!(
            parse(&endless),
            Parse::Invalid("v1 header longer than 107 bytes")
        );
    }

    #[test]
    fn v2_headers() {
        let tlvs = [0x04, 0x00, 0x03, b'a', b'b', b'c', 0xEA, 0x00, 0x01, 0x09];
        let mut bytes = v2_inet([203, 0, 113, 7], 56324, &tlvs);
        let length = bytes.len();
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&bytes),
            Parse::Complete {
                length,
                header: proxied("203.0.113.7:56324", "10.0.0.1:8080")
            }
        );

        let mut body = "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&[0, 1, 0x1f, 0x90]);
        assert_eq!(
            parse(&v2(1, 0x21, &body)),
            Parse::Complete {
                length: 52,
                header: proxied("[2001:db8::7]:1", "[2001:db8::1]:8080")
            }
        );
        // LOCAL, with or without addresses; UNSPEC; UNIX: the socket's address stands.
        for bytes in [
            v2(0, 0x00, &[]),
            v2(0, 0x11, &[1; 12]),
            v2(1, 0x00, &[]),
            v2(1, 0x31, &[0; 216]),
        ] {
            assert_eq!(
                parse(&bytes),
                Parse::Complete {
                    length: bytes.len(),
                    header: Header::Local
                }
            );
        }
    }

    #[test]
    fn v2_refusals_come_as_soon_as_the_fixed_part_shows_them() {
        let mut wrong_version = v2_inet([1, 2, 3, 4], 1, &[]);
        wrong_version[12] = 0x11;
        let mut bad_command = v2_inet([1, 2, 3, 4], 1, &[]);
        bad_command[12] = 0x22;
        let mut bad_family = v2_inet([1, 2, 3, 4], 1, &[]);
        bad_family[13] = 0x41;
        let mut bad_transport = v2_inet([1, 2, 3, 4], 1, &[]);
        bad_transport[13] = 0x13;
        let mut short = v2_inet([1, 2, 3, 4], 1, &[]);
        short[15] = 11;
        let mut huge = v2_inet([1, 2, 3, 4], 1, &[]);
        huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        let mut bad_signature = v2_inet([1, 2, 3, 4], 1, &[]);
        bad_signature[5] = b'X';
        for (bytes, why) in [
            (wrong_version, "version"),
            (bad_command, "command"),
            (bad_family, "family"),
            (bad_transport, "transport"),
            (short, "shorter"),
            (huge, "longer"),
            (bad_signature, "not a PROXY"),
        ] {
            // Only the 16-byte fixed part has arrived (the signature, or the 13th byte).
            match parse(&bytes[..16]) {
                Parse::Invalid(e) => assert!(e.contains(why), "{e}"),
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    fn any_header() -> impl Strategy<Value = Vec<u8>> {
        let v1 = (
            any::<bool>(),
            any::<[u8; 4]>(),
            any::<[u16; 8]>(),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(six, v4, v6, sport, dport)| {
                let (family, ip) = if six {
                    ("TCP6", Ipv6Addr::from(v6).to_string())
                } else {
                    ("TCP4", Ipv4Addr::from(v4).to_string())
                };
                format!("PROXY {family} {ip} {ip} {sport} {dport}\r\n").into_bytes()
            });
        let v2 = (
            any::<[u8; 4]>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|(source, port, tlvs)| v2_inet(source, port, &tlvs));
        prop_oneof![v1, v2]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Garbage never panics, and is never taken for a header longer than the input.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Parse::Complete { length, .. } = parse(&bytes) {
                prop_assert!(length <= bytes.len());
            }
        }

        /// Garbage after a valid start (the signature or `PROXY `) never panics either.
        #[test]
        fn garbage_after_a_signature_never_panics(
            v2_start in any::<bool>(),
            rest in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let start: &[u8] = if v2_start { &V2_SIGNATURE } else { V1_PREFIX };
            let bytes = [start, &rest].concat();
            if let Parse::Complete { length, .. } = parse(&bytes) {
                prop_assert!(length <= bytes.len());
            }
        }

        /// Every strict prefix of a valid header is Incomplete; the whole header, followed by
        /// anything, is Complete with its own length.
        #[test]
        fn prefixes_wait_and_trailing_bytes_are_not_taken(
            header in any_header(),
            trailing in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            for end in 0..header.len() {
                prop_assert_eq!(parse(&header[..end]), Parse::Incomplete, "prefix of {}", end);
            }
            let whole = [&header[..], &trailing].concat();
            match parse(&whole) {
                Parse::Complete { length, header: Header::Proxied { .. } } => {
                    prop_assert_eq!(length, header.len())
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (accepted, client) = tokio::join!(listener.accept(), TcpStream::connect(address));
        (accepted.unwrap().0, client.unwrap())
    }

    #[tokio::test]
    async fn reads_a_header_sent_in_pieces_and_leaves_what_follows() {
        use tokio::io::AsyncWriteExt;
        for header in [
            b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 8080\r\n".to_vec(),
            v2_inet([203, 0, 113, 7], 56324, &[0xEA, 0, 2, 1, 2]),
        ] {
            let (mut server, mut client) = pair().await;
            let reading = tokio::spawn(async move {
                let header = read_header(&mut server).await;
                let mut rest = String::new();
                server.read_to_string(&mut rest).await.unwrap();
                (header, rest)
            });
            // One byte, then most of it, then the end of the header with the request.
            client.write_all(&header[..1]).await.unwrap();
            client.flush().await.unwrap();
            tokio::task::yield_now().await;
            client
                .write_all(&header[1..header.len() - 3])
                .await
                .unwrap();
            client.flush().await.unwrap();
            tokio::task::yield_now().await;
            let end = [&header[header.len() - 3..], b"GET / HTTP/1.1\r\n"].concat();
            client.write_all(&end).await.unwrap();
            drop(client);
            let (header, rest) = reading.await.unwrap();
            assert_eq!(header, Ok(proxied("203.0.113.7:56324", "10.0.0.1:8080")));
            assert_eq!(rest, "GET / HTTP/1.1\r\n");
        }
    }

    #[tokio::test]
    async fn a_connection_without_a_header_or_that_closes_early_is_refused() {
        use tokio::io::AsyncWriteExt;
        let (mut server, mut client) = pair().await;
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert_eq!(
            read_header(&mut server).await,
            Err(ReadError::Invalid("not a PROXY protocol header"))
        );
        let (mut server, mut client) = pair().await;
        client.write_all(b"PROXY TCP4 1.2").await.unwrap();
        drop(client);
        assert_eq!(read_header(&mut server).await, Err(ReadError::Closed));
        // A v2 header declaring more than the cap is refused from its fixed part.
        let (mut server, mut client) = pair().await;
        let mut huge = v2_inet([1, 2, 3, 4], 1, &[]);
        huge[14..16].copy_from_slice(&5000u16.to_be_bytes());
        client.write_all(&huge).await.unwrap();
        assert!(matches!(
            read_header(&mut server).await,
            Err(ReadError::Invalid(_))
        ));
    }
}

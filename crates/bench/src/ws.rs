//! The generator's own WebSocket client: the handshake, then frames read straight out of one
//! reusable buffer.
//!
//! Why not tokio-tungstenite, which the generator used before: at 1,000,000 deliveries/s on
//! the 2-core machine the generator itself was the bottleneck, and `perf` put most of its
//! time in user space per frame: a `Message` allocated per frame, the read buffer zeroed on
//! every read, wakers registered twice per poll. The generator must cost less than the
//! servers it measures, or the figures measure the generator. Here a read takes whatever the
//! socket holds (often many frames) into spare capacity, and each complete frame is handed
//! out as a range of that buffer.
//!
//! It is a client for servers that follow RFC 6455, not a validator of them: server frames
//! must be unmasked (a masked one is unmasked anyway), extensions are not negotiated, so RSV
//! bits are refused. Pings are answered and a close is echoed (RFC 6455 §5.5).

use std::io::{self, Write};
use std::ops::Range;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_KEY;

/// What one read may take: a few dozen frames of a busy room.
const READ_CHUNK: usize = 16 * 1024;
/// A server frame larger than this is a broken stream (chat frames are under 2 KiB).
const MAX_FRAME: usize = 1 << 20;
/// The longest handshake response accepted.
const MAX_RESPONSE: usize = 16 * 1024;

const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// What the server sent, as far as the generator cares. Payload ranges index
/// [`WsClient::payload`] and stay valid until the next [`WsClient::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Text(Payload),
    Binary(Payload),
    /// The server's close frame (1005 when it carried no code); the echo is already queued.
    Close {
        code: u16,
        reason: String,
    },
}

/// Where a data frame's payload is: in the read buffer, or (a fragmented message) in the
/// buffer its fragments were joined in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    range: Range<usize>,
    joined: bool,
}

pub struct WsClient {
    /// The socket, read and written directly (see [`sys`]) after the handshake.
    io: AsyncFd<std::net::TcpStream>,
    /// Bytes read; `[parsed..]` is not handed out yet.
    buf: Vec<u8>,
    parsed: usize,
    /// A fragmented message being joined: its opcode and the fragments so far.
    fragments: Option<(u8, Vec<u8>)>,
    /// The last fragmented message, once complete.
    joined: Vec<u8>,
    /// Frames to send (answers to pings, the close echo, and [`WsClient::send`]'s).
    out: Vec<u8>,
    /// xorshift state for masking keys (RFC 6455 asks for unpredictable ones; the servers
    /// measured here do not care which, and a generator must not spend a syscall on it).
    mask_seed: u32,
    /// Our close frame (or our echo of the server's) is queued or sent.
    close_sent: bool,
    /// Reads ask the kernel when the bytes reached the socket ([`WsClient::arrival_unix_ns`]).
    arrival_timestamps: bool,
    /// When the newest bytes of the last read reached the socket (wall clock, Unix ns).
    arrival_unix_ns: Option<u64>,
}

impl WsClient {
    /// Sends the upgrade `request` over `stream` and checks the answer: `101` with the right
    /// `Sec-WebSocket-Accept`. Errors read like the generator's other connect errors
    /// (`http 403`, `handshake: …`).
    pub async fn connect(
        mut stream: TcpStream,
        request: &Request,
        seed: u32,
    ) -> Result<WsClient, String> {
        let mut head = format!(
            "GET {} HTTP/1.1\r\n",
            request.uri().path_and_query().map_or("/", |p| p.as_str())
        );
        for (name, value) in request.headers() {
            head.push_str(name.as_str());
            head.push_str(": ");
            head.push_str(value.to_str().map_err(|_| "handshake: header not ASCII")?);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let io = |e: io::Error| format!("handshake: {e}");
        stream.write_all(head.as_bytes()).await.map_err(io)?;

        let mut buf = Vec::with_capacity(READ_CHUNK);
        let (status, accept, head_len) = loop {
            if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                return Err("handshake: connection closed".into());
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let accept = response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
                        .map(|h| h.value.to_vec());
                    break (response.code.unwrap_or(0), accept, len);
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_RESPONSE => {}
                Ok(httparse::Status::Partial) => return Err("handshake: response too long".into()),
                Err(e) => return Err(format!("handshake: {e}")),
            }
        };
        if status != 101 {
            return Err(format!("http {status}"));
        }
        let key = request
            .headers()
            .get(SEC_WEBSOCKET_KEY)
            .ok_or("handshake: no key in the request")?;
        if accept.as_deref() != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
            return Err("handshake: wrong Sec-WebSocket-Accept".into());
        }
        // Whatever came after the response's head is already the first frames.
        buf.drain(..head_len);
        // From here on the socket is read with recv/recvmsg of our own (see `sys`); tokio's
        // stream stays non-blocking and is registered again, as an AsyncFd.
        let io = stream
            .into_std()
            .and_then(sys::register)
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(WsClient {
            io,
            buf,
            parsed: 0,
            fragments: None,
            joined: Vec::new(),
            out: Vec::new(),
            mask_seed: seed | 1,
            close_sent: false,
            arrival_timestamps: false,
            arrival_unix_ns: None,
        })
    }

    /// Waits for more bytes from the server; `Ok(false)` at the end of the stream.
    /// Cancel-safe (a `select!` branch): nothing is read unless it completes.
    pub async fn read(&mut self) -> io::Result<bool> {
        if self.parsed == self.buf.len() {
            self.buf.clear();
        } else if self.parsed > 0 {
            // Keep only the unfinished frame (a few hundred bytes at most, usually).
            self.buf.drain(..self.parsed);
        }
        self.parsed = 0;
        // Grow only when little room is left (a large frame arriving in parts): an unfinished
        // frame kept at the front must not double every connection's buffer.
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        loop {
            let mut ready = self.io.readable().await?;
            let spare = self.buf.capacity() - self.buf.len();
            let (buf, stamped) = (&mut self.buf, self.arrival_timestamps);
            match ready.try_io(|io| sys::recv(io.get_ref(), buf, stamped)) {
                Ok(Ok((0, _))) => return Ok(false),
                Ok(Ok((n, arrived))) => {
                    // A read that did not fill the buffer emptied the socket: the next read
                    // waits for the next readiness event instead of trying a `recv` that
                    // would find nothing (as tokio's own `read` does).
                    if n < spare {
                        ready.clear_ready();
                    }
                    self.arrival_unix_ns = arrived;
                    return Ok(true);
                }
                Ok(Err(e)) => return Err(e),
                // `try_io` cleared the readiness; wait for the next event.
                Err(_would_block) => continue,
            }
        }
    }

    /// From now on, each read also asks the kernel when its bytes reached this socket
    /// (`SO_TIMESTAMPNS`: the time the segment entered the receive path, stamped on loopback
    /// as the sender's write hands it over). Then [`WsClient::arrival_unix_ns`] separates the
    /// time a delivery spent reaching us from the time it waited for this process to read it.
    pub fn enable_arrival_timestamps(&mut self) -> io::Result<()> {
        sys::enable_timestamps(self.io.get_ref())?;
        self.arrival_timestamps = true;
        Ok(())
    }

    /// With arrival timestamps on: when the newest segment the last [`WsClient::read`] took
    /// had reached the socket, by the wall clock (Unix nanoseconds). All frames of one read
    /// get it: for those that came in earlier segments it is an upper bound of their arrival
    /// time, so "arrival latency" errs towards longer, never shorter.
    pub fn arrival_unix_ns(&self) -> Option<u64> {
        self.arrival_unix_ns
    }

    /// The next complete data or close frame among the bytes read, if any. Pings are
    /// answered (queued for [`WsClient::flush`]) and pongs dropped on the way.
    pub fn next_event(&mut self) -> Result<Option<Event>, String> {
        loop {
            let Some((header, len)) = parse_header(&self.buf[self.parsed..])? else {
                return Ok(None);
            };
            let start = self.parsed + header.len;
            let range = start..start + len;
            if let Some(key) = header.mask {
                unmask(&mut self.buf[range.clone()], key, 0);
            }
            self.parsed = range.end;
            match header.opcode {
                OP_TEXT | OP_BINARY if header.fin => {
                    if self.fragments.is_some() {
                        return Err("a new message inside a fragmented one".into());
                    }
                    let payload = Payload {
                        range,
                        joined: false,
                    };
                    return Ok(Some(match header.opcode {
                        OP_TEXT => Event::Text(payload),
                        _ => Event::Binary(payload),
                    }));
                }
                OP_TEXT | OP_BINARY => {
                    if self.fragments.is_some() {
                        return Err("a new message inside a fragmented one".into());
                    }
                    self.fragments = Some((header.opcode, self.buf[range].to_vec()));
                }
                OP_CONTINUATION => {
                    let Some((opcode, mut parts)) = self.fragments.take() else {
                        return Err("a continuation frame outside a message".into());
                    };
                    parts.extend_from_slice(&self.buf[range]);
                    if parts.len() > MAX_FRAME {
                        return Err("fragmented message too large".into());
                    }
                    if !header.fin {
                        self.fragments = Some((opcode, parts));
                        continue;
                    }
                    self.joined = parts;
                    let payload = Payload {
                        range: 0..self.joined.len(),
                        joined: true,
                    };
                    return Ok(Some(match opcode {
                        OP_TEXT => Event::Text(payload),
                        _ => Event::Binary(payload),
                    }));
                }
                OP_PING => {
                    let data = self.buf[range].to_vec();
                    self.queue(OP_PONG, &data);
                }
                OP_PONG => {}
                OP_CLOSE => {
                    let body = &self.buf[range];
                    let (code, reason) = match body {
                        [hi, lo, reason @ ..] => (
                            u16::from_be_bytes([*hi, *lo]),
                            String::from_utf8_lossy(reason).into_owned(),
                        ),
                        _ => (1005, String::new()),
                    };
                    if !self.close_sent {
                        // Echo the code (§5.5.1); the server then ends the stream.
                        let echo = body.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
                        self.queue(OP_CLOSE, &echo);
                        self.close_sent = true;
                    }
                    return Ok(Some(Event::Close { code, reason }));
                }
                other => return Err(format!("unknown opcode {other}")),
            }
        }
    }

    /// A data frame's bytes.
    pub fn payload(&self, payload: &Payload) -> &[u8] {
        let from = if payload.joined {
            &self.joined
        } else {
            &self.buf
        };
        &from[payload.range.clone()]
    }

    /// Queues a data frame (`OP_TEXT` or `OP_BINARY`) and sends everything queued.
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.queue(opcode, payload);
        self.flush().await
    }

    /// Starts our close (an empty close frame, as tungstenite's `close(None)` sends).
    pub async fn close(&mut self) -> io::Result<()> {
        if !self.close_sent {
            self.close_sent = true;
            self.queue(OP_CLOSE, &[]);
        }
        self.flush().await
    }

    /// Sends what is queued (pongs, the close echo).
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self.write_all().await;
        self.out.clear();
        result
    }

    async fn write_all(&self) -> io::Result<()> {
        let mut rest = &self.out[..];
        while !rest.is_empty() {
            let mut ready = self.io.writable().await?;
            match ready.try_io(|io| io.get_ref().write(rest)) {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Appends one masked client frame to the send queue.
    pub fn queue(&mut self, opcode: u8, payload: &[u8]) {
        self.mask_seed ^= self.mask_seed << 13;
        self.mask_seed ^= self.mask_seed >> 17;
        self.mask_seed ^= self.mask_seed << 5;
        encode_client_frame(opcode, payload, self.mask_seed.to_be_bytes(), &mut self.out);
    }
}

/// A frame header as read off the wire; `len` is the header's own length.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: usize,
}

/// The socket calls the client makes itself: `recv` into a buffer's spare capacity (no
/// zeroing, which tokio's `read_buf` also avoids) and, with arrival timestamps, `recvmsg`
/// with `SO_TIMESTAMPNS`, which tokio and the standard library do not offer (they pass no
/// ancillary data). The one place the generator uses `unsafe`.
#[allow(unsafe_code)]
mod sys {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    use tokio::io::unix::AsyncFd;

    /// Registers the socket with tokio's reactor (in place of the `tokio::net::TcpStream` it
    /// was, whose registration `into_std` dropped).
    pub fn register(stream: TcpStream) -> io::Result<AsyncFd<TcpStream>> {
        // SAFETY: a std TcpStream owns its descriptor: it is open, stays open until the
        // stream (owned by the AsyncFd) is dropped, and as_raw_fd always returns it.
        unsafe { AsyncFd::register(stream) }.map_err(|e| e.into_parts().1)
    }

    /// Asks the kernel to time every segment this socket receives.
    pub fn enable_timestamps(stream: &TcpStream) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and a c_int option value of the size given.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Reads into `buf`'s spare capacity; returns the byte count and, with `stamped` and when
    /// the kernel sent a timestamp, when the newest segment of the read arrived (wall clock,
    /// Unix nanoseconds). `WouldBlock` when there is nothing to read.
    pub fn recv(
        stream: &TcpStream,
        buf: &mut Vec<u8>,
        stamped: bool,
    ) -> io::Result<(usize, Option<u64>)> {
        let spare = buf.spare_capacity_mut();
        let mut iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: spare.len(),
        };
        // Room for one cmsghdr + timespec, u64-aligned as cmsg data must be.
        let mut control = [0u64; 8];
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        let n = if stamped {
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of::<[u64; 8]>() as _;
            // SAFETY: iov points into buf's spare capacity (iov_len writable bytes), control
            // is a writable buffer of msg_controllen bytes; both outlive the call.
            unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, 0) }
        } else {
            // SAFETY: as above, iov_len writable bytes at iov_base.
            unsafe { libc::recv(stream.as_raw_fd(), iov.iov_base, iov.iov_len, 0) }
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // SAFETY: the kernel initialised the first n spare bytes.
        unsafe { buf.set_len(buf.len() + n) };
        if !stamped {
            return Ok((n, None));
        }
        let mut arrived = None;
        // SAFETY: the CMSG_* walk stays within msg_control/msg_controllen, which the kernel
        // set; a SCM_TIMESTAMPNS message carries one timespec (read unaligned to be safe).
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    arrived = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok((n, arrived))
    }
}

/// The header of the frame at the start of `bytes` and its payload length, once the whole
/// frame is there (`None`: read more).
fn parse_header(bytes: &[u8]) -> Result<Option<(Header, usize)>, String> {
    let [b0, b1, rest @ ..] = bytes else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err("reserved bits set (no extension was negotiated)".into());
    }
    let (payload_len, mut len) = match b1 & 0x7F {
        126 => match rest {
            [a, b, ..] => (u16::from_be_bytes([*a, *b]) as u64, 4),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(n) => (u64::from_be_bytes(n.try_into().unwrap_or_default()), 10),
            None => return Ok(None),
        },
        n => (n as u64, 2),
    };
    if payload_len > MAX_FRAME as u64 {
        return Err(format!("frame of {payload_len} bytes"));
    }
    let mask = if b1 & 0x80 != 0 {
        let Some(key) = bytes.get(len..len + 4) else {
            return Ok(None);
        };
        len += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    let payload_len = payload_len as usize;
    if bytes.len() < len + payload_len {
        return Ok(None);
    }
    let header = Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        mask,
        len,
    };
    Ok(Some((header, payload_len)))
}

/// XORs `data` with the masking key, starting at key offset `at`.
fn unmask(data: &mut [u8], key: [u8; 4], at: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[(at + i) % 4];
    }
}

/// One final client frame (masked, as RFC 6455 §5.3 requires of clients).
fn encode_client_frame(opcode: u8, payload: &[u8], key: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    unmask(&mut out[start..], key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use std::time::Duration;
    use tokio::sync::mpsc::UnboundedReceiver;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message;

    /// Frames of every length class, sent by tungstenite's server, come out whole and in
    /// order; ours reach tungstenite intact (so the masking is right); pings are answered
    /// and the close handshake completes both ways.
    #[tokio::test]
    async fn talks_to_tungstenite() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lengths = [0usize, 1, 125, 126, 127, 65535, 65536, 200_000];
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            ws.send(Message::Ping(vec![7, 8].into())).await.unwrap();
            for n in lengths {
                ws.feed(Message::text("t".repeat(n))).await.unwrap();
                ws.feed(Message::binary(vec![n as u8; n])).await.unwrap();
            }
            ws.flush().await.unwrap();
            // The pong comes first, then the client's frame, then its close.
            let mut seen = Vec::new();
            while let Some(Ok(message)) = ws.next().await {
                seen.push(message);
            }
            seen
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let request = format!("ws://{addr}/room").into_client_request().unwrap();
        let mut client = WsClient::connect(stream, &request, 42).await.unwrap();
        let mut got = Vec::new();
        while got.len() < 2 * lengths.len() {
            match client.next_event().unwrap() {
                Some(Event::Text(p)) => got.push((OP_TEXT, client.payload(&p).to_vec())),
                Some(Event::Binary(p)) => got.push((OP_BINARY, client.payload(&p).to_vec())),
                Some(other) => panic!("{other:?}"),
                None => {
                    client.flush().await.unwrap();
                    assert!(client.read().await.unwrap());
                }
            }
        }
        for (i, n) in lengths.iter().enumerate() {
            assert_eq!(got[2 * i], (OP_TEXT, "t".repeat(*n).into_bytes()));
            assert_eq!(got[2 * i + 1], (OP_BINARY, vec![*n as u8; *n]));
        }
        client
            .send(OP_TEXT, b"hello from the client")
            .await
            .unwrap();
        client.close().await.unwrap();
        // The server answers our (empty) close with an empty one; then the stream ends.
        let mut close = None;
        while client.read().await.unwrap() {
            while let Some(event) = client.next_event().unwrap() {
                close = Some(event);
            }
        }
        assert_eq!(
            close,
            Some(Event::Close {
                code: 1005,
                reason: String::new()
            })
        );
        let seen = server.await.unwrap();
        assert_eq!(seen[0], Message::Pong(vec![7, 8].into()));
        assert_eq!(seen[1], Message::text("hello from the client"));
        assert!(matches!(seen[2], Message::Close(_)), "{seen:?}");
    }

    /// With arrival timestamps, reads still hand out whole frames, and the age of a read's
    /// bytes counts the time they lay in the socket before the read: here at least the 50 ms
    /// the test holds the read back after the server has written.
    #[tokio::test]
    async fn arrival_age_counts_time_in_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (written_tx, mut written_rx) = tokio::sync::mpsc::unbounded_channel();
        // The server echoes each text frame and says when the echo is written.
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            while let Some(Ok(Message::Text(text))) = ws.next().await {
                ws.send(Message::Text(text)).await.unwrap();
                let _ = written_tx.send(());
            }
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let request = format!("ws://{addr}/").into_client_request().unwrap();
        let mut client = WsClient::connect(stream, &request, 5).await.unwrap();
        client.enable_arrival_timestamps().unwrap();
        assert_eq!(client.arrival_unix_ns(), None);
        // One echo: the payload read with the timestamped reads, and its age.
        async fn echo(
            client: &mut WsClient,
            written: &mut UnboundedReceiver<()>,
            hold: Duration,
        ) -> (Vec<u8>, Option<u64>) {
            client.send(OP_TEXT, b"echo").await.unwrap();
            written.recv().await.unwrap();
            tokio::time::sleep(hold).await;
            loop {
                assert!(client.read().await.unwrap());
                if let Some(Event::Text(p)) = client.next_event().unwrap() {
                    // How long the bytes lay in the socket before this read.
                    let age = client
                        .arrival_unix_ns()
                        .map(|at| crate::wall_clock_ns().saturating_sub(at));
                    return (client.payload(&p).to_vec(), age);
                }
            }
        }
        // The kernel starts stamping packets shortly after the first socket asks (it flips a
        // static key from a work queue); until then reads come without a timestamp.
        let mut stamped = false;
        for _ in 0..1000 {
            let (payload, age) = echo(&mut client, &mut written_rx, Duration::ZERO).await;
            assert_eq!(payload, b"echo");
            if age.is_some() {
                stamped = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(stamped, "no read carried a timestamp");
        let held = Duration::from_millis(50);
        let (payload, age) = echo(&mut client, &mut written_rx, held).await;
        assert_eq!(payload, b"echo");
        let age = Duration::from_nanos(age.expect("a timestamp"));
        assert!(age >= held && age < Duration::from_secs(10), "{age:?}");
        client.close().await.unwrap();
        drop(client);
        server.await.unwrap();
    }

    /// A server's close is echoed with its code, and its code and reason are reported.
    #[tokio::test]
    async fn a_server_close_is_echoed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            let close = CloseFrame {
                code: CloseCode::Policy,
                reason: "too slow".into(),
            };
            ws.send(Message::Close(Some(close))).await.unwrap();
            // tungstenite ends the stream once our echo arrives.
            ws.next().await.map(|m| m.map(|m| m.is_close()))
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let request = format!("ws://{addr}/").into_client_request().unwrap();
        let mut client = WsClient::connect(stream, &request, 1).await.unwrap();
        let event = loop {
            if let Some(event) = client.next_event().unwrap() {
                break event;
            }
            assert!(client.read().await.unwrap());
        };
        assert_eq!(
            event,
            Event::Close {
                code: 1008,
                reason: "too slow".into()
            }
        );
        client.flush().await.unwrap();
        assert!(matches!(server.await.unwrap(), Some(Ok(true)) | None));
    }

    #[test]
    fn headers_wait_for_the_whole_frame() {
        let mut frame = vec![0x81, 126, 0x01, 0x00];
        assert_eq!(parse_header(&frame[..3]), Ok(None));
        assert_eq!(parse_header(&frame), Ok(None));
        frame.extend(vec![b'a'; 256]);
        let (header, len) = parse_header(&frame).unwrap().unwrap();
        assert_eq!(
            (header.len, len, header.opcode, header.fin),
            (4, 256, 1, true)
        );
        assert!(
            parse_header(&[0xC1, 0]).is_err(),
            "RSV1 without an extension"
        );
        assert!(parse_header(&[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn fragments_are_joined() {
        // Not in a socket: drive next_event over a prepared buffer.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accept = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut b = [0u8; 1];
                    stream.read_exact(&mut b).await.unwrap();
                    head.push(b[0]);
                }
                let text = String::from_utf8(head).unwrap();
                let key = text
                    .lines()
                    .find_map(|l| l.strip_prefix("sec-websocket-key: "))
                    .unwrap();
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    derive_accept_key(key.as_bytes())
                );
                let mut bytes = answer.into_bytes();
                // "abc" in three frames with a ping between, then "d" whole; all in the
                // same write as the 101.
                bytes.extend([0x01, 1, b'a', 0x00, 1, b'b', 0x89, 0, 0x80, 1, b'c', 0x81, 1, b'd']);
                stream.write_all(&bytes).await.unwrap();
                stream
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let request = format!("ws://{addr}/").into_client_request().unwrap();
            let mut client = WsClient::connect(stream, &request, 9).await.unwrap();
            let _server = accept.await.unwrap();
            let mut texts = Vec::new();
            while texts.len() < 2 {
                match client.next_event().unwrap() {
                    Some(Event::Text(p)) => texts.push(client.payload(&p).to_vec()),
                    Some(other) => panic!("{other:?}"),
                    None => assert!(client.read().await.unwrap()),
                }
            }
            assert_eq!(texts, [b"abc".to_vec(), b"d".to_vec()]);
            assert!(!client.out.is_empty(), "the ping is answered");
        });
    }
}

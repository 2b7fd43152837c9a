//! One TLS connection, shared the way the plain socket is (`socket.rs`): hyper reads requests
//! and writes responses through it, and after a chat upgrade the room's fan-out encrypts its
//! frames into it directly (`outbox.rs`), without a task or a copy per receiver.
//!
//! rustls's connection state sits behind a mutex, so records are sealed in the order writers
//! take it and frames never interleave. What the socket does not take at once stays in
//! rustls's buffer of sealed records (the *backlog*) and goes out before anything written
//! later: a writer that finds a backlog it cannot send is told "would block", as a full socket
//! would tell it. The backlog is bounded by rustls's buffer limit (64 KiB by default).

use std::io::{self, Read, Write};
use std::sync::{Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use rustls::ServerConnection;
use socket2::SockRef;
use tokio::io::{Interest, ReadBuf};
use tokio::net::TcpStream;

/// A TLS connection after its handshake.
pub struct TlsSocket {
    tcp: TcpStream,
    tls: Mutex<ServerConnection>,
}

/// `std::io` over the non-blocking socket, for rustls's `write_tls` (tokio's `try_write`
/// clears the socket's write readiness on `WouldBlock`, so a later poll waits for it).
struct TcpWriter<'a>(&'a TcpStream);

impl Write for TcpWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsSocket {
    pub fn new(tcp: TcpStream, tls: ServerConnection) -> TlsSocket {
        TlsSocket {
            tcp,
            tls: Mutex::new(tls),
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        self.tls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the backlog without waiting: true once it is all out.
    fn send_backlog(&self, tls: &mut ServerConnection) -> io::Result<bool> {
        while tls.wants_write() {
            match tls.write_tls(&mut TcpWriter(&self.tcp)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Whether sealed records wait for the socket.
    pub fn has_backlog(&self) -> bool {
        self.lock().wants_write()
    }

    /// Seals what `write` takes and sends as much as the socket takes now; `WouldBlock` (and
    /// nothing taken) while an earlier backlog cannot be sent. Never waits.
    fn try_seal(
        &self,
        write: impl FnOnce(&mut rustls::Writer<'_>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut tls = self.lock();
        if !self.send_backlog(&mut tls)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let taken = write(&mut tls.writer())?;
        // What the socket does not take now is the backlog, sent by the next writer or flush.
        self.send_backlog(&mut tls)?;
        Ok(taken)
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_seal(|writer| writer.write(buf))
    }

    pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.try_seal(|writer| writer.write_vectored(bufs))
    }

    /// [`TlsSocket::try_write`], waiting (with `cx`) while the backlog cannot be sent.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_until_sent(cx, |socket| socket.try_write(buf))
    }

    pub fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_until_sent(cx, |socket| socket.try_write_vectored(bufs))
    }

    /// Sends the whole backlog, waiting (with `cx`) for the socket to take it.
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_until_sent(cx, |socket| {
            if socket.send_backlog(&mut socket.lock())? {
                Ok(())
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        })
    }

    fn poll_until_sent<T>(
        &self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&Self) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            match attempt(self) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.tcp.poll_write_ready(cx))?;
                }
                done => return Poll::Ready(done),
            }
        }
    }

    /// Reads decrypted bytes into `buf`, reading and decrypting records as needed. `Ok` with
    /// nothing read is the peer's `close_notify`; a connection cut without one is an error.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut tls = self.lock();
            match tls.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // No plaintext waiting: read records from the socket (`try_io` clears the read
            // readiness when the socket has nothing, so the poll below then waits).
            let read = self.tcp.try_io(Interest::READABLE, || {
                tls.read_tls(&mut &*SockRef::from(&self.tcp))
            });
            match read {
                // End of stream: rustls records it, and the reader above reports it next.
                Ok(0) => continue,
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // rustls queued an alert saying why; send it if the socket takes it.
                        let _ = self.send_backlog(&mut tls);
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                    }
                    // Whatever rustls must answer (a key update) goes out with the next write
                    // if the socket does not take it now.
                    self.send_backlog(&mut tls)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(tls);
                    ready!(self.tcp.poll_read_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::sync::Arc;

    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    /// A TLS connection over loopback: (the server's [`TlsSocket`], the client's stream).
    async fn pair() -> (TlsSocket, tokio_rustls::client::TlsStream<TcpStream>) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accept = async {
            let (tcp, _) = listener.accept().await.unwrap();
            let stream = tokio_rustls::TlsAcceptor::from(Arc::new(server))
                .accept(tcp)
                .await
                .unwrap();
            let (tcp, connection) = stream.into_inner();
            TlsSocket::new(tcp, connection)
        };
        let connect = async {
            let tcp = TcpStream::connect(address).await.unwrap();
            tokio_rustls::TlsConnector::from(Arc::new(client))
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap()
        };
        tokio::join!(accept, connect)
    }

    /// The fan-out's writes to a client that stopped reading: once the socket is full the
    /// socket keeps sealed records back and refuses more (WouldBlock), never waits, and loses
    /// nothing: when the client reads again, flushing delivers every byte taken, in order.
    #[tokio::test]
    async fn writes_to_a_full_socket_are_kept_back_in_order_and_flushed_later() {
        let (server, mut client) = pair().await;
        let chunk: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let mut taken = 0usize;
        let mut refused = false;
        // Bounded: a loopback socket's buffers hold a few MB at most.
        for _ in 0..100_000 {
            match server.try_write(&chunk) {
                Ok(n) => taken += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    refused = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused, "the socket never filled");
        assert!(
            server.has_backlog(),
            "records kept back once the socket is full"
        );

        let reading = async {
            let mut received = vec![0u8; taken];
            client.read_exact(&mut received).await.unwrap();
            received
        };
        let (received, flushed) = tokio::join!(reading, poll_fn(|cx| server.poll_flush(cx)));
        flushed.unwrap();
        assert!(!server.has_backlog());
        let expected: Vec<u8> = chunk.iter().copied().cycle().take(taken).collect();
        assert!(received == expected, "bytes lost or out of order");
    }
}

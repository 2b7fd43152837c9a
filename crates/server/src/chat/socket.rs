//! The socket of an accepted connection, plain TCP or TLS, shared. hyper reads the request
//! and writes the response through [`SharedSocket`]; after a chat upgrade, the room's fan-out
//! writes frames to the same socket directly (`outbox.rs`), without going through hyper's
//! upgraded stream or a per-connection task. hyper hands an upgraded connection back wrapped
//! in its own (private) buffering type, so the socket cannot be recovered from it; the request
//! carries a second handle, [`RawSocket`], instead. Over TLS the writes are sealed into
//! records on the way (`tls_socket.rs`); a plain socket is written as it is.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::tls_socket::TlsSocket;

/// An accepted connection's socket: what every writer of the connection writes to.
pub enum ClientSocket {
    Plain(TcpStream),
    /// Boxed: rustls's state is more than a kilobyte, and a plain connection (one per viewer)
    /// must not pay for it.
    Tls(Box<TlsSocket>),
}

impl From<TcpStream> for ClientSocket {
    fn from(stream: TcpStream) -> ClientSocket {
        ClientSocket::Plain(stream)
    }
}

impl ClientSocket {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            ClientSocket::Plain(tcp) => tcp,
            ClientSocket::Tls(tls) => tls.tcp(),
        }
    }

    /// Writes what the socket takes now, never waiting (`WouldBlock` if it takes nothing).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientSocket::Plain(tcp) => tcp.try_write(buf),
            ClientSocket::Tls(tls) => tls.try_write(buf),
        }
    }

    /// [`ClientSocket::try_write`] for several buffers in one `writev`.
    pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            ClientSocket::Plain(tcp) => tcp.try_write_vectored(bufs),
            ClientSocket::Tls(tls) => tls.try_write_vectored(bufs),
        }
    }

    /// Writes as much of `buf` as the socket takes, waiting (with `cx`) until it takes some.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            ClientSocket::Plain(tcp) => poll_write_shared(tcp, cx, buf),
            ClientSocket::Tls(tls) => tls.poll_write(cx, buf),
        }
    }

    /// [`ClientSocket::poll_write`] for several buffers in one `writev`.
    pub fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            ClientSocket::Plain(tcp) => poll_write_vectored_shared(tcp, cx, bufs),
            ClientSocket::Tls(tls) => tls.poll_write_vectored(cx, bufs),
        }
    }

    /// Whether bytes already taken still wait to be sent (TLS records the socket did not
    /// take; a plain socket keeps nothing back).
    pub fn has_backlog(&self) -> bool {
        match self {
            ClientSocket::Plain(_) => false,
            ClientSocket::Tls(tls) => tls.has_backlog(),
        }
    }

    /// Sends every byte already taken, waiting (with `cx`) for the socket.
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            ClientSocket::Plain(_) => Poll::Ready(Ok(())),
            ClientSocket::Tls(tls) => tls.poll_flush(cx),
        }
    }
}

/// An accepted connection's socket, as hyper's IO.
pub struct SharedSocket(Arc<ClientSocket>);

/// The same socket, in the request's extensions, for the chat upgrade.
#[derive(Clone)]
pub struct RawSocket(pub Arc<ClientSocket>);

impl SharedSocket {
    pub fn new(socket: ClientSocket) -> (SharedSocket, RawSocket) {
        let socket = Arc::new(socket);
        (SharedSocket(socket.clone()), RawSocket(socket))
    }
}

/// True if the error only means "not now" (the readiness flag was stale).
fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl AsyncRead for SharedSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let tcp = match &*self.0 {
            ClientSocket::Plain(tcp) => tcp,
            ClientSocket::Tls(tls) => return tls.poll_read(cx, buf),
        };
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            let wanted = buf.remaining();
            // A read that does not fill the buffer has emptied the socket. Reporting it to
            // `try_io` as WouldBlock makes tokio clear the readiness it saw before the read
            // (as its own `TcpStream::poll_read` does; a readiness event that came in since
            // is kept), so the next read waits for new bytes instead of making a `recv` that
            // finds none: one system call less per HTTP request and per chat frame.
            //
            // The read itself is tokio's `try_read_buf` into the `ReadBuf` as a `BufMut`: it
            // reads into the unfilled part without initialising it first (hyper hands a fresh
            // `ReadBuf` over its 8 KiB buffer to every read, so zeroing it, the only way
            // without `unsafe` in this crate, cost a memset of 8 KiB per read). Its own
            // `try_io` inside this one sees the same readiness and clears nothing on success.
            let result = tcp.try_io(Interest::READABLE, || {
                let n = tcp.try_read_buf(buf)?;
                if n > 0 && n < wanted {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(n)
                }
            });
            // `try_read_buf` has already advanced `buf` past what it read.
            match result {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e) if would_block(&e) && buf.remaining() < wanted => {
                    return Poll::Ready(Ok(()));
                }
                Err(e) if would_block(&e) => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket closes when its last handle is dropped; a half-close here would cut off
        // an upgraded connection that another handle still writes to.
        Poll::Ready(Ok(()))
    }
}

/// Writes as much of `buf` as the socket takes, waiting (with `cx`) until it takes some.
fn poll_write_shared(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    loop {
        ready!(socket.poll_write_ready(cx))?;
        match socket.try_write(buf) {
            Err(e) if would_block(&e) => continue,
            done => return Poll::Ready(done),
        }
    }
}

/// [`poll_write_shared`] for several buffers in one `writev`.
fn poll_write_vectored_shared(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    loop {
        ready!(socket.poll_write_ready(cx))?;
        match socket.try_write_vectored(bufs) {
            Err(e) if would_block(&e) => continue,
            done => return Poll::Ready(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A read that does not fill the buffer leaves the socket marked not readable (so the
    /// next read waits instead of trying a `recv` that finds nothing), and bytes that come
    /// later still wake the reader and arrive.
    #[tokio::test]
    async fn a_short_read_clears_readiness_and_later_bytes_still_arrive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (accepted, client) = tokio::join!(
            listener.accept(),
            TcpStream::connect(listener.local_addr().unwrap())
        );
        let (mut socket, raw) = SharedSocket::new(accepted.unwrap().0.into());
        let mut client = client.unwrap();

        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = socket.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        // Readiness is gone: polling it again is Pending (it was Ready before the fix).
        let ready = poll_fn(|cx| Poll::Ready(raw.0.tcp().poll_read_ready(cx).is_ready())).await;
        assert!(
            !ready,
            "readiness kept after a read that emptied the socket"
        );

        client.write_all(b"again").await.unwrap();
        let n = socket.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"again");
    }

    /// A read into uninitialised memory (as hyper's every read is) initialises only the bytes
    /// it read: the rest of the buffer is not zeroed first (an 8 KiB memset per read before).
    #[tokio::test]
    async fn a_read_does_not_initialise_the_rest_of_the_buffer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (accepted, client) = tokio::join!(
            listener.accept(),
            TcpStream::connect(listener.local_addr().unwrap())
        );
        let (mut socket, _raw) = SharedSocket::new(accepted.unwrap().0.into());
        client.unwrap().write_all(b"hello").await.unwrap();
        let mut memory = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
        let mut buf = ReadBuf::uninit(&mut memory);
        poll_fn(|cx| Pin::new(&mut socket).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(buf.filled(), b"hello");
        assert_eq!(
            buf.initialized().len(),
            5,
            "the unread rest was initialised"
        );
    }
}

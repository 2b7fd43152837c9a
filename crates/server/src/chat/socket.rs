//! The TCP socket of an accepted connection, shared. hyper reads the request and writes the
//! response through [`SharedSocket`]; after a chat upgrade, the room's fan-out writes frames to
//! the same socket directly (`outbox.rs`), without going through hyper's upgraded stream or a
//! per-connection task. hyper hands an upgraded connection back wrapped in its own (private)
//! buffering type, so the socket cannot be recovered from it; the request carries a second
//! handle, [`RawSocket`], instead.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// An accepted connection's socket, as hyper's IO.
pub struct SharedSocket(Arc<TcpStream>);

/// The same socket, in the request's extensions, for the chat upgrade.
#[derive(Clone)]
pub struct RawSocket(pub Arc<TcpStream>);

impl SharedSocket {
    pub fn new(stream: TcpStream) -> (SharedSocket, RawSocket) {
        let stream = Arc::new(stream);
        (SharedSocket(stream.clone()), RawSocket(stream))
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
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            // Without `unsafe` (forbidden here) the unfilled part is zeroed first; hyper and
            // tungstenite read in chunks of a few KiB, so this is a small memset per read.
            let unfilled = buf.initialize_unfilled();
            let wanted = unfilled.len();
            let mut got = 0;
            // A read that does not fill the buffer has emptied the socket. Reporting it to
            // `try_io` as WouldBlock makes tokio clear the readiness it saw before the read
            // (as its own `TcpStream::poll_read` does; a readiness event that came in since
            // is kept), so the next read waits for new bytes instead of making a `recv` that
            // finds none: one system call less per HTTP request and per chat frame.
            let result = self.0.try_io(Interest::READABLE, || {
                let n = (&*SockRef::from(&*self.0)).read(&mut unfilled[..])?;
                got = n;
                if n > 0 && n < wanted {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(n)
                }
            });
            match result {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if would_block(&e) && got > 0 => {
                    buf.advance(got);
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
        poll_write_shared(&self.0, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored_shared(&self.0, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket closes when its last handle is dropped; a half-close here would cut off
        // an upgraded connection that another handle still writes to.
        Poll::Ready(Ok(()))
    }
}

/// Writes as much of `buf` as the socket takes, waiting (with `cx`) until it takes some.
pub fn poll_write_shared(
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
pub fn poll_write_vectored_shared(
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
        let (mut socket, raw) = SharedSocket::new(accepted.unwrap().0);
        let mut client = client.unwrap();

        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = socket.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        // Readiness is gone: polling it again is Pending (it was Ready before the fix).
        let ready = poll_fn(|cx| Poll::Ready(raw.0.poll_read_ready(cx).is_ready())).await;
        assert!(
            !ready,
            "readiness kept after a read that emptied the socket"
        );

        client.write_all(b"again").await.unwrap();
        let n = socket.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"again");
    }
}

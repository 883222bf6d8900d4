//! Accepted connections, and how they close.
//!
//! When the server is done with a connection it writes its last frames and closes the socket.
//! If the client's own last bytes (HTTP/2 window updates, pings) are still unread at that
//! moment, the kernel answers the close with a reset instead of an orderly end, and a client
//! that has not yet read the server's last frames loses them: a stream that finished cleanly
//! during the shutdown drain ends in an error on the client's side. So a connection is closed
//! the way web servers call "lingering": its write side is shut first, then whatever the
//! client still sends is read and dropped until the client closes its side too, or a second
//! has passed.
//!
//! A connection can also be cut: once the shutdown grace period is over, every read and write
//! fails, which ends the connection and with it the calls still running on it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Longest a closed connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(1);

/// A client connection that lingers on close and can be cut; see the module documentation.
pub struct LingeringStream {
    /// Taken when the connection is dropped, to linger in a task of its own.
    stream: Option<TcpStream>,
    lingering: TaskTracker,
    cut: CancellationToken,
    /// Resolves once `cut` is cancelled; kept so that a pending read is woken by the cut.
    cut_wait: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl LingeringStream {
    /// `lingering` tracks the closes in progress, so that the process can wait for them
    /// before it exits; cancelling `cut` fails every later read and write.
    pub fn new(stream: TcpStream, lingering: TaskTracker, cut: CancellationToken) -> Self {
        let cut_wait = Box::pin(cut.clone().cancelled_owned());
        Self { stream: Some(stream), lingering, cut, cut_wait }
    }

    /// The stream, or the error that ends the connection once it has been cut. Polling the
    /// cut registers the caller's waker, so a connection waiting to read wakes up to fail.
    fn stream_unless_cut(&mut self, cx: &mut Context<'_>) -> io::Result<&mut TcpStream> {
        if self.cut_wait.as_mut().poll(cx).is_ready() {
            let reason = "connection cut at the end of the shutdown grace period";
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, reason));
        }
        Ok(self.stream.as_mut().expect("the stream is only taken on drop"))
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else { return };
        // A cut connection, or one outside a runtime (a process already stopping), just
        // closes.
        if !self.cut.is_cancelled() && tokio::runtime::Handle::try_current().is_ok() {
            self.lingering.spawn(linger(stream));
        }
    }
}

async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut discarded = [0_u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(read) = stream.read(&mut discarded).await {
            if read == 0 {
                break;
            }
        }
    })
    .await;
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.stream_unless_cut(cx) {
            Ok(stream) => Pin::new(stream).poll_read(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stream_unless_cut(cx) {
            Ok(stream) => Pin::new(stream).poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.stream_unless_cut(cx) {
            Ok(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream_unless_cut(cx) {
            Ok(stream) => Pin::new(stream).poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream_unless_cut(cx) {
            Ok(stream) => Pin::new(stream).poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl Connected for LingeringStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match &self.stream {
            Some(stream) => stream.connect_info(),
            None => TcpConnectInfo { local_addr: None, remote_addr: None },
        }
    }
}

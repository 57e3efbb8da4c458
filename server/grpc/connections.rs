//! What a client connection may hold, and for how long (docs/rules.md,
//! "Time limits"): the HTTP/2 settings and keepalives of the tonic server,
//! TCP keepalive on accepted sockets, and a deadline for the HTTP/2 preface,
//! which neither tonic nor hyper has: without it a peer that connects and
//! sends nothing (or trickles bytes) holds a socket and a task forever.

use crate::config::ConnectionLimits;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Sleep;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Server;
use tonic::transport::server::{Connected, TcpIncoming};

/// The client connection preface every HTTP/2 connection starts with
/// (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`), in bytes.
const PREFACE_LEN: usize = 24;

/// `builder` with the HTTP/2 limits applied.
pub fn limit<L>(builder: Server<L>, limits: &ConnectionLimits) -> Server<L> {
    let builder = builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(limits.http2_keepalive_interval)
        .http2_keepalive_timeout(Some(limits.http2_keepalive_timeout));
    match limits.max_connection_age {
        Some(age) => builder
            .max_connection_age(age)
            .max_connection_age_grace(limits.max_connection_age_grace),
        None => builder,
    }
}

/// The TCP connections `listener` accepts: no Nagle delay, TCP keepalive.
pub fn tcp(listener: TcpListener, limits: &ConnectionLimits) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(limits.tcp_keepalive)
}

/// `connections` (TCP, or TLS once its handshake is done), each closed when
/// its HTTP/2 preface does not arrive within `timeout` (the handshake timeout).
pub fn with_preface_deadline<T>(
    connections: impl Stream<Item = io::Result<T>>,
    timeout: std::time::Duration,
) -> impl Stream<Item = io::Result<PrefaceDeadline<T>>> {
    connections.map(move |accepted| accepted.map(|stream| PrefaceDeadline::new(stream, timeout)))
}

/// A connection that fails its reads with `TimedOut` if the first
/// [`PREFACE_LEN`] bytes have not arrived by its deadline; the server then
/// drops it. Afterwards it is the plain connection.
pub struct PrefaceDeadline<T> {
    inner: T,
    /// Bytes of the preface still to come.
    awaited: usize,
    /// `None` once the preface is in.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> PrefaceDeadline<T> {
    fn new(inner: T, timeout: std::time::Duration) -> Self {
        PrefaceDeadline {
            inner,
            awaited: PREFACE_LEN,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let Some(deadline) = self.deadline.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                self.awaited = self.awaited.saturating_sub(read);
                if self.awaited == 0 {
                    self.deadline = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface within the handshake timeout",
                )))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PrefaceDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<T: Connected> Connected for PrefaceDeadline<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_missing_preface_times_out_and_a_complete_one_lifts_the_deadline() {
        let (client, server) = tokio::io::duplex(64);
        let mut silent = PrefaceDeadline::new(server, Duration::from_millis(50));
        let mut buf = [0u8; 8];
        let error = silent.read(&mut buf).await.expect_err("times out");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(client);

        let (mut client, server) = tokio::io::duplex(64);
        let mut prompt = PrefaceDeadline::new(server, Duration::from_millis(50));
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("writing the preface");
        let mut preface = [0u8; PREFACE_LEN];
        prompt.read_exact(&mut preface).await.expect("the preface");
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.write_all(b"x").await.expect("writing more");
        assert_eq!(prompt.read(&mut buf).await.expect("no deadline now"), 1);
    }
}

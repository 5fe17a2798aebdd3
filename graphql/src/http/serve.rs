//! The server loop (issue 20): HTTP/1.1 connections served by hyper with a header-read timeout, a
//! cap on open connections, and a graceful shutdown with a deadline.
//!
//! - **Header timeout** ([`ServerConfig::header_timeout`]): hyper's own, which runs from the moment
//!   the server waits for a request's head – on a new connection and on a kept-alive one after its
//!   last response – until the head is complete. A slowloris client dribbling a header line every
//!   few seconds is cut off when it expires, and it is the idle keep-alive timeout too. The body and
//!   the work are bounded by the router's request deadline ([`ServerConfig::request_timeout`]).
//! - **Connection cap** ([`ServerConfig::max_connections`]): every open connection holds a permit,
//!   and an upgraded WebSocket keeps its connection's (the permit travels with the socket), so
//!   subscribers count too. One more connection is accepted and refused at once, with a 503
//!   (`OVERLOADED`, `Retry-After: 1`) written without waiting, rather than left in the kernel's
//!   backlog where the client cannot tell a busy server from a dead one.
//! - **Graceful shutdown** ([`ServerConfig::shutdown_grace`]): on the signal the listener is
//!   closed, idle connections close, requests in flight may finish (their connections then close),
//!   WebSockets are closed with 1001 (going away, by `ws.rs`), and the loop waits for every
//!   connection to be gone – but no longer than the grace period. Then it returns anyway: a
//!   half-sent request or a slow answer cannot hold the server past the deadline.
//! - **No Nagle** ([`configure`]): every accepted socket has `TCP_NODELAY`. With Nagle's algorithm
//!   a small write waits for the acknowledgement of the one before it, which the client's kernel
//!   may delay by up to 40 ms: a subscriber's second frame of a burst arrived up to 40 ms late
//!   (the p99 of about 40 ms that `bench` measured even for one subscriber, BENCHMARKS.md). hyper
//!   writes a response's head and body together, and frames are written whole, so nothing is
//!   gained by delaying them.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::Service;

use super::{ServerConfig, router};
use crate::app::App;
use crate::error::{ApiError, Code};

/// Serves the application on `listener` until `signal` completes, then shuts down gracefully
/// within [`ServerConfig::shutdown_grace`]: the loop `samverkan serve` runs (module docs), for a
/// program that embeds the server (the benchmark).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    config: ServerConfig,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (shutdown_sender, shutdown) = watch::channel(false);
    let (header_timeout, grace) = (config.header_timeout, config.shutdown_grace);
    // The semaphore counts in u32 permits when waiting for all of them.
    let max = u32::try_from(config.max_connections.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let connections = Arc::new(Semaphore::new(max as usize));
    let router = router(app, config, shutdown.clone());
    let mut signal = pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        configure(&stream);
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            refuse(&stream);
            continue;
        };
        let connection = Counted { stream, _permit: permit };
        tokio::spawn(serve_connection(connection, peer, router.clone(), header_timeout, shutdown.clone()));
    }
    drop(listener);
    shutdown_sender.send_replace(true);
    let open = max as usize - connections.available_permits();
    tracing::info!(open, "shutting down: no new connections; waiting up to {grace:?} for those open");
    if tokio::time::timeout(grace, connections.acquire_many(max)).await.is_err() {
        let open = max as usize - connections.available_permits();
        tracing::warn!(open, "shutting down: {open} connections still open after {grace:?}; closing them");
    }
    Ok(())
}

/// What every accepted socket gets: `TCP_NODELAY` (module docs). A socket that refuses it is
/// served anyway, only slower.
fn configure(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY could not be set on a connection");
    }
}

/// An accept that failed: a connection that went away before it was accepted is nothing; running
/// out of file descriptors is waited out briefly rather than spun on (as axum's own loop does).
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(error.kind(), ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Refuses a connection over the cap with a 503 written at once, without waiting: if the socket's
/// buffer cannot take it whole, the connection is just closed.
fn refuse(stream: &TcpStream) {
    let message = "the server has as many connections open as it serves at once; retry in a second";
    let body = ApiError::new(Code::Overloaded, message).into_response_body().to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// One connection, HTTP/1.1 with upgrades (WebSockets), until it closes or the shutdown has
/// let its request in flight finish.
async fn serve_connection(
    connection: Counted,
    peer: SocketAddr,
    router: axum::Router,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let mut served = pin!(builder.serve_connection(TokioIo::new(connection), service).with_upgrades());
    let result = tokio::select! {
        result = served.as_mut() => result,
        () = shutting_down(&mut shutdown) => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = result {
        // A client that went away, or one cut off by the header timeout: the client's doing.
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// Completes when the server begins to shut down; never, if the sender is gone without that.
pub(super) async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|down| *down).await.is_err() {
        futures::future::pending::<()>().await;
    }
}

/// A connection holding its place under the cap for as long as the socket lives, through an
/// upgrade to a WebSocket too.
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    /// An accepted socket has Nagle's algorithm off, so a small frame is sent at once.
    #[tokio::test]
    async fn accepted_sockets_send_small_writes_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("address");
        let _client = tokio::net::TcpStream::connect(address).await.expect("connects");
        let (stream, _) = listener.accept().await.expect("accepts");
        assert!(!stream.nodelay().expect("reads the option"), "the kernel's default is Nagle on");
        super::configure(&stream);
        assert!(stream.nodelay().expect("reads the option"), "TCP_NODELAY set");
    }
}

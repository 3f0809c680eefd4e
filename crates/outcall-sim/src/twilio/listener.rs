//! The REST listener, with the connection-level faults: while an outage lasts the
//! listening socket is closed (clients get ECONNREFUSED) and it is bound again on
//! the same address afterwards ([`ListenSlot`]); a handler can reset (RST) or close (FIN) its own
//! connection instead of answering, through the [`Peer`] it extracts.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const ALIVE: u8 = 0;
const RESET: u8 = 1;
const CLOSE: u8 = 2;

/// Kills one connection in place of its answer.
#[derive(Debug, Default)]
pub(super) struct ConnCtl(AtomicU8);

impl ConnCtl {
    /// The answer is not sent; the connection is reset (RST).
    pub fn reset(&self) {
        self.0.store(RESET, Ordering::SeqCst);
    }

    /// The answer is not sent; the connection is closed (FIN).
    pub fn close(&self) {
        self.0.store(CLOSE, Ordering::SeqCst);
    }

    fn state(&self) -> u8 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The connection a request came on: the handlers' `ConnectInfo`.
#[derive(Debug, Clone)]
pub(super) struct Peer {
    pub ctl: Arc<ConnCtl>,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, SimListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, SimListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// An accepted connection that a handler can kill.
#[derive(Debug)]
pub(super) struct SimIo {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl SimIo {
    /// The error that makes the server drop the connection, set up as a reset or a
    /// close; `None` while the connection lives.
    fn killed(&self) -> Option<io::Error> {
        match self.ctl.state() {
            ALIVE => None,
            RESET => {
                // A zero linger turns the close that follows into an RST.
                let _ = self.inner.set_zero_linger();
                Some(io::ErrorKind::ConnectionReset.into())
            }
            _ => Some(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

impl AsyncRead for SimIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The listening socket, shared by the accept loop and the fault controls so an
/// outage closes it, and its end binds it again, before the call that asked returns.
#[derive(Debug)]
pub(super) struct ListenSlot {
    addr: SocketAddr,
    inner: Mutex<SlotInner>,
}

#[derive(Debug)]
struct SlotInner {
    listener: Option<TcpListener>,
    /// The accept loop, to wake when the socket is closed or bound again.
    waker: Option<Waker>,
}

impl ListenSlot {
    pub fn new(listener: TcpListener) -> io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            addr: listener.local_addr()?,
            inner: Mutex::new(SlotInner {
                listener: Some(listener),
                waker: None,
            }),
        }))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_open(&self) -> bool {
        self.lock().listener.is_some()
    }

    /// Closes the socket: new connections are refused (ECONNREFUSED).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.listener = None;
        if let Some(w) = inner.waker.take() {
            w.wake();
        }
    }

    /// Binds the socket again (reusing the address despite connections in TIME_WAIT).
    pub fn open(&self) -> io::Result<()> {
        let mut inner = self.lock();
        if inner.listener.is_none() {
            let socket = if self.addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.bind(self.addr)?;
            inner.listener = Some(socket.listen(1024)?);
        }
        if let Some(w) = inner.waker.take() {
            w.wake();
        }
        Ok(())
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut inner = self.lock();
        let polled = match inner.listener.as_ref() {
            Some(l) => l.poll_accept(cx),
            None => Poll::Pending,
        };
        if polled.is_pending() {
            inner.waker = Some(cx.waker().clone());
        }
        polled
    }
}

/// The accept loop's side of a [`ListenSlot`].
#[derive(Debug)]
pub(super) struct SimListener(pub Arc<ListenSlot>);

impl axum::serve::Listener for SimListener {
    type Io = SimIo;
    type Addr = Peer;

    async fn accept(&mut self) -> (SimIo, Peer) {
        loop {
            match std::future::poll_fn(|cx| self.0.poll_accept(cx)).await {
                Ok((inner, _)) => {
                    let ctl = Arc::new(ConnCtl::default());
                    return (
                        SimIo {
                            inner,
                            ctl: ctl.clone(),
                        },
                        Peer { ctl },
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "Twilio simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Peer> {
        Ok(Peer {
            ctl: Arc::default(),
        })
    }
}

//! `MptcpStream`: one connection, as tokio's `AsyncRead` + `AsyncWrite`.

use crate::Stack;
use crate::shared::Shared;
use bytes::Bytes;
use mptcp_proto::connection::{ConnectionError, ConnectionHandle, ConnectionInfo};
use mptcp_proto::endpoint::{ApiMisuse, Endpoint};
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An MPTCP connection (or a plain TCP one, after fallback) of a [`Stack`].
///
/// Reading gives the peer's byte stream in order, whichever subflows it
/// came over; writing queues bytes for the scheduler; `shutdown` sends a
/// DATA_FIN (RFC 8684 §3.3.3) once everything written is sent. Dropping the
/// stream closes it gracefully; [`MptcpStream::abort`] resets it with
/// MP_FASTCLOSE (§3.5).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use mptcp_tun::{MptcpStream, Stack};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let stack = Stack::builder()
///     .path("mptcp0", "10.200.0.2".parse().unwrap())
///     .path("mptcp1", "10.200.1.2".parse().unwrap())
///     .build()?;
/// let mut s = MptcpStream::connect(&stack, "10.200.0.1:5201".parse().unwrap()).await?;
/// s.write_all(b"hello").await?;
/// s.shutdown().await?; // DATA_FIN
/// let mut reply = Vec::new();
/// s.read_to_end(&mut reply).await?;
/// println!("{:?}", s.info()?.mptcp);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MptcpStream {
    inner: Arc<Inner>,
}

/// The reading half of a split stream.
#[derive(Debug)]
pub struct ReadHalf {
    inner: Arc<Inner>,
}

/// The writing half of a split stream; `shutdown` sends the DATA_FIN.
#[derive(Debug)]
pub struct WriteHalf {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    h: ConnectionHandle,
    id: u64,
    shut: AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MptcpStream")
            .field("handle", &self.h)
            .finish()
    }
}

/// The error an application sees for the way a connection ended.
pub(crate) fn io_error(e: ConnectionError) -> io::Error {
    let kind = match e {
        ConnectionError::Reset => io::ErrorKind::ConnectionReset,
        ConnectionError::Corrupted => io::ErrorKind::InvalidData,
        ConnectionError::Refused => io::ErrorKind::ConnectionRefused,
        ConnectionError::TimedOut => io::ErrorKind::TimedOut,
        ConnectionError::Aborted => io::ErrorKind::ConnectionAborted,
        ConnectionError::ProtocolViolation(_) => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

fn released() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was aborted")
}

impl MptcpStream {
    /// Connect to `remote` from the stack's first path of the same address
    /// family; the other paths join as subflows once MPTCP is established.
    pub async fn connect(stack: &Stack, remote: SocketAddr) -> io::Result<MptcpStream> {
        let shared = stack.pick().clone();
        let local = stack
            .paths()
            .iter()
            .map(|p| p.addr)
            .find(|a| a.is_ipv4() == remote.is_ipv4())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!("no path has an address of {remote}'s family"),
                )
            })?;
        let (h, id) = {
            let mut st = shared.lock();
            let now = st.clock.now();
            let h = st
                .ep
                .connect(now, local, remote)
                .map_err(|e| io::Error::new(io::ErrorKind::AddrNotAvailable, e))?;
            let id = st.adopt(h, false);
            shared.unlock(st);
            (h, id)
        };
        shared.kick();
        let stream = MptcpStream::adopted(shared, h, id);
        poll_fn(|cx| stream.inner.poll_connected(cx)).await?;
        Ok(stream)
    }

    pub(crate) fn adopted(shared: Arc<Shared>, h: ConnectionHandle, id: u64) -> MptcpStream {
        shared.handle_opened();
        MptcpStream {
            inner: Arc::new(Inner {
                shared,
                h,
                id,
                shut: AtomicBool::new(false),
            }),
        }
    }

    /// A snapshot of the connection: version, keys and tokens, fallback,
    /// every subflow with its addresses and counters.
    pub fn info(&self) -> io::Result<ConnectionInfo> {
        self.inner.info()
    }

    /// Wait until `done` holds for the connection's [`info`](Self::info),
    /// checked now and again after every round of the driver (packets,
    /// timers or application calls handled); returns the info that
    /// satisfied it. Fails if the connection ends first. For tests and
    /// tools that wait for a state (a second subflow established, a
    /// counter reached) instead of sleeping.
    ///
    /// ```no_run
    /// # async fn demo(s: &mptcp_tun::MptcpStream) -> std::io::Result<()> {
    /// let up = |f: &mptcp_tun::SubflowInfo| f.srtt.is_some();
    /// s.wait_info(|i| i.subflows.iter().filter(|f| up(f)).count() >= 2).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_info(
        &self,
        done: impl FnMut(&ConnectionInfo) -> bool,
    ) -> io::Result<ConnectionInfo> {
        self.inner.wait_info(done).await
    }

    /// Our address and port on the first subflow.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.first_tuple().map(|t| t.0)
    }

    /// The peer's address and port on the first subflow.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.first_tuple().map(|t| t.1)
    }

    /// Reset the connection now: RST on every subflow, with MP_FASTCLOSE
    /// when MPTCP is in use. Unsent and unread data are dropped.
    pub fn abort(self) {
        self.inner.abort();
    }

    /// Wait until the connection is over: `Ok` after a graceful close in
    /// both directions (our DATA_FIN acknowledged, the peer's received),
    /// the error otherwise.
    pub async fn closed(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_closed(cx)).await
    }

    /// Ask the peer to send over the subflows from our address `addr` only
    /// when no other subflow is usable (`backup`), or to use them again:
    /// MP_PRIO (RFC 8684 §3.3.8); joins from `addr` later carry flag B.
    /// Returns how many subflows were told.
    ///
    /// ```no_run
    /// # async fn demo(s: &mptcp_tun::MptcpStream) -> std::io::Result<()> {
    /// // Keep the metered path for emergencies.
    /// s.set_backup("10.200.1.2".parse().unwrap(), true)?;
    /// # Ok(()) }
    /// ```
    pub fn set_backup(&self, addr: IpAddr, backup: bool) -> io::Result<usize> {
        self.inner.call(|ep, h| ep.set_backup(h, addr, backup))
    }

    /// Withdraw our address `addr` from the connection: REMOVE_ADDR (RFC
    /// 8684 §3.4.2) tells the peer, the subflows on it are reset and what
    /// they carried goes out on the others. Refused (`InvalidInput`) when
    /// no subflow would be left. Returns how many subflows were reset.
    pub fn remove_address(&self, addr: IpAddr) -> io::Result<usize> {
        self.inner.call(|ep, h| ep.remove_address(h, addr))
    }

    /// Write all of `data`. From 64 KiB on, the stack keeps `data` itself
    /// until the peer acknowledges it and sends segments from it, instead
    /// of copying it into its send buffer as [`AsyncWriteExt::write_all`]
    /// does: for applications that have their bytes in a [`Bytes`]
    /// already (read into a `BytesMut` and frozen, say).
    ///
    /// [`AsyncWriteExt::write_all`]: tokio::io::AsyncWriteExt::write_all
    pub async fn write_all_bytes(&mut self, data: Bytes) -> io::Result<()> {
        self.inner.write_all_bytes(data).await
    }

    /// Split into a reading and a writing half, usable from two tasks.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        (
            ReadHalf {
                inner: self.inner.clone(),
            },
            WriteHalf { inner: self.inner },
        )
    }
}

impl ReadHalf {
    /// See [`MptcpStream::info`].
    pub fn info(&self) -> io::Result<ConnectionInfo> {
        self.inner.info()
    }

    /// See [`MptcpStream::wait_info`].
    pub async fn wait_info(
        &self,
        done: impl FnMut(&ConnectionInfo) -> bool,
    ) -> io::Result<ConnectionInfo> {
        self.inner.wait_info(done).await
    }
}

impl WriteHalf {
    /// See [`MptcpStream::write_all_bytes`].
    pub async fn write_all_bytes(&mut self, data: Bytes) -> io::Result<()> {
        self.inner.write_all_bytes(data).await
    }

    /// See [`MptcpStream::info`].
    pub fn info(&self) -> io::Result<ConnectionInfo> {
        self.inner.info()
    }

    /// See [`MptcpStream::wait_info`].
    pub async fn wait_info(
        &self,
        done: impl FnMut(&ConnectionInfo) -> bool,
    ) -> io::Result<ConnectionInfo> {
        self.inner.wait_info(done).await
    }

    /// See [`MptcpStream::closed`].
    pub async fn closed(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_closed(cx)).await
    }
}

impl Inner {
    async fn write_all_bytes(&self, mut data: Bytes) -> io::Result<()> {
        while !data.is_empty() {
            let n = poll_fn(|cx| self.poll_write_bytes(cx, &data)).await?;
            data = data.slice(n..);
        }
        Ok(())
    }

    fn info(&self) -> io::Result<ConnectionInfo> {
        let mut st = self.shared.lock();
        st.slot(self.h, self.id).ok_or_else(released)?;
        st.ep
            .connection(self.h)
            .map(|c| c.info())
            .ok_or_else(released)
    }

    async fn wait_info(
        &self,
        mut done: impl FnMut(&ConnectionInfo) -> bool,
    ) -> io::Result<ConnectionInfo> {
        loop {
            // Registered before looking, so that no round goes unseen.
            let round = self.shared.rounds.notified();
            tokio::pin!(round);
            round.as_mut().enable();
            let (info, ended) = {
                let mut st = self.shared.lock();
                let ended = st.slot(self.h, self.id).ok_or_else(released)?.closed;
                let info = st.ep.connection(self.h).map(|c| c.info());
                (info.ok_or_else(released)?, ended)
            };
            if done(&info) {
                return Ok(info);
            }
            if let Some(end) = ended {
                return Err(end.map(io_error).unwrap_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotConnected,
                        "the connection closed before the awaited state",
                    )
                }));
            }
            round.await;
        }
    }

    fn first_tuple(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        let info = self.info()?;
        let t = info.subflows.first().ok_or_else(released)?.tuple;
        Ok((t.local, t.remote))
    }

    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        let Some(slot) = st.slot(self.h, self.id) else {
            return Poll::Ready(Err(released()));
        };
        if slot.connected {
            return Poll::Ready(Ok(()));
        }
        if let Some(end) = slot.closed {
            let e = end.unwrap_or(ConnectionError::Refused);
            return Poll::Ready(Err(io_error(e)));
        }
        slot.waiter = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        let Some(slot) = st.slot(self.h, self.id) else {
            return Poll::Ready(Err(released()));
        };
        match slot.closed {
            Some(None) => Poll::Ready(Ok(())),
            Some(Some(e)) => Poll::Ready(Err(io_error(e))),
            None => {
                slot.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        if st.slot(self.h, self.id).is_none() {
            return Poll::Ready(Err(released()));
        }
        let read = st.ep.read(self.h, buf.initialize_unfilled());
        let slot = st.slot(self.h, self.id).ok_or_else(released)?;
        match read {
            Ok(Some(n)) => {
                buf.advance(n);
                self.shared.unlock(st);
                if n > 0 {
                    // The receive window may have opened.
                    self.shared.kick();
                }
                Poll::Ready(Ok(()))
            }
            Ok(None) => match slot.closed {
                Some(Some(e)) => Poll::Ready(Err(io_error(e))),
                Some(None) => Poll::Ready(Ok(())),
                None => {
                    slot.reader = Some(cx.waker().clone());
                    Poll::Pending
                }
            },
            Err(_) => Poll::Ready(Err(released())),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, data.len(), |ep, h| ep.write(h, data))
    }

    fn poll_write_bytes(&self, cx: &mut Context<'_>, data: &Bytes) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, data.len(), |ep, h| ep.write_bytes(h, data.clone()))
    }

    /// Hand `len` bytes to the engine with `write`, or wait for room.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        write: impl FnOnce(&mut Endpoint, ConnectionHandle) -> Result<usize, ApiMisuse>,
    ) -> Poll<io::Result<usize>> {
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.shut.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        let mut st = self.shared.lock();
        if st.slot(self.h, self.id).is_none() {
            return Poll::Ready(Err(released()));
        }
        let written = write(&mut st.ep, self.h);
        let slot = st.slot(self.h, self.id).ok_or_else(released)?;
        match written {
            Ok(0) => match slot.closed {
                Some(e) => {
                    let e = e.map(io_error).unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::BrokenPipe, "the connection is closed")
                    });
                    Poll::Ready(Err(e))
                }
                None => {
                    slot.writer = Some(cx.waker().clone());
                    Poll::Pending
                }
            },
            Ok(n) => {
                self.shared.unlock(st);
                self.shared.kick();
                Poll::Ready(Ok(n))
            }
            Err(_) => Poll::Ready(Err(released())),
        }
    }

    /// Ready once the peer acknowledged everything written.
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.lock();
        if st.slot(self.h, self.id).is_none() {
            return Poll::Ready(Err(released()));
        }
        let flushed = st.ep.flushed(self.h).map_err(|_| released())?;
        let slot = st.slot(self.h, self.id).ok_or_else(released)?;
        if flushed {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = slot.closed {
            let e = e.map(io_error).unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::BrokenPipe, "closed with data unacknowledged")
            });
            return Poll::Ready(Err(e));
        }
        slot.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn shutdown(&self) -> io::Result<()> {
        if self.shut.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut st = self.shared.lock();
        st.slot(self.h, self.id).ok_or_else(released)?;
        st.ep.shutdown(self.h).map_err(|_| released())?;
        self.shared.unlock(st);
        self.shared.kick();
        Ok(())
    }

    /// An endpoint call on this connection, then a kick for the driver.
    fn call<T>(
        &self,
        f: impl FnOnce(&mut Endpoint, ConnectionHandle) -> Result<T, ApiMisuse>,
    ) -> io::Result<T> {
        let mut st = self.shared.lock();
        let r = match st.slot(self.h, self.id) {
            Some(_) => {
                f(&mut st.ep, self.h).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
            }
            None => Err(released()),
        };
        self.shared.unlock(st);
        self.shared.kick();
        r
    }

    fn abort(&self) {
        let mut st = self.shared.lock();
        if st.slot(self.h, self.id).is_some() {
            st.conns.remove(&self.h);
            let _ = st.ep.abort(self.h);
        }
        self.shared.unlock(st);
        self.shared.kick();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.slot(self.h, self.id).is_some() {
            st.conns.remove(&self.h);
            let _ = st.ep.close(self.h);
        }
        self.shared.unlock(st);
        self.shared.handle_closed();
    }
}

macro_rules! async_io {
    (read $t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                self.inner.poll_read(cx, buf)
            }
        }
    };
    (write $t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_write(cx, data)
            }

            /// Waits until the peer acknowledged everything written (a
            /// DATA_ACK covers it), not merely until the stack took it.
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.inner.poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.inner.shutdown())
            }
        }
    };
}

async_io!(read MptcpStream);
async_io!(write MptcpStream);
async_io!(read ReadHalf);
async_io!(write WriteHalf);

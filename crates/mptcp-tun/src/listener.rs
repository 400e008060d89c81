//! `MptcpListener`: connections to a port of every path's address.

use crate::shared::{ListenSlot, Shared, driver_stopped};
use crate::{MptcpStream, Stack};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

/// Accepts MPTCP connections (and plain TCP ones: a client without MPTCP
/// gets a TCP connection) to a port on every address of the stack.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use mptcp_tun::{MptcpListener, Stack};
/// use tokio::io::AsyncReadExt;
///
/// let stack = Stack::builder()
///     .path("mptcp0", "10.200.0.2".parse().unwrap())
///     .signal("10.200.1.2".parse().unwrap()) // announce a second address
///     .path("mptcp1", "10.200.1.2".parse().unwrap())
///     .build()?;
/// let listener = MptcpListener::bind(&stack, 5201)?;
/// let (mut conn, peer) = listener.accept().await?;
/// let mut all = Vec::new();
/// conn.read_to_end(&mut all).await?;
/// println!("{} bytes from {peer}", all.len());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MptcpListener {
    /// Every worker of the stack: each accepts on its own.
    workers: Vec<Arc<Shared>>,
    port: u16,
    /// The worker looked at first by the next `accept` (in turn, so that
    /// none is starved).
    next: AtomicUsize,
}

impl MptcpListener {
    /// Listen on `port`.
    pub fn bind(stack: &Stack, port: u16) -> io::Result<MptcpListener> {
        Self::bind_workers(stack.workers().to_vec(), port)
    }

    pub(crate) fn bind_workers(workers: Vec<Arc<Shared>>, port: u16) -> io::Result<MptcpListener> {
        for shared in &workers {
            let st = shared.lock();
            if st.stopped() {
                return Err(driver_stopped());
            }
            if st.listeners.contains_key(&port) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("port {port} already has a listener"),
                ));
            }
        }
        for shared in &workers {
            let mut st = shared.lock();
            st.listeners.insert(port, ListenSlot::default());
            st.ep.listen(port);
            shared.unlock(st);
            shared.handle_opened();
        }
        Ok(MptcpListener {
            workers,
            port,
            next: AtomicUsize::new(0),
        })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next connection whose handshake completed, with the peer's
    /// address.
    pub async fn accept(&self) -> io::Result<(MptcpStream, SocketAddr)> {
        let (w, h, id) = poll_fn(|cx| {
            let n = self.workers.len();
            let first = self.next.fetch_add(1, Ordering::Relaxed);
            for k in 0..n {
                let w = (first + k) % n;
                let shared = &self.workers[w];
                let mut st = shared.lock();
                if st.stopped() {
                    return Poll::Ready(Err(driver_stopped()));
                }
                let Some(l) = st.listeners.get_mut(&self.port) else {
                    return Poll::Ready(Err(io::Error::other("listener closed")));
                };
                match l.queue.pop_front() {
                    Some(h) => {
                        let id = st.adopt(h, true);
                        return Poll::Ready(Ok((w, h, id)));
                    }
                    None => l.waker = Some(cx.waker().clone()),
                }
            }
            Poll::Pending
        })
        .await?;
        let stream = MptcpStream::adopted(self.workers[w].clone(), h, id);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }
}

impl Drop for MptcpListener {
    fn drop(&mut self) {
        for shared in &self.workers {
            let mut st = shared.lock();
            st.ep.unlisten(self.port);
            if let Some(l) = st.listeners.remove(&self.port) {
                for h in l.queue {
                    let _ = st.ep.abort(h);
                }
            }
            shared.unlock(st);
            shared.handle_closed();
        }
    }
}

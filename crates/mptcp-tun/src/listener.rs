//! `MptcpListener`: connections to a port of every path's address.

use crate::shared::{ListenSlot, Shared, driver_stopped};
use crate::{MptcpStream, Stack};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
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
    shared: Arc<Shared>,
    port: u16,
}

impl MptcpListener {
    /// Listen on `port`.
    pub fn bind(stack: &Stack, port: u16) -> io::Result<MptcpListener> {
        Self::bind_shared(stack.shared().clone(), port)
    }

    pub(crate) fn bind_shared(shared: Arc<Shared>, port: u16) -> io::Result<MptcpListener> {
        let mut st = shared.lock();
        if st.stopped() {
            return Err(driver_stopped());
        }
        if st.listeners.contains_key(&port) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("port {port} already has a listener"),
            ));
        }
        st.listeners.insert(port, ListenSlot::default());
        st.ep.listen(port);
        shared.unlock(st);
        shared.handle_opened();
        Ok(MptcpListener { shared, port })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next connection whose handshake completed, with the peer's
    /// address.
    pub async fn accept(&self) -> io::Result<(MptcpStream, SocketAddr)> {
        let (h, id) = poll_fn(|cx| {
            let mut st = self.shared.lock();
            if st.stopped() {
                return Poll::Ready(Err(driver_stopped()));
            }
            let Some(l) = st.listeners.get_mut(&self.port) else {
                return Poll::Ready(Err(io::Error::other("listener closed")));
            };
            match l.queue.pop_front() {
                Some(h) => {
                    let id = st.adopt(h, true);
                    Poll::Ready(Ok((h, id)))
                }
                None => {
                    l.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await?;
        let stream = MptcpStream::adopted(self.shared.clone(), h, id);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }
}

impl Drop for MptcpListener {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.ep.unlisten(self.port);
        if let Some(l) = st.listeners.remove(&self.port) {
            for h in l.queue {
                let _ = st.ep.abort(h);
            }
        }
        self.shared.unlock(st);
        self.shared.handle_closed();
    }
}

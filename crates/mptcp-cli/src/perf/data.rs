//! The data connections of a test, driven by polling from one task.
//!
//! The test's loop owns the streams and polls them through [`DataPlane::run`]
//! in a `select!` beside the control connection and the timers; between
//! polls it can look at the streams (for subflow samples) without any
//! sharing.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::PerfError;

/// Reads or writes one stream does per poll before letting the other
/// streams and the control connection have their turn.
const OPS_PER_POLL: usize = 16;
/// Smallest read buffer of a receiver.
const RECEIVE_BUFFER: usize = 128 * 1024;

/// Which way the data goes for this end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// This end writes.
    Send,
    /// This end reads.
    Receive,
}

/// Why [`DataPlane::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Sending: the byte budget is spent.
    BudgetSpent,
    /// Receiving: the byte target is reached.
    TargetReached,
    /// Receiving: every stream is at its end (or at its limit).
    AllDone,
}

/// One data connection.
pub struct DataStream<S> {
    /// iperf3 stream id.
    pub id: u32,
    /// The connection.
    pub io: S,
    /// Our address, when the transport knows it.
    pub local: Option<SocketAddr>,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Bytes written or read so far.
    pub bytes: u64,
    /// Receiving: stop reading once this many bytes are in.
    pub limit: Option<u64>,
    /// Receiving: the peer closed its side.
    pub eof: bool,
    /// Sending: our side is shut down.
    shut: bool,
    /// Sending: where the next write starts within the block.
    offset: usize,
}

impl<S> DataStream<S> {
    /// A stream with nothing moved yet.
    pub fn new(id: u32, io: S, local: Option<SocketAddr>, remote: SocketAddr) -> DataStream<S> {
        DataStream {
            id,
            io,
            local,
            remote,
            bytes: 0,
            limit: None,
            eof: false,
            shut: false,
            offset: 0,
        }
    }

    fn receiving_done(&self) -> bool {
        self.eof || self.limit.is_some_and(|l| self.bytes >= l)
    }
}

/// All data connections of a test and the way data moves on them.
pub struct DataPlane<S> {
    /// The streams in creation order.
    pub streams: Vec<DataStream<S>>,
    flow: Flow,
    /// Sending: the block written again and again; receiving: scratch.
    buf: Vec<u8>,
    /// Sending: bytes left to send over all streams (byte mode).
    budget: Option<u64>,
    /// Receiving: report [`Progress::TargetReached`] at this total.
    target: Option<u64>,
    /// Receiving: a read error ends that stream instead of the test (after
    /// the measurement, when peers close as they please).
    tolerant: bool,
}

impl<S> DataPlane<S> {
    /// Sending: stop after `budget` bytes over all streams.
    pub fn set_budget(&mut self, budget: Option<u64>) {
        self.budget = budget;
    }

    /// Receiving: report when `target` bytes are in over all streams.
    pub fn set_target(&mut self, target: Option<u64>) {
        self.target = target;
    }

    /// The measurement is over: no target any more, and a read error
    /// ends its stream rather than the test (peers close as they please).
    pub fn measurement_over(&mut self) {
        self.target = None;
        self.tolerant = true;
    }

    /// The flow of this plane.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// Bytes moved over all streams.
    pub fn total(&self) -> u64 {
        self.streams.iter().map(|s| s.bytes).sum()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> DataPlane<S> {
    /// A plane over `streams`, moving blocks of `block_len` bytes. `seed`
    /// varies the payload (iperf3 sends random bytes too).
    pub fn new(streams: Vec<DataStream<S>>, flow: Flow, block_len: usize, seed: u64) -> Self {
        // A receiver reads what is there, not block by block.
        let len = match flow {
            Flow::Send => block_len.max(1),
            Flow::Receive => block_len.max(RECEIVE_BUFFER),
        };
        let mut buf = vec![0u8; len];
        if flow == Flow::Send {
            let mut x = seed | 1;
            for chunk in buf.chunks_mut(8) {
                // xorshift64: cheap filler that does not compress.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let bytes = x.to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
        }
        DataPlane {
            streams,
            flow,
            buf,
            budget: None,
            target: None,
            tolerant: false,
        }
    }

    /// Move data until something worth telling happens; runs forever
    /// while sending without a budget. Cancel safe: every byte moved is
    /// counted when it moves.
    pub async fn run(&mut self) -> Result<Progress, PerfError> {
        poll_fn(|cx| self.poll_run(cx)).await
    }

    /// Receive until every stream is at its end or its limit, for at
    /// most `within`. Returns whether all got there.
    pub async fn drain(&mut self, within: Duration) -> Result<bool, PerfError> {
        if self.flow != Flow::Receive {
            return Ok(true);
        }
        self.measurement_over();
        loop {
            match tokio::time::timeout(within, self.run()).await {
                Ok(Ok(Progress::AllDone)) => return Ok(true),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(false),
            }
        }
    }

    /// Sending: wait until the peer acknowledged what every stream sent
    /// (transports whose flush means that, as ours does; a no-op for
    /// kernel sockets), for at most `within`. A byte-limited test ends
    /// when its bytes arrived, so that a receiver that stops counting at
    /// `TEST_END` counts them all.
    pub async fn flush(&mut self, within: Duration) {
        if self.flow != Flow::Send {
            return;
        }
        let flush_all = poll_fn(|cx| {
            let mut pending = false;
            for s in self.streams.iter_mut().filter(|s| !s.shut) {
                if Pin::new(&mut s.io).poll_flush(cx).is_pending() {
                    pending = true;
                }
            }
            match pending {
                true => Poll::Pending,
                false => Poll::Ready(()),
            }
        });
        let _ = tokio::time::timeout(within, flush_all).await;
    }

    /// Sending: shut our side of every stream down (the peer reads its
    /// end), for at most `within`. Errors are ignored: a peer that has
    /// already closed does not need our end.
    pub async fn shutdown(&mut self, within: Duration) {
        let shut_all = poll_fn(|cx| {
            let mut pending = false;
            for s in self.streams.iter_mut().filter(|s| !s.shut) {
                match Pin::new(&mut s.io).poll_shutdown(cx) {
                    Poll::Ready(_) => s.shut = true,
                    Poll::Pending => pending = true,
                }
            }
            match pending {
                true => Poll::Pending,
                false => Poll::Ready(()),
            }
        });
        let _ = tokio::time::timeout(within, shut_all).await;
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Result<Progress, PerfError>> {
        let busy = match self.flow {
            Flow::Send => self.poll_send(cx)?,
            Flow::Receive => self.poll_receive(cx)?,
        };
        match self.flow {
            Flow::Send if self.budget == Some(0) => {
                return Poll::Ready(Ok(Progress::BudgetSpent));
            }
            Flow::Receive if self.streams.iter().all(DataStream::receiving_done) => {
                return Poll::Ready(Ok(Progress::AllDone));
            }
            Flow::Receive if self.target.is_some_and(|t| self.total() >= t) => {
                return Poll::Ready(Ok(Progress::TargetReached));
            }
            _ => {}
        }
        if busy {
            // A stream still had work when its turn ended: come back.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Write on every stream until it would block, its turn ends or the
    /// budget is spent. Returns whether a turn ended with work left.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Result<bool, PerfError> {
        let block_len = self.buf.len();
        let mut busy = false;
        for s in self.streams.iter_mut().filter(|s| !s.shut) {
            let mut ops = 0;
            loop {
                let budget = self.budget.unwrap_or(u64::MAX);
                let len = (block_len - s.offset).min(usize::try_from(budget).unwrap_or(usize::MAX));
                if len == 0 {
                    break;
                }
                if ops == OPS_PER_POLL {
                    busy = true;
                    break;
                }
                ops += 1;
                let chunk = &self.buf[s.offset..s.offset + len];
                match Pin::new(&mut s.io).poll_write(cx, chunk) {
                    Poll::Ready(Ok(0)) => {
                        return Err(PerfError::Io {
                            op: "send data",
                            source: std::io::ErrorKind::WriteZero.into(),
                        });
                    }
                    Poll::Ready(Ok(n)) => {
                        s.bytes += n as u64;
                        s.offset = (s.offset + n) % block_len;
                        if let Some(b) = self.budget.as_mut() {
                            *b -= n as u64;
                        }
                    }
                    Poll::Ready(Err(source)) => {
                        return Err(PerfError::Io {
                            op: "send data",
                            source,
                        });
                    }
                    Poll::Pending => break,
                }
            }
        }
        Ok(busy)
    }

    /// Read every stream until it would block, its turn ends, or it is at
    /// its end or limit. Returns whether a turn ended with work left.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Result<bool, PerfError> {
        let mut busy = false;
        for s in self.streams.iter_mut() {
            let mut ops = 0;
            while !s.receiving_done() {
                if ops == OPS_PER_POLL {
                    busy = true;
                    break;
                }
                ops += 1;
                let mut buf = ReadBuf::new(&mut self.buf);
                match Pin::new(&mut s.io).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) if buf.filled().is_empty() => s.eof = true,
                    Poll::Ready(Ok(())) => s.bytes += buf.filled().len() as u64,
                    Poll::Ready(Err(_)) if self.tolerant => s.eof = true,
                    Poll::Ready(Err(source)) => {
                        return Err(PerfError::Io {
                            op: "receive data",
                            source,
                        });
                    }
                    Poll::Pending => break,
                }
            }
        }
        Ok(busy)
    }
}

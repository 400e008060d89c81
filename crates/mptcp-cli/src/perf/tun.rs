//! `mptcp perf` over our userspace stack: connections from a [`Stack`],
//! with every subflow's counters in the interval reports.

use super::{Acceptor, SubflowSample, Transport};
use mptcp_tun::{MptcpListener, MptcpStream, Stack};
use std::future::Future;
use std::io;
use std::net::SocketAddr;

/// Opens connections from our stack.
#[derive(Debug)]
pub struct TunTransport {
    /// The stack.
    pub stack: Stack,
}

/// Accepts connections on our stack.
#[derive(Debug)]
pub struct TunAcceptor {
    /// The listener.
    pub listener: MptcpListener,
}

fn samples(stream: &MptcpStream) -> Vec<SubflowSample> {
    let Ok(info) = stream.info() else {
        return Vec::new();
    };
    info.subflows
        .iter()
        .map(|s| SubflowSample {
            local: s.tuple.local,
            remote: s.tuple.remote,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            retransmits: s.retransmits,
            srtt_us: s.srtt.map(|d| d.as_micros()).unwrap_or(0),
            cwnd: s.cwnd,
        })
        .collect()
}

impl Transport for TunTransport {
    type Stream = MptcpStream;

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<MptcpStream>> + Send {
        let stack = self.stack.clone();
        async move { stack.connect(addr).await }
    }

    fn subflows(&self, stream: &MptcpStream) -> Vec<SubflowSample> {
        samples(stream)
    }

    fn local_addr(&self, stream: &MptcpStream) -> Option<SocketAddr> {
        stream.local_addr().ok()
    }
}

impl Acceptor for TunAcceptor {
    type Stream = MptcpStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(MptcpStream, SocketAddr)>> + Send {
        // Cancel safe: a connection leaves the listener's queue only in
        // the poll that returns it.
        self.listener.accept()
    }

    fn subflows(&self, stream: &MptcpStream) -> Vec<SubflowSample> {
        samples(stream)
    }

    fn local_addr(&self, stream: &MptcpStream) -> Option<SocketAddr> {
        stream.local_addr().ok()
    }
}

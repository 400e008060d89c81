//! Test 7: closing. Gracefully (DATA_FIN) with either side first, and
//! abortively (MP_FASTCLOSE) from either side.

use crate::support::{DEADLINE, in_lab, join_within, lab, pattern, stack_on};
use mptcp_tun::lab::kernel;
use mptcp_tun::{Mib, MptcpStream};
use socket2::SockRef;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LEN: usize = 1 << 20;

/// We send and close first; the kernel reads to the end, answers, closes.
#[test]
fn graceful_close_we_first() {
    let Some((lab, _serial)) = lab(1) else { return };
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let kernel = lab.ns().spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("read to our DATA_FIN");
        s.write_all(b"bye").expect("answer");
        drop(s);
        got.len()
    });
    let (reply, counters) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 1, false).build().expect("stack");
        let mut s = MptcpStream::connect(&stack, server).await.expect("connect");
        s.write_all(&pattern(5, LEN)).await.expect("write");
        s.shutdown().await.expect("DATA_FIN");
        let mut reply = Vec::new();
        s.read_to_end(&mut reply)
            .await
            .expect("read to the kernel's DATA_FIN");
        s.closed().await.expect("closed gracefully");
        (reply, stack.counters())
    });
    assert_eq!(join_within(kernel, "the kernel's end finished"), LEN);
    assert_eq!(reply, b"bye");
    assert_eq!(counters.get(Mib::MPFastcloseTx), 0);
    assert_eq!(counters.get(Mib::MPRstTx), 0);
}

/// The kernel sends and closes first; we read to the end, answer, close.
#[test]
fn graceful_close_kernel_first() {
    let Some((lab, _serial)) = lab(1) else { return };
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let kernel = lab.ns().spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        s.write_all(&pattern(6, LEN)).expect("write");
        s.shutdown(Shutdown::Write).expect("DATA_FIN");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("read to our DATA_FIN");
        got
    });
    let (n, counters) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 1, false).build().expect("stack");
        let mut s = MptcpStream::connect(&stack, server).await.expect("connect");
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .await
            .expect("read to the kernel's DATA_FIN");
        s.write_all(b"thanks").await.expect("answer");
        s.shutdown().await.expect("DATA_FIN");
        s.closed().await.expect("closed gracefully");
        (got.len(), stack.counters())
    });
    assert_eq!(n, LEN);
    assert_eq!(join_within(kernel, "the kernel's end finished"), b"thanks");
    assert_eq!(counters.get(Mib::MPFastcloseRx), 0);
}

/// We abort: the kernel sees MP_FASTCLOSE and a reset.
#[test]
fn abort_from_us_is_a_fastclose() {
    let Some((lab, _serial)) = lab(1) else { return };
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let before = lab.ns().counters().expect("counters");
    let (read_tx, read_end) = tokio::sync::oneshot::channel();
    lab.ns().spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0;
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(k) => n += k,
                Err(e) => break Err(e.kind()),
            }
        };
        let _ = read_tx.send((n, end));
    });
    let (read, counters) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 1, false).build().expect("stack");
        let mut s = MptcpStream::connect(&stack, server).await.expect("connect");
        s.write_all(&pattern(7, LEN)).await.expect("write");
        // Everything written is acknowledged at the data level: the kernel
        // holds it, and the abort comes in the middle of its reading.
        s.flush().await.expect("DATA_ACKed");
        s.abort();
        // The driver runs until the kernel has seen the reset.
        let read = read_end.await.expect("the kernel's reader ended");
        (read, stack.counters())
    });
    assert_eq!(
        read,
        (LEN, Err(ErrorKind::ConnectionReset)),
        "the kernel reads all we sent, then its read fails with a reset"
    );
    let delta = lab.ns().counters().expect("counters").delta(&before);
    assert_eq!(counters.get(Mib::MPFastcloseTx), 1);
    assert_eq!(delta.get("MPFastcloseRx"), 1, "{delta}");
}

/// The kernel aborts (SO_LINGER 0): we see MP_FASTCLOSE and a reset.
#[test]
fn abort_from_the_kernel_is_a_fastclose() {
    let Some((lab, _serial)) = lab(1) else { return };
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let before = lab.ns().counters().expect("counters");
    let kernel = lab.ns().spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 1000];
        s.read_exact(&mut buf).expect("some data");
        SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(s);
    });
    let (err, counters) = in_lab(&lab, || async {
        let stack = stack_on(&lab, 1, false).build().expect("stack");
        let mut s = MptcpStream::connect(&stack, server).await.expect("connect");
        s.write_all(&[1u8; 1000]).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let err = loop {
            match s.read(&mut buf).await {
                Ok(0) => break None,
                Ok(_) => {}
                Err(e) => break Some(e.kind()),
            }
        };
        (err, stack.counters())
    });
    join_within(kernel, "the kernel's end finished");
    let delta = lab.ns().counters().expect("counters").delta(&before);
    assert_eq!(
        err,
        Some(ErrorKind::ConnectionReset),
        "our read fails with a reset"
    );
    assert_eq!(delta.get("MPFastcloseTx"), 1, "{delta}");
    assert_eq!(counters.get(Mib::MPFastcloseRx), 1);
}

//! Test 8: a path's TUN device goes down in the middle of a transfer; the
//! transfer completes over the other path, every byte intact.

use crate::support::{DEADLINE, in_lab, lab, pattern, sha256, stack_on};
use mptcp_tun::MptcpStream;
use mptcp_tun::lab::kernel;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::mpsc;
use tokio::io::AsyncWriteExt;

const LEN: usize = 32 << 20;

fn path_goes_down(down: usize) {
    let Some((lab, _serial)) = lab(2) else { return };
    let data = pattern(8, LEN);
    let server = SocketAddr::new(lab.path(0).kernel_addr(false), 5201);
    let listener = lab
        .ns()
        .run(|| kernel::listen(server, true))
        .expect("listen");
    let (progress_tx, progress) = mpsc::channel();
    let kernel = lab.ns().spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let (mut h, mut n, mut told) = (Sha256::new(), 0usize, false);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = s.read(&mut buf).expect("read");
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k;
            if !told && n >= LEN / 4 {
                told = true;
                let _ = progress_tx.send(());
            }
        }
        (
            n,
            h.finalize()
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<String>(),
        )
    });
    let dev = lab.path(down).dev.clone();
    let ns_name = lab.ns().name().to_owned();
    let info = in_lab(&lab, || async {
        let stack = stack_on(&lab, 2, false).build().expect("stack");
        let s = MptcpStream::connect(&stack, server).await.expect("connect");
        let (_rd, mut wr) = s.into_split();
        let cut = tokio::task::spawn_blocking(move || {
            progress.recv().expect("a quarter arrived");
            let st = std::process::Command::new("ip")
                .args(["-n", &ns_name, "link", "set", &dev, "down"])
                .status()
                .expect("ip");
            assert!(st.success());
        });
        wr.write_all(&data).await.expect("write");
        wr.shutdown().await.expect("DATA_FIN");
        cut.await.expect("path cut");
        // The kernel reads to the end; our close completes or not, as the
        // dead subflow may still be closing: the stream is what matters.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wr.closed()).await;
        wr.info().expect("info")
    });
    let (n, sha) = kernel.join().expect("kernel");
    assert_eq!(n, LEN, "every byte arrived");
    assert_eq!(sha, sha256(&pattern(8, LEN)));
    let live = &info.subflows[1 - down];
    assert!(
        live.bytes_acked >= (LEN / 2) as u64,
        "the surviving subflow carried the rest: {:?}",
        info.subflows
    );
}

#[test]
fn initial_path_goes_down_mid_transfer() {
    path_goes_down(0);
}

#[test]
fn joined_path_goes_down_mid_transfer() {
    path_goes_down(1);
}

//! netcat-style relaying for `connect` and `listen`: standard input to the
//! connection, the connection to standard output.

use bytes::{Bytes, BytesMut};
use mptcp_tun::{ConnectionInfo, MptcpStream};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long to wait for the closing handshake once both directions ended.
const LINGER: Duration = Duration::from_secs(10);

/// Bytes read and written at a time each way: each write to the stream
/// takes the stack's lock and wakes its driver, so small ones (`tokio::io::
/// copy`'s 8 KiB) cost more than the bytes.
const CHUNK: usize = 1 << 20;

/// Standard input read on a thread of its own in chunks of up to [`CHUNK`]
/// bytes, each handed over as it is (tokio's `stdin` reads on a blocking
/// pool thread per call and copies through a buffer of its own). The
/// stack sends from the chunks themselves (`write_all_bytes`) until the
/// peer acknowledges them, so each read gets a fresh one.
pub struct StdinChunks {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
}

impl StdinChunks {
    /// Start reading standard input.
    pub fn spawn() -> StdinChunks {
        let (tx, chunks) = tokio::sync::mpsc::channel(4);
        std::thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut buf = BytesMut::zeroed(CHUNK);
                let n = match read_once(&mut stdin, &mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                buf.truncate(n);
                // An empty chunk is the end; a closed channel, a relay gone.
                if tx.blocking_send(Ok(buf.freeze())).is_err() || n == 0 {
                    return;
                }
            }
        });
        StdinChunks { chunks }
    }
}

/// One read into `buf` (as much as is there, so that typed lines go at
/// once); 0 at the end of the input.
fn read_once(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Standard output written on a thread of its own: chunks go there as
/// they are read from the stream, and come back to be filled again.
struct StdoutChunks {
    chunks: std::sync::mpsc::SyncSender<Vec<u8>>,
    spent: tokio::sync::mpsc::Receiver<Vec<u8>>,
    done: tokio::sync::oneshot::Receiver<io::Result<()>>,
}

impl StdoutChunks {
    fn spawn() -> StdoutChunks {
        let (chunks, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (back, spent) = tokio::sync::mpsc::channel(8);
        let (tx_done, done) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut out = io::stdout().lock();
            let mut result = Ok(());
            for chunk in rx {
                if let Err(e) = out.write_all(&chunk) {
                    result = Err(e);
                    break;
                }
                let _ = back.try_send(chunk);
            }
            let _ = tx_done.send(result.and_then(|()| out.flush()));
        });
        StdoutChunks {
            chunks,
            spent,
            done,
        }
    }

    /// An empty buffer of [`CHUNK`] bytes, one that came back if any.
    fn buffer(&mut self) -> Vec<u8> {
        let mut b = self.spent.try_recv().unwrap_or_default();
        b.resize(CHUNK, 0);
        b
    }
}

/// Relay until both directions are closed: standard input to the stream
/// (its end sends a DATA_FIN), the stream to standard output (until the
/// peer's DATA_FIN). `input: None` sends nothing and closes our direction
/// at once. Returns the connection's statistics, taken at the end.
pub async fn relay(stream: MptcpStream, input: Option<StdinChunks>) -> io::Result<ConnectionInfo> {
    // Standard input and output in large pieces when they are pipes.
    let _ = mptcp_tun::grow_pipe(std::io::stdin().as_fd(), CHUNK);
    let _ = mptcp_tun::grow_pipe(std::io::stdout().as_fd(), CHUNK);
    let (mut rd, mut wr) = stream.into_split();
    let up = async {
        if let Some(mut input) = input {
            while let Some(chunk) = input.chunks.recv().await {
                let chunk = chunk?;
                if chunk.is_empty() {
                    break;
                }
                wr.write_all_bytes(chunk).await?;
            }
        }
        wr.shutdown().await?;
        io::Result::Ok(())
    };
    let down = async {
        let mut out = StdoutChunks::spawn();
        loop {
            let mut buf = out.buffer();
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if out.chunks.send(buf).is_err() {
                break;
            }
        }
        drop(out.chunks);
        out.done
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the standard output writer stopped")))
    };
    tokio::try_join!(up, down)?;
    // Both directions are closed; let the DATA_FIN exchange finish.
    let _ = tokio::time::timeout(LINGER, wr.closed()).await;
    wr.info()
}

//! netcat-style relaying for `connect` and `listen`: standard input to the
//! connection, the connection to standard output.

use mptcp_tun::{ConnectionInfo, MptcpStream};
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};

/// How long to wait for the closing handshake once both directions ended.
const LINGER: Duration = Duration::from_secs(10);

/// Bytes read and written at a time each way: each write to the stream
/// takes the stack's lock and wakes its driver, and each read or write of
/// standard input and output is a hop to a blocking thread, so small ones
/// (`tokio::io::copy`'s 8 KiB) cost more than the bytes.
const CHUNK: usize = 1 << 20;

/// Relay until both directions are closed: standard input to the stream
/// (its end sends a DATA_FIN), the stream to standard output (until the
/// peer's DATA_FIN). `input: None` sends nothing and closes our direction
/// at once. Returns the connection's statistics, taken at the end.
pub async fn relay<I>(stream: MptcpStream, input: Option<I>) -> io::Result<ConnectionInfo>
where
    I: AsyncRead + Unpin,
{
    // Standard input and output in large pieces when they are pipes.
    let _ = mptcp_tun::grow_pipe(std::io::stdin().as_fd(), CHUNK);
    let _ = mptcp_tun::grow_pipe(std::io::stdout().as_fd(), CHUNK);
    let (mut rd, mut wr) = stream.into_split();
    let up = async {
        if let Some(input) = input {
            let mut input = BufReader::with_capacity(CHUNK, input);
            tokio::io::copy_buf(&mut input, &mut wr).await?;
        }
        wr.shutdown().await?;
        io::Result::Ok(())
    };
    let down = async {
        let mut out = tokio::io::stdout();
        let mut rd = BufReader::with_capacity(CHUNK, &mut rd);
        tokio::io::copy_buf(&mut rd, &mut out).await?;
        out.flush().await?;
        io::Result::Ok(())
    };
    tokio::try_join!(up, down)?;
    // Both directions are closed; let the DATA_FIN exchange finish.
    let _ = tokio::time::timeout(LINGER, wr.closed()).await;
    wr.info()
}

//! netcat-style relaying for `connect` and `listen`: standard input to the
//! connection, the connection to standard output.

use mptcp_tun::{ConnectionInfo, MptcpStream};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt};

/// How long to wait for the closing handshake once both directions ended.
const LINGER: Duration = Duration::from_secs(10);

/// Relay until both directions are closed: standard input to the stream
/// (its end sends a DATA_FIN), the stream to standard output (until the
/// peer's DATA_FIN). `input: None` sends nothing and closes our direction
/// at once. Returns the connection's statistics, taken at the end.
pub async fn relay<I>(stream: MptcpStream, input: Option<I>) -> io::Result<ConnectionInfo>
where
    I: AsyncRead + Unpin,
{
    let (mut rd, mut wr) = stream.into_split();
    let up = async {
        if let Some(mut input) = input {
            tokio::io::copy(&mut input, &mut wr).await?;
        }
        wr.shutdown().await?;
        io::Result::Ok(())
    };
    let down = async {
        let mut out = tokio::io::stdout();
        tokio::io::copy(&mut rd, &mut out).await?;
        out.flush().await?;
        io::Result::Ok(())
    };
    tokio::try_join!(up, down)?;
    // Both directions are closed; let the DATA_FIN exchange finish.
    let _ = tokio::time::timeout(LINGER, wr.closed()).await;
    wr.info()
}

//! The command's entry points: from parsed arguments to a test over the
//! chosen transport.

use std::io::Write;
use std::net::SocketAddr;

use super::args::{Args, ClientArgs, Role, ServerArgs, TransportChoice};
use super::client::run_client;
use super::error::PerfError;
use super::server::run_server;
use super::tcp::{TcpAcceptor, TcpTransport};
use super::tun::{TunAcceptor, TunTransport};
use super::{Acceptor, Transport};
use crate::Failure;

/// Run `mptcp perf` over the transport the arguments choose, printing to
/// stdout.
pub fn run(args: Args) -> Result<(), Failure> {
    let mut out = std::io::stdout();
    match args.transport() {
        TransportChoice::Kernel { mptcp } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
            runtime.block_on(interruptible(async {
                match &args.role {
                    Role::Client(client) => {
                        run_client_with(&TcpTransport { mptcp }, client, &mut out).await
                    }
                    Role::Server(server) => {
                        let addr = server.listen_addr();
                        let cannot = |e| Failure::failed(format!("cannot listen on {addr}: {e}"));
                        let mut acceptor = TcpAcceptor::bind(addr, mptcp).map_err(cannot)?;
                        // With port 0 the kernel chose one: show that.
                        let server = ServerArgs {
                            port: acceptor.listen_addr().map_err(cannot)?.port(),
                            ..server.clone()
                        };
                        run_server_with(&mut acceptor, &server, &mut out).await
                    }
                }
            }))
        }
        TransportChoice::Tun => {
            // The stack's driver gets a thread of its own.
            let runtime = crate::cmd::runtime()?;
            let result = runtime.block_on(interruptible(async {
                match &args.role {
                    Role::Client(client) => {
                        let stack = client.stack.start(client.stack.builder()?)?;
                        run_client_with(&TunTransport { stack }, client, &mut out).await
                    }
                    Role::Server(server) => {
                        let mut b = server.stack.builder()?;
                        for a in &server.signal {
                            b = b.signal(*a);
                        }
                        let stack = server.stack.start(b)?;
                        let listener = stack.listen(server.port).map_err(|e| {
                            Failure::failed(format!("cannot listen on {}: {e}", server.port))
                        })?;
                        let mut acceptor = TunAcceptor { listener };
                        run_server_with(&mut acceptor, server, &mut out).await
                    }
                }
            }));
            runtime.shutdown_background();
            result
        }
    }
}

/// Run `fut` until it ends or Ctrl-C. Interrupted, the connections are
/// dropped: the peer sees them close.
pub async fn interruptible<F>(fut: F) -> Result<(), Failure>
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    tokio::select! {
        result = fut => result,
        _ = tokio::signal::ctrl_c() => Err(Failure::failed("interrupted")),
    }
}

/// Run the client over `transport`: resolve the host, run one test.
pub async fn run_client_with<T: Transport>(
    transport: &T,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let server = resolve(&args.host, args.port).await?;
    run_client(transport, &args.options(server), out)
        .await
        .map(|_| ())
        .map_err(failure)
}

/// Run the server over `acceptor` (already listening on `args.port`).
pub async fn run_server_with<A: Acceptor>(
    acceptor: &mut A,
    args: &ServerArgs,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    if !args.json {
        let rule = "-----------------------------------------------------------";
        writeln!(out, "{rule}\nServer listening on {}\n{rule}", args.port)
            .and_then(|()| out.flush())
            .map_err(|e| failure(PerfError::Output(e)))?;
    }
    run_server(acceptor, &args.options(), out)
        .await
        .map_err(failure)
}

/// The first address of `host`, a name or an address.
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Failure> {
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::usage(format!("cannot resolve {host:?}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| Failure::usage(format!("{host:?} has no address")))
}

/// The command's failure for a test's error: bad options are usage
/// errors (exit 2), the rest failed runs (exit 1).
fn failure(e: PerfError) -> Failure {
    match e {
        PerfError::InvalidOptions(_) => Failure::usage(e.to_string()),
        _ => Failure::failed(e.to_string()),
    }
}

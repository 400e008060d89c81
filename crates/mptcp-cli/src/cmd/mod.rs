//! One module per subcommand.

pub mod chaos;
pub mod connect;
pub mod decode;
pub mod demo;
pub mod emulate;
pub mod listen;
pub mod net;
pub mod proxy;
pub mod relay;
pub mod sim;
pub mod token;

/// A tokio runtime for the subcommands that do network I/O: a thread per
/// core, and at least two (the stack's drivers and the application's
/// tasks each get one; see `--workers`).
pub fn runtime() -> Result<tokio::runtime::Runtime, crate::Failure> {
    // A server relays each connection to a TCP socket of its own; if the
    // limit cannot rise, it stays and a busy server is refused sockets.
    let _ = mptcp_tun::raise_open_files();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.max(2))
        .enable_all()
        .build()
        .map_err(|e| crate::Failure::failed(format!("cannot start the async runtime: {e}")))
}

/// Write one line of output (see `outln!`): a closed pipe ends the process
/// with status 0, as the reader wanted no more; another error with 1.
pub fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("mptcp: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

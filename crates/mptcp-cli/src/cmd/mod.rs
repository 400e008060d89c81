//! One module per subcommand.

pub mod chaos;
pub mod connect;
pub mod decode;
pub mod demo;
pub mod emulate;
pub mod listen;
pub mod net;
pub mod relay;
pub mod sim;
pub mod token;

/// A tokio runtime for the subcommands that do network I/O.
pub fn runtime() -> Result<tokio::runtime::Runtime, crate::Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::Failure::failed(format!("cannot start the async runtime: {e}")))
}

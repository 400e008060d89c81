//! Network-namespace labs with the Linux kernel's MPTCP as the peer.
//!
//! For interop tests of our stack against the kernel, for benchmarks and
//! for people trying the stack out (`scripts/mptcp-lab.sh` builds the same
//! [`TunLab`] layout from the shell). Everything here needs root
//! (`CAP_NET_ADMIN` and `CAP_SYS_ADMIN`), creates uniquely named namespaces,
//! sends nothing outside them, and cleans up on drop, also while unwinding
//! from a panic. A process killed outright leaves its namespaces behind:
//! `ip netns list` shows them as `<prefix>-<pid>-<n>-<random>`.
//!
//! - [`Netns`]: one namespace; run closures or commands inside it, set
//!   sysctls, read its MPTCP counters;
//! - [`TunLab`]: a namespace whose kernel reaches our stack over N TUN
//!   devices (`10.200.i.1` kernel, `10.200.i.2` stack);
//! - [`VethLab`]: kernel to kernel over N veth pairs (`10.201.i.1` client,
//!   `10.201.i.2` server), optionally rate-limited;
//! - [`EmuPort`]: a TUN device an emulator (`mptcp emulate`) opens in a
//!   namespace, to carry that namespace's packets over a modelled link;
//! - [`kernel`]: kernel MPTCP sockets and `MPTCP_INFO`;
//! - [`counters`]: the `MPTcpExt` counters of `/proc/net/netstat`;
//! - [`CpuMeter`]: CPU seconds used during a run.
//!
//! ```no_run
//! use mptcp_tun::lab::{Netns, kernel};
//! use std::io::{Read, Write};
//! use std::time::Duration;
//!
//! let ns = Netns::create("doc")?;
//! let (client_token, server_token) = ns.run(|| -> std::io::Result<(u32, u32)> {
//!     let listener = kernel::listen("127.0.0.1:0".parse().unwrap(), true)?;
//!     let addr = listener.local_addr()?;
//!     let mut client = kernel::connect(addr, true, Duration::from_secs(2))?;
//!     let (mut server, _) = listener.accept()?;
//!     client.write_all(b"hello")?;
//!     let mut buf = [0; 5];
//!     server.read_exact(&mut buf)?;
//!     Ok((kernel::mptcp_info(&client)?.token, kernel::mptcp_info(&server)?.token))
//! })?;
//! assert_ne!(client_token, server_token);
//! assert!(ns.counters()?.get("MPCapableSYNRX") >= 1);
//! # Ok::<(), std::io::Error>(())
//! ```

mod cmd;
pub mod counters;
mod cpu;
mod emu;
pub mod kernel;
mod netns;
mod sys;
mod tun;
mod veth;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

pub use cmd::CommandFailed;
pub use counters::{LinkStats, MptcpCounters};
pub use cpu::{CpuMeter, CpuUsage};
pub use emu::{EmuPort, set_realtime, wait_readable};
pub use netns::Netns;
pub use tun::{MAX_PATHS, TunLab, TunPath, attach_tun};
pub use veth::{Side, VethLab, VethPath};

/// Whether the process runs as root (what the labs need).
pub fn is_root() -> bool {
    sys::is_root()
}

/// Checks a name prefix: ASCII letters, digits, `-` and `_`, not empty.
fn check_prefix(prefix: &str) -> io::Result<()> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !prefix.is_empty() && prefix.len() <= 64 && prefix.chars().all(ok) {
        Ok(())
    } else {
        let msg = format!("bad lab name prefix {prefix:?} (letters, digits, - and _)");
        Err(io::Error::new(io::ErrorKind::InvalidInput, msg))
    }
}

/// `<prefix>-<pid>-<counter>-<6 random hex digits>`.
fn unique_name(prefix: &str) -> io::Result<String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    check_prefix(prefix)?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(n);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(nanos.as_nanos());
    let random = hasher.finish() & 0xff_ffff;
    Ok(format!("{prefix}-{}-{n}-{random:06x}", std::process::id()))
}

/// `<prefix><index>`, the prefix cut so that the name fits in 15 bytes.
fn device_name(prefix: &str, index: usize) -> io::Result<String> {
    check_prefix(prefix)?;
    let index = index.to_string();
    let keep = prefix.len().min(15usize.saturating_sub(index.len()));
    Ok(format!("{}{index}", &prefix[..keep]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_checked() {
        let (a, b) = (unique_name("mpt").unwrap(), unique_name("mpt").unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("mpt-{}-", std::process::id())));
        assert!(unique_name("a b").is_err() && unique_name("").is_err());
        assert!(unique_name("../x").is_err());
    }

    #[test]
    fn device_names_fit() {
        assert_eq!(device_name("mpt", 0).unwrap(), "mpt0");
        assert_eq!(
            device_name("a-very-long-prefix", 12).unwrap(),
            "a-very-long-p12"
        );
        assert!(device_name("a-very-long-prefix", 63).unwrap().len() <= 15);
    }
}

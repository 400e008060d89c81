//! Counters named after the Linux kernel's MPTCP MIB (`net/mptcp/mib.c`, the `MPTcpExt:` lines of
//! `/proc/net/netstat`), so a run of this engine and a run of the kernel can be compared name by
//! name, and tests can assert on them (DESIGN.md, rule 8):
//!
//! ```
//! use mptcp_proto::stats::{Counters, Mib};
//! let mut stats = Counters::new();
//! stats.inc(Mib::MPJoinSynRx);
//! assert_eq!(stats.get(Mib::MPJoinSynRx), 1);
//! assert_eq!(Mib::MPJoinSynRx.name(), "MPJoinSynRx");
//! ```
//!
//! [`Counters`] is a plain array for single-threaded owners (an endpoint, a connection);
//! [`AtomicCounters`] is the same set with atomic cells, for state shared between threads (the
//! token table). The list is the kernel's as of net-next in 2025 (Linux 6.18 plus the counters
//! added since: `MPJoinNoIdFound`, `MPJoinSynAckNoMPJoin`, `MPJoinAckNoMPJoin`, `MPJoinAckNoCtx`,
//! `MPJoinNotEstablished`, `TCPAOFallback`, `MD5SigReset`, `DssReset`, `BacklogDrop`,
//! `RcvPruned`, `OFOPruned`), in the kernel's order, followed by this engine's own extras, which
//! [`Mib::is_kernel`] reports as `false`.

use core::fmt;
use core::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! mib_list {
    (
        kernel { $( $(#[$kdoc:meta])* $kvar:ident = $kname:literal, )* }
        extra { $( $(#[$xdoc:meta])* $xvar:ident = $xname:literal, )* }
    ) => {
        /// One counter. Variants are named exactly as the kernel's counters (see [`Mib::name`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum Mib {
            $( $(#[$kdoc])* $kvar, )*
            $( $(#[$xdoc])* $xvar, )*
        }

        impl Mib {
            /// Every counter, kernel ones first in the kernel's order, then the extras.
            pub const ALL: &'static [Mib] = &[ $( Mib::$kvar, )* $( Mib::$xvar, )* ];
            /// How many counters there are.
            pub const COUNT: usize = Mib::ALL.len();
            /// How many of them are the kernel's.
            pub const KERNEL_COUNT: usize = [ $( stringify!($kvar), )* ].len();

            /// The counter's name, as the kernel spells it in `/proc/net/netstat`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Mib::$kvar => $kname, )*
                    $( Mib::$xvar => $xname, )*
                }
            }
        }
    };
}

mib_list! {
    kernel {
        /// Received a SYN with MP_CAPABLE.
        MPCapableSYNRX = "MPCapableSYNRX",
        /// Sent a SYN with MP_CAPABLE.
        MPCapableSYNTX = "MPCapableSYNTX",
        /// Received a SYN-ACK with MP_CAPABLE.
        MPCapableSYNACKRX = "MPCapableSYNACKRX",
        /// Received the third ACK with MP_CAPABLE.
        MPCapableACKRX = "MPCapableACKRX",
        /// Passive side fell back to TCP during the 3-way handshake.
        MPCapableFallbackACK = "MPCapableFallbackACK",
        /// Active side fell back to TCP during the 3-way handshake.
        MPCapableFallbackSYNACK = "MPCapableFallbackSYNACK",
        /// Active side fell back because SYNs with MP_CAPABLE were dropped.
        MPCapableSYNTXDrop = "MPCapableSYNTXDrop",
        /// Active side did not try MP_CAPABLE because of past failures.
        MPCapableSYNTXDisabled = "MPCapableSYNTXDisabled",
        /// MP_CAPABLE refused towards a port-based endpoint.
        MPCapableEndpAttempt = "MPCapableEndpAttempt",
        /// No unique token could be allocated; the connection fell back to TCP.
        MPFallbackTokenInit = "MPFallbackTokenInit",
        /// Segments retransmitted at the MPTCP level.
        MPTCPRetrans = "MPTCPRetrans",
        /// Received an MP_JOIN whose token matches no established connection.
        MPJoinNoTokenFound = "MPJoinNoTokenFound",
        /// Received an MP_JOIN but no local address ID was found.
        MPJoinNoIdFound = "MPJoinNoIdFound",
        /// Received a SYN with MP_JOIN.
        MPJoinSynRx = "MPJoinSynRx",
        /// Received a SYN with MP_JOIN and the backup flag.
        MPJoinSynBackupRx = "MPJoinSynBackupRx",
        /// Received a SYN-ACK with MP_JOIN.
        MPJoinSynAckRx = "MPJoinSynAckRx",
        /// Received a SYN-ACK with MP_JOIN and the backup flag.
        MPJoinSynAckBackupRx = "MPJoinSynAckBackupRx",
        /// The HMAC in a SYN-ACK with MP_JOIN was wrong.
        MPJoinSynAckHMacFailure = "MPJoinSynAckHMacFailure",
        /// Reset: the SYN-ACK to an MP_JOIN SYN carried no MP_JOIN.
        MPJoinSynAckNoMPJoin = "MPJoinSynAckNoMPJoin",
        /// Received an ACK with MP_JOIN.
        MPJoinAckRx = "MPJoinAckRx",
        /// The HMAC in an ACK with MP_JOIN was wrong.
        MPJoinAckHMacFailure = "MPJoinAckHMacFailure",
        /// Reset: the third ACK of a join carried no MP_JOIN.
        MPJoinAckNoMPJoin = "MPJoinAckNoMPJoin",
        /// Reset: no subflow context for the third ACK of a join.
        MPJoinAckNoCtx = "MPJoinAckNoCtx",
        /// The path manager rejected a join.
        MPJoinRejected = "MPJoinRejected",
        /// Reset: a join for a connection not yet fully established.
        MPJoinNotEstablished = "MPJoinNotEstablished",
        /// Sent a SYN with MP_JOIN.
        MPJoinSynTx = "MPJoinSynTx",
        /// Could not create a socket for a SYN with MP_JOIN.
        MPJoinSynTxCreatSkErr = "MPJoinSynTxCreatSkErr",
        /// Could not bind the address for a SYN with MP_JOIN.
        MPJoinSynTxBindErr = "MPJoinSynTxBindErr",
        /// Could not connect for a SYN with MP_JOIN.
        MPJoinSynTxConnectErr = "MPJoinSynTxConnectErr",
        /// A new mapping did not match the previous one.
        DSSNotMatching = "DSSNotMatching",
        /// DSS corruption detected: fell back to TCP.
        DSSCorruptionFallback = "DSSCorruptionFallback",
        /// DSS corruption detected: MP_JOIN subflow reset.
        DSSCorruptionReset = "DSSCorruptionReset",
        /// Sent an infinite mapping.
        InfiniteMapTx = "InfiniteMapTx",
        /// Received an infinite mapping.
        InfiniteMapRx = "InfiniteMapRx",
        /// A DSS mapping did not match the TCP sequence numbers.
        DSSNoMatchTCP = "DSSNoMatchTCP",
        /// A DSS checksum failed.
        DataCsumErr = "DataCsumErr",
        /// Segments appended at the tail of the out-of-order queue.
        OFOQueueTail = "OFOQueueTail",
        /// Segments inserted into the out-of-order queue.
        OFOQueue = "OFOQueue",
        /// Segments merged in the out-of-order queue.
        OFOMerge = "OFOMerge",
        /// Segments outside the MPTCP receive window.
        NoDSSInWindow = "NoDSSInWindow",
        /// Segments discarded as duplicate data.
        DuplicateData = "DuplicateData",
        /// Received ADD_ADDR (echo flag clear).
        AddAddr = "AddAddr",
        /// Sent ADD_ADDR (echo flag clear).
        AddAddrTx = "AddAddrTx",
        /// ADD_ADDR not sent for lack of resources.
        AddAddrTxDrop = "AddAddrTxDrop",
        /// Received ADD_ADDR echo.
        EchoAdd = "EchoAdd",
        /// Sent ADD_ADDR echo.
        EchoAddTx = "EchoAddTx",
        /// ADD_ADDR echo not sent for lack of resources.
        EchoAddTxDrop = "EchoAddTxDrop",
        /// Received ADD_ADDR with a port.
        PortAdd = "PortAdd",
        /// Dropped an incoming ADD_ADDR.
        AddAddrDrop = "AddAddrDrop",
        /// Received a SYN with MP_JOIN to a different port.
        MPJoinPortSynRx = "MPJoinPortSynRx",
        /// Received a SYN-ACK with MP_JOIN from a different port.
        MPJoinPortSynAckRx = "MPJoinPortSynAckRx",
        /// Received an ACK with MP_JOIN to a different port.
        MPJoinPortAckRx = "MPJoinPortAckRx",
        /// Received a SYN with MP_JOIN to a mismatched port.
        MismatchPortSynRx = "MismatchPortSynRx",
        /// Received an ACK with MP_JOIN to a mismatched port.
        MismatchPortAckRx = "MismatchPortAckRx",
        /// Received REMOVE_ADDR.
        RmAddr = "RmAddr",
        /// Dropped an incoming REMOVE_ADDR.
        RmAddrDrop = "RmAddrDrop",
        /// Sent REMOVE_ADDR.
        RmAddrTx = "RmAddrTx",
        /// REMOVE_ADDR not sent for lack of resources.
        RmAddrTxDrop = "RmAddrTxDrop",
        /// Removed a subflow.
        RmSubflow = "RmSubflow",
        /// Sent MP_PRIO.
        MPPrioTx = "MPPrioTx",
        /// Received MP_PRIO.
        MPPrioRx = "MPPrioRx",
        /// Sent MP_FAIL.
        MPFailTx = "MPFailTx",
        /// Received MP_FAIL.
        MPFailRx = "MPFailRx",
        /// Sent MP_FASTCLOSE.
        MPFastcloseTx = "MPFastcloseTx",
        /// Received MP_FASTCLOSE.
        MPFastcloseRx = "MPFastcloseRx",
        /// Sent MP_TCPRST.
        MPRstTx = "MPRstTx",
        /// Received MP_TCPRST.
        MPRstRx = "MPRstRx",
        /// Subflows that became stale.
        SubflowStale = "SubflowStale",
        /// Stale subflows that became active again.
        SubflowRecover = "SubflowRecover",
        /// A subflow's send window was overridden by the connection's.
        SndWndShared = "SndWndShared",
        /// A subflow's receive window was overridden by the connection's.
        RcvWndShared = "RcvWndShared",
        /// A subflow's receive window was overridden after a conflicting update.
        RcvWndConflictUpdate = "RcvWndConflictUpdate",
        /// Conflict while updating the connection's receive window.
        RcvWndConflict = "RcvWndConflict",
        /// Currently established MPTCP connections (a gauge: see [`Counters::dec`]).
        MPCurrEstab = "MPCurrEstab",
        /// A blackhole was detected.
        Blackhole = "Blackhole",
        /// Fell back: no DSS or MP_CAPABLE with data on the first established packet.
        MPCapableDataFallback = "MPCapableDataFallback",
        /// Fell back: a conflicting TCP option (MD5 signature) is enabled.
        MD5SigFallback = "MD5SigFallback",
        /// Fell back: TCP-AO is enabled.
        TCPAOFallback = "TCPAOFallback",
        /// Reset: MD5 signature enabled on the listener.
        MD5SigReset = "MD5SigReset",
        /// Fell back: bad or missing DSS.
        DssFallback = "DssFallback",
        /// Reset: bad data mapping.
        DssReset = "DssReset",
        /// Fell back: simultaneous connect.
        SimultConnectFallback = "SimultConnectFallback",
        /// Could not fall back because of the connection's state.
        FallbackFailed = "FallbackFailed",
        /// MPTCP-level zero-window probe.
        WinProbe = "WinProbe",
        /// Dropped: backlog over its memory limit.
        BacklogDrop = "BacklogDrop",
        /// Dropped for memory constraints.
        RcvPruned = "RcvPruned",
        /// The MPTCP-level out-of-order queue was pruned.
        OFOPruned = "OFOPruned",
    }
    extra {
        /// **Not in the kernel.** A generated key gave a token already in the token table (or
        /// token 0), and a new key was generated.
        TokenCollision = "TokenCollision",
        /// **Not in today's kernel; from the original out-of-tree
        /// implementation (the seed's `MPTCP_MIB_MPCAPABLEACTIVE`).** A
        /// connection was opened offering MP_CAPABLE, with a unique token.
        MPCapableActive = "MPCapableActive",
        /// **Not in today's kernel; from the original out-of-tree
        /// implementation.** A SYN with MP_CAPABLE was answered with our
        /// key, its token pending until the third ACK.
        MPCapablePassive = "MPCapablePassive",
        /// **Not in the kernel.** A data segment's mapping did not fit its
        /// option space: the segment was withheld and the subflow reset (a
        /// data segment never leaves without its mapping). Zero unless
        /// the engine has a bug; the simulator reports any as a violation.
        DssNoRoomTx = "DssNoRoomTx",
        /// **Not in the kernel.** An infinite mapping was refused: on a
        /// joined subflow, after the streams stopped running one to one over
        /// the first subflow, or at a data sequence number that does not
        /// match that run (forged); its segment was discarded.
        InfiniteMapDrop = "InfiniteMapDrop",
        /// **Not in the kernel.** An MP_FAIL outside a RST was ignored:
        /// checksums not in use, several subflows, or a data sequence
        /// number we never sent (RFC 8684 §3.7 limits it to a checksum
        /// failure on the only subflow).
        MPFailDrop = "MPFailDrop",
        /// **Not in the kernel.** Our data was acknowledged on a subflow
        /// without any MPTCP option before a DATA_ACK arrived there: the
        /// path drops options (RFC 8684 §3.7). The connection fell back
        /// (first subflow) or the subflow was reset (joined subflow).
        DataAckMissing = "DataAckMissing",
        /// **Not in the kernel.** A segment whose mapping starts beyond the
        /// receive window was discarded whole (RFC 8684 §3.8).
        DssOutOfWindow = "DssOutOfWindow",
        /// **Not in the kernel.** A path whose address the peer removed
        /// answered our keepalive, so it was kept (RFC 8684 §3.4.2).
        RmAddrProbeAnswered = "RmAddrProbeAnswered",
        /// **Not in the kernel.** The path manager opened again a subflow
        /// of its own that had failed (reset, refused or timed out), after
        /// a backoff, its endpoint still there (see [`crate::pm`]).
        MPJoinSynTxRetry = "MPJoinSynTxRetry",
    }
}

impl Mib {
    /// Whether the kernel has this counter (`false` for this engine's extras).
    pub const fn is_kernel(self) -> bool {
        (self as usize) < Mib::KERNEL_COUNT
    }

    /// The counter with this kernel name, if any.
    pub fn from_name(name: &str) -> Option<Mib> {
        Mib::ALL.iter().copied().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A full set of counters for a single-threaded owner. Cheap to clone and compare.
#[derive(Clone, PartialEq, Eq)]
pub struct Counters {
    values: [u64; Mib::COUNT],
}

impl Counters {
    /// All counters at zero.
    pub const fn new() -> Counters {
        Counters {
            values: [0; Mib::COUNT],
        }
    }

    /// Add one to `mib`.
    pub fn inc(&mut self, mib: Mib) {
        self.add(mib, 1);
    }

    /// Add `n` to `mib` (wrapping, like the kernel's `unsigned long` counters).
    pub fn add(&mut self, mib: Mib, n: u64) {
        let v = &mut self.values[mib as usize];
        *v = v.wrapping_add(n);
    }

    /// Subtract one from `mib`, stopping at zero; only meaningful for gauges such as
    /// [`Mib::MPCurrEstab`], which the kernel also decrements.
    pub fn dec(&mut self, mib: Mib) {
        let v = &mut self.values[mib as usize];
        *v = v.saturating_sub(1);
    }

    /// The current value of `mib`.
    pub fn get(&self, mib: Mib) -> u64 {
        self.values[mib as usize]
    }

    /// Every counter with its value, in [`Mib::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Mib, u64)> + '_ {
        Mib::ALL.iter().map(|&m| (m, self.get(m)))
    }

    /// Every counter as `(kernel name, value)`, in [`Mib::ALL`] order (zeros included).
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.iter().map(|(m, v)| (m.name(), v)).collect()
    }

    /// Add every counter of `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        for (a, b) in self.values.iter_mut().zip(other.values.iter()) {
            *a = a.wrapping_add(*b);
        }
    }
}

impl Default for Counters {
    fn default() -> Counters {
        Counters::new()
    }
}

impl AddAssign<&Counters> for Counters {
    fn add_assign(&mut self, rhs: &Counters) {
        self.merge(rhs);
    }
}

impl fmt::Debug for Counters {
    /// Only the non-zero counters, by name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .filter(|(_, v)| *v != 0)
                    .map(|(m, v)| (m.name(), v)),
            )
            .finish()
    }
}

/// The same counters with atomic cells, for state shared between threads.
///
/// Updates use relaxed ordering: counters order nothing, they only count.
pub struct AtomicCounters {
    values: [AtomicU64; Mib::COUNT],
}

impl AtomicCounters {
    /// All counters at zero.
    pub const fn new() -> AtomicCounters {
        AtomicCounters {
            values: [const { AtomicU64::new(0) }; Mib::COUNT],
        }
    }

    /// Add one to `mib`.
    pub fn inc(&self, mib: Mib) {
        self.add(mib, 1);
    }

    /// Add `n` to `mib` (wrapping).
    pub fn add(&self, mib: Mib, n: u64) {
        self.values[mib as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Subtract one from `mib`, stopping at zero (for gauges).
    pub fn dec(&self, mib: Mib) {
        // An Err only means the value was already zero.
        let _ = self.values[mib as usize]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }

    /// The current value of `mib`.
    pub fn get(&self, mib: Mib) -> u64 {
        self.values[mib as usize].load(Ordering::Relaxed)
    }

    /// A plain copy of every counter (each read on its own; not a consistent cut across them).
    pub fn snapshot(&self) -> Counters {
        let mut c = Counters::new();
        for &m in Mib::ALL {
            c.values[m as usize] = self.get(m);
        }
        c
    }

    /// Add every counter of `other` into `self`.
    pub fn merge(&self, other: &Counters) {
        for (m, v) in other.iter() {
            if v != 0 {
                self.add(m, v);
            }
        }
    }
}

impl Default for AtomicCounters {
    fn default() -> AtomicCounters {
        AtomicCounters::new()
    }
}

impl fmt::Debug for AtomicCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (i, &m) in Mib::ALL.iter().enumerate() {
            assert_eq!(m as usize, i);
            assert_eq!(Mib::from_name(m.name()), Some(m));
        }
        assert_eq!(Mib::KERNEL_COUNT, 87);
        assert!(Mib::OFOPruned.is_kernel());
        assert!(!Mib::TokenCollision.is_kernel());
    }

    #[test]
    fn counters_inc_add_merge() {
        let mut a = Counters::new();
        a.inc(Mib::MPJoinSynRx);
        a.add(Mib::AddAddr, 3);
        a.dec(Mib::MPCurrEstab);
        assert_eq!(a.get(Mib::MPCurrEstab), 0);
        let mut b = Counters::default();
        b.inc(Mib::MPJoinSynRx);
        b += &a;
        assert_eq!(b.get(Mib::MPJoinSynRx), 2);
        assert_eq!(b.get(Mib::AddAddr), 3);
        assert_eq!(format!("{b:?}"), r#"{"MPJoinSynRx": 2, "AddAddr": 3}"#);
        let snap = b.snapshot();
        assert_eq!(snap.len(), Mib::COUNT);
        assert_eq!(snap[0], ("MPCapableSYNRX", 0));
    }

    #[test]
    fn atomic_counters() {
        let a = AtomicCounters::new();
        a.inc(Mib::MPFallbackTokenInit);
        a.inc(Mib::MPCurrEstab);
        a.dec(Mib::MPCurrEstab);
        a.dec(Mib::MPCurrEstab);
        let mut c = Counters::new();
        c.add(Mib::MPFallbackTokenInit, 2);
        a.merge(&c);
        assert_eq!(a.get(Mib::MPFallbackTokenInit), 3);
        assert_eq!(a.snapshot().get(Mib::MPCurrEstab), 0);
    }
}

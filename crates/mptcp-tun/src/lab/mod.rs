//! Network-namespace labs with the Linux kernel's MPTCP as the peer.

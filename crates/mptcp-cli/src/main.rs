//! The `mptcp` command.

fn main() {}

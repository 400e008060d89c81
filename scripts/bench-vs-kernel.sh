#!/usr/bin/env bash
# Our stack against the Linux kernel's own MPTCP, on this machine (needs root).
#
#   scripts/bench-vs-kernel.sh [--bytes 1GiB] [--runs 5] [--only send1]
#
# For one path and for two, side by side in each round, the same number of
# bytes each:
#   send   : our client (over TUN devices) -> kernel MPTCP server
#   receive: kernel MPTCP client (a `subflow` endpoint on the second path)
#            -> our server
#   kernel : kernel MPTCP client -> kernel MPTCP server over veth pairs
#   TCP    : the kernel's plain TCP over one veth pair, for reference
# Printed, the median run of each: throughput, the ratio ours/kernel, CPU
# seconds per GiB (all cores' busy time, which includes the kernel's softirq
# work; for ours, also this process's own CPU time in parentheses), and for
# ours per GiB: system calls on the devices, driver and application wakeups.
# `--only send1` (receive2, ...) runs one measurement alone, for profiling.
#
# Everything happens in namespaces the benchmark creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-vs-kernel: needs root (network namespaces and TUN devices)" >&2
  exit 1
fi
exec cargo bench -p mptcp-tun --bench versus_kernel -- "$@"

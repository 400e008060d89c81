#!/usr/bin/env bash
# Our stack against the Linux kernel's own MPTCP, on this machine (needs root).
#
#   scripts/bench-vs-kernel.sh [--bytes 1GiB] [--runs 3]
#
# Four measurements, the same number of bytes each:
#   ours,   1 path : our client (over a TUN device) -> kernel MPTCP server
#   kernel, 1 path : kernel MPTCP client -> kernel MPTCP server over a veth pair
#   ours,   2 paths: as above over two TUN devices (our client joins the second)
#   kernel, 2 paths: as above over two veth pairs (a `subflow` endpoint on the second)
# Printed: throughput of each, the ratio ours/kernel, and CPU seconds per GiB
# (all cores' busy time, which includes the kernel's softirq work; for ours,
# also the client process's own CPU time in parentheses).
#
# Everything happens in namespaces the benchmark creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench-vs-kernel: needs root (network namespaces and TUN devices)" >&2
  exit 1
fi
exec cargo bench -p mptcp-tun --bench versus_kernel -- "$@"

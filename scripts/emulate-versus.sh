#!/usr/bin/env bash
# emulate-versus.sh: the kernel's MPTCP and ours over the same two emulated
# paths (`mptcp emulate`), each against the kernel's plain TCP (CUBIC) on
# each path alone. Prints one markdown row:
#   | PATH0 + PATH1 | tcp path 0 | tcp path 1 | kernel MPTCP | ours |
# in Mbit/s at the receiver, for an upload of SIZE (default 32MiB).
#
# Usage (as root; iperf3 and mptcpize installed):
#   MPTCP=target/release/mptcp [CC=cubic] scripts/emulate-versus.sh PATH0 PATH1 [SIZE]
# Every kernel sender uses CUBIC (iperf3 -C: the default may be another,
# bbr on this machine, and a namespace may not change it); our
# subflows use CC (default cubic, uncoupled like the kernel's; lia, olia,
# balia for coupled).
#
# Layout: namespaces emuou-<pid>-l (clients) and -r (server: iperf3 under
# mptcpize, MPTCP limits 4/4). The kernel client has a `subflow` endpoint on
# 10.240.1.1. Our client (`mptcp perf client`) runs in the left namespace
# behind TUN devices ours0/ours1 (10.241.N.2, the kernel 10.241.N.1,
# forwarding on, `from 10.241.N.0/24` routed into emulated path N; the right
# side routes 10.241.N.0/24 back over path N). Removed on exit.
set -euo pipefail
MPTCP=${MPTCP:-target/release/mptcp}
P0=$1; P1=$2; BYTES=${3:-32MiB}
L=emuou-$$-l; R=emuou-$$-r; D=$(mktemp -d); EMU=
cleanup() { [ -n "$EMU" ] && kill -INT $EMU 2>/dev/null; sleep 0.5; ip netns del $L 2>/dev/null; ip netns del $R 2>/dev/null; rm -rf $D; }
trap cleanup EXIT
ip netns add $L; ip netns add $R; ip -n $L link set lo up; ip -n $R link set lo up
$MPTCP emulate --left $L --right $R --path "$P0" --path "$P1" > $D/emu.out 2>&1 &
EMU=$!
for _ in $(seq 100); do grep -q '^ready' $D/emu.out && break; sleep 0.1; done
ip netns exec $L sysctl -qw net.ipv4.ip_forward=1
for i in 0 1; do
  ip -n $L tuntap add dev ours$i mode tun
  ip -n $L link set ours$i up
  ip -n $L addr add 10.241.$i.1/24 dev ours$i
  ip -n $L rule add from 10.241.$i.0/24 table $((2400+i)) pref $((2300+i))
  ip -n $R route add 10.241.$i.0/24 dev emu$i
done
ip -n $L mptcp limits set subflows 4 add_addr_accepted 4
ip -n $R mptcp limits set subflows 4 add_addr_accepted 4
ip -n $L mptcp endpoint add 10.240.1.1 dev emu1 subflow
srv() { ip netns exec $R mptcpize run iperf3 -s -1 > $D/s.log 2>&1 & SRV=$!
  for _ in $(seq 100); do ip netns exec $R ss -ltn | grep -q ':5201' && break; sleep 0.1; done; }
rate() { python3 -c 'import json,sys;j=json.load(open(sys.argv[1]));print("%.2f"%(j["end"]["sum_received"]["bits_per_second"]/1e6))' $1; }
tcp() { ip netns exec $R iperf3 -s -1 > $D/t.log 2>&1 & local s=$!
  for _ in $(seq 100); do ip netns exec $R ss -ltn | grep -q ':5201' && break; sleep 0.1; done
  ip netns exec $L iperf3 -c $1 -C cubic -n $BYTES -J > $D/t.json || true; wait $s || true; rate $D/t.json; }
t0=$(tcp 10.240.0.2); t1=$(tcp 10.240.1.2)
srv; ip netns exec $L mptcpize run iperf3 -c 10.240.0.2 -C cubic -n $BYTES -J > $D/k.json || true; wait $SRV || true
k=$(rate $D/k.json)
row="| $P0 + $P1 | $t0 | $t1 | $k |"
for cc in ${CCS:-default cubic}; do
  ccarg=(); [ "$cc" = default ] || ccarg=(--cc "$cc")
  srv; timeout 300 ip netns exec $L $MPTCP perf client 10.240.0.2 -n $BYTES --json "${ccarg[@]}" --tun ours0=10.241.0.2 --tun ours1=10.241.1.2 > $D/o.json 2>$D/o.err || { cat $D/o.err >&2; }
  wait $SRV || true
  row="$row $(rate $D/o.json 2>/dev/null || echo fail) |"
done
echo "$row"

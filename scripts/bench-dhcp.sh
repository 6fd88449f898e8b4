#!/usr/bin/env bash
# dhcp benchmark: our `dhcp` (plugin + `dhcp daemon`) beside Debian's upstream
# /usr/lib/cni/dhcp, both against one dnsmasq in a namespace behind a bridge, in one run.
#
#   scripts/bench-dhcp.sh [--no-build]
#
# Measures, per implementation:
# - ADD+DEL wall time of one attachment (ROUNDS samples, median and mean in ms): the plugin
#   process, the daemon's DHCP exchange (DISCOVER/OFFER/REQUEST/ACK) and the release;
#   implementations alternate round by round so machine load hits both alike;
# - the DHCP exchange of each round's ADD, from the packets on the server's bridge (tcpdump's
#   capture timestamps): from the ADD's start to the ACK (the acquisition as the runtime waits
#   for it), from the first DISCOVER on the wire to the ACK (the server's part), and from
#   the ADD's start to the first DISCOVER (plugin, socket and daemon work, and the wait for
#   the link, before a packet leaves);
#   DISCOVERs per ADD (more than one: a retransmission); the same through our bridge plugin
#   (one binary for both, so only the IPAM differs) on a new veth in a new namespace each
#   round, captured inside that namespace, where a DISCOVER sent before the bridge's new
#   port forwards is lost and has to be retransmitted;
# - the daemon's resident set (VmRSS, KiB) after it acquired LEASES leases at once (one
#   container namespace each), and its peak (VmHWM).
# Containers' links are up with no address, as an interface plugin leaves them before IPAM.
# Builds ours (dhcp, bridge) with the release profile (unless --no-build; in $CARGO_TARGET_DIR/release).
# Root is needed; every namespace, process and file is removed at exit. Knobs: ROUNDS (20),
# LEASES (100), UPSTREAM (/usr/lib/cni/dhcp), KEEP (a new directory to copy the captures, logs
# and the daemons' files into before cleanup). Report `uptime` beside any figure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
rounds=${ROUNDS:-20}
leases=${LEASES:-100}
upstream=${UPSTREAM:-/usr/lib/cni/dhcp}
build=1
for a in "$@"; do
  case $a in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $a" >&2; exit 2 ;;
  esac
done
die() { echo "bench: $*" >&2; exit 2; }
((EUID == 0)) || die "must run as root"
[[ -x /usr/sbin/dnsmasq ]] || die "dnsmasq missing (run scripts/setup.sh)"
[[ -x $upstream ]] || die "$upstream missing (run scripts/setup.sh)"
command -v tcpdump >/dev/null || die "tcpdump missing (run scripts/setup.sh)"
((leases <= 200)) || die "LEASES must be at most 200 (the dnsmasq range)"
if ((build)); then
  (cd "$root" && cargo build --release -q -p reference-plugins --bin dhcp --bin bridge)
fi
ours=$target/release/dhcp
[[ -x $ours ]] || die "$ours missing (build it or drop --no-build)"

tmp=$(mktemp -d)
pfx=cnirs-bench-dhcp-$$
pids=()
nss=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in "${nss[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  [[ -n ${KEEP:-} ]] && cp -r "$tmp" "$KEEP"; rm -rf "$tmp"
}
trap cleanup EXIT

srv=$pfx-srv
ip netns add "$srv"; nss+=("$srv")
ip -n "$srv" link add br0 type bridge
ip -n "$srv" addr add 10.78.0.1/24 dev br0
ip -n "$srv" link set br0 up
ip netns exec "$srv" /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
  --no-ping --interface=br0 --bind-interfaces --dhcp-authoritative \
  --dhcp-range=10.78.0.20,10.78.0.240,255.255.255.0,1h \
  --dhcp-leasefile="$tmp/leases" --pid-file= 2>"$tmp/dnsmasq.log" &
pids+=($!)

for ((i = 0; i < leases; i++)); do
  ct=$pfx-ct$i
  ip netns add "$ct"; nss+=("$ct")
  ip -n "$srv" link add "vh$i" type veth peer name eth0 netns "$ct"
  ip -n "$srv" link set "vh$i" master br0 up
  ip -n "$ct" link set eth0 up
done
sleep 1

conf() { # socket
  printf '{"cniVersion":"1.0.0","name":"benchnet","type":"bridge","ipam":{"type":"dhcp","daemonSocketPath":"%s"}}' "$1"
}

start_daemon() { # impl; sets daemon_pid
  local sock=$tmp/$1.sock
  case $1 in
    ours) "$ours" daemon -socketpath "$sock" -statedir "$tmp/state" >/dev/null 2>"$tmp/ours.log" & ;;
    upstream) "$upstream" daemon -socketpath "$sock" >/dev/null 2>"$tmp/upstream.log" & ;;
  esac
  daemon_pid=$!
  pids+=("$daemon_pid")
  for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
  [[ -S $sock ]] || die "$1 daemon did not start"
}

bin_of() { [[ $1 == ours ]] && echo "$ours" || echo "$upstream"; }

call() { # impl verb id ctindex
  local bin; bin=$(bin_of "$1")
  conf "$tmp/$1.sock" | CNI_COMMAND=$2 CNI_CONTAINERID=$3 CNI_NETNS=/run/netns/$pfx-ct$4 \
    CNI_IFNAME=eth0 CNI_PATH=/nonexistent "$bin" >"$tmp/out.$3" 2>"$tmp/err.$3" ||
    die "$1 $2 $3 failed: $(cat "$tmp/out.$3" "$tmp/err.$3")"
}

# Through an interface plugin, as a runtime calls it: our bridge (the same binary for both, so
# only the IPAM differs) makes a new veth into br0 and a fresh container namespace, then
# delegates to the implementation's dhcp (the other one's directory is not on CNI_PATH).
bridge=$target/release/bridge
[[ -x $bridge ]] || die "$bridge missing (cargo build --release -p reference-plugins)"
mkdir -p "$tmp/cni-ours" "$tmp/cni-upstream"
ln -s "$ours" "$tmp/cni-ours/dhcp"
ln -s "$upstream" "$tmp/cni-upstream/dhcp"
bridge_conf() { # socket
  printf '{"cniVersion":"1.0.0","name":"benchnet","type":"bridge","bridge":"br0","ipam":{"type":"dhcp","daemonSocketPath":"%s"}}' "$1"
}
via_bridge() { # impl verb id netns
  bridge_conf "$tmp/$1.sock" | ip netns exec "$srv" env CNI_COMMAND="$2" CNI_CONTAINERID="$3" \
    CNI_NETNS="/run/netns/$4" CNI_IFNAME=eth0 CNI_PATH="$tmp/cni-$1" "$bridge" \
    >"$tmp/out.$3" 2>"$tmp/err.$3" || die "bridge+$1 $2 $3 failed: $(cat "$tmp/out.$3" "$tmp/err.$3")"
}

declare -A pid_of
for impl in ours upstream; do
  start_daemon "$impl"
  pid_of[$impl]=$daemon_pid
done

# The server side's packets during the rounds, with the capture's timestamps (same clock as
# `date`, CLOCK_REALTIME).
ip netns exec "$srv" tcpdump -i br0 --immediate-mode -U -n -w "$tmp/rounds.pcap" 'udp and (port 67 or port 68)' \
  2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
pids+=("$tcpdump_pid")
for _ in $(seq 100); do grep -q listening "$tmp/tcpdump.log" && break; sleep 0.05; done

declare -A samples bsamples
: >"$tmp/windows"
for ((r = 0; r < rounds; r++)); do
  for impl in ours upstream; do
    t0=$(date +%s%N)
    call "$impl" ADD "$impl-round" 0
    ta=$(date +%s%N)
    call "$impl" DEL "$impl-round" 0
    t1=$(date +%s%N)
    samples[$impl]+="$(((t1 - t0) / 1000)) "
    echo "$impl $t0 $ta" >>"$tmp/windows"
    # The same through the bridge plugin, with a new container namespace each round.
    # Captured inside that namespace (on any link, so on eth0 from its creation): a DISCOVER
    # the bridge drops before its new port forwards is still seen as sent.
    bns=$pfx-b$r-$impl
    ip netns add "$bns"; nss+=("$bns")
    ip netns exec "$bns" tcpdump -i any --immediate-mode -U -n -w "$tmp/b-$r-$impl.pcap" \
      'udp and (port 67 or port 68)' 2>"$tmp/b-tcpdump.log" &
    bdump=$!
    pids+=("$bdump")
    for _ in $(seq 100); do grep -q listening "$tmp/b-tcpdump.log" && break; sleep 0.05; done
    t0=$(date +%s%N)
    via_bridge "$impl" ADD "bridge-$impl-$r" "$bns"
    ta=$(date +%s%N)
    via_bridge "$impl" DEL "bridge-$impl-$r" "$bns"
    t1=$(date +%s%N)
    bsamples[$impl]+="$(((t1 - t0) / 1000)) "
    echo "bridge-$impl $t0 $ta" >>"$tmp/windows"
    sleep 0.1
    kill -INT "$bdump"
    wait "$bdump" 2>/dev/null || true
    ip netns del "$bns"
  done
done
sleep 0.2
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
# "<epoch.us> <type>" per DHCP packet.
for f in "$tmp/rounds.pcap" "$tmp"/b-*.pcap; do tcpdump -r "$f" -tt -n -v 2>/dev/null; done | awk '
  /^[0-9]+\.[0-9]+ IP/ { ts = $1 }
  /DHCP-Message \(53\)/ { print ts, $NF }' >"$tmp/packets"

# Per ADD window: first DISCOVER - ADD start, ACK - first DISCOVER (ms), DISCOVERs; then per
# implementation the medians, means and the most DISCOVERs seen in one ADD.
exchange_stats() { # impl -> "lead_median exch_median exch_mean exch_max discovers_max n total_median"
  awk -v impl="$1" '
    NR == FNR { pt[NR] = $1 * 1e6; ty[NR] = $2; np = NR; next }
    $1 == impl {
      t0 = $2 / 1000; ta = $3 / 1000; d = 0; first = 0; ack = 0
      for (i = 1; i <= np; i++) {
        if (pt[i] < t0 || pt[i] > ta) continue
        if (ty[i] == "Discover") { d++; if (!first) first = pt[i] }
        if (ty[i] == "ACK" && first) ack = pt[i]
      }
      if (first && ack) { n++; lead[n] = (first - t0) / 1000; ex[n] = (ack - first) / 1000
        tot[n] = (ack - t0) / 1000
        if (d > dmax) dmax = d }
    }
    function median(a, k,   i, j, t) {
      for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
      return (k % 2) ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2 }
    END {
      if (!n) { print "- - - - - 0 -"; exit }
      for (i = 1; i <= n; i++) { s += ex[i]; if (ex[i] > mx) mx = ex[i] }
      m = s / n
      printf "%.2f %.2f %.2f %.2f %d %d %.2f\n", median(lead, n), median(ex, n), m, mx, dmax, n, median(tot, n)
    }' "$tmp/packets" "$tmp/windows"
}

stats() { # microsecond samples -> "median mean" in ms
  tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1; s+=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2;
    printf "%.1f %.1f", m/1000, s/NR/1000 }'
}

declare -A rss hwm
for impl in ours upstream; do
  # Upstream's DEL above sent its release from 0.0.0.0; dnsmasq may still hold that lease, so
  # the acquisitions below use other container IDs.
  adds=()
  for ((i = 0; i < leases; i++)); do call "$impl" ADD "$impl-lease-$i" "$i" & adds+=($!); done
  for j in "${adds[@]}"; do wait "$j" || die "$impl: a concurrent ADD failed"; done
  rss[$impl]=$(awk '/VmRSS/ {print $2}' "/proc/${pid_of[$impl]}/status")
  hwm[$impl]=$(awk '/VmHWM/ {print $2}' "/proc/${pid_of[$impl]}/status")
  for ((i = 0; i < leases; i++)); do call "$impl" DEL "$impl-lease-$i" "$i"; done
done

echo "dhcp bench: $rounds ADD+DEL rounds, $leases concurrent leases; $(uptime)"
printf '%-9s %16s %14s %22s %12s\n' impl "ADD+DEL median" "mean (ms)" "daemon RSS, $leases leases" "peak (KiB)"
for impl in ours upstream; do
  read -r med mean <<<"$(stats "${samples[$impl]}")"
  printf '%-9s %13s ms %14s %19s KiB %12s\n' "$impl" "$med" "$mean" "${rss[$impl]}" "${hwm[$impl]}"
done
for impl in ours upstream; do
  read -r med mean <<<"$(stats "${bsamples[$impl]}")"
  printf '%-9s %13s ms %14s   (through our bridge: new veth and namespace)\n' "bridge+$impl" "$med" "$mean"
done
echo
echo "DHCP exchange of each ADD on the server's bridge (tcpdump timestamps, ms)"
printf '%-16s %16s %20s %22s %10s %10s %16s\n' impl "start->ACK med" "start->DISCOVER med" "DISCOVER->ACK median" mean max "DISCOVERs/ADD max"
declare -A exch total
for impl in ours upstream bridge-ours bridge-upstream; do
  read -r lead med mean mx dmax n tot <<<"$(exchange_stats "$impl")"
  ((n == rounds)) || echo "bench: $impl: $n of $rounds ADDs had a DISCOVER and an ACK in the capture" >&2
  exch[$impl]=$med
  total[$impl]=$tot
  printf '%-16s %16s %20s %22s %10s %10s %16s\n' "$impl" "$tot" "$lead" "$med" "$mean" "$mx" "$dmax"
done
for v in "" bridge-; do
  awk -v o="${total[${v}ours]}" -v u="${total[${v}upstream]}" -v eo="${exch[${v}ours]}" \
    -v eu="${exch[${v}upstream]}" -v v="${v:-direct}" 'BEGIN {
    if (o > 0 && u > 0) printf "%s: ADD start->ACK median, ours / upstream: %.3f (target: at most 0.2); on the wire DISCOVER->ACK: %.3f\n", v, o / u, eo / eu }'
done

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
# - the daemon's resident set (VmRSS, KiB) after it acquired LEASES leases at once (one
#   container namespace each), and its peak (VmHWM).
# Containers' links are up with no address, as an interface plugin leaves them before IPAM.
# Builds ours with the release profile (unless --no-build; binary in $CARGO_TARGET_DIR/release).
# Root is needed; every namespace, process and file is removed at exit. Knobs: ROUNDS (20),
# LEASES (100), UPSTREAM (/usr/lib/cni/dhcp). Report `uptime` beside any figure.
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
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $a" >&2; exit 2 ;;
  esac
done
die() { echo "bench: $*" >&2; exit 2; }
((EUID == 0)) || die "must run as root"
[[ -x /usr/sbin/dnsmasq ]] || die "dnsmasq missing (run scripts/setup.sh)"
[[ -x $upstream ]] || die "$upstream missing (run scripts/setup.sh)"
((leases <= 200)) || die "LEASES must be at most 200 (the dnsmasq range)"
if ((build)); then
  (cd "$root" && cargo build --release -q -p reference-plugins --bin dhcp)
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
  rm -rf "$tmp"
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

declare -A pid_of
for impl in ours upstream; do
  start_daemon "$impl"
  pid_of[$impl]=$daemon_pid
done

declare -A samples
for ((r = 0; r < rounds; r++)); do
  for impl in ours upstream; do
    t0=$(date +%s%N)
    call "$impl" ADD "$impl-round" 0
    call "$impl" DEL "$impl-round" 0
    t1=$(date +%s%N)
    samples[$impl]+="$(((t1 - t0) / 1000)) "
  done
done

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

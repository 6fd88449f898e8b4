#!/usr/bin/env bash
# Fleet-scale bench: one node with N pods (default 250) on one bridge, as a Kubernetes node
# runs them, for the figures of docs/fleet-scale.md.
#
#   scripts/bench-fleet.sh [--no-build]
#
# Per implementation (ours: the shipped multicall binary under the plugin names; upstream:
# Debian's plugins in $UPSTREAM_DIR), in a node namespace of its own, with N container
# namespaces:
#   1. ADD of attachments 1..N, each a bridge ADD (isGateway, ipMasq, host-local on a /16,
#      delegated) then a portmap ADD with the bridge's result as prevResult and two mappings
#      (tcp 20000+i -> 80, udp 30000+i -> 53, snat): each call's wall time, by its number.
#   2. At N attachments: the firewall state (nft rules per table, `nft list ruleset` size and
#      time, iptables-save lines) and the time of one new TCP connection through the DNAT
#      rules to the first and to the last attachment (a python client in the node namespace,
#      median of CONNECTS connections to a port nobody listens on: the container's RST ends
#      each; the first packet of each connection walks the nat chains).
#   3. host-local's lock under parallel ADDs: P host-local ADDs (new container IDs, same
#      network, so the same store and lock file) started at once, under
#      `strace -f -tt -T -e trace=flock`: per process the wait (the LOCK_EX call's duration)
#      and the hold (LOCK_EX's return to LOCK_UN or exit); the batch's wall time against P
#      ADDs one after the other; then their DELs.
#   4. DEL of attachments N..1 (portmap DEL, then bridge DEL): wall time by number.
# Times are bash's $EPOCHREALTIME around each process (fork, exec, wait included), in ms.
# The load on the machine (`uptime`) is printed before and after: read ratios more than
# absolute times on a shared machine.
#
# Root, strace, nft, python3 are needed. Everything lives in namespaces the script creates
# (cnirs-fl-<pid>-*) and a temporary directory; all are removed on exit, also on failure.
# Knobs: N (250), P (16), CONNECTS (200), IMPLS ("ours upstream"), UPSTREAM_DIR (/usr/lib/cni),
# BIN (our multicall binary; default the static non-PIE build of scripts/install.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-250}
par=${P:-16}
connects=${CONNECTS:-200}
read -r -a impls <<<"${IMPLS:-ours upstream}"
upstream_dir=${UPSTREAM_DIR:-/usr/lib/cni}
build=1
case ${1:-} in
  --no-build) build=0 ;;
  "") ;;
  -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
  *) echo "bench-fleet: unknown argument $1" >&2; exit 2 ;;
esac
die() { echo "bench-fleet: $*" >&2; exit 1; }
((EUID == 0)) || die "must run as root (creates network namespaces)"
for t in ip nft strace python3; do command -v "$t" >/dev/null || die "$t not found (run scripts/setup.sh)"; done
((n >= 1 && n <= 250)) || die "N must be 1..250 (one /24 of container namespaces' host ports)"

work=$(mktemp -d /tmp/cni-rs-bench-fleet.XXXXXX)
pfx=cnirs-fl-$$
cleanup() {
  local ns
  for ns in $(ip netns list | awk -v p="$pfx-" 'index($1, p) == 1 { print $1 }'); do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Ours: the shipped form, the multicall binary hard-linked under each plugin name.
if [[ " ${impls[*]} " == *" ours "* ]]; then
  args=(--dir "$work/ours")
  if [[ -n ${BIN:-} ]]; then args+=(--binary "$BIN"); elif ((!build)); then args+=(--no-build); fi
  "$root/scripts/install.sh" "${args[@]}" >/dev/null || die "install.sh ${args[*]} failed"
fi
declare -A bindir=([ours]=$work/ours [upstream]=$upstream_dir)
for impl in "${impls[@]}"; do
  for p in bridge host-local portmap; do
    [[ -x ${bindir[$impl]}/$p ]] || die "no $p in ${bindir[$impl]}"
  done
done

echo "bench-fleet: N=$n P=$par CONNECTS=$connects; load before: $(uptime)"
for ((i = 1; i <= n; i++)); do ip netns add "$pfx-c$i"; done

# The loop that runs inside one implementation's node namespace.
cat >"$work/node.sh" <<'EOF'
set -euo pipefail
impl=$1 bin=$2 n=$3 par=$4 connects=$5 pfx=$6 out=$7
store=$out/store
mkdir -p "$store" "$out/res"
ms() { echo "$1 $2" | awk '{ printf "%.3f", ($2 - $1) * 1000 }'; }
bridge_conf() {
  printf '{"cniVersion":"1.0.0","name":"fleet","type":"bridge","bridge":"cnfl0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.240.0.0/16","routes":[{"dst":"0.0.0.0/0"}],"dataDir":"%s"}}' "$store"
}
portmap_conf() { # i result-file
  printf '{"cniVersion":"1.0.0","name":"fleet","type":"portmap","capabilities":{"portMappings":true},"snat":true,"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"},{"hostPort":%d,"containerPort":53,"protocol":"udp"}]},"prevResult":%s}' \
    $((20000 + $1)) $((30000 + $1)) "$(cat "$2")"
}
bridge_conf >"$out/bridge.json"
export CNI_IFNAME=eth0 CNI_PATH=$bin
call() { # verb plugin i stdin-file stdout-file -> ms on stdout
  local t0 t1
  t0=$EPOCHREALTIME
  CNI_COMMAND=$1 CNI_CONTAINERID=fleet-$3 CNI_NETNS=/run/netns/$pfx-c$3 "$bin/$2" <"$4" >"$5" \
    || { echo "bench-fleet: $impl $2 $1 of $3 failed: $(head -c 400 "$5")" >&2; exit 1; }
  t1=$EPOCHREALTIME
  ms "$t0" "$t1"
}

# 1. ADD 1..n
: >"$out/add.txt"
for ((i = 1; i <= n; i++)); do
  b=$(call ADD bridge "$i" "$out/bridge.json" "$out/res/$i.json")
  portmap_conf "$i" "$out/res/$i.json" >"$out/res/$i.pm.json"
  p=$(call ADD portmap "$i" "$out/res/$i.pm.json" "$out/res/$i.pm.out")
  echo "$i $b $p" >>"$out/add.txt"
done

# 2. the firewall at n attachments
{
  echo "nft_lines $(nft list ruleset | wc -l)"
  echo "nft_bytes $(nft list ruleset | wc -c)"
  nft -a list ruleset | awk '/^table/ { t = $2 "_" $3 }
    /# handle/ && !/^[ \t]*(table|chain) / { c[t]++ } END { for (t in c) print "rules_" t, c[t] }' | sort
  t0=$EPOCHREALTIME; nft list ruleset >/dev/null; t1=$EPOCHREALTIME; echo "nft_list_ms $(ms "$t0" "$t1")"
  t0=$EPOCHREALTIME; nft -j list ruleset >/dev/null; t1=$EPOCHREALTIME; echo "nft_json_ms $(ms "$t0" "$t1")"
  if command -v iptables-save >/dev/null; then
    echo "iptables_save_lines $( (iptables-save; ip6tables-save) 2>/dev/null | grep -c '^-A' || true)"
    t0=$EPOCHREALTIME; iptables-save >/dev/null 2>&1 || true; t1=$EPOCHREALTIME; echo "iptables_save_ms $(ms "$t0" "$t1")"
  fi
  gw=10.240.0.1
  python3 - "$connects" "$gw" 20001 $((20000 + n)) <<'PY'
import socket, statistics, sys, time
count, host, first, last = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def once(port):
    s = socket.socket(); s.settimeout(2)
    t = time.perf_counter()
    try:
        s.connect((host, port)); r = 'open'
    except ConnectionRefusedError:
        r = 'refused'
    except OSError as e:
        r = type(e).__name__
    d = time.perf_counter() - t; s.close(); return d, r
for label, port in (('first', first), ('last', last)):
    once(port)
    res = [once(port) for _ in range(count)]
    kinds = sorted({r for _, r in res})
    print('connect_%s_us %.1f (%s)' % (label, statistics.median(d for d, _ in res) * 1e6, ','.join(kinds)))
PY
} >"$out/firewall.txt"

# 3. host-local's lock under P parallel ADDs, then one after the other
hl() { # verb id
  CNI_COMMAND=$1 CNI_CONTAINERID=lock-$2 CNI_NETNS=/run/netns/$pfx-c1 "$bin/host-local" \
    <"$out/bridge.json" >/dev/null 2>&1
}
t0=$EPOCHREALTIME
for ((k = 1; k <= par; k++)); do
  strace -f -tt -T -e trace=flock -o "$out/lock.$k.trace" \
    env CNI_COMMAND=ADD CNI_CONTAINERID=lock-$k CNI_NETNS=/run/netns/$pfx-c1 "$bin/host-local" \
    <"$out/bridge.json" >/dev/null 2>&1 &
done
wait
t1=$EPOCHREALTIME
echo "parallel_strace_wall_ms $(ms "$t0" "$t1")" >"$out/lock.txt"
for ((k = 1; k <= par; k++)); do hl DEL "$k"; done
t0=$EPOCHREALTIME
for ((k = 1; k <= par; k++)); do hl ADD "p$k" & done
wait
t1=$EPOCHREALTIME
echo "parallel_wall_ms $(ms "$t0" "$t1")" >>"$out/lock.txt"
for ((k = 1; k <= par; k++)); do hl DEL "p$k"; done
t0=$EPOCHREALTIME
for ((k = 1; k <= par; k++)); do hl ADD "s$k"; done
t1=$EPOCHREALTIME
echo "sequential_wall_ms $(ms "$t0" "$t1")" >>"$out/lock.txt"
for ((k = 1; k <= par; k++)); do hl DEL "s$k"; done
python3 - "$out" "$par" >>"$out/lock.txt" <<'PY'
import glob, re, statistics, sys
out, par = sys.argv[1], int(sys.argv[2])
def sec(ts):
    h, m, s = ts.split(':'); return int(h) * 3600 + int(m) * 60 + float(s)
waits, holds = [], []
for f in glob.glob(out + '/lock.*.trace'):
    got = None
    for line in open(f):
        m = re.match(r'\d+\s+(\S+) flock\(\d+, (LOCK_\w+)\) = 0 <([\d.]+)>', line)
        if m and m[2] == 'LOCK_EX':
            waits.append(float(m[3])); got = sec(m[1]) + float(m[3])
        elif m and m[2] == 'LOCK_UN' and got is not None:
            holds.append(sec(m[1]) - got); got = None
        elif got is not None and re.search(r'\+\+\+ exited', line):
            ts = line.split()[1]; holds.append(sec(ts) - got); got = None
print('lock_waits %d median_ms %.3f max_ms %.3f' % (len(waits), statistics.median(waits) * 1e3, max(waits) * 1e3))
if holds:
    print('lock_holds %d median_ms %.3f max_ms %.3f' % (len(holds), statistics.median(holds) * 1e3, max(holds) * 1e3))
PY

# 4. DEL n..1
: >"$out/del.txt"
for ((i = n; i >= 1; i--)); do
  p=$(call DEL portmap "$i" "$out/res/$i.pm.json" /dev/null)
  b=$(call DEL bridge "$i" "$out/bridge.json" /dev/null)
  echo "$i $b $p" >>"$out/del.txt"
done
echo "after_del_nft_rules $(nft -a list ruleset | grep -c '# handle' || true)" >>"$out/firewall.txt"
EOF

for impl in "${impls[@]}"; do
  node=$pfx-node-$impl
  ip netns add "$node"
  ip -n "$node" link set lo up
  mkdir -p "$work/$impl"
  t0=$EPOCHREALTIME
  ip netns exec "$node" bash "$work/node.sh" "$impl" "${bindir[$impl]}" "$n" "$par" "$connects" \
    "$pfx" "$work/$impl"
  t1=$EPOCHREALTIME
  echo "bench-fleet: $impl done in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; load: $(uptime)"
  ip netns del "$node"
done

# ----- report --------------------------------------------------------------------------
python3 - "$work" "$n" "${impls[@]}" <<'PY'
import statistics, sys
work, n, impls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def rows(impl, name):
    return [tuple(float(x) for x in l.split()) for l in open(f'{work}/{impl}/{name}.txt')]
buckets = [(1, 10), (11, 50), (51, 100), (101, 150), (151, 200), (201, 250)]
buckets = [(a, min(b, n)) for a, b in buckets if a <= n]
for verb in ('add', 'del'):
    print(f'\n{verb.upper()} wall time, median ms by attachment number (bridge incl. host-local / portmap)')
    print('| attachments | ' + ' | '.join(f'{i} bridge | {i} portmap' for i in impls) + ' |')
    print('|---|' + '---|---|' * len(impls))
    for a, b in buckets:
        cells = []
        for impl in impls:
            r = [x for x in rows(impl, verb) if a <= x[0] <= b]
            cells += ['%.2f' % statistics.median(x[1] for x in r), '%.2f' % statistics.median(x[2] for x in r)]
        print(f'| {a}-{b} | ' + ' | '.join(cells) + ' |')
for impl in impls:
    print(f'\n{impl}: firewall at {n} attachments')
    print(open(f'{work}/{impl}/firewall.txt').read().rstrip())
    print(f'{impl}: host-local lock, P parallel ADDs')
    print(open(f'{work}/{impl}/lock.txt').read().rstrip())
PY
echo "bench-fleet: load after: $(uptime)"

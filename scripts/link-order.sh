#!/usr/bin/env bash
# Regenerates reference-plugins/link-order.txt, the order in which the linker lays out the
# functions of the multicall binary `cni-rs-plugins`.
#
#   scripts/link-order.sh [--no-build]
#
# Why: the kernel maps a file-backed page together with its neighbours (fault-around, 64 KiB
# windows), so a plugin process's resident size is the number of 64 KiB windows of the
# binary's text its code touches. In LLVM's default layout every plugin's functions are spread
# over the whole multicall text (loopback alone made 2.5 MB of its 2.9 MB resident). Laid out
# in this file's order (lld's --symbol-ordering-file, which reference-plugins/build.rs passes
# when the linker is rustc's lld), the functions every plugin runs come first, then each
# plugin's in a fixed line of plugins; what no traced run executed comes last. Measurements:
# reference-plugins/BENCH.md.
#
# How: builds the shipped binary (static, non-PIE, as scripts/install.sh does, laid out by the
# current file) with a linker map; runs every plugin's verbs under gdb with a breakpoint on
# every function (natively, so glibc's string functions are the ones this CPU gets), in
# namespaces of its own (removed on exit); maps the functions hit to their input sections
# through the map. The file names mangled symbols; a name that a later build no longer
# defines is ignored by the linker (the layout degrades, the binary stays the same program),
# so rerun this when the RSS figures move. ipvlan and vlan run their error paths here (the
# kernel has neither link type). Needs root, gdb, python3, ip, readelf.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=1
case ${1:-} in
  --no-build) build=0 ;;
  "") ;;
  *) echo "link-order: unknown argument $1" >&2; exit 2 ;;
esac
die() { echo "link-order: $*" >&2; exit 1; }
((EUID == 0)) || die "must run as root (creates network namespaces)"
for t in gdb python3 ip cargo readelf; do command -v "$t" >/dev/null || die "$t not found"; done

triple=$(rustc -vV | sed -n 's/^host: //p')
target=${CARGO_TARGET_DIR:-$root/target}
order=$root/reference-plugins/link-order.txt
work=$(mktemp -d /tmp/cni-rs-link-order.XXXXXX)
node=cnirs-lo-node-$$
ctr=cnirs-lo-ctr-$$
cleanup() {
  ip netns del "$ctr" 2>/dev/null || true
  ip netns del "$node" 2>/dev/null || true
  [[ -n ${KEEP:-} ]] && echo "link-order: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# The map describes the binary that is traced, so both come from this one link.
[[ -f $order ]] || : >"$order"
if ((build)); then
  (cd "$root" && RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
    cargo rustc --release -q --target "$triple" -p reference-plugins --bin cni-rs-plugins -- \
    -C link-arg=-Wl,-Map="$target/$triple/release/cni-rs-plugins.map") || die "build failed"
fi
bin=$target/$triple/release/cni-rs-plugins
map=$bin.map
[[ -f $map ]] || die "no linker map next to $bin (run without --no-build)"
# The map must be this binary's: written by the same link (lld writes the map, then the
# binary, within seconds), with the same .text address and size.
(($(stat -c %Y "$bin") - $(stat -c %Y "$map") <= 60)) \
  || die "$bin was linked after $map was written (run without --no-build)"
text_bin=$(readelf -SW "$bin" \
  | sed -n 's/.*\] \.text  *PROGBITS  *0*\([0-9a-f][0-9a-f]*\) [0-9a-f]* 0*\([0-9a-f][0-9a-f]*\) .*/\1 \2/p')
text_map=$(awk '$5 == ".text" && NF == 5 { print $1, $3; exit }' "$map")
[[ -n $text_bin && $text_bin == "$text_map" ]] \
  || die "$map does not describe $bin (.text $text_map against $text_bin; run without --no-build)"

# Every plugin name as a hard link to one copy of the binary (the map's addresses are its).
mkdir -p "$work/bin" "$work/traces" "$work/store" "$work/tuning"
cp "$bin" "$work/bin/cni-rs-plugins"
for n in $("$work/bin/cni-rs-plugins" --list); do ln "$work/bin/cni-rs-plugins" "$work/bin/$n"; done

ip netns add "$node"
ip netns add "$ctr"
ip -n "$node" link set lo up
ip -n "$node" link add cnlo-m0 type veth peer name cnlo-m1
ip -n "$node" link set cnlo-m0 up
ip -n "$node" link set cnlo-m1 up
ip -n "$node" link add cnlo-t0 type veth peer name eth1 netns "$ctr"
ip -n "$ctr" link set eth1 up

# The tracer: under gdb, a temporary breakpoint on the first instruction of every function of
# the binary's text (from the map); each hit is one function the process ran, natively (so
# with the string functions glibc picks for this CPU and the vDSO it finds).
cat >"$work/trace.py" <<'EOF'
import gdb, os, re
starts, in_text = set(), False
for line in open(os.environ['LO_MAP']):
    m = re.match(r'^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(.*)$', line)
    if not m:
        continue
    if len(m[3]) == 0:
        in_text = m[4] == '.text'
    elif in_text:
        starts.add(int(m[1], 16))
for c in ('set breakpoint always-inserted on', 'set pagination off', 'set confirm off',
          'handle SIGCHLD SIGPIPE SIGALRM SIGUSR1 SIGUSR2 SIGTERM SIGHUP nostop noprint pass'):
    gdb.execute(c, to_string=True)
gdb.execute('starti <%s >%s 2>>%s' % (os.environ['LO_IN'], os.environ['LO_OUT'],
                                     os.environ['LO_ERR']), to_string=True)
for a in sorted(starts):
    gdb.execute('tbreak *0x%x' % a, to_string=True)
hits = []
while gdb.selected_inferior().pid:
    try:
        gdb.execute('continue', to_string=True)
    except gdb.error:
        break
    if gdb.selected_inferior().pid:
        hits.append(int(gdb.parse_and_eval('$pc')))
with open(os.environ['LO_TRACE'], 'w') as f:
    f.write('Command: %s\n' % os.environ['LO_PLUGIN'])
    f.writelines('SB %x\n' % h for h in hits)
EOF
n=0
# One plugin call, traced: plugin verb ifname config-file [stdout-file]
call() {
  local p=$1 verb=$2 ifname=$3 conf=$4 out=${5:-/dev/null}
  n=$((n + 1))
  CNI_COMMAND=$verb CNI_CONTAINERID=link-order CNI_NETNS=/run/netns/$ctr CNI_IFNAME=$ifname \
    CNI_PATH=$work/bin LO_MAP=$map LO_PLUGIN=$p LO_IN=$conf LO_OUT=$out LO_ERR=$work/stderr \
    LO_TRACE=$work/traces/$n.log ip netns exec "$node" \
    gdb -q -batch -nx -x "$work/trace.py" --args "$work/bin/$p" >/dev/null 2>&1 || true
  [[ -s $work/traces/$n.log ]] || die "tracing $p $verb failed (gdb)"
}
with_prev() { # config result -> config with prevResult
  python3 - "$1" "$2" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["prevResult"] = json.load(open(sys.argv[2]))
print(json.dumps(c))
EOF
}
# ADD, CHECK on ADD's result, DEL, VERSION of one plugin.
cycle() { # plugin ifname config
  local p=$1 ifname=$2 conf=$3
  call "$p" ADD "$ifname" "$conf" "$work/result.json"
  if [[ -s $work/result.json ]]; then
    with_prev "$conf" "$work/result.json" >"$work/check.json"
    call "$p" CHECK "$ifname" "$work/check.json"
    call "$p" DEL "$ifname" "$work/check.json"
  else
    call "$p" DEL "$ifname" "$conf"
  fi
  call "$p" VERSION "$ifname" "$conf"
}
conf() { echo "$2" >"$work/$1.json"; echo "$work/$1.json"; }
ipam='"ipam":{"type":"host-local","subnet":"10.231.0.0/24","routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$work/store'"}'
prev='{"cniVersion":"1.0.0","interfaces":[{"name":"cnlo-t0"},{"name":"eth1","sandbox":"/run/netns/'$ctr'"}],"ips":[{"address":"10.231.1.2/24","interface":1,"gateway":"10.231.1.1"},{"address":"fd00:231::2/64","interface":1}]}'
maps='[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":8053,"containerPort":53,"protocol":"udp"}]'

cycle loopback lo "$(conf loopback '{"cniVersion":"1.0.0","name":"lo-loopback","type":"loopback"}')"
cycle host-local eth0 "$(conf host-local '{"cniVersion":"1.0.0","name":"lo-hl","type":"host-local","ipam":{"type":"host-local","subnet":"10.231.2.0/24","dataDir":"'$work/store'"}}')"
cycle bridge eth0 "$(conf bridge '{"cniVersion":"1.0.0","name":"lo-bridge","type":"bridge","bridge":"cnlo-br0","isGateway":true,"ipMasq":true,'"$ipam"'}')"
cycle ptp eth0 "$(conf ptp '{"cniVersion":"1.0.0","name":"lo-ptp","type":"ptp","ipMasq":true,'"$ipam"'}')"
cycle macvlan eth0 "$(conf macvlan '{"cniVersion":"1.0.0","name":"lo-macvlan","type":"macvlan","master":"cnlo-m0","mode":"bridge",'"$ipam"'}')"
cycle ipvlan eth0 "$(conf ipvlan '{"cniVersion":"1.0.0","name":"lo-ipvlan","type":"ipvlan","master":"cnlo-m1","mode":"l2",'"$ipam"'}')"
cycle vlan eth0 "$(conf vlan '{"cniVersion":"1.0.0","name":"lo-vlan","type":"vlan","master":"cnlo-m0","vlanId":231,'"$ipam"'}')"
cycle tuning eth1 "$(conf tuning '{"cniVersion":"1.0.0","name":"lo-tuning","type":"tuning","mtu":1400,"promisc":true,"sysctl":{"net.ipv4.conf.eth1.arp_notify":"1"},"dataDir":"'$work/tuning'","prevResult":'"$prev"'}')"
cycle portmap eth1 "$(conf portmap '{"cniVersion":"1.0.0","name":"lo-portmap","type":"portmap","capabilities":{"portMappings":true},"snat":true,"runtimeConfig":{"portMappings":'"$maps"'},"prevResult":'"$prev"'}')"
# dhcp's plugin side without a daemon: the error path, and VERSION.
cycle dhcp eth0 "$(conf dhcp '{"cniVersion":"1.0.0","name":"lo-dhcp","type":"macvlan","master":"cnlo-m0","ipam":{"type":"dhcp","daemonSocketPath":"'$work/none.sock'"}}')"

python3 - "$map" "$work/traces" "$order" <<'EOF'
import bisect, glob, os, re, sys
mapfile, tracedir, out = sys.argv[1:4]
# lld's map: "VMA LMA Size Align" then the output section (indent 0), an input section
# (indent 8: "file:(section)") or a symbol (indent 16).
line_re = re.compile(r'^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(.*)$')
secs, in_text, pending = [], False, None
for line in open(mapfile):
    m = line_re.match(line)
    if not m:
        continue
    addr, size, ind, rest = int(m[1], 16), int(m[2], 16), len(m[3]), m[4]
    if ind == 0:
        in_text, pending = rest == '.text', None
    elif in_text and ind == 8:
        pending = None
        s = re.search(r'(\.rcgu\.o)?:\((\.text[^)]*)\)$', rest)
        if not s or size == 0:
            continue
        for prefix in ('.text.unlikely.', '.text.hot.', '.text.startup.', '.text.'):
            # Rust's objects have a section per function, named after its symbol.
            if s[1] and s[2].startswith(prefix):
                secs.append([addr, addr + size, s[2][len(prefix):]])
                break
        else:  # C objects (glibc: .text, .text.avx, ...): ordered by the section's first symbol
            pending = [addr, addr + size, None]
            secs.append(pending)
    elif in_text and ind == 16 and pending is not None and pending[2] is None:
        pending[2] = rest.strip()
secs = sorted(s for s in secs if s[2])
starts = [s[0] for s in secs]
users = {}
for log in glob.glob(os.path.join(tracedir, '*.log')):
    text = open(log).read()
    cmd = re.search(r'Command: (\S+)', text)
    plugin = cmd[1] if cmd else None
    if plugin is None or plugin == 'cni-rs-plugins':
        continue
    for a in re.findall(r'^SB ([0-9a-f]+)', text, re.M):
        a = int(a, 16)
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < secs[i][1]:
            users.setdefault(i, set()).add(plugin)
# The functions every plugin runs first. Then, with the plugins in a line (host-local and
# loopback first: every interface plugin's ADD and DEL runs host-local, every pod loopback),
# each function by the first plugin of the line that runs it, those that more plugins run
# further down the line first: each plugin's functions then lie in few runs of the text.
# (Against a layout by number of users, this took host-local's ADD from 12 to 6 windows of
# 64 KiB and the sum over the plugins from 120 to 114, counted on the traces.)
line = ['host-local', 'loopback', 'portmap', 'bridge', 'ptp', 'macvlan', 'ipvlan', 'tuning',
        'vlan', 'dhcp']
line += sorted({p for u in users.values() for p in u} - set(line))
rank = {p: k for k, p in enumerate(line)}
every = len({p for u in users.values() for p in u})
order = sorted(users, key=lambda i: (len(users[i]) < every, min(rank[p] for p in users[i]),
                                     -max(rank[p] for p in users[i]), secs[i][0]))
with open(out, 'w') as o:
    for i in order:
        o.write(secs[i][2] + '\n')
plugins = sorted({p for u in users.values() for p in u})
size = sum(secs[i][1] - secs[i][0] for i in users)
print(f'link-order: {len(order)} of {len(secs)} functions executed ({size} bytes), '
      f'by {len(plugins)} plugins: {" ".join(plugins)} -> {out}', file=sys.stderr)
EOF

#!/usr/bin/env bash
# Interface-plugin benchmark: ADD+DEL of the interface plugins (bridge with and without ipMasq, ptp with
# ipMasq, macvlan; host-local IPAM) next to the upstream Go plugins and next to a floor, all
# measured side by side in one run.
#
#   scripts/bench-interface-plugins.sh [--no-build]
#
# Builds (unless --no-build) the plugins like scripts/bench-startup.sh (LINK=static, the
# default: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release
# --target x86_64-unknown-linux-gnu -p reference-plugins; LINK=dynamic: plain --release).
#
# World: a node namespace (the plugins run there: the driver enters it once with setns before
# starting anything, as a runtime would run them, so no `ip netns exec` is timed) holding the
# bridges, a veth pair whose end cnb5m0 is the macvlan master, and the firewall rules; one
# container namespace for the plugins' attachments (CNI_IFNAME eth0) and one for the floor's.
# Ours run with CNI_PATH = our binaries (our host-local), upstream's with CNI_PATH =
# $UPSTREAM_DIR (Debian's containernetworking-plugins, their host-local).
#
# A sample is one ADD then one DEL of one attachment, each a process started directly by the
# timing driver (reference-plugins/benches/interface_plugins.rs, run at nice -20), every variant
# interleaved round-robin so load hits all alike.
#
# The floor of a plugin = kernel + starts:
#   kernel: the same link operations for BATCH attachments at once, each kind done by one
#     process for all of them, divided by BATCH: `ip -batch` in the container namespace (veth
#     pair created there with its peer in the node namespace, or for macvlan: created on the
#     master in the node namespace straight into the container namespace; address, link up,
#     routes as the plugin sets them), `ip -batch` in the node namespace (host end up, bridge: enslave; ptp: gateway
#     address and host route), with ipMasq one `nft -f` adding the masquerade rule of each
#     attachment and one `nft -f` deleting them by handle, then one `ip -batch` deleting the
#     container links. Run by a small sh script (sh and sed starts included, about 1/BATCH of
#     a start each) every EVERY rounds;
#   starts: 4 starts of `fn main() {}` built like the plugins (plugin + host-local, for ADD and
#     for DEL), timed as one sample.
# Peak RSS: each process's own peak resident size (VmHWM when it exits), read by the driver
# with every process of the call traced (ptrace), the largest over RSS_RUNS ADDs and DELs: the
# plugin itself (the target compares this), and host-local, nft, iptables... which it starts.
# (GNU time's %M would report the largest of the plugin and every child it waited for.)
#
# ipvlan (l2, on a master of its own: a device cannot carry macvlan and ipvlan links at once)
# and vlan (on the macvlan master; the plugins use VLAN ids 101/102, the floor 1000 and up) are
# measured where the kernel can make those links, checked by creating one in the node
# namespace; where it refuses, the output names them with the kernel's answer. This machine's
# kernel cannot; scripts/bench-interface-plugins-vm.sh runs this script inside the VM lane's VM, whose
# kernel can (emulated CPUs: only ratios within that run mean anything).
#
# Root is needed. Knobs: RUNS (default 80), WARMUP (5), EVERY (5), BATCH (50), RSS_RUNS (3),
# LINK, UPSTREAM_DIR, CARGO_TARGET_DIR, VARIANTS (a subset of "bridge+masq bridge ptp+masq
# macvlan"; ipMasq needs iptables for upstream's); with --no-build also DRIVER (a built timing driver),
# NOTHING (a built `fn main() {}`) and BINDIR (our plugins), which spare it cargo and rustc.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
upstream_dir=${UPSTREAM_DIR:-/usr/lib/cni}
runs=${RUNS:-80}
warmup=${WARMUP:-5}
every=${EVERY:-5}
batch=${BATCH:-50}
rss_runs=${RSS_RUNS:-3}
link=${LINK:-static}
triple=x86_64-unknown-linux-gnu

build=1
for a in "$@"; do
  case $a in
    --no-build) build=0 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $a" >&2; exit 2 ;;
  esac
done

die() { echo "bench: $*" >&2; exit 2; }
prebuilt=0
((build == 0)) && [[ -n ${DRIVER:-} && -n ${NOTHING:-} ]] && prebuilt=1
tools=(ip nft sed)
((prebuilt)) || tools+=(cargo rustc)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup.sh)"
done
((EUID == 0)) || die "must run as root (creates network namespaces)"
((batch >= 1 && batch <= 200)) || die "BATCH must be 1..200"

rustc_flags=(-C opt-level=s -C codegen-units=1 -C panic=unwind)
case $link in
  static)
    bindir=$target/$triple/release
    rustc_flags+=(-C target-feature=+crt-static --target "$triple")
    build_cmd=(env RUSTFLAGS="-C target-feature=+crt-static"
      cargo build --release -q --target "$triple" -p reference-plugins) ;;
  dynamic)
    bindir=$target/release
    build_cmd=(cargo build --release -q -p reference-plugins) ;;
  *) die "LINK must be static or dynamic" ;;
esac
bindir=${BINDIR:-$bindir}
if ((build)); then
  (cd "$root" && "${build_cmd[@]}") || die "build failed: ${build_cmd[*]}"
fi
if ((prebuilt)); then
  driver=$DRIVER
else
  driver=$(cd "$root" && cargo bench --no-run -q -p reference-plugins --bench interface_plugins \
    --message-format=json 2>/dev/null | grep -o '"executable":"[^"]*/interface_plugins-[^"]*"' | tail -n1 | cut -d'"' -f4)
fi
[[ -x $driver ]] || die "cannot build the timing driver (cargo bench --no-run -p reference-plugins --bench interface_plugins)"

plugins=(bridge ptp macvlan host-local)
for p in "${plugins[@]}"; do
  [[ -x $bindir/$p ]] || die "missing $bindir/$p (ours: ${build_cmd[*]})"
  [[ -x $upstream_dir/$p ]] || die "missing $upstream_dir/$p (upstream: package containernetworking-plugins)"
done

work=$(mktemp -d /tmp/cnirs-bench5.XXXXXX)
node=cnirs-b5-node-$$
ctr=cnirs-b5-ctr-$$
fctr=cnirs-b5-fctr-$$
cleanup() {
  for ns in "$fctr" "$ctr" "$node"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for ns in "$node" "$ctr" "$fctr"; do ip netns add "$ns"; done
in_node() { ip netns exec "$node" "$@"; }
ip -n "$node" link set lo up
# The macvlan (and vlan) master, and the ipvlan master: one end of a veth pair each, inside
# the node namespace.
for m in cnb5m cnb5i; do
  ip -n "$node" link add ${m}0 type veth peer name ${m}1
  ip -n "$node" link set ${m}1 up
  ip -n "$node" link set ${m}0 up
done
# The floor's bridge (the plugins make their own on their first ADD, in the warm-up).
ip -n "$node" link add cnb5fbr type bridge
ip -n "$node" addr add 10.208.0.1/16 dev cnb5fbr
ip -n "$node" link set cnb5fbr up
# The floor's masquerade table, laid out like the plugin's (rules go to masq_checks).
in_node nft -f - <<'EOF'
table inet cnirs_b5_floor {
  chain masq_checks {
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip daddr 224.0.0.0/4 return
    goto masq_checks
  }
}
EOF

# ----- configurations: one network (name, bridge, subnet, store) per variant ---------------
conf() { # variant impl octet -> path of its configuration
  local v=$1 impl=$2 net=10.$3 f="$work/$1-$2.json" masq=false ipam main
  mkdir -p "$work/store-$v-$impl"
  ipam='"ipam":{"type":"host-local","subnet":"'$net'.0.0/16","routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$work/store-$v-$impl'"}'
  case $v in
    bridge+masq|ptp+masq) masq=true ;;
  esac
  case $v in
    bridge*) main='"type":"bridge","bridge":"cnb5-'$3'","isGateway":true,"ipMasq":'$masq ;;
    ptp*) main='"type":"ptp","ipMasq":'$masq ;;
    macvlan) main='"type":"macvlan","master":"cnb5m0","mode":"bridge"' ;;
    ipvlan) main='"type":"ipvlan","master":"cnb5i0","mode":"l2"' ;;
    vlan) main='"type":"vlan","master":"cnb5m0","vlanId":'$((100 + $3 - 220)) ;;
  esac
  printf '{"cniVersion":"1.0.0","name":"b5-%s-%s",%s,%s}\n' "${v/+/-}" "$impl" "$main" "$ipam" >"$f"
  echo "$f"
}
read -r -a variants <<<"${VARIANTS:-bridge+masq bridge ptp+masq macvlan}"
for v in "${variants[@]}"; do
  case $v in
    bridge+masq | bridge | ptp+masq | macvlan) ;;
    *) die "VARIANTS: unknown variant $v (bridge+masq bridge ptp+masq macvlan; ipvlan and vlan join by themselves)" ;;
  esac
done
declare -A octet=([bridge+masq/ours]=201 [bridge+masq/upstream]=202 [bridge/ours]=203
  [bridge/upstream]=204 [ptp+masq/ours]=205 [ptp+masq/upstream]=206 [macvlan/ours]=211
  [macvlan/upstream]=212 [ipvlan/ours]=215 [ipvlan/upstream]=216 [vlan/ours]=221
  [vlan/upstream]=222)

export CNI_CONTAINERID=bench5-ctr CNI_NETNS=/run/netns/$ctr CNI_IFNAME=eth0

# ----- the kernel floor: one batch script per variant ---------------------------------------
# Container links c0..c(N-1) (veth peers h0.. in the node namespace) or m0.. (macvlans).
floor_script() { # variant -> path of its batch script
  local v=$1 d="$work/floor-$v" i a net gw
  mkdir -p "$d"
  case $v in
    bridge+masq|bridge) net=10.208 ;;
    ptp+masq) net=10.207 ;;
    macvlan) net=10.213 ;;
    ipvlan) net=10.217 ;;
    vlan) net=10.223 ;;
  esac
  gw=$net.0.1
  : >"$d/ctr-add"; : >"$d/node-add"; : >"$d/ctr-del"; : >"$d/nft-add"
  for ((i = 0; i < batch; i++)); do
    a=$net.$((1 + i / 200)).$((2 + i % 200))
    case $v in
      bridge*)
        printf '%s\n' "link add c$i type veth peer name h$i netns $node" \
          "addr add $a/16 dev c$i" "link set c$i up" "route append default via $gw dev c$i" >>"$d/ctr-add"
        printf '%s\n' "link set h$i up" "link set h$i master cnb5fbr" >>"$d/node-add"
        echo "link del c$i" >>"$d/ctr-del" ;;
      ptp*)
        printf '%s\n' "link add c$i type veth peer name h$i netns $node" \
          "addr add $a/16 dev c$i" "link set c$i up" "route del $net.0.0/16 dev c$i" \
          "route append $gw/32 dev c$i scope link src $a" \
          "route append $net.0.0/16 via $gw dev c$i src $a" \
          "route append default via $gw dev c$i" >>"$d/ctr-add"
        printf '%s\n' "link set h$i up" "addr add $gw/32 dev h$i" \
          "route add $a/32 dev h$i scope host" >>"$d/node-add"
        echo "link del c$i" >>"$d/ctr-del" ;;
      macvlan|ipvlan|vlan)
        case $v in
          macvlan) echo "link add link cnb5m0 name m$i netns $fctr type macvlan mode bridge" ;;
          ipvlan) echo "link add link cnb5i0 name m$i netns $fctr type ipvlan mode l2" ;;
          vlan) echo "link add link cnb5m0 name m$i netns $fctr type vlan id $((1000 + i))" ;;
        esac >>"$d/node-add"
        printf '%s\n' "addr add $a/16 dev m$i" "link set m$i up" \
          "route append default via $gw dev m$i" >>"$d/ctr-add"
        echo "link del m$i" >>"$d/ctr-del" ;;
    esac
    # The rule our plugin adds per address (comment of the same length: hashes and names).
    printf 'add rule inet cnirs_b5_floor masq_checks ip saddr %s ip daddr != %s.0.0/16 masquerade comment "%016x-%016x, net: b5-floor, if: eth0, id: bench5-ctr-%d"\n' \
      "$a" "$net" "$i" "$i" "$i" >>"$d/nft-add"
  done
  {
    echo '#!/bin/sh'
    echo 'set -e'
    case $v in
      macvlan|ipvlan|vlan) echo "ip -batch $d/node-add"; echo "ip -n $fctr -batch $d/ctr-add" ;;
      *) echo "ip -n $fctr -batch $d/ctr-add"; echo "ip -batch $d/node-add" ;;
    esac
    case $v in
      *+masq)
        echo "nft -e -a -f $d/nft-add >$d/nft-echo"
        echo "sed -n 's/^add rule \\(inet [^ ]* [^ ]*\\) .* # handle \\([0-9]*\\)\$/delete rule \\1 handle \\2/p' $d/nft-echo >$d/nft-del"
        echo "nft -f $d/nft-del" ;;
    esac
    echo "ip -n $fctr -batch $d/ctr-del"
  } >"$d/run.sh"
  chmod +x "$d/run.sh"
  echo "$d/run.sh"
}

floor_clean() { # nothing of the floor's may be left: no links in its container, no rules
  local left
  left=$(ip -n "$fctr" -o link show | grep -cv ': lo:' || true)
  ((left == 0)) || die "floor: $left link(s) left in $fctr"
  left=$(in_node nft list chain inet cnirs_b5_floor masq_checks | grep -c masquerade || true)
  ((left == 0)) || die "floor: $left masquerade rule(s) left"
}

# ----- the process-start floor --------------------------------------------------------------
if ((prebuilt)); then
  cp "$NOTHING" "$work/nothing-rust"
else
  echo 'fn main() {}' >"$work/nothing.rs"
  rustc --edition 2021 "${rustc_flags[@]}" -o "$work/nothing-rust" "$work/nothing.rs" \
    || die "cannot build the do-nothing floor binary"
fi

# ----- ipvlan and vlan: can this kernel make them? ------------------------------------------
declare -A unmeasured
for kind in ipvlan vlan; do
  case $kind in
    ipvlan) args=(link add link cnb5i0 name cnb5probe type ipvlan mode l2) ;;
    vlan) args=(link add link cnb5m0 name cnb5probe type vlan id 5) ;;
  esac
  if err=$(ip -n "$node" "${args[@]}" 2>&1); then
    ip -n "$node" link del cnb5probe
    variants+=("$kind")
    plugins+=("$kind")
  else
    unmeasured[$kind]="this kernel cannot make $kind links (ip ${args[*]}: ${err//$'\n'/ })"
  fi
done
for p in "${plugins[@]}"; do
  [[ -x $bindir/$p ]] || die "missing $bindir/$p (ours: ${build_cmd[*]})"
  [[ -x $upstream_dir/$p ]] || die "missing $upstream_dir/$p (upstream: package containernetworking-plugins)"
done

# ----- preflight, peak RSS ------------------------------------------------------------------
preflight() { # name bin conf cni_path: one ADD and one DEL must succeed in the node namespace
  local out verb
  for verb in ADD DEL; do
    if ! out=$(CNI_PATH=$4 CNI_COMMAND=$verb in_node "$2" <"$3" 2>&1); then
      echo "bench: $1 $verb failed:" >&2
      echo "$out" >&2
      exit 1
    fi
  done
}

declare -A conf_of
plugin_args=()
floor_args=()
for v in "${variants[@]}"; do
  for impl in ours upstream; do
    name=$v/$impl
    p=${v%+masq}
    [[ $impl == ours ]] && dir=$bindir || dir=$upstream_dir
    c=$(conf "$v" "$impl" "${octet[$name]}")
    conf_of[$name]=$c
    preflight "$name" "$dir/$p" "$c" "$dir"
    plugin_args+=(--cni-path "$dir" --variant "$name" "$dir/$p" "$c")
  done
  fs=$(floor_script "$v")
  in_node "$fs" >/dev/null || die "floor batch for $v failed: $fs"
  floor_clean
  floor_args+=(--batch "kernel:$v" "$batch" "$every" "$fs")
done
floor_args+=(--starts "starts:4" 4 "$work/nothing-rust" "${conf_of[macvlan/ours]}")

# Peak RSS of every process of a call (the driver traces them; see benches/driver).
"$driver" --netns "/run/netns/$node" --rss "$rss_runs" "${plugin_args[@]}" >"$work/rss.txt" \
  || die "RSS run failed"
# rss.txt: name verb run index comm kib (index 0: the plugin itself).
rss_of() { # name what -> largest KiB of the plugin (0), host-local, the firewall tools, or all
  awk -v n="$1" -v w="$2" '$1 == n && (w == "all" || (w == "plugin" && $4 == 0) ||
    (w == "ipam" && $5 == "host-local") || (w == "fw" && $5 ~ /^(nft|ip6?tables|xtables)/)) {
    if ($6 > m) m = $6 } END { print (m ? m : "-") }' "$work/rss.txt"
}
procs_of() { # name verb -> the processes of one call, plugin first: "bridge host-local nft"
  awk -v n="$1" -v v="$2" '$1 == n && $2 == v && $3 == 0 { s = s (s ? " " : "") $5 } END { print s }' \
    "$work/rss.txt"
}

nice=(nice -n -20)
command -v nice >/dev/null || nice=() # not in the VM lane's image
echo "bench: $runs rounds + $warmup warm-up, kernel batches of $batch every $every rounds..." >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"${nice[@]}" "$driver" --runs "$runs" --warmup "$warmup" --netns "/run/netns/$node" --counts \
  "${plugin_args[@]}" "${floor_args[@]}" >"$work/times.txt" || die "timing run failed"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
floor_clean

# ----- report -------------------------------------------------------------------------------
# times.txt: name median p10 p90 min cpu-median count (ms; kernel:* per attachment).
col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/times.txt"; }
calc() { awk "BEGIN { printf \"%.2f\", $* }"; }
floor() { calc "$(col "kernel:$1" "$2") + $(col starts:4 "$2")"; }

echo
echo "ADD+DEL of one attachment, median of $runs interleaved rounds (ms); LINK=$link;" \
  "kernel $(uname -r), $(nproc) cores, load $load_before before, $load_after after"
echo "floor = kernel (the same link operations for $batch attachments, each kind done by one" \
  "ip -batch / nft -f process for all, /$batch) + starts (4 starts of fn main() {}: plugin and" \
  "host-local, ADD and DEL)"
echo
echo "| plugin | ours ms | upstream ms | floor ms (kernel + starts) | ours/floor | upstream/floor | ours/upstream | peak RSS ours / upstream KiB |"
echo "|---|---|---|---|---|---|---|---|"
verdicts=()
for v in "${variants[@]}"; do
  o=$(col "$v/ours" 2)
  u=$(col "$v/upstream" 2)
  f=$(floor "$v" 2)
  of=$(calc "$o / $f")
  uf=$(calc "$u / $f")
  ro=$(rss_of "$v/ours" plugin)
  ru=$(rss_of "$v/upstream" plugin)
  echo "| $v | $o | $u | $f ($(col "kernel:$v" 2) + $(col starts:4 2)) | $of | $uf | $(calc "$o / $u") | $ro / $ru ($(calc "$ro / $ru")) |"
  t=$(awk -v r="$of" 'BEGIN { print (r <= 1.25) ? "MET" : "MISSED" }')
  m=$(awk -v a="$ro" -v b="$ru" 'BEGIN { print (a * 2 <= b) ? "MET" : "MISSED" }')
  o10=$(calc "$(col "$v/ours" 3) / $(floor "$v" 3)")
  ocpu=$(calc "$(col "$v/ours" 6) / $(floor "$v" 6)")
  ucpu=$(calc "$(col "$v/upstream" 6) / $(floor "$v" 6)")
  verdicts+=("$v: time <= 1.25x floor: $t (median $of; p10 $o10; CPU $ocpu, upstream CPU $ucpu); plugin peak RSS <= half of upstream's: $m ($(calc "$ro / $ru"))")
done
echo
echo "| variant | median ms | p10 ms | p90 ms | min ms | CPU median ms | samples |"
echo "|---|---|---|---|---|---|---|"
while read -r name med p10 p90 min cpu n; do
  echo "| $name | $med | $p10 | $p90 | $min | $cpu | $n |"
done <"$work/times.txt"
echo
echo "| variant | peak RSS KiB: plugin / host-local / firewall tools / largest | processes of ADD | processes of DEL |"
echo "|---|---|---|---|"
for v in "${variants[@]}"; do
  for impl in ours upstream; do
    name=$v/$impl
    echo "| $name | $(rss_of "$name" plugin) / $(rss_of "$name" ipam) / $(rss_of "$name" fw) / $(rss_of "$name" all) | $(procs_of "$name" ADD) | $(procs_of "$name" DEL) |"
  done
done
echo
echo "kernel:* = per attachment (batch of $batch / $batch, sampled every $every rounds);" \
  "starts:4 = 4 starts of fn main() {} (LINK=$link) as one sample. CPU = user + system time of the" \
  "processes (getrusage of the children). Peak RSS = each process's own VmHWM at its exit (max" \
  "over $rss_runs traced ADDs and DELs); firewall tools = the largest of the nft / iptables* runs."
echo
echo "The floor's operations for one attachment, in order (every attachment of a batch alike;" \
  "container batch in CONTAINER, node batch in NODE):"
for v in "${variants[@]}"; do
  d=$work/floor-$v
  order=("$d/ctr-add" "$d/node-add" "$d/ctr-del")
  [[ $v == macvlan || $v == ipvlan || $v == vlan ]] && order=("$d/node-add" "$d/ctr-add" "$d/ctr-del")
  ops=$(grep -hE '(^| )[chm]0( |$)' "${order[@]}" | sed "s/$node/NODE/; s/$fctr/CONTAINER/" \
    | paste -sd ';' - | sed 's/;/; /g')
  case $v in
    *+masq) ops="$ops; nft: add rule inet ... masq_checks ip saddr A ip daddr != NET masquerade comment \"...\" (one nft -f for the batch), delete rule ... handle H (one nft -f)" ;;
  esac
  echo "- kernel:$v: $ops"
done
echo
if [[ " ${variants[*]} " == *" bridge+masq "* && " ${variants[*]} " == *" bridge "* ]]; then
  m_o=$(calc "$(col bridge+masq/ours 2) - $(col bridge/ours 2)")
  m_u=$(calc "$(col bridge+masq/upstream 2) - $(col bridge/upstream 2)")
  m_f=$(calc "$(col kernel:bridge+masq 2) - $(col kernel:bridge 2)")
  echo "ipMasq's cost (bridge+masq - bridge, medians): ours $m_o ms, upstream $m_u ms, floor $m_f ms"
  echo
fi
printf '%s\n' "${verdicts[@]}"
for kind in "${!unmeasured[@]}"; do
  echo "$kind: not measured: ${unmeasured[$kind]}"
done

#!/usr/bin/env bash
# Chained-plugin benchmark: ADD+DEL of a portmap chain step (4 mappings) and of a tuning chain
# step (every key) for our plugins, next to the upstream Go plugins and next to a floor, all
# measured side by side in one run; and the processes each verb starts.
#
#   scripts/bench-chained-plugins.sh [--no-build]
#
# Builds (unless --no-build) the plugins like scripts/bench-startup.sh (LINK=static, the
# default: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release
# --target x86_64-unknown-linux-gnu -p reference-plugins; LINK=dynamic: plain --release).
#
# Requests carry `prevResult`, as a runtime sends them to a chained plugin. portmap: network
# b6-portmap, mappings tcp 8080->80, tcp 8443->443, udp 8053->53, udp 8054->54 in
# runtimeConfig.portMappings, snat on, container 10.209.0.2/24 and fd00:209::2/64 on eth0
# (both families get rules); ours with its default backend (nftables, over netlink), upstream
# (Debian 1.1.1) with the only one it has (iptables: iptables-restore / iptables-save and
# ip6tables-*). tuning: mac, mtu 1400, promisc, allmulti, txQLen 2000 (upstream 1.1.1 does not
# know txQLen and ignores it: ours does more), sysctls net.ipv4.conf.eth0.arp_notify and
# net.core.somaxconn, dataDir in the bench's own directory; on the container's eth0 (a veth).
#
# World: a node namespace per implementation (the plugins run there; ours' and upstream's
# firewall rules never meet: with upstream's shared iptables chains present, our DEL would
# look at them too), each with the host end cnb6h0 of a veth pair holding 10.209.0.1/24 and
# fd00:209::1/64, the route towards the container; one container namespace with eth0 (tuning's
# interface, shared: each sample's DEL puts back what its ADD changed); one container for the
# floor's links.
#
# A sample is one ADD then one DEL, each a process started directly by the timing driver
# (reference-plugins/benches/chained_plugins.rs, run at nice -20) in its node namespace (one
# setns between fork and exec, the floor's starts alike), every variant interleaved
# round-robin so load hits all alike.
#
# The floor of a plugin = starts + kernel:
#   starts: 2 starts of `fn main() {}` built like the plugins (ADD and DEL), as one sample;
#   kernel:portmap: one empty nf_tables transaction (a batch with only its begin and end
#     markers, on a netlink socket of its own): `chained_plugins --empty-nft-transactions
#     BATCH` in the node namespace, divided by BATCH;
#   kernel:tuning: the same link changes and sysctl writes for BATCH veths at once, divided by
#     BATCH: one `ip -batch` setting address, mtu, promisc, allmulticast and txqueuelen of each,
#     one sh writing both sysctls for each (echo, no process per write), one `ip -batch`
#     putting the old values back. Both kernel batches are run every EVERY rounds.
#   For scale, not part of the floor: kernel:rule-add-delete, one transaction adding a rule
#     and one deleting it (`chained_plugins --nft-rule-add-delete BATCH`), which pays the RCU
#     grace period the kernel makes a socket's close wait for after a deletion.
# Peak RSS: each process's own peak resident size (VmHWM when it exits), read by the driver
# with every process of the call traced (ptrace), the largest over RSS_RUNS ADDs and DELs: the
# plugin itself (the target compares this), and the largest of iptables* it starts.
# Processes started: per verb (ADD, CHECK with ADD's result as prevResult, DEL) of each plugin,
# `strace -ff -e trace=execve` around one call; the successful execve calls after the plugin's
# own are counted and named.
#
# Root is needed. Knobs: RUNS (default 300), WARMUP (10), EVERY (10), BATCH (200),
# RSS_RUNS (3), LINK, UPSTREAM_DIR, CARGO_TARGET_DIR; with --no-build also DRIVER (a built
# chained_plugins driver), NOTHING (a built `fn main() {}`) and BINDIR (our plugins), which
# spare it cargo and rustc.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
upstream_dir=${UPSTREAM_DIR:-/usr/lib/cni}
runs=${RUNS:-300}
warmup=${WARMUP:-10}
every=${EVERY:-10}
batch=${BATCH:-200}
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
tools=(ip nft strace)
((prebuilt)) || tools+=(cargo rustc)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup.sh)"
done
((EUID == 0)) || die "must run as root (creates network namespaces)"
((batch >= 1 && batch <= 1000)) || die "BATCH must be 1..1000"

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
  driver=$(cd "$root" && cargo bench --no-run -q -p reference-plugins --bench chained_plugins \
    --message-format=json 2>/dev/null | grep -o '"executable":"[^"]*/chained_plugins-[^"]*"' | tail -n1 | cut -d'"' -f4)
fi
[[ -x $driver ]] || die "cannot build the timing driver (cargo bench --no-run -p reference-plugins --bench chained_plugins)"

plugins=(portmap tuning)
for p in "${plugins[@]}"; do
  [[ -x $bindir/$p ]] || die "missing $bindir/$p (ours: ${build_cmd[*]})"
  [[ -x $upstream_dir/$p ]] || die "missing $upstream_dir/$p (upstream: package containernetworking-plugins)"
done

work=$(mktemp -d /tmp/cnirs-bench6.XXXXXX)
declare -A node=([ours]=cnirs-b6-ours-$$ [upstream]=cnirs-b6-up-$$)
ctr=cnirs-b6-ctr-$$
fctr=cnirs-b6-fctr-$$
cleanup() {
  for ns in "$fctr" "$ctr" "${node[ours]}" "${node[upstream]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for ns in "${node[ours]}" "${node[upstream]}" "$ctr" "$fctr"; do ip netns add "$ns"; done
for impl in ours upstream; do
  n=${node[$impl]}
  ip -n "$n" link set lo up
  ip -n "$n" link add cnb6h0 type veth peer name cnb6p0
  ip -n "$n" addr add 10.209.0.1/24 dev cnb6h0
  ip -n "$n" addr add fd00:209::1/64 dev cnb6h0 nodad
  ip -n "$n" link set cnb6p0 up
  ip -n "$n" link set cnb6h0 up
done
# tuning's interface: eth0 in the container, its peer in our node namespace.
ip -n "${node[ours]}" link add cnb6t0 type veth peer name eth0 netns "$ctr" address 02:b6:00:00:00:01
ip -n "$ctr" link set lo up
ip -n "$ctr" addr add 10.209.1.2/24 dev eth0
ip -n "$ctr" link set eth0 up

export CNI_CONTAINERID=bench6-ctr CNI_NETNS=/run/netns/$ctr CNI_IFNAME=eth0 CNI_PATH=$upstream_dir

# ----- configurations -------------------------------------------------------------------
maps='[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":8443,"containerPort":443,"protocol":"tcp"},{"hostPort":8053,"containerPort":53,"protocol":"udp"},{"hostPort":8054,"containerPort":54,"protocol":"udp"}]'
pm_prev='{"cniVersion":"1.0.0","interfaces":[{"name":"cnb6h0"},{"name":"eth0","mac":"02:b6:00:00:00:02","sandbox":"'$CNI_NETNS'"}],"ips":[{"address":"10.209.0.2/24","interface":1,"gateway":"10.209.0.1"},{"address":"fd00:209::2/64","interface":1,"gateway":"fd00:209::1"}]}'
tn_prev='{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:b6:00:00:00:01","sandbox":"'$CNI_NETNS'"}],"ips":[{"address":"10.209.1.2/24","interface":0}]}'
conf() { # plugin impl -> path of its configuration
  local f="$work/$1-$2.json"
  case $1 in
    portmap)
      printf '{"cniVersion":"1.0.0","name":"b6-portmap","type":"portmap","capabilities":{"portMappings":true},"snat":true,"runtimeConfig":{"portMappings":%s},"prevResult":%s}\n' \
        "$maps" "$pm_prev" >"$f" ;;
    tuning)
      mkdir -p "$work/tuning-$2"
      printf '{"cniVersion":"1.0.0","name":"b6-tuning","type":"tuning","mac":"02:b6:00:00:00:aa","mtu":1400,"promisc":true,"allmulti":true,"txQLen":2000,"sysctl":{"net.ipv4.conf.eth0.arp_notify":"1","net.core.somaxconn":"512"},"dataDir":"%s","prevResult":%s}\n' \
        "$work/tuning-$2" "$tn_prev" >"$f" ;;
  esac
  echo "$f"
}

# ----- the kernel floors ------------------------------------------------------------------
cat >"$work/floor-portmap" <<EOF
#!/bin/sh
exec $driver --empty-nft-transactions $batch
EOF
chmod +x "$work/floor-portmap"
# In our node namespace: it leaves its (empty) table, which goes with the namespace.
printf '%s\n' '#!/bin/sh' "exec ip netns exec ${node[ours]} $driver --nft-rule-add-delete $batch" \
  >"$work/floor-portmap-rule"
chmod +x "$work/floor-portmap-rule"

d=$work/floor-tuning
mkdir -p "$d"
: >"$d/setup"; : >"$d/set"; : >"$d/restore"; : >"$d/sysctl"
for ((i = 0; i < batch; i++)); do
  hex=$(printf '%02x:%02x' $((i / 256)) $((i % 256)))
  printf '%s\n' "link add t$i address 02:b6:02:00:$hex type veth peer name u$i" "link set t$i up" >>"$d/setup"
  echo "link set t$i address 02:b6:03:00:$hex mtu 1400 promisc on allmulticast on txqueuelen 2000" >>"$d/set"
  echo "link set t$i address 02:b6:02:00:$hex mtu 1500 promisc off allmulticast off txqueuelen 1000" >>"$d/restore"
  printf 'echo 1 >/proc/sys/net/ipv4/conf/t%d/arp_notify\necho 512 >/proc/sys/net/core/somaxconn\n' "$i" >>"$d/sysctl"
done
ip -n "$fctr" -batch "$d/setup"
printf '%s\n' '#!/bin/sh' 'set -e' "ip -n $fctr -batch $d/set" "ip netns exec $fctr sh $d/sysctl" \
  "ip -n $fctr -batch $d/restore" >"$d/run.sh"
chmod +x "$d/run.sh"

# ----- the process-start floor ------------------------------------------------------------
if ((prebuilt)); then
  cp "$NOTHING" "$work/nothing-rust"
else
  echo 'fn main() {}' >"$work/nothing.rs"
  rustc --edition 2021 "${rustc_flags[@]}" -o "$work/nothing-rust" "$work/nothing.rs" \
    || die "cannot build the do-nothing floor binary"
fi

# ----- preflight, processes started, peak RSS ----------------------------------------------
in_node() { local impl=$1; shift; ip netns exec "${node[$impl]}" "$@"; }
call() { # impl plugin verb conf -> the plugin's output; fails like the plugin
  local dir=$bindir
  [[ $1 == upstream ]] && dir=$upstream_dir
  CNI_COMMAND=$3 in_node "$1" "$dir/$2" <"$4"
}
preflight() { # impl plugin conf: one ADD and one DEL must succeed
  local out verb
  for verb in ADD DEL; do
    if ! out=$(call "$1" "$2" "$verb" "$3" 2>&1); then
      echo "bench: $2/$1 $verb failed:" >&2
      echo "$out" >&2
      exit 1
    fi
  done
}
execs() { # impl plugin verb conf -> "N: prog prog ..." (N processes the call started), or FAILED
  local dir=$bindir out=$work/strace rc=0 progs
  [[ $1 == upstream ]] && dir=$upstream_dir
  rm -rf "$out"; mkdir "$out"
  CNI_COMMAND=$3 in_node "$1" strace -ff -qq -e trace=execve -o "$out/pid" "$dir/$2" <"$4" \
    >"$work/stdout" 2>/dev/null || rc=$?
  # Successful execve calls (one file per process), the plugin's own (the first) left out.
  progs=$(cat "$out"/pid.* | grep -E '^execve\(.*= 0$' | tail -n +2 \
    | sed -E 's/^execve\("([^"]*)".*/\1/' | xargs -r -n1 basename | sort | uniq -c \
    | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')
  local n
  n=$(cat "$out"/pid.* | grep -cE '^execve\(.*= 0$' || true)
  n=$((n - 1))
  ((rc == 0)) || progs="$progs (the call failed, exit $rc: $(tr -d '\n' <"$work/stdout" | cut -c1-120))"
  echo "$n${progs:+: $progs}"
}
with_prev() { # conf result -> a copy of conf with result as prevResult (conf ends with it)
  local f=$work/check-$(basename "$1")
  { sed 's/,"prevResult":.*$//' "$1" | tr -d '\n'; printf ',"prevResult":%s}\n' "$(tr -d '\n' <"$2")"; } >"$f"
  echo "$f"
}

declare -A conf_of execs_of
plugin_args=()
for p in "${plugins[@]}"; do
  for impl in ours upstream; do
    c=$(conf "$p" "$impl")
    conf_of[$p/$impl]=$c
    preflight "$impl" "$p" "$c"
    # ADD, then CHECK with ADD's result as prevResult (as a runtime sends it), then DEL.
    execs_of[$p/$impl/ADD]=$(execs "$impl" "$p" ADD "$c")
    cp "$work/stdout" "$work/result-$p-$impl"
    execs_of[$p/$impl/CHECK]=$(execs "$impl" "$p" CHECK "$(with_prev "$c" "$work/result-$p-$impl")")
    execs_of[$p/$impl/DEL]=$(execs "$impl" "$p" DEL "$c")
    [[ $impl == ours ]] && dir=$bindir || dir=$upstream_dir
    plugin_args+=(--start-in "/run/netns/${node[$impl]}" --variant "$p/$impl" "$dir/$p" "$c")
  done
done
"$work/floor-portmap" || die "empty nf_tables transactions failed: $work/floor-portmap"
"$work/floor-portmap-rule" || die "nf_tables rule add/delete failed: $work/floor-portmap-rule"
"$d/run.sh" >/dev/null || die "tuning's floor batch failed: $d/run.sh"
floor_args=(--start-in "/run/netns/${node[ours]}" --starts starts:2 2 "$work/nothing-rust" "${conf_of[portmap/ours]}"
  --batch kernel:portmap "$batch" "$every" "$work/floor-portmap"
  --batch kernel:rule-add-delete "$batch" "$every" "$work/floor-portmap-rule"
  --batch kernel:tuning "$batch" "$every" "$d/run.sh")

"$driver" --rss "$rss_runs" "${plugin_args[@]}" >"$work/rss.txt" || die "RSS run failed"
# rss.txt: name verb run index comm kib (index 0: the plugin itself).
rss_of() { # name what -> largest KiB of the plugin (0), the firewall tools, or all
  awk -v n="$1" -v w="$2" '$1 == n && (w == "all" || (w == "plugin" && $4 == 0) ||
    (w == "fw" && $5 ~ /^(nft|ip6?tables|xtables)/)) { if ($6 > m) m = $6 }
    END { print (m ? m : "-") }' "$work/rss.txt"
}

echo "bench: $runs rounds + $warmup warm-up, kernel batches of $batch every $every rounds..." >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
nice -n -20 "$driver" --runs "$runs" --warmup "$warmup" --netns "/run/netns/${node[ours]}" --counts \
  "${plugin_args[@]}" "${floor_args[@]}" >"$work/times.txt" || die "timing run failed"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Nothing of a sample may be left: no portmap rule, tuning's saved files gone, eth0 as before.
left=$(in_node ours nft list ruleset | grep -c 'dnat' || true)
((left == 0)) || die "ours: $left dnat rule(s) left"
left=$(in_node upstream iptables-save -t nat | grep -c '^-A CNI-DN-' || true)
((left == 0)) || die "upstream: $left CNI-DN rule(s) left"
left=$(find "$work/tuning-ours" "$work/tuning-upstream" -type f | wc -l)
((left == 0)) || die "tuning: $left saved file(s) left"
ip -n "$ctr" link show eth0 | grep -q '02:b6:00:00:00:01' || die "tuning: eth0's MAC not restored"

# ----- report -------------------------------------------------------------------------------
# times.txt: name median p10 p90 min cpu-median count (ms; kernel:* per operation).
col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/times.txt"; }
calc() { awk "BEGIN { printf \"%.2f\", $* }"; }
floor() { calc "$(col "kernel:$1" "$2") + $(col starts:2 "$2")"; }

echo
echo "ADD+DEL of one chain step, median of $runs interleaved rounds (ms); LINK=$link;" \
  "kernel $(uname -r), $(nproc) cores, load $load_before before, $load_after after"
echo "floor = kernel (portmap: one empty nf_tables transaction; tuning: the same link changes" \
  "and sysctl writes, done for $batch links by one ip -batch / sh each, /$batch) + starts" \
  "(2 starts of fn main() {}: ADD and DEL)"
echo
echo "| plugin | ours ms | upstream ms | floor ms (kernel + starts) | ours/floor | upstream/floor | ours/upstream | peak RSS ours / upstream KiB |"
echo "|---|---|---|---|---|---|---|---|"
verdicts=()
for p in "${plugins[@]}"; do
  o=$(col "$p/ours" 2)
  u=$(col "$p/upstream" 2)
  f=$(floor "$p" 2)
  of=$(calc "$o / $f")
  ou=$(calc "$o / $u")
  ro=$(rss_of "$p/ours" plugin)
  ru=$(rss_of "$p/upstream" plugin)
  echo "| $p | $o | $u | $f ($(col "kernel:$p" 2) + $(col starts:2 2)) | $of | $(calc "$u / $f") | $ou | $ro / $ru ($(calc "$ro / $ru")) |"
  t=$(awk -v r="$of" 'BEGIN { print (r <= 1.25) ? "MET" : "MISSED" }')
  tu=$(awk -v a="$o" -v b="$u" 'BEGIN { print (a * 3 <= b) ? "MET" : "MISSED" }')
  m=$(awk -v a="$ro" -v b="$ru" 'BEGIN { print (a * 2 <= b) ? "MET" : "MISSED" }')
  o10=$(calc "$(col "$p/ours" 3) / $(floor "$p" 3)")
  ocpu=$(calc "$(col "$p/ours" 6) / $(floor "$p" 6)")
  ucpu=$(calc "$(col "$p/upstream" 6) / $(floor "$p" 6)")
  verdicts+=("$p: time <= 1.25x floor: $t (median $of; p10 $o10; CPU $ocpu, upstream CPU $ucpu); time <= 1/3 of upstream's: $tu ($ou); plugin peak RSS <= half of upstream's: $m ($(calc "$ro / $ru"))")
done
echo
echo "| variant | median ms | p10 ms | p90 ms | min ms | CPU median ms | samples |"
echo "|---|---|---|---|---|---|---|"
while read -r name med p10 p90 min cpu n; do
  echo "| $name | $med | $p10 | $p90 | $min | $cpu | $n |"
done <"$work/times.txt"
echo
echo "| variant | peak RSS KiB: plugin / firewall tools / largest | processes started by ADD | by CHECK | by DEL |"
echo "|---|---|---|---|---|"
for p in "${plugins[@]}"; do
  for impl in ours upstream; do
    name=$p/$impl
    echo "| $name | $(rss_of "$name" plugin) / $(rss_of "$name" fw) / $(rss_of "$name" all) | ${execs_of[$name/ADD]} | ${execs_of[$name/CHECK]} | ${execs_of[$name/DEL]} |"
  done
done
echo
echo "kernel:* = per operation (batch of $batch / $batch, sampled every $every rounds);" \
  "starts:2 = 2 starts of fn main() {} (LINK=$link) as one sample. CPU = user + system time of the" \
  "processes (getrusage of the children). Peak RSS = each process's own VmHWM at its exit (max" \
  "over $rss_runs traced ADDs and DELs). Processes started: successful execve calls under" \
  "strace -ff -e trace=execve of one call (ADD, CHECK with ADD's result, DEL in that order), the plugin's own not counted."
echo "kernel:rule-add-delete (not part of the floor; for scale) = one nf_tables transaction adding a" \
  "rule and one deleting it, each on its own socket: the least kernel work of an ADD+DEL that" \
  "writes a rule and removes it (closing the socket after a deletion waits for an RCU grace" \
  "period). portmap with it in place of the empty transaction: ours/floor" \
  "$(calc "$(col portmap/ours 2) / ($(col kernel:rule-add-delete 2) + $(col starts:2 2))")," \
  "upstream/floor $(calc "$(col portmap/upstream 2) / ($(col kernel:rule-add-delete 2) + $(col starts:2 2))")" \
  "(CPU: ours $(calc "$(col portmap/ours 6) / ($(col kernel:rule-add-delete 6) + $(col starts:2 6))"))."
echo
printf '%s\n' "${verdicts[@]}"
for p in "${plugins[@]}"; do
  for verb in ADD CHECK DEL; do
    e=${execs_of[$p/ours/$verb]}
    [[ $e == 0 ]] && r=MET || r="MISSED ($e)"
    echo "$p: ours starts no process on $verb: $r"
  done
done

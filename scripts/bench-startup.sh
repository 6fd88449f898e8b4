#!/usr/bin/env bash
# Start-up benchmark: ADD+DEL wall time and peak RSS of our plugins next to the upstream Go
# plugins and a do-nothing floor, all measured side by side in one run.
#
#   scripts/bench-startup.sh [--no-build] [PLUGIN...]     (default plugins: loopback host-local)
#
# Builds (unless --no-build) the plugins with the release profile. LINK=static (the default,
# and how we ship them) links them statically against glibc:
#   RUSTFLAGS='-C target-feature=+crt-static' \
#     cargo build --release --target x86_64-unknown-linux-gnu -p reference-plugins
# (binaries in target/x86_64-unknown-linux-gnu/release); LINK=dynamic measures the plain
# `cargo build --release -p reference-plugins` (binaries in target/release).
#
# One sample is one ADD then one DEL, each a separate process started directly (no shell)
# with the same CNI_* environment and stdin redirected from a config file. The timing driver
# is reference-plugins/benches/startup.rs, run at nice -20: it interleaves all variants
# round-robin, so load from other work on the machine hits them alike, and reports medians.
# The floor is the same pair of starts of our own do-nothing: `fn main() {}` compiled with
# the plugins' release settings and linking (so it pays the same Rust runtime and libc
# start-up, and nothing else). Two more do-nothings are measured for scale: a libc-free static
# ELF that only calls exit (the cheapest process the kernel can start) and /bin/true.
# Peak RSS is GNU time's %M (KiB), the largest over RSS_RUNS runs of ADD and of DEL.
#
# FORMS="label=DIR ..." adds, for each plugin, a variant "<plugin>/<label>" running DIR/<plugin>
# in the same interleaved run (e.g. the multicall binary hard-linked under the plugin names by
# scripts/install.sh, or another build's binaries), with its ratios in the summary.
# Root is needed (a network namespace is created for the run and removed at exit). Upstream
# binaries come from $UPSTREAM_DIR (Debian's containernetworking-plugins). A missing binary is
# reported by name; the plugins whose binaries exist are still measured, then the script
# exits 1. Knobs: LINK, FORMS, RUNS (default 1000), WARMUP (50), RSS_RUNS (5), UPSTREAM_DIR,
# CARGO_TARGET_DIR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
upstream_dir=${UPSTREAM_DIR:-/usr/lib/cni}
runs=${RUNS:-1000}
warmup=${WARMUP:-50}
rss_runs=${RSS_RUNS:-5}
link=${LINK:-static}
triple=x86_64-unknown-linux-gnu

build=1
plugins=()
for a in "$@"; do
  case $a in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    -*) echo "bench: unknown option $a" >&2; exit 2 ;;
    *) plugins+=("$a") ;;
  esac
done
((${#plugins[@]})) || plugins=(loopback host-local)

die() { echo "bench: $*" >&2; exit 2; }
for tool in cargo rustc cc ip; do
  command -v "$tool" >/dev/null || die "$tool not found (run scripts/setup.sh)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (package 'time'; run scripts/setup.sh)"
((EUID == 0)) || die "must run as root (creates a network namespace)"

# The release profile's settings, repeated for the do-nothing floor (see Cargo.toml).
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
if ((build)); then
  (cd "$root" && "${build_cmd[@]}") || die "build failed: ${build_cmd[*]}"
fi
driver=$(cd "$root" && cargo bench --no-run -q -p reference-plugins --bench startup \
  --message-format=json 2>/dev/null | grep -o '"executable":"[^"]*/startup-[^"]*"' | tail -n1 | cut -d'"' -f4)
[[ -x $driver ]] || die "cannot build the timing driver (cargo bench --no-run -p reference-plugins --bench startup)"

work=$(mktemp -d /tmp/cnirs-bench.XXXXXX)
ns="cnirs-bench-$$"
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"

# The floor, and the libc-free do-nothing (its _start makes the exit system call).
echo 'fn main() {}' >"$work/nothing.rs"
rustc --edition 2021 "${rustc_flags[@]}" -o "$work/nothing-rust" "$work/nothing.rs" \
  || die "cannot build the do-nothing floor binary"
printf '%s\n' 'void _start(void) {' \
  '  __asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall");' '}' >"$work/nothing.c"
cc -O2 -static -nostdlib -s -o "$work/nothing-elf" "$work/nothing.c" \
  || die "cannot build the libc-free do-nothing"

export CNI_CONTAINERID=bench-ctr CNI_NETNS="/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH="$upstream_dir"

conf_for() { # plugin impl -> path of its network configuration
  local f="$work/$1-$2.json"
  case $1 in
    loopback) printf '{"cniVersion":"1.0.0","name":"bench","type":"loopback"}' >"$f" ;;
    host-local)
      mkdir -p "$work/store-$2"
      printf '{"cniVersion":"1.0.0","name":"bench","type":"bridge","ipam":{"type":"host-local","subnet":"10.250.0.0/16","dataDir":"%s"}}' \
        "$work/store-$2" >"$f" ;;
    *) die "no configuration known for plugin $1" ;;
  esac
  echo "$f"
}

preflight() { # name bin conf: one ADD and one DEL must succeed
  local out
  for verb in ADD DEL; do
    if ! out=$(CNI_COMMAND=$verb "$2" <"$3" 2>&1); then
      echo "bench: $1 $verb failed:" >&2
      echo "$out" >&2
      exit 1
    fi
  done
}

peak_rss() { # bin conf -> largest %M over the runs of ADD and DEL
  local max=0 v
  for ((i = 0; i < rss_runs; i++)); do
    for verb in ADD DEL; do
      CNI_COMMAND=$verb /usr/bin/time -f %M -o "$work/rss" "$1" <"$2" >/dev/null 2>&1 || true
      v=$(tail -n1 "$work/rss")
      ((v > max)) && max=$v
    done
  done
  echo "$max"
}

missing=()
forms_measured=()
forms_rows=()
variants=()
declare -A rss
measured=()
for p in "${plugins[@]}"; do
  ours="$bindir/$p"
  theirs="$upstream_dir/$p"
  ok=1
  [[ -x $ours ]] || { missing+=("$ours (ours: ${build_cmd[*]})"); ok=0; }
  [[ -x $theirs ]] || { missing+=("$theirs (upstream: package containernetworking-plugins)"); ok=0; }
  ((ok)) || continue
  for impl in ours upstream; do
    bin=$ours
    [[ $impl == upstream ]] && bin=$theirs
    conf=$(conf_for "$p" "$impl")
    preflight "$p/$impl" "$bin" "$conf"
    variants+=(--variant "$p/$impl" "$bin" "$conf")
    rss[$p/$impl]=$(peak_rss "$bin" "$conf")
  done
  for form in ${FORMS:-}; do
    label=${form%%=*}
    bin=${form#*=}/$p
    [[ -x $bin ]] || { missing+=("$bin (form $label)"); continue; }
    conf=$(conf_for "$p" "$label")
    preflight "$p/$label" "$bin" "$conf"
    variants+=(--variant "$p/$label" "$bin" "$conf")
    rss[$p/$label]=$(peak_rss "$bin" "$conf")
    forms_measured+=("$p/$label")
  done
  measured+=("$p")
done
if ((${#measured[@]} == 0)); then
  printf 'bench: missing binary: %s\n' "${missing[@]}" >&2
  exit 1
fi
floor_conf=$(conf_for loopback floor)
for f in nothing-rust nothing-elf; do
  variants+=(--variant "$f" "$work/$f" "$floor_conf")
  rss[$f]=$(peak_rss "$work/$f" "$floor_conf")
done
variants+=(--variant bin-true /bin/true "$floor_conf")
rss[bin-true]=$(peak_rss /bin/true "$floor_conf")

echo "bench: $((${#variants[@]} / 4)) variants, $runs runs + $warmup warm-up, interleaved..." >&2
# Highest CPU priority: other work on a shared machine then disturbs the samples less.
nice -n -20 "$driver" --runs "$runs" --warmup "$warmup" "${variants[@]}" >"$work/times.txt" \
  || die "timing run failed"

# times.txt: name median p10 p90 min cpu-median (ms), one line per variant.
col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/times.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

floor_ms=$(col nothing-rust 2)
echo
echo "ADD+DEL, median of $runs interleaved runs (ms); peak RSS in KiB; LINK=$link;" \
  "kernel $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| plugin | ours ms | upstream ms | floor ms | ours/floor | upstream/floor | peak RSS ours/upstream KiB |"
echo "|---|---|---|---|---|---|---|"
verdicts=()
for p in "${measured[@]}"; do
  o=$(col "$p/ours" 2)
  u=$(col "$p/upstream" 2)
  of=$(ratio "$o" "$floor_ms")
  uf=$(ratio "$u" "$floor_ms")
  ro=${rss[$p/ours]}
  ru=${rss[$p/upstream]}
  echo "| $p | $o | $u | $floor_ms | $of | $uf | $ro / $ru |"
  t=$(awk -v r="$of" 'BEGIN { print (r <= 1.3) ? "met" : "MISSED" }')
  m=$(awk -v a="$ro" -v b="$ru" 'BEGIN { print (a * 2 <= b) ? "met" : "MISSED" }')
  o10=$(ratio "$(col "$p/ours" 3)" "$(col nothing-rust 3)")
  u10=$(ratio "$(col "$p/upstream" 3)" "$(col nothing-rust 3)")
  ocpu=$(ratio "$(col "$p/ours" 6)" "$(col nothing-rust 6)")
  ucpu=$(ratio "$(col "$p/upstream" 6)" "$(col nothing-rust 6)")
  verdicts+=("$p: time (<= 1.3x floor) $t; peak RSS (<= half of upstream) $m; less sensitive to load: p10 ours/floor $o10, upstream/floor $u10; CPU time ours/floor $ocpu, upstream/floor $ucpu")
done
if ((${#forms_measured[@]})); then
  echo
  echo "| plugin/form | median ms | /floor | p10 /floor | CPU /floor | peak RSS KiB |"
  echo "|---|---|---|---|---|---|"
  for p in "${measured[@]}"; do
    for v in "$p/ours" "$p/upstream"; do
      forms_rows+=("$v")
    done
    for v in "${forms_measured[@]}"; do [[ ${v%%/*} == "$p" ]] && forms_rows+=("$v"); done
  done
  for v in "${forms_rows[@]}"; do
    echo "| $v | $(col "$v" 2) | $(ratio "$(col "$v" 2)" "$floor_ms")" \
      "| $(ratio "$(col "$v" 3)" "$(col nothing-rust 3)")" \
      "| $(ratio "$(col "$v" 6)" "$(col nothing-rust 6)") | ${rss[$v]} |"
  done
fi
echo
echo "| variant | median ms | p10 ms | p90 ms | min ms | CPU median ms | peak RSS KiB |"
echo "|---|---|---|---|---|---|---|"
while read -r name med p10 p90 min cpu; do
  echo "| $name | $med | $p10 | $p90 | $min | $cpu | ${rss[$name]} |"
done <"$work/times.txt"
echo
echo "floor = nothing-rust (fn main() {} built like the plugins, LINK=$link);" \
  "nothing-elf = static libc-free exit-only ELF; bin-true = /bin/true (dynamic glibc)"
printf '%s\n' "${verdicts[@]}"
if ((${#missing[@]})); then
  printf 'bench: missing binary: %s\n' "${missing[@]}" >&2
  exit 1
fi

#!/usr/bin/env bash
# Interface-plugin benchmark inside the VM lane's VM: scripts/bench-interface-plugins.sh run
# unchanged in Debian's kernel (scripts/vm/), which has the ipvlan and 802.1q links this
# machine's kernel lacks, so that ipvlan and vlan are measured beside upstream's and a floor
# like the other plugins.
#
#   scripts/bench-interface-plugins-vm.sh   (knobs: RUNS, default 20 here; WARMUP 3; EVERY 5;
#                                           BATCH 50; RSS_RUNS 2; VARIANTS "bridge macvlan";
#                                           CNIRS_VM_SMP 2; CNIRS_VM_TIMEOUT)
#
# On the host it builds, statically (the VM has no Rust toolchain and few libraries): our
# plugins (release, as bench-interface-plugins.sh builds them), the timing driver
# (benches/interface_plugins.rs) and the do-nothing floor binary; then boots one VM
# (scripts/vm/run.sh) that copies Debian's plugins from the read-only /usr/lib/cni share to its
# tmpfs (a start over 9p costs far more) and runs `scripts/bench-interface-plugins.sh
# --no-build` with DRIVER, NOTHING and BINDIR set.
#
# The VM's CPUs are emulated (qemu TCG): every figure is many times the host's, process starts
# above all, so compare ratios within one run only (macvlan, measured on the host too, is the
# yardstick between the two). Root is needed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
triple=x86_64-unknown-linux-gnu
target=${CARGO_TARGET_DIR:-$root/target}
bindir=$target/$triple/release
out=$target/vm-bench
die() { echo "bench-vm: $*" >&2; exit 2; }
((EUID == 0)) || die "must run as root"

cd "$root"
static=(env RUSTFLAGS="-C target-feature=+crt-static")
"${static[@]}" cargo build --release -q --target "$triple" -p reference-plugins \
  || die "static build of the plugins failed"
driver=$("${static[@]}" cargo bench --no-run -q --target "$triple" -p reference-plugins \
  --bench interface_plugins --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*/interface_plugins-[^"]*"' | tail -n1 | cut -d'"' -f4)
[[ -x $driver ]] || die "cannot build the timing driver statically"
mkdir -p "$out"
echo 'fn main() {}' >"$out/nothing.rs"
rustc --edition 2021 -C opt-level=s -C codegen-units=1 -C panic=unwind \
  -C target-feature=+crt-static --target "$triple" -o "$out/nothing-rust" "$out/nothing.rs" \
  || die "cannot build the do-nothing floor binary"
scripts/vm/build-image.sh >/dev/null || die "the VM image could not be built (scripts/vm/build-image.sh)"

export DRIVER=$driver NOTHING=$out/nothing-rust BINDIR=$bindir
export RUNS=${RUNS:-20} WARMUP=${WARMUP:-3} EVERY=${EVERY:-5} BATCH=${BATCH:-50} RSS_RUNS=${RSS_RUNS:-2}
# Upstream's ipMasq runs iptables, which the VM does not have: the masquerade variants are
# measured on the host only.
export VARIANTS=${VARIANTS:-bridge macvlan}
export CNIRS_VM_ENV="DRIVER NOTHING BINDIR RUNS WARMUP EVERY BATCH RSS_RUNS VARIANTS"
export CNIRS_VM_SMP=${CNIRS_VM_SMP:-2} CNIRS_VM_TIMEOUT=${CNIRS_VM_TIMEOUT:-1800}
# shellcheck disable=SC2016 # expanded inside the VM
exec scripts/vm/run.sh /usr/bin/bash -c '
  set -e
  mkdir -p /tmp/upstream-cni
  for p in bridge ptp macvlan ipvlan vlan host-local; do cp /usr/lib/cni/$p /tmp/upstream-cni/; done
  UPSTREAM_DIR=/tmp/upstream-cni exec scripts/bench-interface-plugins.sh --no-build'

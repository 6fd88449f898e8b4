#!/usr/bin/env bash
# Installs the cni-rs plugins under their upstream names into a plugin directory.
#
#   scripts/install.sh [--dir DIR] [--force] [--binary PATH] [--no-build]
#
# What is installed: one binary, `cni-rs-plugins` (every plugin, choosing by the name it is
# started under), hard-linked under each plugin name it lists (`cni-rs-plugins --list`). So the
# directory holds one inode for the whole set; nothing is installed under another name.
#
# --dir DIR      the plugin directory (default /opt/cni/bin); created if missing.
# --force        replace files this script did not install (default: refuse, change nothing).
# --binary PATH  install this multicall binary instead of building one (implies --no-build).
# --no-build     do not run cargo; use the binary already built.
#
# Unless told otherwise it builds (cargo decides whether anything changed) the shipped form, a
# static, non-PIE release build for the host (no loader and no self-relocation at start; the
# measurements are in reference-plugins/BENCH.md):
#   RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
#     cargo build --release --target <host triple> -p reference-plugins --bin cni-rs-plugins
#
# Rules (the binary's installer applies them, so both install paths agree):
# - Atomic: the binary is written to a temporary name in DIR, synced, then hard-linked and
#   renamed over each plugin name (rename(2)); a runtime executing a plugin meanwhile sees the
#   old file or the new one, never a partial one. Temporary names start with `.cni-rs-` and are
#   removed on exit, also on failure.
# - Ownership: DIR/.cni-rs-installed lists what this script installed, `<sha256>  <name>` a
#   line. A name that exists and is not listed with its current checksum (a file of another
#   package, or one changed since) is refused unless --force; refusals are checked before
#   anything is written, so a refused run changes nothing.
# - Idempotent: a name whose content is already the binary's is left alone (and recorded as
#   ours if it was not); when every name is, nothing in DIR is written.
# Exit status: 0 installed or already up to date; 1 refused or failed; 2 usage.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=/opt/cni/bin
force=0
build=1
binary=""

usage() { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --force) force=1; shift ;;
    --binary) binary=${2:?--binary needs a path}; build=0; shift 2 ;;
    --binary=*) binary=${1#--binary=}; build=0; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

die() { echo "install: $*" >&2; exit 1; }

if [[ -z $binary ]]; then
  triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p') || true
  [[ -n $triple ]] || triple=x86_64-unknown-linux-gnu
  binary=${CARGO_TARGET_DIR:-$root/target}/$triple/release/cni-rs-plugins
  if ((build)); then
    command -v cargo >/dev/null || die "cargo not found (or use --binary PATH / --no-build)"
    (cd "$root" && RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
      cargo build --release -q --target "$triple" -p reference-plugins --bin cni-rs-plugins) \
      || die "build failed"
  fi
fi
[[ -f $binary && -x $binary ]] || die "no binary at $binary (build it, or pass --binary)"

# The rules in the header are applied by the binary's own installer (`cni-rs-plugins install`,
# reference-plugins/src/installer.rs, which images without a shell run directly): started
# under its own name, whatever the file is called, it installs itself.
args=(install --dir "$dir")
((force)) && args+=(--force)
exec -a cni-rs-plugins "$binary" "${args[@]}"

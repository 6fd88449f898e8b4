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
# Rules:
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

mapfile -t names < <("$binary" --list) || die "$binary --list failed"
((${#names[@]})) || die "$binary --list named no plugin"
for n in "${names[@]}"; do
  [[ $n =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "$binary --list gave a bad name: $n"
done

mkdir -p "$dir"
manifest=$dir/.cni-rs-installed
new_sum=$(sha256sum <"$binary" | cut -d' ' -f1)

# The manifest's record for a name (its checksum), if any.
declare -A recorded=()
if [[ -f $manifest ]]; then
  while read -r sum name; do
    [[ -n ${name:-} ]] && recorded[$name]=$sum
  done <"$manifest"
fi

# Plan every name before writing anything.
to_write=()
refused=()
adopted=0
declare -A sum_of=()
for n in "${names[@]}"; do
  f=$dir/$n
  if [[ ! -e $f && ! -L $f ]]; then
    to_write+=("$n")
    continue
  fi
  if [[ -d $f && ! -L $f ]]; then
    refused+=("$n (a directory)")
    continue
  fi
  # Hard links of one file are hashed once.
  id=$(stat -L -c %d:%i "$f" 2>/dev/null) || id=""
  if [[ -n $id && -n ${sum_of[$id]:-} ]]; then
    cur=${sum_of[$id]}
  else
    cur=$(sha256sum <"$f" 2>/dev/null | cut -d' ' -f1) || cur=unreadable
    [[ -n $id ]] && sum_of[$id]=$cur
  fi
  if [[ -L $f ]]; then
    cur="symlink:$cur"
  fi
  if [[ $cur == "$new_sum" ]]; then
    # Already this build; recorded now if it was not (same bytes: nothing to replace).
    [[ ${recorded[$n]:-} == "$new_sum" ]] || adopted=1
    continue
  elif [[ ${recorded[$n]:-} == "$cur" ]] || ((force)); then
    to_write+=("$n")
  else
    refused+=("$n")
  fi
done
if ((${#refused[@]})); then
  echo "install: not installing: these exist in $dir and were not installed by this script" \
    "(or were changed since); --force replaces them:" >&2
  printf '  %s\n' "${refused[@]}" >&2
  exit 1
fi
if ((${#to_write[@]} == 0 && adopted == 0)); then
  echo "install: ${#names[@]} plugins in $dir are up to date ($($binary --version))"
  exit 0
fi

tmp=""
staged=()
cleanup() {
  local t
  for t in "${staged[@]}"; do rm -f "$t"; done
  [[ -n $tmp ]] && rm -f "$tmp"
  return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if ((${#to_write[@]})); then
  tmp=$(mktemp "$dir/.cni-rs-plugins.XXXXXX")
  cp "$binary" "$tmp"
  chmod 0755 "$tmp"
  sync "$tmp"
fi
for n in "${to_write[@]}"; do
  link=$dir/.cni-rs-new.$n.$$
  staged+=("$link")
  ln -f "$tmp" "$link"
  mv -f -T "$link" "$dir/$n"
done

# The manifest: this run's names with the new checksum, other names' records kept.
for n in "${names[@]}"; do recorded[$n]=$new_sum; done
mtmp=$dir/.cni-rs-new.manifest.$$
staged+=("$mtmp")
for n in "${!recorded[@]}"; do
  printf '%s  %s\n' "${recorded[$n]}" "$n"
done | sort -k2 >"$mtmp"
sync "$mtmp"
mv -f -T "$mtmp" "$manifest"

echo "install: ${#to_write[@]} of ${#names[@]} plugins written to $dir ($($binary --version))"

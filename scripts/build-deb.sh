#!/usr/bin/env bash
# Builds a Debian package of the plugins with dpkg-deb (no other tool needed).
#
#   scripts/build-deb.sh [--binary PATH] [--out DIR]
#
# The package, cni-rs-plugins_<version>_<arch>.deb in DIR (default target/debian), installs the
# static multicall binary into /usr/lib/cni, where Debian's containernetworking-plugins puts
# its plugins, once, hard-linked under each plugin name `cni-rs-plugins --list` gives. It
# declares Provides, Replaces and Conflicts on containernetworking-plugins: installing it
# removes Debian's package, including the plugins cni-rs does not have (bandwidth, firewall,
# host-device, sbr, static, vrf). The dhcp daemon's systemd units (deploy/systemd/) go to
# /lib/systemd/system, not enabled: `systemctl enable --now cni-dhcp.socket` starts it.
# Without --binary it builds the binary as scripts/install.sh does (static, non-PIE, host
# triple).
# DEB_COMPRESSION (default xz) is dpkg-deb's -Z. Prints the path of the package.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/debian
binary=""
while (($#)); do
  case $1 in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
die() { echo "build-deb: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (package dpkg)"

if [[ -z $binary ]]; then
  triple=$(rustc -vV | sed -n 's/^host: //p')
  (cd "$root" && RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
    cargo build --release -q --target "$triple" -p reference-plugins --bin cni-rs-plugins) \
    || die "build failed"
  binary=${CARGO_TARGET_DIR:-$root/target}/$triple/release/cni-rs-plugins
fi
[[ -x $binary ]] || die "no binary at $binary"

mapfile -t names < <("$binary" --list)
((${#names[@]})) || die "$binary --list named no plugin"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)
[[ -n $version ]] || die "no workspace version in Cargo.toml"
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
install -d "$pkg/DEBIAN" "$pkg/usr/lib/cni" "$pkg/usr/share/doc/cni-rs-plugins" \
  "$pkg/lib/systemd/system"
install -m 0644 "$root"/deploy/systemd/cni-dhcp.socket "$root"/deploy/systemd/cni-dhcp.service \
  "$pkg/lib/systemd/system/"
install -m 0755 "$binary" "$pkg/usr/lib/cni/${names[0]}"
for n in "${names[@]:1}"; do
  ln "$pkg/usr/lib/cni/${names[0]}" "$pkg/usr/lib/cni/$n"
done
cat >"$pkg/usr/share/doc/cni-rs-plugins/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: cni-rs

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
EOF
size_kib=$(du -sk "$pkg/usr" "$pkg/lib" | awk '{s += $1} END {print s}')
cat >"$pkg/DEBIAN/control" <<EOF
Package: cni-rs-plugins
Version: $version
Architecture: $arch
Maintainer: cni-rs developers <cni-rs@users.noreply.github.com>
Section: net
Priority: optional
Installed-Size: $size_kib
Provides: containernetworking-plugins
Replaces: containernetworking-plugins
Conflicts: containernetworking-plugins
Description: CNI plugins in Rust (drop-in for the reference plugins)
 Static replacements for the upstream CNI reference plugins ($(
   IFS=,; echo "${names[*]}" | sed 's/,/, /g')), one binary hard-linked under each
 plugin name in /usr/lib/cni.
EOF
mkdir -p "$out"
deb=$out/cni-rs-plugins_${version}_${arch}.deb
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$pkg" "$deb" >/dev/null
echo "$deb"

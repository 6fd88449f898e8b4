#!/usr/bin/env bash
# Builds the cni-rs OCI image(s) from scratch with buildah and writes them as OCI archives.
#
#   scripts/build-image.sh [--binary PATH] [--out DIR] [--conformance [--conformance-binary PATH]]
#
# The plugin image, localhost/cni-rs-plugins:<version> (deploy/image/Containerfile), holds the
# static multicall binary under every plugin name in /opt/cni/bin and as
# /usr/bin/cni-rs-plugins, hard links of one file; its entry point installs the set into
# /host/opt/cni/bin and waits (`cni-rs-plugins install --dir /host/opt/cni/bin --wait`).
# Written to DIR/cni-rs-plugins_<version>.oci.tar (default DIR: target/image).
# With --conformance, also the certification image localhost/cni-rs-conformance:<version>
# (deploy/image/Containerfile.conformance, on top of the plugin image), written to
# DIR/cni-rs-conformance_<version>.oci.tar: cni-conformance (static), conformance-cases/'s
# requirements, cases and configs, and this machine's `ip` and `nft` with their libraries.
#
# Without --binary / --conformance-binary the binaries are built as scripts/install.sh builds
# the plugins: static and non-PIE for the host triple (a scratch image has no loader or libc).
# buildah runs as root with its own storage in a temporary directory (vfs driver, no daemon,
# no registry), removed on exit: the machine's container storage is not used. Image and layer
# timestamps are fixed (--timestamp 0), so the same binaries give the same image digest.
# Load an archive with `podman load -i`, `skopeo copy oci-archive:… docker://…`, or on a
# containerd node `ctr -n k8s.io images import`. Prints the archive paths, one a line.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/image
binary=""
conformance=0
conformance_binary=""
while (($#)); do
  case $1 in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --conformance) conformance=1; shift ;;
    --conformance-binary) conformance_binary=${2:?--conformance-binary needs a path}; conformance=1; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
die() { echo "build-image: $*" >&2; exit 1; }
command -v buildah >/dev/null || die "buildah not found (Debian package buildah; scripts/setup.sh installs it)"

triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p') || true
[[ -n $triple ]] || triple=x86_64-unknown-linux-gnu
static_build() { # package binary
  (cd "$root" && RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
    cargo build --release -q --target "$triple" -p "$1" --bin "$2") || die "build of $2 failed"
  echo "${CARGO_TARGET_DIR:-$root/target}/$triple/release/$2"
}
[[ -n $binary ]] || binary=$(static_build reference-plugins cni-rs-plugins)
[[ -x $binary ]] || die "no binary at $binary"
if ((conformance)) && [[ -z $conformance_binary ]]; then
  conformance_binary=$(static_build harness cni-conformance)
fi

mapfile -t names < <("$binary" --list)
((${#names[@]})) || die "$binary --list named no plugin"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)
[[ -n $version ]] || die "no workspace version in Cargo.toml"
revision=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bah() {
  buildah --root "$stage/storage" --runroot "$stage/run" --storage-driver vfs "$@"
}
mkdir -p "$out"

# The plugin image.
ctx=$stage/plugins
install -d "$ctx/rootfs/opt/cni/bin" "$ctx/rootfs/usr/bin"
install -m 0755 "$binary" "$ctx/rootfs/usr/bin/cni-rs-plugins"
for n in "${names[@]}"; do
  ln "$ctx/rootfs/usr/bin/cni-rs-plugins" "$ctx/rootfs/opt/cni/bin/$n"
done
image=localhost/cni-rs-plugins:$version
bah bud -q --format oci --timestamp 0 --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" -f "$root/deploy/image/Containerfile" -t "$image" "$ctx" \
  >/dev/null || die "buildah bud of the plugin image failed"
archive=$out/cni-rs-plugins_$version.oci.tar
rm -f "$archive"
bah push -q "$image" "oci-archive:$archive:$image" || die "writing $archive failed"
echo "$archive"

((conformance)) || exit 0
[[ -x $conformance_binary ]] || die "no binary at $conformance_binary"
ctx=$stage/conformance
r=$ctx/rootfs
install -d "$r/usr/bin" "$r/usr/share/cni-conformance" "$r/run/netns" "$r/var/lib/cni"
install -d -m 1777 "$r/tmp"
install -m 0755 "$conformance_binary" "$r/usr/bin/cni-conformance"
cp -r "$root/conformance-cases/requirements.toml" "$root/conformance-cases/cases" \
  "$root/conformance-cases/configs" "$r/usr/share/cni-conformance/"
# ip and nft with every library ldd names (and the loader), at the same paths.
for tool in ip nft; do
  p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$tool") || die "$tool not found (packages iproute2, nftables)"
  p=$(readlink -f "$p")
  install -D -m 0755 "$p" "$r/usr/sbin/$tool"
  # With their own modes: the loader must stay executable.
  ldd "$p" | grep -o '/[^ ]*' | while read -r lib; do
    [[ -e $r$lib ]] || { mkdir -p "$r$(dirname "$lib")" && cp -L --preserve=mode "$lib" "$r$lib"; }
  done
done
image_c=localhost/cni-rs-conformance:$version
bah bud -q --format oci --timestamp 0 --build-arg "BASE=$image" --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" -f "$root/deploy/image/Containerfile.conformance" \
  -t "$image_c" "$ctx" >/dev/null || die "buildah bud of the conformance image failed"
archive=$out/cni-rs-conformance_$version.oci.tar
rm -f "$archive"
bah push -q "$image_c" "oci-archive:$archive:$image_c" || die "writing $archive failed"
echo "$archive"

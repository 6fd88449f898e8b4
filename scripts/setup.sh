#!/usr/bin/env bash
# Installs the system packages the project's tests and main job need (Debian, as root).
# Idempotent: packages already present are left alone.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  iproute2                       # ip netns, for fixtures and by-hand inspection
  nftables iptables              # firewall backends (ipMasq, portmap) and rule snapshots
  containernetworking-plugins    # the upstream Go plugins, our peers (/usr/lib/cni)
  dnsmasq-base                   # a real DHCP server for the dhcp plugin tests
  kea-dhcp4-server               # a second DHCP server (ISC Kea) for the dhcp plugin tests
  kea-dhcp6-server               # its DHCPv6 server, for the dhcp plugin's DHCPv6 tests
  procps                         # sysctl
  time                           # /usr/bin/time: peak RSS in scripts/bench-startup.sh
  strace                         # processes a verb starts: scripts/bench-chained-plugins.sh;
                                 # host-local's lock under parallel ADDs: scripts/bench-fleet.sh
  gdb                            # scripts/link-order.sh: which functions each plugin runs
  binutils                       # readelf: scripts/link-order.sh checks its map is the binary's
  python3                        # scripts/link-order.sh and scripts/bench-fleet.sh
  chromium chromium-driver       # headless rendering of `certify --html` (harness/tests/html_report.rs)
  tcpdump                        # DHCP packet timestamps: scripts/bench-dhcp.sh
  # The VM lane (scripts/vm/, tests/vm_lane.rs): Debian's kernel booted under qemu for what
  # this machine's kernel lacks (ipvlan, 802.1q vlan, dummy); the kernel itself is fetched
  # into target/vm/ by scripts/vm/build-image.sh with apt-get download.
  qemu-system-x86                # qemu-system-x86_64, and qboot.rom via qemu-system-data
  busybox-static                 # the initramfs's userland
  cpio                           # packs the initramfs
  kmod                           # depmod/modprobe: resolves the kernel modules to load
  xz-utils                       # unpacks the kernel ELF for a direct (PVH) boot
  buildah                        # scripts/build-image.sh: OCI images from scratch, no daemon
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# kubernetes-validate (PyPI; it bundles the Kubernetes schemas and PyYAML): the manifests in
# deploy/kubernetes/ are validated offline by reference-plugins/tests/deploy.rs.
if ! command -v kubernetes-validate >/dev/null; then
  command -v python3 >/dev/null || apt-get install -y -qq --no-install-recommends python3
  python3 -m pip --version >/dev/null 2>&1 ||
    apt-get install -y -qq --no-install-recommends python3-pip
  python3 -m pip install -q 'kubernetes-validate==1.37.0' 2>/dev/null ||
    python3 -m pip install -q --break-system-packages 'kubernetes-validate==1.37.0'
fi
command -v cargo >/dev/null || { echo "setup: cargo not found (install Rust with rustup)" >&2; exit 2; }

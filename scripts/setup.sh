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
  procps                         # sysctl
  time                           # /usr/bin/time: peak RSS in scripts/bench-issue3.sh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found (install Rust with rustup)" >&2; exit 2; }

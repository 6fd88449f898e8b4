#!/usr/bin/env bash
# The main job: build everything in release mode and certify each reference plugin with
# cni-conformance against its base config in conformance-cases/configs/.
# Reports land in target/certification/<plugin>.{json,xml}. Exit status 1 if any plugin is
# not conformant. Run as root (the harness creates network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --workspace
out=target/certification
mkdir -p "$out"

# Plugins whose link kind this kernel may lack: probe in a throwaway namespace.
kernel_has() {
  local ns="cnirs-mainjob-probe-$$" ok=1
  ip netns add "$ns"
  ip -n "$ns" link add p0 type veth peer name p1
  case "$1" in
    ipvlan) ip -n "$ns" link add link p0 name x0 type ipvlan mode l2 2>/dev/null || ok=0 ;;
    vlan) ip -n "$ns" link add link p0 name x0 type vlan id 5 2>/dev/null || ok=0 ;;
  esac
  ip netns del "$ns"
  [ "$ok" = 1 ]
}

status=0
certified=0
skipped=0
for bin in target/release/*; do
  name=$(basename "$bin")
  [ -f "reference-plugins/src/bin/$name.rs" ] || continue
  config=""
  for ext in json conflist; do
    [ -f "conformance-cases/configs/$name.$ext" ] && config="conformance-cases/configs/$name.$ext"
  done
  if { [ "$name" = ipvlan ] || [ "$name" = vlan ]; } && ! kernel_has "$name"; then
    echo "=== SKIPPED $name: this kernel has no $name links (its tests run in the VM lane, scripts/vm/)"
    skipped=$((skipped + 1))
    continue
  fi
  if [ -z "$config" ]; then
    echo "main-job: no base config for $name in conformance-cases/configs/" >&2
    status=1
    continue
  fi
  echo "=== certifying $name with $config"
  # Delegated plugins (IPAM, chained) come from our own release directory.
  if target/release/cni-conformance certify --plugin "$bin" --config "$config" \
      --cni-path target/release --strict \
      --json "$out/$name.json" --junit "$out/$name.xml"; then
    certified=$((certified + 1))
  else
    status=1
  fi
done
echo "=== $certified reference plugin(s) certified conformant (--strict), $skipped skipped for missing kernel features; reports in $out/"
exit $status

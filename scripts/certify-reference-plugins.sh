#!/usr/bin/env bash
# The main job: build everything in release mode and certify each reference plugin with
# cni-conformance against its base config in conformance-cases/configs/ (<name>-ours.json or
# .conflist when there is one, else <name>.json or .conflist); dhcp, an IPAM plugin, as the IPAM
# of our bridge and of our macvlan (bridge-dhcp.json, macvlan-dhcp.json: the harness starts
# dnsmasq and our `dhcp daemon` in every world), after its end-to-end tests.
# Plugins whose link kind this kernel lacks (ipvlan, vlan here) are certified the same way
# inside the VM lane's VM (scripts/vm/: Debian's kernel under qemu), with static release
# builds of the harness and the plugins; set CNIRS_MAIN_JOB_NO_VM=1 to skip them instead
# (named as SKIPPED, never counted as certified).
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
dhcp_tested=0
dhcp_certified=0
in_vm=()
for bin in target/release/*; do
  name=$(basename "$bin")
  [ -f "reference-plugins/src/bin/$name.rs" ] || continue
  if [ "$name" = dhcp ]; then
    # An IPAM plugin that needs a DHCP server on the container's link and its daemon: it is
    # certified below as the IPAM of our bridge and of our macvlan (the configs'
    # x-conformance.dhcp starts dnsmasq and our `dhcp daemon` in every world), and its
    # end-to-end tests (dnsmasq v4/v6, Kea) run here.
    echo "=== dhcp: end-to-end tests (it is certified below as the IPAM of bridge and macvlan)"
    if cargo test -q -p reference-plugins --test dhcp; then
      dhcp_tested=1
    else
      status=1
    fi
    continue
  fi
  # <name>-ours.* (our plugin's own certification config, e.g. tuning's, or portmap's after
  # our bridge) before <name>.*.
  config=""
  for stem in "$name-ours" "$name"; do
    for ext in json conflist; do
      [ -z "$config" ] && [ -f "conformance-cases/configs/$stem.$ext" ] &&
        config="conformance-cases/configs/$stem.$ext"
    done
  done
  if { [ "$name" = ipvlan ] || [ "$name" = vlan ]; } && ! kernel_has "$name"; then
    if [ "${CNIRS_MAIN_JOB_NO_VM:-0}" = 1 ]; then
      echo "=== SKIPPED $name: this kernel has no $name links (CNIRS_MAIN_JOB_NO_VM=1; the VM lane certifies it)"
      skipped=$((skipped + 1))
    else
      echo "=== $name: this kernel has no $name links; certifying it in the VM below"
      in_vm+=("$name")
    fi
    continue
  fi
  if [ -z "$config" ]; then
    echo "certify-reference-plugins: no base config for $name in conformance-cases/configs/" >&2
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
# dhcp as the IPAM of our bridge and of our macvlan: dnsmasq and our daemon per world.
for pair in bridge:bridge-dhcp.json macvlan:macvlan-dhcp.json; do
  plugin=${pair%%:*}
  config=conformance-cases/configs/${pair#*:}
  report=$out/dhcp-via-$plugin
  echo "=== certifying dhcp as the IPAM of $plugin with $config"
  if target/release/cni-conformance certify --plugin "target/release/$plugin" --config "$config" \
      --cni-path target/release --strict --json "$report.json" --junit "$report.xml"; then
    dhcp_certified=$((dhcp_certified + 1))
  else
    status=1
  fi
done
if ((${#in_vm[@]})); then
  triple=x86_64-unknown-linux-gnu
  static=target/$triple/release
  echo "=== static release build for the VM (${in_vm[*]})"
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --target "$triple" -p harness -p reference-plugins
  scripts/vm/build-image.sh
  # One VM for all of them; the workspace is shared at the same path, so the reports land in
  # $out. The script runs under the VM's dash. Under emulation the robustness runs of --strict
  # take a sample (2 traced kill points per verb, plus the timed ones and the config faults; 4
  # parallel attachments), as harness/tests/in_vm_certify.rs does.
  script='status=0
for name in "$@"; do
  echo "=== certifying $name with conformance-cases/configs/$name.json (in the VM)"
  '"$static"'/cni-conformance certify --plugin '"$static"'/$name \
    --config conformance-cases/configs/$name.json --cni-path '"$static"' --strict \
    --faults-points 2 --concurrency 4 \
    --json '"$out"'/$name.json --junit '"$out"'/$name.xml || status=1
done
exit $status'
  if CNIRS_VM_SMP=${CNIRS_VM_SMP:-2} CNIRS_VM_TIMEOUT=${CNIRS_VM_TIMEOUT:-1500} \
      scripts/vm/run.sh /bin/sh -c "$script" in-vm "${in_vm[@]}"; then
    certified=$((certified + ${#in_vm[@]}))
  else
    status=1
  fi
fi
echo "=== $certified reference plugin(s) certified conformant (--strict; ${#in_vm[@]} of them in the VM), $skipped skipped for missing kernel features; reports in $out/"
[ "$dhcp_tested" = 1 ] && echo "=== dhcp: end-to-end tests passed; certified as the IPAM of $dhcp_certified of 2 plugins (bridge, macvlan; reports dhcp-via-*)"
exit $status

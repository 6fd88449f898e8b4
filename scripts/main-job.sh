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

status=0
certified=0
for bin in target/release/*; do
  name=$(basename "$bin")
  [ -f "reference-plugins/src/bin/$name.rs" ] || continue
  config=""
  for ext in json conflist; do
    [ -f "conformance-cases/configs/$name.$ext" ] && config="conformance-cases/configs/$name.$ext"
  done
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
echo "=== $certified reference plugin(s) certified conformant (--strict); reports in $out/"
exit $status

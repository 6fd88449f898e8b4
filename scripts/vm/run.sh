#!/usr/bin/env bash
# Runs one program inside the VM lane's VM (Debian's kernel, with ipvlan, 802.1q vlan, dummy,
# ...) and exits with its exit status. The workspace is shared over 9p at the same path, so a
# program built in the workspace runs there unchanged; build Rust programs statically
# (-C target-feature=+crt-static). Output (stdout and stderr together, from the serial console)
# is streamed with CRs stripped. See scripts/vm/README.md.
#
#   scripts/vm/run.sh <program> [args...]
#
# Exit status: the program's; 125 when the VM gave none (no image, qemu failure, kernel panic,
# init failure, timeout), with a message on stderr saying which.
#
# Environment:
#   CNIRS_VM_TIMEOUT  seconds before the VM is killed (default 300)
#   CNIRS_VM_MEM      memory in MiB (default 512)        CNIRS_VM_SMP  CPUs (default 1)
#   CNIRS_VM_SHARE    host directory shared at the same path (default: the workspace)
#   CNIRS_VM_EXTRA_SHARES  more host directories, colon-separated, shared read-only at the
#                     same paths (default: /usr/lib/cni, the upstream plugins, if present)
#   CNIRS_VM_ACCEL    tcg or kvm (default: kvm if a probe boot once worked here, else tcg)
#   CNIRS_VM_ENV      more variable names to pass in; RUST_*, CARGO_* and CNIRS_* always are
# Inside, CNIRS_IN_VM=1 is set, the working directory is the caller's when it is under the share
# (else the share's root), and stdin is /dev/null.
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workspace=$(cd "$here/../.." && pwd)
vm=${CNIRS_VM_DIR:-$workspace/target/vm}
timeout=${CNIRS_VM_TIMEOUT:-300}
mem=${CNIRS_VM_MEM:-512}
smp=${CNIRS_VM_SMP:-1}
share=${CNIRS_VM_SHARE:-$workspace}
extra_default=
[[ -d /usr/lib/cni ]] && extra_default=/usr/lib/cni
IFS=: read -r -a extra_shares <<<"${CNIRS_VM_EXTRA_SHARES-$extra_default}"
VM_FAILED=125

die() { echo "vm/run: $*" >&2; exit $VM_FAILED; }
(($# >= 1)) || die "usage: scripts/vm/run.sh <program> [args...]"
[[ -d $share ]] || die "share $share is not a directory"
share=$(cd "$share" && pwd)
virtfs=(-virtfs "local,path=$share,mount_tag=cnirs,security_model=none")
extras=()
for d in "${extra_shares[@]}"; do
  [[ -n $d ]] || continue
  [[ -d $d ]] || die "extra share $d is not a directory"
  extras+=("$(cd "$d" && pwd)")
  virtfs+=(-virtfs "local,path=${extras[-1]},mount_tag=cnirs${#extras[@]},security_model=none,readonly=on")
done

CNIRS_VM_QUIET=1 "$here/build-image.sh" >/dev/null || die "the VM image could not be built (scripts/vm/build-image.sh failed, see above)"
for f in "$vm/kernel" "$vm/initrd.img" /usr/share/qemu/qboot.rom; do
  [[ -f $f ]] || die "$f is missing (run scripts/vm/build-image.sh)"
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (package qemu-system-x86)"

tmp=$(mktemp -d "$vm/run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# This run's own links to the boot files, taken while no rebuild is replacing them.
exec 8<"$vm/.lock"
flock -s 8
ln "$vm/kernel" "$tmp/kernel" && ln "$vm/initrd.img" "$tmp/base.img" || die "cannot link the boot files into $tmp"
flock -u 8
exec 8<&-

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }   # quotes one word for /bin/sh

# console NONCE ECHO: reads the serial console, strips CRs, records the exit status (or the
# init's failure, or a kernel panic) in $tmp and, when ECHO is 1, prints the rest line by line
# as it comes (a bash loop: mawk and tr would hold the output back in their buffers).
console() {
  local nonce=$1 echo=$2 line done=0
  while IFS= read -r line || [[ -n $line ]]; do
    ((done)) && continue   # after the exit status: only "reboot: Restarting system"
    line=${line//$'\r'/}
    if [[ $line =~ CNIRS-VM-EXIT\ $nonce\ ([0-9]+)$ ]]; then
      echo "${BASH_REMATCH[1]}" >"$tmp/result"
      done=1
      line=${line%"${BASH_REMATCH[0]}"}
      [[ -n $line ]] || continue
    elif [[ $line == *"CNIRS-VM-INIT-FAILED $nonce: "* ]]; then
      echo "init: ${line#*"CNIRS-VM-INIT-FAILED $nonce: "}" >"$tmp/result"
      continue
    elif [[ $line == *"Kernel panic"* ]]; then
      echo "$line" >>"$tmp/panic"
    fi
    if ((echo)); then printf '%s\n' "$line"; fi
  done
}

# boot ACCEL TIMEOUT ECHO PROGRAM [ARGS...]: boots one VM running PROGRAM; streams its console
# to stdout when ECHO is 1. Sets `status` (the program's, or empty) and `why` (if empty).
boot() {
  local accel=$1 limit=$2 echo=$3
  shift 3
  local nonce
  nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  local cwd=$share
  case $PWD/ in "$share"/*) cwd=$PWD ;; esac
  rm -rf "$tmp/seg" "$tmp/result" "$tmp/panic" && mkdir -p "$tmp/seg/cnirs"
  {
    echo "nonce=$nonce"
    echo "share=$(q "$share")"
    echo "cwd=$(q "$cwd")"
    echo "extra_count=${#extras[@]}"
    local i
    for i in "${!extras[@]}"; do echo "extra_$((i + 1))=$(q "${extras[i]}")"; done
    local name
    for name in $(compgen -e); do
      case " ${CNIRS_VM_ENV:-} " in *" $name "*) ;; *)
        case $name in RUST_* | CARGO_* | CNIRS_*) ;; *) continue ;; esac ;;
      esac
      [[ $name == CNIRS_IN_VM ]] && continue
      echo "export $name=$(q "${!name}")"
    done
    printf 'set --'
    local a
    for a in "$@"; do printf ' %s' "$(q "$a")"; done
    echo
  } >"$tmp/seg/cnirs/run"
  # The base image plus a second cpio segment holding /cnirs/run.
  (cd "$tmp/seg" && find . -mindepth 1 | cpio -o -H newc --quiet -R 0:0 >"$tmp/run.cpio") || {
    why="cpio failed"
    status=
    return
  }
  cat "$tmp/base.img" "$tmp/run.cpio" >"$tmp/initrd.img"

  local cpu=max
  [[ $accel == kvm ]] && cpu=host
  # The subshell keeps bash's "Aborted" job notices out of the output.
  (timeout -k 5 "$limit" qemu-system-x86_64 \
    -machine q35 -accel "$accel" -cpu "$cpu" -m "$mem" -smp "$smp" \
    -nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot \
    -bios /usr/share/qemu/qboot.rom \
    -kernel "$tmp/kernel" -initrd "$tmp/initrd.img" \
    -append "console=ttyS0 panic=-1 ${CNIRS_VM_APPEND:-quiet} cryptomgr.notests i8042.noaux i8042.nokbd" \
    "${virtfs[@]}" \
    </dev/null 2>"$tmp/qemu.err"; r=$?; exit $r) 2>>"$tmp/qemu.err" |
    console "$nonce" "$echo"
  local rcs=("${PIPESTATUS[@]}")
  status=
  why=
  if [[ -s $tmp/result ]]; then
    local r
    r=$(<"$tmp/result")
    case $r in
      init:*) why="the VM's init failed: ${r#init: }" ;;
      *) status=$r ;;
    esac
  elif [[ ${rcs[0]} == 124 || ${rcs[0]} == 137 ]]; then
    why="timed out after $limit s (CNIRS_VM_TIMEOUT) with no exit status"
  elif [[ -s $tmp/panic ]]; then
    why="the kernel panicked: $(head -n1 "$tmp/panic")"
  elif [[ ${rcs[0]} != 0 ]]; then
    why="qemu exited with status ${rcs[0]}: $(head -c 2000 "$tmp/qemu.err")"
  else
    why="the VM stopped without reporting an exit status (see the console output above)"
  fi
}

accel=${CNIRS_VM_ACCEL:-}
if [[ -z $accel ]]; then
  # KVM only where it really boots this kernel (it fails at start, or hangs, on some nested
  # hosts); the answer is kept next to the image, per host kernel.
  host=$(uname -r)
  if [[ -f $vm/accel && $(cut -d' ' -f2 "$vm/accel") == "$host" ]]; then
    accel=$(cut -d' ' -f1 "$vm/accel")
  else
    accel=tcg
    if [[ -r /dev/kvm && -w /dev/kvm ]]; then
      boot kvm 30 0 true
      [[ $status == 0 ]] && accel=kvm
    fi
    echo "$accel $host" >"$vm/accel"
  fi
fi

boot "$accel" "$timeout" 1 "$@"
if [[ -n $status ]]; then
  exit "$status"
fi
die "$why"

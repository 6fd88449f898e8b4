#!/usr/bin/env bash
# Builds the VM lane's boot files: Debian's kernel and an initramfs with busybox, iproute2's
# `ip`, dash as /bin/sh, `nft`, bash (for scripts/bench-interface-plugins.sh), the kernel modules the host
# lacks (8021q, dummy, ipvlan, ...) and the 9p modules that mount the workspace. See
# scripts/vm/README.md.
#
# Idempotent and cached in target/vm/ (never committed): a second run with the same inputs
# only checks the stamp and exits. Installs missing Debian packages (root). Prints the cache
# directory on success.
#
#   scripts/vm/build-image.sh [--refresh]   # --refresh: ask apt for the newest kernel again
#
# Environment: CNIRS_VM_DIR (cache, default <workspace>/target/vm), CNIRS_VM_KERNEL_PKG (a
# linux-image-* package name, default: what linux-image-amd64 depends on).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
workspace=$(cd "$here/../.." && pwd)
vm=${CNIRS_VM_DIR:-$workspace/target/vm}
refresh=0
[[ ${1:-} == --refresh ]] && refresh=1

die() { echo "vm/build-image: $*" >&2; exit 1; }
log() { [[ -n ${CNIRS_VM_QUIET:-} ]] || echo "vm/build-image: $*" >&2; }

# Kernel modules loaded at boot, in this order; their dependencies (also soft ones) are
# resolved with modprobe against the kernel package and loaded first.
boot_modules=(
  8021q dummy ipvlan veth macvlan bridge     # the link kinds under test
  virtio_pci 9pnet_virtio 9p                 # the workspace share
)
# Modules only put in the image: the kernel loads them when first used (through busybox's
# modprobe and modules.alias), which keeps ~0.4 s off every boot that does not use nftables.
ondemand_modules=(nf_tables nft_chain_nat nft_nat nft_masq nft_ct nft_fib_inet nft_reject_inet)
# Options given to modules (module name, then its options).
declare -A module_options=([dummy]="numdummies=0")
# Host programs copied in with their shared libraries (found with ldd).
programs=(/usr/sbin/ip /usr/bin/dash /usr/sbin/nft /usr/bin/bash)
packages=(qemu-system-x86 busybox-static cpio kmod xz-utils iproute2 dash nftables)

mkdir -p "$vm"
# Exclusive while building; run.sh takes it shared for a moment to link the boot files.
exec 9>"$vm/.lock"
flock 9
# Leftovers of runs that were killed (run.sh removes its directory when it ends).
find "$vm" -maxdepth 1 -name 'run.*' -mmin +600 -exec rm -rf {} + 2>/dev/null || true

# --- Debian packages -----------------------------------------------------------------------
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing Debian packages ${missing[*]} and not root to install them"
  log "installing ${missing[*]}"
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
fi
busybox=/bin/busybox
file_is_static() { ! LC_ALL=C ldd "$1" >/dev/null 2>&1; }
if ! [[ -x $busybox ]] || ! file_is_static "$busybox"; then
  die "$busybox is not busybox-static's static binary"
fi
for f in "${programs[@]}" /usr/share/qemu/qboot.rom; do [[ -e $f ]] || die "$f is missing"; done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (package qemu-system-x86)"

# --- The kernel package ------------------------------------------------------------------------
# target/vm/kernel-pkg names the package in use; --refresh or its absence asks apt again.
kpkg=${CNIRS_VM_KERNEL_PKG:-}
if [[ -z $kpkg && $refresh == 0 && -s $vm/kernel-pkg ]]; then
  kpkg=$(<"$vm/kernel-pkg")
fi
if [[ -z $kpkg ]]; then
  resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
  kpkg=$(resolve)
  if [[ -z $kpkg ]]; then
    apt-get update -qq || true
    kpkg=$(resolve)
  fi
  [[ -n $kpkg ]] || die "apt knows no linux-image-amd64 dependency (check /etc/apt/sources.list)"
fi
deb=$(compgen -G "$vm/deb/${kpkg}_*.deb" | head -n1 || true)
if [[ -z $deb ]]; then
  log "downloading $kpkg"
  rm -rf "$vm/deb.tmp" && mkdir -p "$vm/deb.tmp"
  # apt drops privileges to _apt when it can; a root-only directory only costs a warning.
  (cd "$vm/deb.tmp" && apt-get download -qq "$kpkg" 2>&1 | grep -v -e '^W: Download is performed unsandboxed' >&2) ||
    true
  deb=$(compgen -G "$vm/deb.tmp/${kpkg}_*.deb" | head -n1 || true)
  if [[ -z $deb ]]; then
    rm -rf "$vm/deb.tmp"
    die "apt-get download $kpkg failed"
  fi
  rm -rf "$vm/deb" && mv "$vm/deb.tmp" "$vm/deb"
  deb=$(compgen -G "$vm/deb/${kpkg}_*.deb" | head -n1)
fi
echo "$kpkg" >"$vm/kernel-pkg"

# --- Up to date? ---------------------------------------------------------------------------------
# The stamp covers this script, the kernel package and every host file copied in.
stamp_of() {
  {
    basename "$deb"
    stat -c %s "$deb"
    sha256sum "$here/build-image.sh" "$busybox" "${programs[@]}" | cut -d' ' -f1
    for p in "${programs[@]}"; do ldd "$p" | awk '/=>/ {print $3} /^\t\// {print $1}'; done |
      sort -u | xargs -r readlink -f | xargs -r sha256sum
  } | sha256sum | cut -d' ' -f1
}
stamp=$(stamp_of)
if [[ -f $vm/stamp && $(<"$vm/stamp") == "$stamp" && -f $vm/kernel && -f $vm/initrd.img ]]; then
  echo "$vm"
  exit 0
fi

# --- Unpack the kernel and resolve the modules -------------------------------------------------
log "building the image from $(basename "$deb")"
work=$(mktemp -d "$vm/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb --fsys-tarfile "$deb" |
  tar -x -C "$work" --wildcards './boot/vmlinuz-*' './boot/config-*' './lib/modules/*' ||
  die "unpacking $deb failed"
kver=$(basename "$(compgen -G "$work/lib/modules/*" | head -n1)")
kdir=$work/lib/modules/$kver
[[ -f $work/boot/vmlinuz-$kver ]] || die "no vmlinuz-$kver in $deb"

# The emulated CPU needs ~5 s to inflate the xz-compressed bzImage; with CONFIG_PVH qemu boots
# the uncompressed ELF directly, so unpack it once here. Other kernels boot as they come.
kernel=$work/boot/vmlinuz-$kver
if grep -qx 'CONFIG_PVH=y' "$work/boot/config-$kver"; then
  offset=$(grep -obUaP '\xfd7zXZ\x00' "$kernel" | head -n1 | cut -d: -f1 || true)
  if [[ -n $offset ]] &&
    xz -dc --single-stream <(tail -c +$((offset + 1)) "$kernel") >"$work/vmlinux" 2>/dev/null &&
    [[ $(head -c4 "$work/vmlinux" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
    kernel=$work/vmlinux
  fi
fi
depmod -b "$work" "$kver" || die "depmod on the kernel package failed"

root=$work/root
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc/cnirs,etc/modprobe.d,proc,sys,dev,tmp,run,mnt,root}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

# The load list: one module a line, path relative to /lib/modules/<kver>, then its options.
: >"$root/etc/cnirs/modules"
: >"$root/etc/cnirs/module-names"
declare -A seen=()
boot=1
for m in "${boot_modules[@]}" -- "${ondemand_modules[@]}"; do
  if [[ $m == -- ]]; then
    boot=0
    continue
  fi
  # -C /dev/null: no host modprobe.d options; soft dependencies come from the package.
  deps=$(modprobe -C /dev/null -d "$work" -S "$kver" --show-depends "$m") ||
    die "module $m: not in $kpkg"
  while read -r verb path _; do
    [[ $verb == insmod ]] || continue   # "builtin X" lines need nothing
    rel=${path#"$kdir"/}
    [[ -n ${seen[$rel]:-} ]] && continue
    seen[$rel]=1
    name=$(basename "$rel"); name=${name%%.ko*}; name=${name//-/_}
    case $rel in
      *.ko) install -D -m 0644 "$path" "$root/lib/modules/$kver/$rel" ;;
      *.ko.xz) install -d "$root/lib/modules/$kver/$(dirname "$rel")"
               xz -dc "$path" >"$root/lib/modules/$kver/${rel%.xz}"; rel=${rel%.xz} ;;
      *.ko.zst) install -d "$root/lib/modules/$kver/$(dirname "$rel")"
                zstd -qdc "$path" >"$root/lib/modules/$kver/${rel%.zst}"; rel=${rel%.zst} ;;
      *) die "module file $rel: unknown format" ;;
    esac
    if ((boot)); then
      echo "$rel ${module_options[$name]:-}" >>"$root/etc/cnirs/modules"
      printf '%s ' "$name" >>"$root/etc/cnirs/module-names"
    fi
    if [[ -n ${module_options[$name]:-} ]]; then
      echo "options $name ${module_options[$name]}" >>"$root/etc/modprobe.d/cnirs.conf"
    fi
  done <<<"$deps"
done
cp "$kdir"/modules.builtin "$kdir"/modules.order "$root/lib/modules/$kver/"
# modules.dep for the subset, so `modprobe` works inside the VM for what is there.
"$busybox" depmod -b "$root" "$kver" || die "busybox depmod failed"
echo "$kver" >"$root/etc/cnirs/kernel-release"

# --- Programs ------------------------------------------------------------------------------------
cp "$busybox" "$root/usr/bin/busybox"
# Every busybox applet except the shell and ip (dash and iproute2 take those).
"$busybox" --list-full | grep / | while read -r applet; do
  case ${applet##*/} in sh | ash | ip | busybox) continue ;; esac
  dest=$root/usr/${applet#usr/}
  if ! [[ -e $dest ]]; then ln -s /usr/bin/busybox "$dest"; fi
done
copy_with_libs() {
  install -D -m 0755 "$1" "$root/usr/${2#/usr/}"
  ldd "$1" | awk '/=>/ {print $3} /^\t\// {print $1}' | while read -r lib; do
    if ! [[ -e $root/usr/${lib#/usr/} ]]; then
      install -D -m 0755 "$(readlink -f "$lib")" "$root/usr/${lib#/usr/}"
    fi
  done
}
for p in "${programs[@]}"; do copy_with_libs "$p" "$p"; done
ln -s dash "$root/usr/bin/sh"
if [[ -d /etc/iproute2 ]]; then cp -r /etc/iproute2 "$root/etc/"; fi
echo >>"$root/etc/cnirs/module-names"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
: >"$root/etc/fstab"
printf 'hosts: files\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

cat >"$root/init" <<'INIT'
#!/bin/sh
# The VM lane's init (dash). Runs /cnirs/run (written by scripts/vm/run.sh into a second
# initramfs segment), prints "CNIRS-VM-EXIT <nonce> <status>" and powers off. A failure before
# the program prints "CNIRS-VM-INIT-FAILED <nonce>: <what>" instead.
export PATH=/usr/sbin:/usr/bin HOME=/root TERM=dumb
nonce=none
if [ -f /cnirs/run ]; then
  . /cnirs/run   # nonce, share, cwd, extra shares, exported variables, the command as "$@"
fi
off() { sync; reboot -f; sleep 10; }   # qemu runs with -no-reboot: a reboot ends it
fail() { echo "CNIRS-VM-INIT-FAILED $nonce: $*"; off; }
[ -f /cnirs/run ] || fail "no /cnirs/run in the initramfs (boot through scripts/vm/run.sh)"
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
# What udev makes on a real system: `nft -f -` opens /dev/stdin, for one.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp || fail "mount /tmp"
mount -t tmpfs tmpfs /run || fail "mount /run"
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
exec </dev/null
kver=$(cat /etc/cnirs/kernel-release)
# One modprobe for all (each process costs ~20 ms here); insmod one by one to name a failure.
read -r names </etc/cnirs/module-names
# shellcheck disable=SC2086
if ! modprobe -a $names 2>/dev/null; then
  while read -r mod opts; do
    grep -q "^$(basename "${mod%%.ko*}" | tr - _) " /proc/modules && continue
    # shellcheck disable=SC2086
    out=$(insmod "/lib/modules/$kver/$mod" $opts 2>&1) || fail "insmod $mod $opts: $out"
  done </etc/cnirs/modules
fi
ip link set lo up || fail "ip link set lo up"
if [ -n "${share:-}" ]; then
  mkdir -p "$share" || fail "mkdir $share"
  out=$(mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose cnirs "$share" 2>&1) ||
    fail "mount the 9p share at $share: $out"
fi
i=1
while [ "$i" -le "${extra_count:-0}" ]; do
  eval "dir=\$extra_$i"
  mkdir -p "$dir" || fail "mkdir $dir"
  out=$(mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap,ro "cnirs$i" "$dir" 2>&1) ||
    fail "mount the 9p share at $dir: $out"
  i=$((i + 1))
done
cd "${cwd:-/}" || fail "cd ${cwd:-/}"
export CNIRS_IN_VM=1
"$@"
status=$?
echo "CNIRS-VM-EXIT $nonce $status"
off
INIT
chmod 0755 "$root/init"

# --- Pack --------------------------------------------------------------------------------------
# Uncompressed: the emulated CPU would spend longer inflating it than qemu spends loading it.
(cd "$root" && find . -mindepth 1 | sort | cpio -o -H newc --quiet -R 0:0 >"$work/initrd.img") ||
  die "cpio failed"
mv -f "$kernel" "$vm/kernel"
mv -f "$work/initrd.img" "$vm/initrd.img"
echo "$kver" >"$vm/kernel-release"
rm -f "$vm/accel"   # run.sh probes KVM again for a new image
echo "$stamp" >"$vm/stamp"
log "image ready: $vm/kernel ($kver, $(du -h "$vm/kernel" | cut -f1)), $vm/initrd.img ($(du -h "$vm/initrd.img" | cut -f1))"
echo "$vm"

#!/usr/bin/env bash
# Builds the tiny test guest (a Debian kernel and an initramfs running qemu-ga) from Debian packages only,
# into a cache folder, and prints that folder's path on stdout (the only thing printed there; logs go to
# stderr). The folder holds vmlinuz and initrd.img.
#
# Cached and idempotent: the build folder is named after the kernel version and a hash of this script,
# so a second run finds it and returns in a few milliseconds, and any edit here rebuilds. The kernel version
# is that of Debian's current linux-image-amd64 (not the running kernel, which here need not be Debian's);
# resolving it with apt-cache costs ~0.6 s, so the answer is memoised against the apt lists' fingerprint.
#
# Environment:
#   QGA_TEST_GUEST_DIR       cache root (default: <repo>/.cache/test-guest)
#   QGA_TEST_KERNEL_VERSION  pin a kernel ABI, e.g. 6.1.0-56-amd64 (skips the apt-cache lookup)
set -euo pipefail

# apt, mkfs and friends live in sbin, which a CI or user PATH may lack.
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C

script_path=$(readlink -f "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script_path")/../.." && pwd)
cache_root=${QGA_TEST_GUEST_DIR:-$repo_root/.cache/test-guest}
script_hash=$(sha256sum "$script_path" | cut -c1-12)

log() { printf 'build-guest: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The apt lists' names, sizes and mtimes: they change exactly when `apt-get update` brings new package
# lists, i.e. when the answer to "which kernel is current" may change.
apt_lists_fingerprint() {
  shopt -s nullglob
  local lists=(/var/lib/apt/lists/*_Packages*)
  shopt -u nullglob
  if ((${#lists[@]} == 0)); then
    echo none
    return
  fi
  stat -c '%n %s %Y' "${lists[@]}" | sha256sum | cut -c1-16
}

apt_get() {
  # A lock timeout rather than a failure when another apt (another test run) holds the lock.
  DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@"
}

apt_updated=0
apt_update_once() {
  if ((apt_updated == 0)); then
    [[ $(id -u) == 0 ]] || die "apt lists lack what is needed and we are not root to run apt-get update"
    log "apt-get update"
    apt_get update >&2
    apt_updated=1
  fi
}

resolve_kernel_version() {
  if [[ -n ${QGA_TEST_KERNEL_VERSION:-} ]]; then
    echo "$QGA_TEST_KERNEL_VERSION"
    return
  fi
  local memo=$cache_root/kernel-version.memo fp memo_fp memo_ver version
  fp=$(apt_lists_fingerprint)
  if [[ -f $memo ]] && read -r memo_fp memo_ver <"$memo" && [[ $memo_fp == "$fp" && -n $memo_ver ]]; then
    echo "$memo_ver"
    return
  fi
  # linux-image-amd64 is Debian's "current kernel" metapackage; its dependency names the ABI, e.g.
  # linux-image-6.1.0-56-amd64.
  version=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n1 || true)
  if [[ -z $version ]]; then
    apt_update_once
    fp=$(apt_lists_fingerprint)
    version=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n1)
  fi
  [[ -n $version ]] || die "cannot resolve Debian's current kernel (apt-cache depends linux-image-amd64)"
  mkdir -p "$cache_root"
  printf '%s %s\n' "$fp" "$version" >"$memo.tmp.$$"
  mv -f "$memo.tmp.$$" "$memo"
  echo "$version"
}

kernel_version=$(resolve_kernel_version)
out_dir=$cache_root/$kernel_version-$script_hash

# Fast path: a finished build is never modified, only replaced by a new folder name.
if [[ -f $out_dir/READY ]]; then
  echo "$out_dir"
  exit 0
fi

mkdir -p "$cache_root"
# Several test files (or CI and a developer) may build at once: one builds, the others wait and reuse it.
exec 9>"$cache_root/.lock"
flock 9
if [[ -f $out_dir/READY ]]; then
  echo "$out_dir"
  exit 0
fi

start_s=$(date +%s.%N)
log "building $out_dir (kernel $kernel_version)"

# --- host packages -----------------------------------------------------------------------------------------
# Command -> Debian package. qemu-guest-agent must be installed (not only downloaded) because its shared
# libraries are taken from this machine via ldd. qemu-system-x86 is not needed to build, but every user of
# this guest needs it, so it is installed here too.
declare -A needed=(
  [qemu-ga]=qemu-guest-agent
  [qemu-system-x86_64]=qemu-system-x86
  [cpio]=cpio
  [mkfs.ext4]=e2fsprogs
  [gzip]=gzip
  [xz]=xz-utils
  [flock]=util-linux
)
missing=()
for cmd in "${!needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
done
if ((${#missing[@]} > 0)); then
  [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]} (install them, or run this as root)"
  apt_update_once
  log "apt-get install ${missing[*]}"
  apt_get install -y --no-install-recommends "${missing[@]}" >&2
fi

# --- downloads (kept across builds: only the script hash may have changed) ----------------------------------
deb_dir=$cache_root/debs
mkdir -p "$deb_dir"
download() { # package -> path of its .deb in deb_dir
  local pkg=$1 found
  found=$(find "$deb_dir" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  if [[ -z $found ]]; then
    log "apt-get download $pkg"
    # As root, apt drops to the _apt user for downloads, which cannot write a root-owned cache folder.
    (cd "$deb_dir" && apt_get -o APT::Sandbox::User=root download "$pkg" >&2) || {
      apt_update_once
      (cd "$deb_dir" && apt_get -o APT::Sandbox::User=root download "$pkg" >&2)
    }
    found=$(find "$deb_dir" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
  fi
  [[ -n $found ]] || die "download of $pkg failed"
  echo "$found"
}
kernel_deb=$(download "linux-image-$kernel_version")
# busybox-static is unpacked, not installed: installing it would remove a host's dynamic `busybox` package
# (they conflict), and only the binary is needed. Its cached .deb is reused until the cache is deleted.
busybox_deb=$(download busybox-static)

work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

dpkg -x "$kernel_deb" "$work/kernel"
dpkg -x "$busybox_deb" "$work/busybox"
moddir=$work/kernel/lib/modules/$kernel_version
[[ -d $moddir ]] || die "no $moddir in $kernel_deb"

root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,data,root,home/test,lib/modules,lib64,var}
ln -s ../run "$root/var/run"
chmod 1777 "$root/tmp"

# --- busybox ------------------------------------------------------------------------------------------------
install -m 0755 "$work/busybox/bin/busybox" "$root/bin/busybox"
# One symlink per applet (bin/sh, sbin/poweroff, ...), so qemu-ga's guest-exec of /bin/echo etc. works.
while read -r applet; do
  [[ -e $root/$applet || -L $root/$applet ]] && continue
  [[ -d $root/${applet%/*} ]] || mkdir -p "$root/${applet%/*}"
  ln -s /bin/busybox "$root/$applet"
done < <("$root/bin/busybox" --list-full)

# --- qemu-ga and its libraries ------------------------------------------------------------------------------
qga=$(command -v qemu-ga)
install -m 0755 "$qga" "$root/usr/sbin/qemu-ga"
# ldd prints "name => /path (addr)" and, for the loader, "/path (addr)". Copy each to the same path in the
# guest (dereferenced), which is where the binary's loader and RUNPATH-less lookups expect it.
while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done < <(ldd "$qga" | awk '/=> \// { print $3 } /^\t\// { print $1 }')

# --- kernel modules -----------------------------------------------------------------------------------------
# Debian's .deb ships no modules.dep (its postinst runs depmod), so dependencies come from each module's
# own .modinfo "depends=" field, which is what depmod derives modules.dep from.
declare -A mod_path=()
while read -r ko; do
  # Parameter expansion, not basename: this runs for each of ~4000 modules.
  name=${ko##*/}
  name=${name%.ko}
  mod_path[${name//-/_}]=$ko
done < <(find "$moddir/kernel" -name '*.ko')

declare -A mod_added=()
load_order=()
add_module() {
  local name=${1//-/_} path deps dep
  [[ -n ${mod_added[$name]:-} ]] && return 0
  path=${mod_path[$name]:-}
  if [[ -z $path ]]; then
    # Built into this kernel: nothing to load.
    grep -q "/$name.ko\$" "$moddir/modules.builtin" || die "module $name neither in the package nor built in"
    mod_added[$name]=builtin
    return 0
  fi
  deps=$(tr '\0' '\n' <"$path" | sed -n 's/^depends=//p' | head -n1)
  for dep in ${deps//,/ }; do
    add_module "$dep"
  done
  mod_added[$name]=1
  load_order+=("$name")
  cp "$path" "$root/lib/modules/$name.ko"
}
# The virtio transport and console (the agent's channel), then the virtio disk and ext4 for /data.
# crc32c_generic: ext4 only soft-depends on "crypto-crc32c" (an alias, no depends= entry), yet mounting a
# filesystem with metadata_csum (mkfs.ext4's default) fails without a crc32c implementation.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console \
  virtio_blk crc32c_generic crc16 mbcache jbd2 ext4; do
  add_module "$m"
done
printf '%s\n' "${load_order[@]}" >"$root/lib/modules/load-order"
log "modules: ${load_order[*]}"

# --- /etc ---------------------------------------------------------------------------------------------------
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
test:x:1000:1000:test user:/home/test:/bin/sh
EOF
# Empty passwords ("!" = locked for root): guest-set-user-password tests set them.
cat >"$root/etc/shadow" <<'EOF'
root:!:19000:0:99999:7:::
test:!:19000:0:99999:7:::
EOF
chmod 0640 "$root/etc/shadow"
cat >"$root/etc/group" <<'EOF'
root:x:0:
test:x:1000:
EOF
# glibc (qemu-ga's getpwnam) reads this; busybox (static) ignores it.
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
# guest-get-osinfo reports this.
cat >"$root/etc/os-release" <<'EOF'
PRETTY_NAME="qga-mqtt test guest (Debian 12 kernel, busybox)"
NAME="qga-mqtt test guest"
ID=qga-test-guest
ID_LIKE=debian
VERSION_ID="1"
VERSION="1"
EOF

# --- /sbin/shutdown and /usr/sbin/chpasswd shims ------------------------------------------------------------
# qemu-ga's guest-shutdown runs `/sbin/shutdown -P|-H|-r +0 "hypervisor initiated shutdown"` and waits for it
# to exit 0. Like a real shutdown(8) this only schedules: the power-off happens a moment later, so the agent
# can still answer a guest-sync-delimited sent right behind the command (how a client learns "accepted").
# (rm first: were it a busybox applet link, writing through it would overwrite busybox itself.)
rm -f "$root/sbin/shutdown"
cat >"$root/sbin/shutdown" <<'EOF'
#!/bin/sh
# Test-guest shim for shutdown(8), called by qemu-ga. -r wins over -H, which wins over -P/-h (poweroff).
action=poweroff
for arg in "$@"; do
  case $arg in
    -r) action=reboot ;;
    -H) [ "$action" = reboot ] || action=halt ;;
  esac
done
echo "shutdown shim: $action ($*)" >/dev/console
# setsid + nohup-like redirection: qemu-ga may be killed by the time this runs.
setsid sh -c "sleep 1; sync; $action -f" </dev/null >/dev/console 2>&1 &
exit 0
EOF
chmod 0755 "$root/sbin/shutdown"

# Debian's busybox has no chpasswd applet. qemu-ga's guest-set-user-password pipes "user:password" (or with
# -e an already crypted hash) into chpasswd; this does the same to /etc/shadow with busybox mkpasswd.
rm -f "$root/usr/sbin/chpasswd"
cat >"$root/usr/sbin/chpasswd" <<'EOF'
#!/bin/sh
# Test-guest shim for chpasswd(8): reads user:password lines; -e means the passwords are already crypted.
crypted=0
[ "${1:-}" = "-e" ] && crypted=1
status=0
while IFS= read -r line || [ -n "$line" ]; do
  user=${line%%:*}
  pass=${line#*:}
  grep -q "^$user:" /etc/shadow || { echo "chpasswd: unknown user $user" >&2; status=1; continue; }
  if [ "$crypted" = 1 ]; then hash=$pass; else hash=$(printf '%s\n' "$pass" | mkpasswd -m sha512 -P 0) || exit 1; fi
  days=$(( $(date +%s) / 86400 ))
  awk -F: -v OFS=: -v u="$user" -v h="$hash" -v d="$days" '$1 == u { $2 = h; $3 = d } { print }' \
    /etc/shadow >/etc/shadow.new && mv /etc/shadow.new /etc/shadow || status=1
done
exit $status
EOF
chmod 0755 "$root/usr/sbin/chpasswd"

# --- /init --------------------------------------------------------------------------------------------------
cat >"$root/init" <<'EOF'
#!/bin/sh
# PID 1 of the test guest: bring up the agent's virtio channel (and /data), then keep qemu-ga running.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/virtio-ports /run/qemu-ga
mount -t devpts devpts /dev/pts
# The archive is packed with every file owned by root (see build-guest.sh): give test its home.
chown 1000:1000 /home/test
# The kernel found no /dev/console in the initramfs, so PID 1 starts without stdio: give it the serial
# console, which also makes the agent's stderr land in the VM's console log.
exec </dev/null >/dev/console 2>&1

log() { echo "guest-init: $*"; }

while read -r m; do
  insmod "/lib/modules/$m.ko" || log "insmod $m failed"
done </lib/modules/load-order

host=qga-test-guest
read -r cmdline </proc/cmdline
# Unquoted on purpose: the command line is split into words.
for arg in $cmdline; do
  case $arg in qga_hostname=*) host=${arg#qga_hostname=} ;; esac
done
hostname "$host"
ip link set lo up 2>/dev/null || true

# The first virtio disk, if any, is the test filesystem (fsfreeze and file tests). Its device node appears
# asynchronously (devtmpfs), so wait a little when the kernel already knows the disk.
if [ -e /sys/block/vda ]; then
  n=0
  while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
  if mount -t ext4 /dev/vda /data; then chmod 0777 /data; else log "mount /dev/vda on /data failed"; fi
fi

# Ports appear, and get their names, when the host's control messages arrive after virtio_console loaded,
# so the links are (re)made before every agent start rather than once.
link_ports() {
  for d in /sys/class/virtio-ports/*; do
    [ -r "$d/name" ] || continue
    name=$(cat "$d/name")
    [ -n "$name" ] && ln -sf "/dev/${d##*/}" "/dev/virtio-ports/$name"
  done
}

port=/dev/virtio-ports/org.qemu.guest_agent.0
log "up as $host in $(cut -d' ' -f1 /proc/uptime)s"
while :; do
  link_ports
  if [ -e "$port" ]; then
    qemu-ga -m virtio-serial -p "$port" -t /run/qemu-ga
    log "qemu-ga exited with $?, restarting"
    sleep 1
  else
    sleep 0.1
  fi
done
EOF
chmod 0755 "$root/init"

# --- pack ---------------------------------------------------------------------------------------------------
mkdir -p "$work/out"
cp "$work/kernel/boot/vmlinuz-$kernel_version" "$work/out/vmlinuz"
# Also the uncompressed ELF vmlinux, which QEMU boots through its PVH entry point: that skips the bzImage's
# xz decompressor, which under TCG takes ~3 s, half of the whole boot. (vmlinuz stays for other users.)
if grep -qx 'CONFIG_PVH=y' "$work/kernel/boot/config-$kernel_version"; then
  xz_offset=$(grep -obUaP '\xFD7zXZ\x00' "$work/out/vmlinuz" | head -n1 | cut -d: -f1 || true)
  if [[ -n $xz_offset ]] &&
    # xz stops reading after its stream, so tail may die of SIGPIPE: that is success here.
    { tail -c +"$((xz_offset + 1))" "$work/out/vmlinuz" || true; } |
    xz -dc --single-stream >"$work/out/vmlinux" 2>/dev/null &&
    [[ $(head -c 4 "$work/out/vmlinux" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
    chmod 0644 "$work/out/vmlinux"
  else
    log "no xz-compressed ELF found in vmlinuz: booting the bzImage (slower)"
    rm -f "$work/out/vmlinux"
  fi
fi
# Sorted names and root ownership: the archive depends only on its inputs, not on who built it.
(cd "$root" && find . -mindepth 1 -print0 | sort -z |
  cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -6 -n >"$work/out/initrd.img"
# The guest's files are world-readable so another user (libvirt's qemu) can boot it too.
chmod 0644 "$work/out/vmlinuz" "$work/out/initrd.img"
printf 'kernel %s\nscript %s\n' "$kernel_version" "$script_hash" >"$work/out/READY"

rm -rf "$out_dir"
mv "$work/out" "$out_dir"
chmod 0755 "$out_dir"

# Older builds (other kernel or script hash) and other kernels' packages (70 MB each) are dead weight; a VM
# already running keeps its own copy in memory, so removing them under the lock is safe.
for old in "$cache_root"/*-amd64-* "$deb_dir"/linux-image-*.deb; do
  [[ -e $old && $old != "$out_dir" && $old != "$kernel_deb" ]] && rm -rf "$old"
done

log "built in $(awk -v s="$start_s" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s," \
  "initrd $(du -k "$out_dir/initrd.img" | cut -f1) KiB"
echo "$out_dir"

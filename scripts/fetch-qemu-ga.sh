#!/usr/bin/env bash
# Fetches qemu-ga 10.0 (Debian's qemu-guest-agent from bookworm-backports) into a cache folder, without
# installing it, so the tests can run the real agent of both versions: Debian 12's own 7.2 and this one
# (test/helpers/qemu-ga.ts). The machine's apt configuration is left alone: a temporary sources list and
# package lists are used for this one download. Idempotent: a binary already there of the right version is
# kept. Prints the binary's path. Folder: $QGA_MQTT_QGA10_DIR, or .cache/qemu-ga-10.0 in the project.
# The binary needs the same libraries as Debian 12's qemu-guest-agent (glib, libnuma1, liburing2, libudev1).
set -euo pipefail
cd "$(dirname "$0")/.."

dest="${QGA_MQTT_QGA10_DIR:-$PWD/.cache/qemu-ga-10.0}"
binary="$dest/usr/sbin/qemu-ga"
if [ -x "$binary" ] && "$binary" --version 2>/dev/null | grep -q '^QEMU Guest Agent 10\.0\.'; then
  echo "$binary"
  exit 0
fi
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "fetch-qemu-ga.sh: needs $tool (Debian 12); or unpack qemu-guest-agent 10.0 into $dest yourself" >&2
    exit 1
  }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main' \
  >"$work/sources.list"
apt=(
  -o "Dir::Etc::sourcelist=$work/sources.list"
  -o Dir::Etc::sourceparts=-
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  # The folders are this script's own: apt's _apt user (its download sandbox) cannot write to them, and
  # no lock of the machine's apt is needed.
  -o APT::Sandbox::User="$(id -un)"
  -o Debug::NoLocking=1
)
apt-get -qq "${apt[@]}" update
(cd "$work" && apt-get -qq "${apt[@]}" download qemu-guest-agent/bookworm-backports >/dev/null)
debs=("$work"/qemu-guest-agent_*.deb)
deb="${debs[0]}"
version="$(dpkg-deb -f "$deb" Version)"
case "$version" in
  1:10.0.*) ;;
  *)
    echo "fetch-qemu-ga.sh: bookworm-backports now has qemu-guest-agent $version, not 10.0.x: update the script and the tests" >&2
    exit 1
    ;;
esac

# Unpacked beside the destination, then moved into place: an interrupted run leaves no half folder behind.
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
dpkg-deb -x "$deb" "$dest.partial"
echo "$version" >"$dest.partial/VERSION"
if ! "$dest.partial/usr/sbin/qemu-ga" --version >/dev/null 2>&1; then
  echo "fetch-qemu-ga.sh: the unpacked qemu-ga $version does not run here; missing libraries:" >&2
  ldd "$dest.partial/usr/sbin/qemu-ga" | grep 'not found' >&2 || true
  echo "(it needs what Debian 12's qemu-guest-agent needs: apt-get install qemu-guest-agent)" >&2
  exit 1
fi
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$binary"

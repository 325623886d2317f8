#!/bin/bash
# Make the second half of a static-delta benchmark pair: a copy of a root
# file system built by scripts/make-rootfs.sh, upgraded the way a
# distribution update upgrades it (apt-get upgrade from the release's
# -updates and -security suites, in a chroot).
#
#   scripts/make-update.sh ROOTFS DEST
#
# The packages upgraded depend on the day (whatever the suites hold then);
# DEST/.update-packages lists them. When done, DEST/.update-done is created
# and later runs return at once. Needs root (chroot) and the network
# (the Debian mirror of this machine's apt configuration).
set -euo pipefail
[ $# = 2 ] || { echo "usage: $0 ROOTFS DEST" >&2; exit 2; }
src=$(realpath -- "$1")
dest=$(realpath -m -- "$2")
if [ -e "$dest/.update-done" ]; then
  echo "$dest: already made"
  exit 0
fi
[ -e "$src/.corpus-done" ] || { echo "$src is not a finished corpus (scripts/make-rootfs.sh)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "chroot needs root" >&2; exit 1; }
case "$dest" in /|/usr|/etc|/var|/tmp|/work|"$src") echo "refusing to use $dest" >&2; exit 1 ;; esac
rm -rf "$dest"
cp -a "$src" "$dest"
rm -f "$dest/.corpus-done" "$dest/.corpus-started"

# The release's own line, as debootstrap wrote it; its -updates suite; and
# the security archive of this machine's apt configuration (or Debian's).
main_line=$(grep -m1 '^deb ' "$dest/etc/apt/sources.list")
read -r _ uri suite comps <<<"$main_line"
security=$(grep -rhE '^[[:space:]]*(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
  grep -oE 'https?://[^ ]*debian-security[^ ]*' | head -n 1 || true)
security=${security:-http://deb.debian.org/debian-security}
cat >"$dest/etc/apt/sources.list" <<LIST
deb $uri $suite $comps
deb $uri $suite-updates $comps
deb $security $suite-security $comps
LIST

cp /etc/resolv.conf "$dest/etc/resolv.conf"
mounted=()
cleanup() {
  local m
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
mkdir -p "$dest/proc" "$dest/dev"
mount -t proc proc "$dest/proc" && mounted+=("$dest/proc")
mount --bind /dev "$dest/dev" && mounted+=("$dest/dev")
chroot "$dest" apt-get update -qq
chroot "$dest" apt-get -s upgrade | sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\).*/\1 \2 -> \3/p' >"$dest/.update-packages"
DEBIAN_FRONTEND=noninteractive chroot "$dest" apt-get -y -qq -o Dpkg::Use-Pty=0 upgrade >/dev/null
chroot "$dest" apt-get clean
cleanup
mounted=()
# As make-rootfs.sh leaves a corpus: no package lists, no device nodes,
# fifos or sockets, nothing in proc/.
rm -rf "$dest"/var/lib/apt/lists/*
find "$dest" -xdev \( -type b -o -type c -o -type p -o -type s \) -delete
find "$dest/proc" -mindepth 1 -delete 2>/dev/null || true
echo "$(wc -l <"$dest/.update-packages") packages upgraded:"
if [ ! -s "$dest/.update-packages" ]; then
  echo "nothing to upgrade: the pair would be one tree twice" >&2
  exit 1
fi
sed 's/^/  /' "$dest/.update-packages"
touch "$dest/.update-done"

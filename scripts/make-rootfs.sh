#!/bin/bash
# Build a real Debian root file system to use as a test and benchmark corpus.
#
#   scripts/make-rootfs.sh DEST [small|large]
#
#   small  debootstrap --variant=minbase (about 7k entries, ~200 MB)
#   large  minbase plus systemd, a kernel, python3, perl, ssh and a few tools
#          (25k+ entries)
#
# The mirror comes from this machine's apt configuration, so no host name is
# written here. Set SUITE to build another release (default: bookworm, which
# keeps the corpus the same from machine to machine).
#
# OSTree commits cannot hold device nodes, fifos or sockets, so those are
# deleted. The contents of proc/ and sys/ and the downloaded .debs are deleted
# too. When the build is done, DEST/.corpus-done is created, and later runs with
# the same DEST return at once.
#
# Needs root (debootstrap does). Installs debootstrap with apt-get if it is
# missing.
set -euo pipefail

usage() { echo "usage: $0 DEST [small|large]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
dest=$1
size=${2:-small}
suite=${SUITE:-bookworm}
case "$size" in small|large) ;; *) usage ;; esac

if [ -e "$dest/.corpus-done" ]; then
  echo "$dest: already built ($size corpus marker present)"
  exit 0
fi

# Refuse to wipe anything we did not start ourselves.
dest=$(realpath -m -- "$dest")
case "$dest" in /|/bin|/boot|/dev|/etc|/home|/lib|/lib64|/opt|/proc|/root|/run|/sbin|/srv|/sys|/tmp|/usr|/var|/work)
  echo "refusing to use $dest as the corpus directory" >&2; exit 1 ;;
esac
if [ -d "$dest" ] && [ -n "$(ls -A "$dest")" ] && [ ! -e "$dest/.corpus-started" ]; then
  echo "$dest exists, is not empty and was not started by this script; remove it or pick another DEST" >&2
  exit 1
fi

if [ "$(id -u)" != 0 ]; then
  echo "debootstrap needs root; rerun as root (or with sudo)" >&2
  exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "installing debootstrap..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# First Debian archive URI in the apt configuration that is not the security
# archive: deb822 .sources files first (skipping stanzas marked Enabled: no),
# then one-line .list files.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (uri != "" && deb && enabled && suites !~ /-security/) { print uri; found = 1; exit }
        uri = ""; suites = ""; deb = 0; enabled = 1
      }
      BEGIN { enabled = 1 }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      tolower($1) == "types:"   { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:"    { uri = $2 }
      tolower($1) == "suites:"  { suites = $0 }
      tolower($1) == "enabled:" { if (tolower($2) == "no") enabled = 0 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # "deb [options] URI SUITE COMPONENTS..."
    awk '$1 == "deb" {
           i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
           if ($(i + 1) !~ /-security/) print $i
         }' "$f"
  done
}
mirror=$(find_mirror | grep -v -- '-security' | head -n 1 || true)
if [ -z "$mirror" ]; then
  echo "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/" >&2
  exit 1
fi

include=()
if [ "$size" = large ]; then
  include=(--include=systemd,systemd-sysv,linux-image-amd64,python3,perl,udev,dbus,iproute2,openssh-server,curl,vim-tiny,less)
fi

echo "building $size $suite corpus in $dest from $mirror ..."
rm -rf -- "$dest"
mkdir -p -- "$dest"
touch "$dest/.corpus-started"
log=$(mktemp /tmp/make-rootfs.XXXXXX.log)
if ! debootstrap --variant=minbase "${include[@]}" "$suite" "$dest" "$mirror" >"$log" 2>&1; then
  echo "debootstrap failed; last lines of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
rm -f -- "$log"

# Things an OSTree commit cannot (or should not) hold.
find "$dest" -xdev \( -type b -o -type c -o -type p -o -type s \) -delete
find "$dest/proc" "$dest/sys" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + 2>/dev/null || true
rm -f -- "$dest"/var/cache/apt/archives/*.deb

rm -f -- "$dest/.corpus-started"
touch "$dest/.corpus-done"
echo "built $dest: $(find "$dest" -xdev | wc -l) entries, $(du -sh "$dest" | cut -f1)"

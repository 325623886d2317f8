#!/bin/bash
# Side-by-side benchmark of oxtree against the real ostree on a real Debian
# root file system.
#
#   benches/bench-vs-ostree.sh [small|large]      (default: large)
#
# Environment:
#   CORPUS=DIR    use DIR as the tree to commit instead of building one with
#                 scripts/make-rootfs.sh into corpus-cache/rootfs-SIZE
#   ROUNDS=N      timed runs per tool and operation (default 3)
#   OXTREE=PATH   use this oxtree binary and skip `cargo build --release -p oxtree`
#   KEEP_LOGS=1   keep the per-run logs (their path is printed)
#   DROP_CACHES=0 never drop the page cache, even where that is possible
#
# Operations (both tools get the same command line):
#   commit-bare-user  `init --mode=bare-user` (not timed), then timed
#                     `commit -b main --no-xattrs CORPUS` into a fresh repo every round
#   commit-archive    the same with --mode=archive
#   fsck-bare-user,   `fsck` of the repo the real ostree wrote in the commit step, so
#   fsck-archive      both tools read the same bytes
#   checkout          `checkout -U main DEST` from that bare-user repo, fresh DEST every round
#
# The tools run alternately, and the one that goes first changes every round.
# Each run is measured with `/usr/bin/time -f '%e %M'` (wall seconds, peak RSS
# KiB). The table shows the median time and the highest peak RSS over the
# rounds. Commits are durable for both tools: neither gets --disable-fsync, and
# `sync` runs (untimed) before every measured run so that one run's writeback
# does not land in the next. If /proc/sys/vm/drop_caches is writable, the page
# cache is dropped before every measured run (the output says whether it was).
# Afterwards the script runs two untimed interop checks: the real `ostree fsck`
# on oxtree's repos, and a comparison of the ContentChecksum of the two tools'
# commits.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

size=${1:-large}
case "$size" in small|large) ;; *) echo "usage: $0 [small|large]" >&2; exit 2 ;; esac
ROUNDS=${ROUNDS:-3}
case "$ROUNDS" in ''|*[!0-9]*|0) echo "ROUNDS must be a positive integer" >&2; exit 2 ;; esac

section() { printf '\n==== %s ====\n' "$*"; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing $*; install with: sudo apt-get install -y $*" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---------------------------------------------------------------- tools
[ -x /usr/bin/time ] || apt_install time
command -v ostree >/dev/null 2>&1 || apt_install ostree
OSTREE_BIN=$(command -v ostree)

if [ -n "${OXTREE:-}" ]; then
  OXTREE_BIN=$(realpath "$OXTREE")
else
  section "cargo build --release -p oxtree"
  cargo build --release -p oxtree
  OXTREE_BIN=$ROOT/target/release/oxtree
fi
[ -x "$OXTREE_BIN" ] || { echo "no oxtree binary at $OXTREE_BIN" >&2; exit 1; }

# ---------------------------------------------------------------- corpus
if [ -n "${CORPUS:-}" ]; then
  corpus=$(realpath "$CORPUS")
  [ -d "$corpus" ] || { echo "CORPUS=$CORPUS is not a directory" >&2; exit 1; }
else
  section "corpus ($size)"
  corpus=$ROOT/corpus-cache/rootfs-$size
  mkdir -p "$ROOT/corpus-cache"
  "$ROOT/scripts/make-rootfs.sh" "$corpus" "$size"
fi

# Scratch space on the corpus's file system, so that both tools can hardlink
# from it and see the same storage.
work=$(mktemp -d "$(dirname "$corpus")/.bench-vs-ostree.XXXXXX")
cleanup() {
  if [ "${KEEP_LOGS:-0}" = 1 ] && [ -d "$work/logs" ]; then
    local keep
    keep=$(mktemp -d /tmp/bench-vs-ostree-logs.XXXXXX)
    cp -a "$work/logs/." "$keep/"
    echo "logs kept in $keep"
  fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/logs" "$work/results"

# ---------------------------------------------------------------- page cache
drop_caches=0
if [ "${DROP_CACHES:-1}" != 0 ] && [ -w /proc/sys/vm/drop_caches ] && sync && { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
  drop_caches=1
fi

prepare_run() {
  sync
  if [ "$drop_caches" = 1 ]; then
    echo 3 >/proc/sys/vm/drop_caches
  fi
}

# ---------------------------------------------------------------- header
section "setup"
echo "ostree:  $OSTREE_BIN ($("$OSTREE_BIN" --version 2>/dev/null | sed -n "s/^ *Version: *'\{0,1\}\([^']*\)'\{0,1\}$/\1/p" | head -n 1))"
echo "oxtree:  $OXTREE_BIN"
echo "corpus:  $corpus ($(find "$corpus" -xdev | wc -l) entries, $(du -sh "$corpus" | cut -f1))"
echo "scratch: $work ($(stat -f -c %T "$work") file system)"
echo "rounds:  $ROUNDS per tool and operation; $(nproc) CPUs"
if [ "$drop_caches" = 1 ]; then
  echo "page cache: dropped before every measured run"
else
  if [ "${DROP_CACHES:-1}" = 0 ]; then
    echo "page cache: NOT dropped (DROP_CACHES=0); runs are warm-cache"
  else
    echo "page cache: NOT dropped (/proc/sys/vm/drop_caches is not writable); runs are warm-cache"
  fi
  # Warm the cache once so that the first measured run is not the only cold one.
  find "$corpus" -xdev -type f -print0 | xargs -0 -r cat >/dev/null 2>&1 || true
fi

tool_bin() { if [ "$1" = ostree ]; then echo "$OSTREE_BIN"; else echo "$OXTREE_BIN"; fi; }

# Tools in the order for round $1: ostree first on odd rounds.
order() { if [ $(($1 % 2)) = 1 ]; then echo "ostree oxtree"; else echo "oxtree ostree"; fi; }

# measure OP TOOL ROUND CMD...: run CMD once under /usr/bin/time and record
# "seconds kib" (or "fail") in results/OP.TOOL.
failures=0
measure() {
  local op=$1 tool=$2 round=$3
  shift 3
  local log=$work/logs/$op.$tool.$round.log tf=$work/logs/$op.$tool.$round.time
  prepare_run
  if /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$log" 2>&1; then
    tail -n 1 "$tf" >>"$work/results/$op.$tool"
    printf '  %-17s %-6s round %d: %ss, %s KiB\n' "$op" "$tool" "$round" $(tail -n 1 "$tf")
  else
    echo fail >>"$work/results/$op.$tool"
    failures=$((failures + 1))
    printf '  %-17s %-6s round %d: FAILED: %s\n' "$op" "$tool" "$round" "$*"
    tail -n 15 "$log" | sed 's/^/      /'
  fi
}

# ---------------------------------------------------------------- commits
for mode in bare-user archive; do
  section "commit ($mode)"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      bin=$(tool_bin "$tool")
      repo=$work/$tool-$mode
      rm -rf "$repo"
      if ! "$bin" --repo="$repo" init --mode="$mode" >"$work/logs/init.$tool.$mode.log" 2>&1; then
        echo "  $tool: init --mode=$mode failed:"; sed 's/^/      /' "$work/logs/init.$tool.$mode.log"
        echo fail >>"$work/results/commit-$mode.$tool"
        failures=$((failures + 1))
        continue
      fi
      measure "commit-$mode" "$tool" "$round" "$bin" --repo="$repo" commit -b main --no-xattrs "$corpus"
    done
  done
done
# The last round's repos stay: $work/ostree-MODE and $work/oxtree-MODE.

# ---------------------------------------------------------------- fsck
for mode in bare-user archive; do
  section "fsck ($mode, repo written by ostree)"
  if [ ! -d "$work/ostree-$mode/objects" ]; then
    echo "  skipped: ostree's $mode repo is missing"
    continue
  fi
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      measure "fsck-$mode" "$tool" "$round" "$(tool_bin "$tool")" --repo="$work/ostree-$mode" fsck
    done
  done
done

# ---------------------------------------------------------------- checkout
section "checkout -U (bare-user repo written by ostree)"
if [ -d "$work/ostree-bare-user/objects" ]; then
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      dest=$work/checkout-$tool
      rm -rf "$dest"
      measure checkout "$tool" "$round" "$(tool_bin "$tool")" --repo="$work/ostree-bare-user" checkout -U main "$dest"
      rm -rf "$dest"
    done
  done
else
  echo "  skipped: ostree's bare-user repo is missing"
fi

# ---------------------------------------------------------------- interop
section "interop checks (untimed)"
for mode in bare-user archive; do
  ox=$work/oxtree-$mode os=$work/ostree-$mode
  if [ ! -d "$ox/objects" ] || ! "$OSTREE_BIN" --repo="$ox" rev-parse main >/dev/null 2>&1; then
    echo "  $mode: oxtree's repo has no commit; nothing to check"
    failures=$((failures + 1))
    continue
  fi
  if "$OSTREE_BIN" --repo="$ox" fsck -q >"$work/logs/interop-fsck.$mode.log" 2>&1; then
    echo "  $mode: real ostree fsck of oxtree's repo: ok"
  else
    echo "  $mode: real ostree fsck of oxtree's repo: FAILED"
    tail -n 15 "$work/logs/interop-fsck.$mode.log" | sed 's/^/      /'
    failures=$((failures + 1))
  fi
  a=$("$OSTREE_BIN" --repo="$os" show main 2>/dev/null | sed -n 's/^ContentChecksum: *//p' || true)
  b=$("$OSTREE_BIN" --repo="$ox" show main 2>/dev/null | sed -n 's/^ContentChecksum: *//p' || true)
  if [ -n "$a" ] && [ "$a" = "$b" ]; then
    echo "  $mode: same tree as ostree's commit (ContentChecksum $a)"
  else
    echo "  $mode: tree DIFFERS from ostree's commit (ostree ${a:-?}, oxtree ${b:-?})"
    failures=$((failures + 1))
  fi
done

# ---------------------------------------------------------------- table
# median of the times (any failure -> "fail"), max of the peak RSS values
stat_of() {
  local f=$work/results/$1
  [ -s "$f" ] || { echo "- -"; return; }
  if grep -q fail "$f"; then echo "fail fail"; return; fi
  local med max
  med=$(awk '{ print $1 }' "$f" | sort -n |
        awk '{ t[NR] = $1 } END { m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; printf "%.2f", m }')
  max=$(awk '$2 + 0 > m { m = $2 + 0 } END { printf "%d", m }' "$f")
  echo "$med $max"
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || a + 0 == 0) { print "-"; exit }
    printf "%.2f\n", b / a }'
}

section "results: median wall time over $ROUNDS rounds, highest peak RSS (drop caches: $([ "$drop_caches" = 1 ] && echo yes || echo no))"
fmt='%-17s %10s %10s %8s %14s %14s %8s\n'
printf "$fmt" operation "ostree s" "oxtree s" "ox/os" "ostree KiB" "oxtree KiB" "RSS ox/os"
for op in commit-bare-user commit-archive fsck-bare-user fsck-archive checkout; do
  read -r os_t os_m < <(stat_of "$op.ostree")
  read -r ox_t ox_m < <(stat_of "$op.oxtree")
  printf "$fmt" "$op" "$os_t" "$ox_t" "$(ratio "$os_t" "$ox_t")" "$os_m" "$ox_m" "$(ratio "$os_m" "$ox_m")"
done

if [ "$failures" -gt 0 ]; then
  echo
  echo "$failures run(s) or check(s) failed (see above)"
  exit 1
fi

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
#   OPS="..."     which groups to run: any of commit fsck checkout pull delta
#                 deploy rpm compose (default: all); the commits run whenever
#                 fsck, checkout or pull do (they make the repos those use);
#                 `rpm` and `compose` alone need no corpus
#   RPM_SOURCES="DIR..."  what the benchmark RPM packs (default: the host's
#                 /usr/share/{locale,doc,man,vim,perl,icons}, about 40k files)
#   UPDATE=DIR    the updated tree of the delta pair (default: CORPUS-update,
#                 made by scripts/make-update.sh)
#
# Operations (both tools get the same command line):
#   commit-bare-user  `init --mode=bare-user` (not timed), then timed
#                     `commit -b main --no-xattrs CORPUS` into a new repo every round
#   commit-archive    the same with --mode=archive
#   fsck-bare-user,   `fsck` of the repo the real ostree wrote in the commit step, so
#   fsck-archive      both tools read the same bytes
#   checkout          `checkout -U main DEST` from that bare-user repo, fresh DEST every round
#   checkout-H        `checkout -U -H` from it, and `cp -al` of a hardlink checkout ostree made
#   checkout-C        `checkout -U -C` from it, and `cp -a` of a copy checkout ostree made
#   checkout-archive  `checkout -U` from a fresh copy of the archive repo ostree wrote
#                     (so the uncompressed-objects cache is filled in every run)
#   checkout-archive-nocache  `checkout -U --disable-cache` from that repo
#   pull              the archive repo ostree wrote, served by nginx on 127.0.0.1,
#                     pulled into a new bare-user repo (`init` and `remote add`
#                     untimed)
#   pull-resume       the same pull killed with SIGKILL once the server has sent
#                     half the bytes of the repo's objects (untimed), then the
#                     timed pull that finishes it; the table also shows
#                     pull-resume/pull for each tool
#   delta-generate    an update pair: CORPUS and UPDATE (CORPUS after
#                     `apt-get upgrade` from the -updates and -security suites)
#                     committed by ostree into an archive repo (untimed); each
#                     tool runs `static-delta generate --to=main` (from main^)
#                     in a fresh copy of it; the table also shows the delta
#                     sizes (parts, fallbacks and superblock)
#   delta-pull        each tool's delta, with `summary -u` by that tool, served by
#                     nginx and pulled with `pull --require-static-deltas` into a
#                     bare-user repo holding main^ (made untimed)
#   deploy            the corpus made deployable (kernel and initramfs moved to
#                     usr/lib/modules/KVER/, /etc to usr/etc) and committed by
#                     ostree with an update of it (the update tree, else 50
#                     changed files) into a sysroot (untimed); each tool runs
#                     `admin deploy --os=bench --karg=root=LABEL=ROOT C1` in a
#                     copy of that sysroot (repo hardlinked), no bootloader (BLS
#                     entries only), deployments left mutable
#   redeploy          then `admin deploy --os=bench C2` in the same sysroot: the
#                     small update, merging /etc from the first
#   rpm-import        a 40k-file RPM (zstd payload, as Fedora's; built once with
#                     rpmbuild into corpus-cache/rpm-bench) imported into a new
#                     bare-user repo: oxtree `rpm import FILE` against
#                     `rpm2cpio FILE | cpio -idm` then `ostree commit --no-xattrs`
#                     of the extraction (the "ostree" column is that pipeline)
#   compose-tree      `compose tree` of 26 packages (scripts/rpm-compose-repos.sh,
#                     built once into corpus-cache/rpm-compose) into a new
#                     bare-user repo, against `rpm -i --root --nodeps --noscripts`
#                     of the same packages then `ostree commit` (no rpm-ostree
#                     in Debian; the "ostree" column is that pipeline); the
#                     phases of oxtree's last round are printed
#   compose-again     oxtree only: the same compose again into the same repo
#                     (--force-nocache), its packages taken from their earlier
#                     imports
#   delta-apply-xz,   oxtree only: `static-delta apply-offline` of its delta with
#   delta-apply-zstd  xz parts and with zstd parts (--compression=zstd), each
#                     into a bare-user repo holding main^
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
OPS=${OPS:-commit fsck checkout pull delta deploy rpm compose}
want() { case " $OPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
[ -x /usr/bin/time ] || apt_install time
if want pull && ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then apt_install nginx-light; fi
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
if [ -z "$(echo " $OPS " | sed 's/ rpm / /g; s/ compose / /g' | tr -d ' ')" ]; then
  # The RPM benchmarks pack their own files; scratch space goes in corpus-cache.
  mkdir -p "$ROOT/corpus-cache/rpm-bench"
  corpus=$ROOT/corpus-cache/rpm-bench
elif [ -n "${CORPUS:-}" ]; then
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
  "$ROOT/scripts/serve-nginx.sh" stop "$work/nginx" 2>/dev/null || true
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

# Every measured run writes into a directory of its own, and nothing is
# deleted until the script exits: ext4 without a journal (and ext2) skips
# inodes freed in the last seconds to minutes when it allocates new ones, at
# one block lookup per skipped inode, so deleting 17k files right before a
# run made every file that run created pay for them. That cost belongs to
# the file system, not to either tool, and it swung both tools' times by a
# third from round to round. (Disk needed: about 10 times the corpus.)

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
  # The repos the commits make are what fsck, checkout and pull work on.
  want fsck || want checkout || want pull || want commit || break
  section "commit ($mode)"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      bin=$(tool_bin "$tool")
      repo=$work/$tool-$mode.$round
      if ! "$bin" --repo="$repo" init --mode="$mode" >"$work/logs/init.$tool.$mode.log" 2>&1; then
        echo "  $tool: init --mode=$mode failed:"; sed 's/^/      /' "$work/logs/init.$tool.$mode.log"
        echo fail >>"$work/results/commit-$mode.$tool"
        failures=$((failures + 1))
        continue
      fi
      measure "commit-$mode" "$tool" "$round" "$bin" --repo="$repo" commit -b main --no-xattrs "$corpus"
    done
  done
  # The last round's repos stay, as $work/ostree-MODE and $work/oxtree-MODE.
  for tool in ostree oxtree; do
    mv "$work/$tool-$mode.$ROUNDS" "$work/$tool-$mode" 2>/dev/null || true
  done
done

# ---------------------------------------------------------------- fsck
for mode in bare-user archive; do
  want fsck || break
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
# Tools in the order for round $1, rotating the list in $2.
rotate() {
  local n=$1; shift
  local tools=("$@") i out=()
  for i in "${!tools[@]}"; do out+=("${tools[$(((i + n - 1) % ${#tools[@]}))]}"); done
  echo "${out[@]}"
}
# checkout_op OP REPO_MODE "OSTREE-CHECKOUT-ARGS" [CP-ARGS REFERENCE]: times
# `checkout ARGS main DEST` for both tools from the repo ostree wrote, and
# with CP-ARGS also `cp CP-ARGS REFERENCE DEST`. With FRESH_REPO=1 every
# run gets its own copy of the repo (made untimed, before the run), so
# that what a checkout leaves in the repo (the uncompressed-objects cache)
# is never there for the next.
checkout_op() {
  local op=$1 mode=$2 args=$3 cp_args=${4:-} ref=${5:-}
  local repo=$work/ostree-$mode tools=(ostree oxtree) dest tool round
  [ -n "$cp_args" ] && tools+=(cp)
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(rotate "$round" "${tools[@]}"); do
      dest=$work/$op-$tool.$round
      if [ "${FRESH_REPO:-0}" = 1 ]; then
        repo=$work/$op-repo-$tool.$round
        cp -a "$work/ostree-$mode" "$repo"
      fi
      if [ "$tool" = cp ]; then
        # shellcheck disable=SC2086
        measure "$op" cp "$round" cp $cp_args "$ref" "$dest"
      else
        # shellcheck disable=SC2086
        measure "$op" "$tool" "$round" "$(tool_bin "$tool")" --repo="$repo" checkout $args main "$dest"
      fi
    done
  done
}
if ! want checkout; then
  :
elif [ -d "$work/ostree-bare-user/objects" ] && [ -d "$work/ostree-archive/objects" ]; then
  # What cp copies: trees the real ostree checked out, untimed. A hardlink
  # checkout for `cp -al`; a copy checkout for `cp -a`, whose files share
  # no inodes (cp -a of a hardlink checkout would copy each object once).
  "$OSTREE_BIN" --repo="$work/ostree-bare-user" checkout -U -H main "$work/ref-hardlinked"
  "$OSTREE_BIN" --repo="$work/ostree-bare-user" checkout -U -C main "$work/ref-copied"
  section "checkout -U (bare-user repo written by ostree)"
  checkout_op checkout bare-user "-U"
  section "checkout -U -H (bare-user repo written by ostree), and cp -al of such a checkout"
  checkout_op checkout-H bare-user "-U -H" "-al" "$work/ref-hardlinked"
  section "checkout -U -C (bare-user repo written by ostree), and cp -a of such a checkout"
  checkout_op checkout-C bare-user "-U -C" "-a" "$work/ref-copied"
  # From archive, `checkout -U` decompresses each file into the repo's
  # uncompressed-objects-cache/ and hardlinks it from there: every run gets
  # a copy of the repo without that cache, so each is a first checkout.
  section "checkout -U (copies of the archive repo written by ostree, no cache yet)"
  FRESH_REPO=1 checkout_op checkout-archive archive "-U"
  section "checkout -U --disable-cache (archive repo written by ostree)"
  checkout_op checkout-archive-nocache archive "-U --disable-cache"
else
  echo "  checkouts skipped: ostree's repos are missing"
fi

# ---------------------------------------------------------------- pull
# new_pull_repo TOOL DIR URL: a new bare-user repo with the remote "origin".
new_pull_repo() {
  local bin
  bin=$(tool_bin "$1")
  "$bin" --repo="$2" init --mode=bare-user && "$bin" --repo="$2" remote add --no-gpg-verify origin "$3"
}
# interrupt TOOL REPO BYTES: starts the pull and kills it with SIGKILL once
# the server has sent BYTES more response bytes than when it started (the
# log's fifth field after the quoted request is the body size).
interrupt() {
  local log=$work/nginx/access.log start pid sent=0
  start=$(wc -l <"$log")
  "$(tool_bin "$1")" --repo="$2" pull origin main >"$work/logs/pull-interrupted.$1.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sent=$(tail -n +"$((start + 1))" "$log" | awk '{ s += $6 } END { print s + 0 }')
    if [ "$sent" -ge "$3" ]; then
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.02
  done
  wait "$pid" 2>/dev/null || true
  echo "  $1: killed after $(($(wc -l <"$log") - start)) requests, $((sent >> 20)) MiB"
}
# fsck_pulled OP WHAT: the real ostree's fsck of each tool's last OP repo.
fsck_pulled() {
  local tool
  for tool in ostree oxtree; do
    if ! "$OSTREE_BIN" --repo="$work/$1-$tool.$ROUNDS" fsck -q >"$work/logs/$1-fsck.$tool.log" 2>&1; then
      echo "  real ostree fsck of $tool's $2: FAILED"
      failures=$((failures + 1))
    fi
  done
}
if want pull && [ -d "$work/ostree-archive/objects" ]; then
  url=$("$ROOT/scripts/serve-nginx.sh" start "$work/ostree-archive" "$work/nginx")
  objects=$(find "$work/ostree-archive/objects" -type f | wc -l)
  object_bytes=$(find "$work/ostree-archive/objects" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  section "pull (archive repo written by ostree, $objects objects, nginx at $url) into new bare-user repos"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      repo=$work/pull-$tool.$round
      new_pull_repo "$tool" "$repo" "$url" >"$work/logs/pull-init.$tool.log" 2>&1
      measure pull "$tool" "$round" "$(tool_bin "$tool")" --repo="$repo" pull origin main
    done
  done
  section "pull resumed after SIGKILL at half the bytes ($((object_bytes / 2 >> 20)) MiB of $((object_bytes >> 20)) MiB)"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      repo=$work/pull-resume-$tool.$round
      new_pull_repo "$tool" "$repo" "$url" >"$work/logs/pull-init.$tool.log" 2>&1
      prepare_run
      interrupt "$tool" "$repo" $((object_bytes / 2))
      measure pull-resume "$tool" "$round" "$(tool_bin "$tool")" --repo="$repo" pull origin main
    done
  done
  fsck_pulled pull-resume "resumed pull"
  "$ROOT/scripts/serve-nginx.sh" stop "$work/nginx"
fi

# ---------------------------------------------------------------- delta
# delta_size REPO: bytes a client downloads for the FROM-TO delta of main:
# parts and fallbacks (as the real ostree's `static-delta show` counts
# them) plus the superblock.
delta_size() {
  local repo=$1 name total sb
  name=$("$OSTREE_BIN" --repo="$repo" static-delta list | grep -- - | head -n 1)
  total=$("$OSTREE_BIN" --repo="$repo" static-delta show "$name" | sed -n 's/^Total Size: \([0-9]*\).*/\1/p')
  sb=$(find "$repo/deltas" -name superblock -printf '%s\n' | head -n 1)
  echo $((total + sb))
}
if want delta; then
  update=${UPDATE:-$corpus-update}
  if [ ! -e "$update/.update-done" ] && [ -z "${UPDATE:-}" ]; then
    "$ROOT/scripts/make-update.sh" "$corpus" "$update" || true
  fi
fi
if want delta && [ -d "$update" ]; then
  base=$work/delta-base
  "$OSTREE_BIN" --repo="$base" init --mode=archive
  "$OSTREE_BIN" --repo="$base" commit -b main --no-xattrs --timestamp=2026-01-01T00:00:00Z "$corpus" >/dev/null
  "$OSTREE_BIN" --repo="$base" commit -b main --no-xattrs --timestamp=2026-02-01T00:00:00Z "$update" >/dev/null
  from=$("$OSTREE_BIN" --repo="$base" rev-parse main^)
  section "static-delta generate (update pair: $(wc -l <"$update/.update-packages" 2>/dev/null || echo '?') packages upgraded)"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      repo=$work/delta-$tool.$round
      cp -a "$base" "$repo"
      measure delta-generate "$tool" "$round" "$(tool_bin "$tool")" --repo="$repo" static-delta generate --to=main
      delta_size "$repo" >>"$work/results/delta-size.$tool"
    done
  done
  for tool in ostree oxtree; do
    "$(tool_bin "$tool")" --repo="$work/delta-$tool.$ROUNDS" summary -u >/dev/null
  done
  url_ostree=$("$ROOT/scripts/serve-nginx.sh" start "$work/delta-ostree.$ROUNDS" "$work/nginx-delta-ostree")
  url_oxtree=$("$ROOT/scripts/serve-nginx.sh" start "$work/delta-oxtree.$ROUNDS" "$work/nginx-delta-oxtree")
  section "pull --require-static-deltas of each tool's delta (nginx) into bare-user repos holding main^"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      bin=$(tool_bin "$tool")
      repo=$work/delta-pull-$tool.$round
      url=$url_ostree
      [ "$tool" = oxtree ] && url=$url_oxtree
      { "$bin" --repo="$repo" init --mode=bare-user && "$bin" --repo="$repo" pull-local "$base" "$from" &&
        "$bin" --repo="$repo" remote add --no-gpg-verify origin "$url"; } >"$work/logs/delta-pull-init.$tool.log" 2>&1
      measure delta-pull "$tool" "$round" "$bin" --repo="$repo" pull --require-static-deltas origin main
    done
  done
  fsck_pulled delta-pull "delta pull"
  "$ROOT/scripts/serve-nginx.sh" stop "$work/nginx-delta-ostree"
  "$ROOT/scripts/serve-nginx.sh" stop "$work/nginx-delta-oxtree"
  section "oxtree: apply-offline of its delta with xz parts and with zstd parts"
  for c in xz zstd; do
    mkdir -p "$work/delta-$c"
    "$OXTREE_BIN" --repo="$base" static-delta generate --from="$from" --to=main --min-fallback-size=0 \
      --compression="$c" --filename="$work/delta-$c/superblock" >"$work/logs/delta-$c.log" 2>&1
    find "$work/delta-$c" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }' >"$work/results/delta-size-$c"
  done
  for round in $(seq 1 "$ROUNDS"); do
    for c in xz zstd; do
      repo=$work/delta-apply-$c.$round
      { "$OXTREE_BIN" --repo="$repo" init --mode=bare-user && "$OXTREE_BIN" --repo="$repo" pull-local "$base" "$from"; } \
        >"$work/logs/delta-apply-init.log" 2>&1
      measure "delta-apply-$c" oxtree "$round" "$OXTREE_BIN" --repo="$repo" static-delta apply-offline "$work/delta-$c"
    done
  done
elif want delta; then
  echo "  deltas skipped: no update tree ($update); make one with scripts/make-update.sh"
fi

# ---------------------------------------------------------------- deploy
# make_deployable DIR: the layout OSTree deploys (what a compose step makes
# of a root file system): the kernel and initramfs in usr/lib/modules/KVER/,
# nothing else in /boot, /etc as usr/etc.
make_deployable() {
  local d=$1 kver
  kver=$(ls "$d/usr/lib/modules" | head -n 1)
  [ -n "$kver" ] && [ -f "$d/boot/vmlinuz-$kver" ] || { echo "no kernel in $d/boot for usr/lib/modules/$kver" >&2; return 1; }
  mv "$d/boot/vmlinuz-$kver" "$d/usr/lib/modules/$kver/vmlinuz"
  mv "$d/boot/initrd.img-$kver" "$d/usr/lib/modules/$kver/initramfs.img"
  rm -rf "$d/boot"/* "$d"/vmlinuz* "$d"/initrd.img*
  # (ostree 2022.7 refuses a tree with both, even with /etc empty.)
  if [ -d "$d/etc" ] && [ ! -e "$d/usr/etc" ]; then mv "$d/etc" "$d/usr/etc"; fi
}
if want deploy; then
  update=${UPDATE:-$corpus-update}
  src=$work/deploy-src
  section "admin deploy (the corpus made deployable, then redeploy after a small update)"
  cp -a "$corpus" "$work/deploy-v1" && make_deployable "$work/deploy-v1"
  if [ -d "$update" ]; then
    cp -a "$update" "$work/deploy-v2" && make_deployable "$work/deploy-v2"
    echo "  update: the corpus after apt-get upgrade ($(wc -l <"$update/.update-packages" 2>/dev/null || echo '?') packages)"
  else
    # No update tree: a small synthetic update (50 changed documentation files).
    cp -a "$work/deploy-v1" "$work/deploy-v2"
    find "$work/deploy-v2/usr/share/doc" -type f -name copyright | head -n 50 | while read -r f; do echo >>"$f"; done
    echo "  update: 50 changed files (no update tree; make one with scripts/make-update.sh)"
  fi
  "$OSTREE_BIN" --repo="$src" init --mode=bare >/dev/null
  "$OSTREE_BIN" --repo="$src" commit -b bench/v1 --no-xattrs --timestamp=2026-01-01T00:00:00Z "$work/deploy-v1" >/dev/null
  "$OSTREE_BIN" --repo="$src" commit -b bench/v2 --no-xattrs --timestamp=2026-02-01T00:00:00Z "$work/deploy-v2" >/dev/null
  c2=$("$OSTREE_BIN" --repo="$src" rev-parse bench/v2)
  # One sysroot holding both commits; every run deploys into a copy whose
  # repo is hardlinked to it (as cp -al makes it).
  template=$work/deploy-template
  mkdir -p "$template" && "$OSTREE_BIN" admin init-fs "$template" >/dev/null
  "$OSTREE_BIN" admin os-init --sysroot="$template" bench >/dev/null
  # By ref: a deploy prunes the system repo down to what refs and
  # deployments reach, which would take an unreferenced second commit.
  "$OSTREE_BIN" --repo="$template/ostree/repo" pull-local "$src" bench/v1 bench/v2 >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      bin=$(tool_bin "$tool")
      sysroot=$work/deploy-$tool.$round
      cp -al "$template" "$sysroot"
      # Deployments stay mutable (no chattr +i) so that the script can delete them.
      measure deploy "$tool" "$round" env OSTREE_SYSROOT_DEBUG=mutable-deployments \
        "$bin" admin deploy --sysroot="$sysroot" --os=bench --karg=root=LABEL=ROOT bench/v1
      measure redeploy "$tool" "$round" env OSTREE_SYSROOT_DEBUG=mutable-deployments \
        "$bin" admin deploy --sysroot="$sysroot" --os=bench bench/v2
    done
  done
fi

# ---------------------------------------------------------------- rpm import
if want rpm; then
  section "rpm import (a 40k-file RPM into a bare-user repo)"
  command -v rpmbuild >/dev/null 2>&1 && command -v rpm2cpio >/dev/null 2>&1 || apt_install rpm rpm2cpio cpio
  rpmdir=$ROOT/corpus-cache/rpm-bench
  bench_rpm=$rpmdir/oxtree-bench-data-1-1.noarch.rpm
  if [ ! -f "$bench_rpm" ]; then
    sources=${RPM_SOURCES:-/usr/share/locale /usr/share/doc /usr/share/man /usr/share/vim /usr/share/perl /usr/share/icons}
    mkdir -p "$rpmdir/build"
    {
      echo "Name: oxtree-bench-data"; echo "Version: 1"; echo "Release: 1"; echo "Summary: benchmark payload"
      echo "License: various"; echo "BuildArch: noarch"; echo "AutoReqProv: no"
      echo "%global __os_install_post %{nil}"; echo "%description"; echo "Files to import."
      echo "%install"; echo "mkdir -p %{buildroot}/usr/share/oxtree-bench"
      for d in $sources; do [ -d "$d" ] && echo "cp -a $d %{buildroot}/usr/share/oxtree-bench/"; done
      echo "%files"; echo "%defattr(-,root,root)"; echo "/usr/share/oxtree-bench"
    } >"$rpmdir/build/bench.spec"
    echo "  building $bench_rpm (rpmbuild, w3.zstdio; a few minutes, once)"
    SOURCE_DATE_EPOCH=1700000000 rpmbuild --quiet --define "_topdir $rpmdir/build" --define "_rpmdir $rpmdir" \
      --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
      --define "_binary_payload w3.zstdio" --define "_buildhost localhost" --define "_build_id_links none" \
      -bb "$rpmdir/build/bench.spec" >"$work/logs/rpmbuild.log" 2>&1 || { tail -n 20 "$work/logs/rpmbuild.log"; exit 1; }
    rm -rf "$rpmdir/build"
  fi
  echo "  $bench_rpm: $(rpm -qp --qf '[%{FILENAMES}\n]' "$bench_rpm" 2>/dev/null | wc -l) files, $(du -h "$bench_rpm" | cut -f1)"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      repo=$work/rpm-$tool.$round
      "$OSTREE_BIN" init --repo="$repo" --mode=bare-user
      if [ "$tool" = ostree ]; then
        measure rpm-import ostree "$round" sh -c \
          'mkdir "$3" && rpm2cpio "$1" | (cd "$3" && cpio -idm --quiet) && "$4" --repo="$2" commit -b main --no-xattrs "$3"' \
          sh "$bench_rpm" "$repo" "$work/rpm-extract.$round" "$OSTREE_BIN"
      else
        measure rpm-import oxtree "$round" "$OXTREE_BIN" --repo="$repo" rpm import "$bench_rpm"
      fi
    done
  done
fi

if want compose; then
  section "compose tree (26 packages from a createrepo repository)"
  composedir=$ROOT/corpus-cache/rpm-compose
  "$ROOT/scripts/rpm-compose-repos.sh" "$composedir" >"$work/logs/rpm-compose-repos.log" 2>&1 ||
    { tail -n 20 "$work/logs/rpm-compose-repos.log"; exit 1; }
  printf 'ref: bench\nrepos: [%s]\npackages: [filesystem, setup, testos-release, kernel, app, mailer, tool, hello, tzdata, chain8, docpkg, ownerpkg, scriptpkg]\n' \
    "$composedir/repo1" >"$work/compose.yaml"
  # There is no rpm-ostree in Debian: the other side is what a script
  # would do, rpm -i --root of the same (resolved) packages and a commit.
  "$OXTREE_BIN" compose tree --dry-run "$work/compose.yaml" >"$work/compose.nevras"
  compose_rpms=$(for f in "$composedir"/repo1/*.rpm; do
    if grep -qxF "$(rpm -qp --qf '%{NEVRA}' "$f" 2>/dev/null)" "$work/compose.nevras"; then echo "$f"; fi
  done)
  [ "$(echo "$compose_rpms" | wc -l)" = "$(wc -l <"$work/compose.nevras")" ] ||
    { echo "compose: could not find every resolved package's file" >&2; exit 1; }
  # filesystem first (its /lib link before packages with /lib files), as
  # rpm's ordering would put it.
  compose_rpms="$(echo "$compose_rpms" | grep '/filesystem-') $(echo "$compose_rpms" | grep -v '/filesystem-')"
  for round in $(seq 1 "$ROUNDS"); do
    for tool in $(order "$round"); do
      repo=$work/compose-$tool.$round
      "$OSTREE_BIN" init --repo="$repo" --mode=bare-user
      if [ "$tool" = ostree ]; then
        # shellcheck disable=SC2086
        measure compose-tree ostree "$round" sh -c \
          'root=$1; repo=$2; bin=$3; fs=$4; shift 4; r="rpm --root=$root --nodeps --noscripts --nosignature --ignorearch";
           $r -i "$fs" && $r -i "$@" && "$bin" --repo="$repo" commit -b bench --owner-uid=0 --owner-gid=0 "$root"' \
          sh "$work/compose-root.$round" "$repo" "$OSTREE_BIN" $compose_rpms
      else
        measure compose-tree oxtree "$round" "$OXTREE_BIN" --repo="$repo" compose tree -q --timings "$work/compose.yaml"
        # The same compose again into the same repo: every package comes
        # from its earlier import (oxtree only).
        measure compose-again oxtree "$round" "$OXTREE_BIN" --repo="$repo" compose tree -q --timings --force-nocache "$work/compose.yaml"
      fi
    done
  done
  for op in compose-tree compose-again; do
    echo "  $op phases (oxtree, round $ROUNDS):"
    grep '^timing:' "$work/logs/$op.oxtree.$ROUNDS.log" | sed 's/^timing: */      /'
  done
fi

# ---------------------------------------------------------------- interop
section "interop checks (untimed)"
if want deploy && [ -d "$work/deploy-oxtree.$ROUNDS" ]; then
  if "$OSTREE_BIN" admin status --sysroot="$work/deploy-oxtree.$ROUNDS" >"$work/logs/deploy-status.log" 2>&1 &&
    grep -q "bench $c2" "$work/logs/deploy-status.log"; then
    echo "  deploy: the real ostree reads oxtree's sysroot: ok"
  else
    echo "  deploy: the real ostree does NOT read oxtree's sysroot:"; sed 's/^/      /' "$work/logs/deploy-status.log"
    failures=$((failures + 1))
  fi
  if diff -r --no-dereference "$work/deploy-oxtree.$ROUNDS/boot" "$work/deploy-ostree.$ROUNDS/boot" >"$work/logs/deploy-boot.diff" 2>&1; then
    echo "  deploy: same /boot (entries, kernels) from both tools: ok"
  else
    echo "  deploy: /boot differs between the tools:"; head -n 20 "$work/logs/deploy-boot.diff" | sed 's/^/      /'
    failures=$((failures + 1))
  fi
fi
if want rpm && [ -d "$work/rpm-oxtree.$ROUNDS" ]; then
  ox=$work/rpm-oxtree.$ROUNDS
  ref=$("$OSTREE_BIN" --repo="$ox" refs | head -n 1)
  if "$OSTREE_BIN" --repo="$ox" fsck -q >"$work/logs/interop-fsck.rpm.log" 2>&1; then
    echo "  rpm: real ostree fsck of oxtree's import: ok"
  else
    echo "  rpm: real ostree fsck of oxtree's import: FAILED"; failures=$((failures + 1))
  fi
  a=$("$OSTREE_BIN" --repo="$work/rpm-ostree.$ROUNDS" show main 2>/dev/null | sed -n 's/^ContentChecksum: *//p' || true)
  b=$("$OSTREE_BIN" --repo="$ox" show "$ref" 2>/dev/null | sed -n 's/^ContentChecksum: *//p' || true)
  if [ -n "$a" ] && [ "$a" = "$b" ]; then
    echo "  rpm: same tree as ostree's commit of the extraction (ContentChecksum $a)"
  else
    echo "  rpm: tree DIFFERS from ostree's commit of the extraction (ostree ${a:-?}, oxtree ${b:-?})"
    failures=$((failures + 1))
  fi
fi
for mode in bare-user archive; do
  want fsck || want checkout || want pull || want commit || break
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
fmt='%-24s %10s %10s %8s %14s %14s %8s\n'
printf "$fmt" operation "ostree s" "oxtree s" "ox/os" "ostree KiB" "oxtree KiB" "RSS ox/os"
for op in commit-bare-user commit-archive fsck-bare-user fsck-archive checkout checkout-H checkout-C checkout-archive \
  checkout-archive-nocache pull pull-resume delta-generate delta-pull deploy redeploy rpm-import compose-tree; do
  read -r os_t os_m < <(stat_of "$op.ostree")
  read -r ox_t ox_m < <(stat_of "$op.oxtree")
  printf "$fmt" "$op" "$os_t" "$ox_t" "$(ratio "$os_t" "$ox_t")" "$os_m" "$ox_m" "$(ratio "$os_m" "$ox_m")"
done
echo
printf "$fmt" operation "cp s" "oxtree s" "ox/cp" "cp KiB" "oxtree KiB" "RSS ox/cp"
for op in checkout-H checkout-C; do
  read -r cp_t cp_m < <(stat_of "$op.cp")
  read -r ox_t ox_m < <(stat_of "$op.oxtree")
  printf "$fmt" "$op ($( [ "$op" = checkout-H ] && echo 'cp -al' || echo 'cp -a'))" "$cp_t" "$ox_t" "$(ratio "$cp_t" "$ox_t")" "$cp_m" "$ox_m" "$(ratio "$cp_m" "$ox_m")"
done

echo
printf "$fmt" "pull-resume / pull" "$(ratio "$(stat_of pull.ostree | cut -d' ' -f1)" "$(stat_of pull-resume.ostree | cut -d' ' -f1)")" \
  "$(ratio "$(stat_of pull.oxtree | cut -d' ' -f1)" "$(stat_of pull-resume.oxtree | cut -d' ' -f1)")" "" "" "" ""

if [ -s "$work/results/delta-size.ostree" ] && [ -s "$work/results/delta-size.oxtree" ]; then
  echo
  os_b=$(tail -n 1 "$work/results/delta-size.ostree")
  ox_b=$(tail -n 1 "$work/results/delta-size.oxtree")
  printf "$fmt" "delta size (bytes)" "$os_b" "$ox_b" "$(ratio "$os_b" "$ox_b")" "" "" ""
fi
if [ -s "$work/results/delta-size-xz" ]; then
  read -r xz_t xz_m < <(stat_of delta-apply-xz.oxtree)
  read -r zs_t zs_m < <(stat_of delta-apply-zstd.oxtree)
  xz_b=$(cat "$work/results/delta-size-xz")
  zs_b=$(cat "$work/results/delta-size-zstd")
  echo
  printf "$fmt" "oxtree delta" "xz" "zstd" "zstd/xz" "" "" ""
  printf "$fmt" "apply-offline s" "$xz_t" "$zs_t" "$(ratio "$xz_t" "$zs_t")" "" "" ""
  printf "$fmt" "size bytes" "$xz_b" "$zs_b" "$(ratio "$xz_b" "$zs_b")" "" "" ""
fi

if [ -s "$work/results/compose-again.oxtree" ]; then
  read -r c1_t c1_m < <(stat_of compose-tree.oxtree)
  read -r c2_t c2_m < <(stat_of compose-again.oxtree)
  echo
  printf "$fmt" "oxtree compose" "new repo" "again" "again/new" "new KiB" "again KiB" ""
  printf "$fmt" "compose-tree" "$c1_t" "$c2_t" "$(ratio "$c1_t" "$c2_t")" "$c1_m" "$c2_m" ""
fi

if [ "$failures" -gt 0 ]; then
  echo
  echo "$failures run(s) or check(s) failed (see above)"
  exit 1
fi

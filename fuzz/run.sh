#!/bin/bash
# Runs fuzz targets under libFuzzer for a bounded time each, growing and
# keeping fuzz/corpus/<target>/, and records what every run did.
#
#   fuzz/run.sh [-t SECONDS] [-n RUNS] [-b BINDIR] [TARGET...]
#
# Each target runs for SECONDS (default 60) or RUNS executions (default: no
# limit), whichever ends first, every target by default. The hardening
# issue's campaign is -t 14400 -n 10000000.
#
# With -b BINDIR, the targets are the binaries in BINDIR, copied there from
# a build (cargo +nightly fuzz build --release; they are in
# fuzz/target/x86_64-unknown-linux-gnu/release/): nothing is rebuilt, so a
# long campaign goes on unchanged while the bodies are edited (otherwise
# each target's run rebuilds them first, a sanitizer build of every target).
#
# Limits as the hardening issue sets them: an input taking over 1 s or a
# process over 512 MiB RSS counts as a failure, as does a crash.
# Before a target's first run its corpus is seeded with the stable smoke
# test's seeds (golden objects, fixtures: every target has some); run
# fuzz/seed-corpus.sh too for seeds from repositories the real ostree wrote.
#
# Each run's libFuzzer output goes to fuzz/logs/<target>.log, and one line
# to fuzz/logs/runs.tsv:
#   date  target  seconds  executions  peak-RSS-MiB  corpus-files  result
# so that executions can be summed over runs. Failing inputs land in
# fuzz/artifacts/<target>/. Exits 1 if any target failed.
#
# Needs a nightly toolchain and cargo-fuzz (see fuzz/README.md).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
seconds=60
runs=-1
bindir=
while [ $# -gt 0 ]; do
  case "$1" in
    -t) seconds=${2:?-t needs SECONDS}; shift 2 ;;
    -n) runs=${2:?-n needs RUNS}; shift 2 ;;
    -b) bindir=$(cd "${2:?-b needs BINDIR}" && pwd) || exit 2; shift 2 ;;
    *) break ;;
  esac
done
case "$seconds" in '' | *[!0-9]*) echo "fuzz/run.sh: -t wants whole seconds, not '$seconds'" >&2; exit 2 ;; esac
case "$runs" in -1) ;; '' | *[!0-9]*) echo "fuzz/run.sh: -n wants a number of runs, not '$runs'" >&2; exit 2 ;; esac

cd "$here" || exit 2
if [ -n "$bindir" ]; then
  # Executables without a dot in their names (not scripts kept beside them).
  list() { for f in "$bindir"/*; do [ -f "$f" ] && [ -x "$f" ] && [[ "$(basename "$f")" != *.* ]] && basename "$f"; done; }
else
  command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2; exit 2; }
  list() { cargo +nightly fuzz list; }
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(list)
fi
known=" $(list | tr '\n' ' ') "
for t in "${targets[@]}"; do
  case "$known" in *" $t "*) ;; *) echo "fuzz/run.sh: no fuzz target '$t' (${bindir:-cargo +nightly fuzz list})" >&2; exit 2 ;; esac
done

mkdir -p logs corpus
# Seeds for every target, written by the smoke test (stable, main workspace).
need_seeds=0
for t in "${targets[@]}"; do
  [ -n "$(ls -A "corpus/$t" 2>/dev/null)" ] || need_seeds=1
done
if [ $need_seeds = 1 ]; then
  (cd "$here/.." && OXTREE_FUZZ_SEED_DIR="$here/corpus" cargo test -q --release -p oxtree-fuzz-bodies --test smoke seeds_for_libfuzzer) ||
    { echo "fuzz/run.sh: writing the seeds failed" >&2; exit 2; }
fi

failed=0
for t in "${targets[@]}"; do
  log="logs/$t.log"
  limits=(-max_total_time="$seconds" -runs="$runs" -timeout=1 -rss_limit_mb=512 -print_final_stats=1)
  if [ -n "$bindir" ]; then
    mkdir -p "artifacts/$t" "corpus/$t"
    "$bindir/$t" -artifact_prefix="$here/artifacts/$t/" "${limits[@]}" "corpus/$t" >"$log" 2>&1
  else
    cargo +nightly fuzz run --release "$t" "corpus/$t" -- "${limits[@]}" >"$log" 2>&1
  fi
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n1)
  files=$(find "corpus/$t" -type f | wc -l)
  if [ $rc = 0 ]; then result=ok; else result="FAILED(rc=$rc)"; failed=1; fi
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "${took:-$seconds}" "${execs:-?}" "${rss:-?}" "$files" "$result" |
    tee -a logs/runs.tsv
  if [ $rc != 0 ]; then
    grep -E "^==[0-9]+==|SUMMARY|panicked|Test unit written" "$log" | head -n 8 | sed 's/^/    /'
  fi
done
exit $failed

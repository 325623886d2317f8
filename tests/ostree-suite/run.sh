#!/bin/bash
# Run OSTree's own installed shell tests (Debian package `ostree-tests`) with
# another binary standing in for `ostree`.
#
#   tests/ostree-suite/run.sh BINARY [TEST.sh ...]
#   tests/ostree-suite/run.sh --check-expected BINARY
#
# BINARY    the CLI under test (e.g. target/release/oxtree). A symlink named
#           `ostree` pointing at it is put first on PATH. Use `-` to leave PATH
#           alone and run the real ostree (the reference).
# TEST.sh   script names under /usr/libexec/installed-tests/libostree
#           (default: every test-*.sh there).
#
# Prints one line per script:
#   NAME rc=EXIT ok=N notok=N plan=1..M
# and then a total line. Exits 0 once every script has run (the numbers tell
# the story), or 2 on a usage error.
#
# --check-expected runs the scripts listed in tests/ostree-suite/expected-pass.txt
# (one name per line, `#` starts a comment) and exits 1 if any of them does not
# exit 0 or prints a `not ok` line. For each failure it prints the last 40
# lines of that script's log. An empty list passes.
#
# Environment:
#   KEEP=1         copy each log to ./ostree-suite-logs/NAME.log
#   TEST_TIMEOUT   seconds per script (default 300)
set -uo pipefail

TESTDIR=/usr/libexec/installed-tests/libostree
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXPECTED_FILE=$HERE/expected-pass.txt
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

usage() {
  echo "usage: $0 [--check-expected] BINARY|- [TEST.sh ...]" >&2
  exit 2
}

check=0
if [ "${1:-}" = --check-expected ]; then
  check=1
  shift
fi
[ $# -ge 1 ] || usage
bin=$1
shift

if [ ! -d "$TESTDIR" ]; then
  echo "OSTree's installed tests are missing ($TESTDIR)." >&2
  echo "Install them with: apt-get install -y ostree ostree-tests attr" >&2
  exit 2
fi

tests=()
if [ $check = 1 ]; then
  [ $# -eq 0 ] || { echo "--check-expected takes no test names (they come from $EXPECTED_FILE)" >&2; exit 2; }
  [ -f "$EXPECTED_FILE" ] || { echo "missing $EXPECTED_FILE" >&2; exit 2; }
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    line=$(printf '%s' "$line" | tr -d '[:space:]')
    [ -n "$line" ] && tests+=("$line")
  done <"$EXPECTED_FILE"
  if [ ${#tests[@]} -eq 0 ]; then
    echo "expected-pass.txt lists no tests yet; nothing to check"
    exit 0
  fi
elif [ $# -gt 0 ]; then
  tests=("$@")
else
  while IFS= read -r t; do tests+=("$t"); done < <(cd "$TESTDIR" && ls test-*.sh)
fi

for t in "${tests[@]}"; do
  if [ ! -f "$TESTDIR/$t" ]; then
    echo "no such test: $TESTDIR/$t" >&2
    exit 2
  fi
done

workroot=$(mktemp -d "${TMPDIR:-/tmp}/ostree-suite.XXXXXX")
cleanup() {
  # Tests may leave read-only files and directories behind.
  chmod -R u+w "$workroot" 2>/dev/null
  rm -rf "$workroot"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$bin" != - ]; then
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
  mkdir "$workroot/bin"
  ln -s "$(realpath "$bin")" "$workroot/bin/ostree"
  export PATH="$workroot/bin:$PATH"
  echo "using $(realpath "$bin") as ostree"
else
  command -v ostree >/dev/null || { echo "no ostree on PATH; apt-get install -y ostree" >&2; exit 2; }
  echo "using the real $(command -v ostree)"
fi

[ "${KEEP:-0}" = 1 ] && mkdir -p ostree-suite-logs
mkdir "$workroot/logs"

total_ok=0
total_notok=0
exited0=0
failed=()
for t in "${tests[@]}"; do
  run=$(mktemp -d "$workroot/run.XXXXXX")
  log=$workroot/logs/$t.log
  (
    cd "$run" &&
      G_TEST_SRCDIR=$TESTDIR G_TEST_BUILDDIR=$TESTDIR \
        exec timeout -k 10 "$TEST_TIMEOUT" "$TESTDIR/$t"
  ) </dev/null >"$log" 2>&1
  rc=$?
  ok=$(grep -c '^ok' "$log")
  notok=$(grep -c '^not ok' "$log")
  plan=$(grep -m1 -E '^1\.\.[0-9]+' "$log")
  echo "$t rc=$rc ok=$ok notok=$notok plan=${plan:-none}"
  total_ok=$((total_ok + ok))
  total_notok=$((total_notok + notok))
  [ "$rc" = 0 ] && exited0=$((exited0 + 1))
  if [ "$rc" != 0 ] || [ "$notok" != 0 ]; then
    failed+=("$t")
  fi
  [ "${KEEP:-0}" = 1 ] && cp "$log" "ostree-suite-logs/$t.log"
  chmod -R u+w "$run" 2>/dev/null
  rm -rf "$run"
done
echo "total: $exited0/${#tests[@]} scripts exit 0, $total_ok ok, $total_notok not ok"

if [ $check = 1 ]; then
  if [ ${#failed[@]} -eq 0 ]; then
    echo "all ${#tests[@]} expected-pass scripts passed"
    exit 0
  fi
  echo
  echo "FAILED (listed in expected-pass.txt): ${failed[*]}"
  for t in "${failed[@]}"; do
    echo
    echo "----- last 40 lines of $t -----"
    tail -n 40 "$workroot/logs/$t.log"
  done
  exit 1
fi
exit 0

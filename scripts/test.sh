#!/bin/bash
# The project's full test run (the same one CI runs through .ci/run):
#
#   scripts/test.sh
#
#   1. system packages: the real ostree, OSTree's installed tests, attr,
#      nginx, and what the signing tests use: openssl and hexdump (OSTree's
#      scripts make ed25519 keys with them) and Python's cryptography (the
#      second ed25519 implementation); installed with apt-get when running
#      as root and they are missing
#   2. cargo fmt --check
#   3. the binary built with no C compiler (CC=/bin/false): first, so that
#      on a clean target directory every build script of its dependencies
#      runs without one
#   4. cargo clippy (warnings are errors)
#   5. cargo build --release --workspace
#   6. cargo test --release --workspace
#   7. golden vectors: python3 tests/golden/verify_golden.py
#   8. OSTree's shell tests listed in tests/ostree-suite/expected-pass.txt,
#      run against target/release/oxtree
#
# Stops at the first failing step.
set -euo pipefail

cd "$(dirname "$0")/.."

# Each section line carries the time it began, to see where CI time goes.
section() { printf '\n==== %s (%s) ====\n' "$*" "$(date -u +%T)"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }

APT_PACKAGES=(ostree ostree-tests attr nginx-light openssl bsdextrautils python3-cryptography gnupg parallel
  cpio xz-utils zstd bzip2 rpm rpm2cpio alien createrepo-c libcap2-bin)
SUITE_DIR=/usr/libexec/installed-tests/libostree

# ---------------------------------------------------------------- 1
section "system packages (${APT_PACKAGES[*]})"
missing_deps=0
have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have_signing_tools() {
  command -v openssl >/dev/null 2>&1 && command -v hexdump >/dev/null 2>&1 &&
    /usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1 && command -v gpg >/dev/null 2>&1 &&
    command -v parallel >/dev/null 2>&1
}
have_rpm_tools() {
  for t in rpmbuild rpm2cpio alien createrepo_c cpio xz zstd bzip2 getcap; do
    command -v "$t" >/dev/null 2>&1 || return 1
  done
}
if command -v ostree >/dev/null 2>&1 && [ -d "$SUITE_DIR" ] && command -v setfattr >/dev/null 2>&1 && have_nginx &&
  have_signing_tools && have_rpm_tools; then
  echo "present: $(command -v ostree), $SUITE_DIR, $(command -v setfattr), nginx, openssl, hexdump, python3-cryptography, gpg, parallel, rpm tools"
elif [ "$(id -u)" = 0 ]; then
  echo "installing ${APT_PACKAGES[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
else
  warn "the real ostree, its test suite, setfattr or nginx is missing, and this is not root."
  warn "install them with: sudo apt-get install -y ${APT_PACKAGES[*]}"
  warn "the Rust checks still run; the OSTree suite step will fail."
  missing_deps=1
fi

# Make sure a rustup component is there; add it if we can. Returns 1 when it
# is still missing.
ensure_component() {
  local comp=$1 probe=$2
  $probe >/dev/null 2>&1 && return 0
  command -v rustup >/dev/null 2>&1 || return 1
  echo "adding rustup component $comp ..."
  rustup component add "$comp" || return 1
  $probe >/dev/null 2>&1
}

# ---------------------------------------------------------------- 2
section "cargo fmt --all -- --check"
if ensure_component rustfmt "cargo fmt --version"; then
  cargo fmt --all -- --check
else
  warn "rustfmt is not available and could not be added; skipping the format check"
fi

# ---------------------------------------------------------------- 3
section "CC=/bin/false CXX=/bin/false cargo build --release -p oxtree"
# The default build of the binary compiles no C (DESIGN.md): a dependency
# that needs a C compiler fails here. Only a build script that has not run
# yet is checked, hence before anything else builds. (The workspace's
# benchmarks do compile C: criterion's alloca.)
CC=/bin/false CXX=/bin/false cargo build --release -p oxtree

# ---------------------------------------------------------------- 4
section "cargo clippy --release --all-targets -- -D warnings"
if ensure_component clippy "cargo clippy --version"; then
  cargo clippy --release --all-targets -- -D warnings
else
  warn "clippy is not available and could not be added; skipping clippy"
fi

# ---------------------------------------------------------------- 5
section "cargo build --release --workspace"
cargo build --release --workspace

# ---------------------------------------------------------------- 6
section "cargo test --release --workspace"
cargo test --release --workspace

# ---------------------------------------------------------------- 7
section "golden vectors (tests/golden/verify_golden.py)"
PYTHONDONTWRITEBYTECODE=1 python3 tests/golden/verify_golden.py

# ---------------------------------------------------------------- 8
section "OSTree shell tests expected to pass (tests/ostree-suite/expected-pass.txt)"
if [ "$missing_deps" = 1 ]; then
  echo "cannot run OSTree's tests: install ${APT_PACKAGES[*]} first" >&2
  exit 1
fi
if [ ! -x target/release/oxtree ]; then
  warn "target/release/oxtree was not built (is the oxtree binary in the workspace?)"
fi
tests/ostree-suite/run.sh --check-expected target/release/oxtree

section "all checks passed"

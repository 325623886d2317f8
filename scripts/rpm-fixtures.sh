#!/bin/bash
# Builds the RPMs the import tests read, into OUT (default target/rpm-fixtures):
#   OUT/rpmbuild/COMPRESSOR/*.rpm  the feature fixture
#       (rpmimport/tests/fixtures/ostree-fixture.spec: an epoch, requires and
#       provides, a hardlink set, a symlink, file capabilities, non-root
#       owners, %config, %ghost, /etc, /var, /run, /opt, /boot, a kernel in
#       /usr/lib/modules, %doc), once per payload compressor rpmbuild writes;
#   OUT/alien/*.rpm  real Debian packages (hello, busybox, tzdata) converted
#       with `alien --to-rpm`.
# Needs rpm (rpmbuild), alien and apt-get (for `apt-get download`); .ci/run
# installs them. Builds are byte-reproducible (SOURCE_DATE_EPOCH). Safe to
# run concurrently: the first caller builds, the others wait for it.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/target/rpm-fixtures}
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.lock"
flock 9
[ -e "$out/.done" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for c in w19.zstdio w6.xzdio w9.gzdio w9.bzdio w7.lzdio w0.ufdio; do
  SOURCE_DATE_EPOCH=1700000000 rpmbuild --quiet \
    --define "_topdir $work/rpmbuild" --define "_rpmdir $out/rpmbuild/$c" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "_binary_payload $c" --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" --define "_buildhost localhost" \
    --define "_build_id_links none" \
    -bb "$here/rpmimport/tests/fixtures/ostree-fixture.spec" > "$work/rpmbuild-$c.log" 2>&1 \
    || { cat "$work/rpmbuild-$c.log" >&2; exit 1; }
done

mkdir -p "$work/debs" "$out/alien"
(cd "$work/debs" && apt-get download hello busybox tzdata > /dev/null 2>&1) \
  || { echo "apt-get download hello busybox tzdata failed (run apt-get update first)" >&2; exit 1; }
for deb in "$work"/debs/*.deb; do
  (cd "$out/alien" && alien --to-rpm --keep-version "$deb" > /dev/null)
done

touch "$out/.done"

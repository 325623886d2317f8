#!/bin/bash
# Builds the package repositories the compose tests read, into OUT
# (default target/rpm-compose):
#   OUT/repo1  a createrepo repository of 35 packages that compose into a
#              bootable tree: filesystem, setup (passwd and group), os-release, a kernel
#              with its initramfs, a shell, libraries in two versions (the
#              newest satisfying one must win), an epoch, a virtual provide
#              (mta), a file requirement, a chain of eight packages, owners
#              from setup's passwd, a %doc file, a %post scriptlet, and
#              busybox, hello, tzdata and libc6 converted from Debian packages;
#              newtool obsoleting oldtool; and packages a compose must not
#              take: an unused one, an aarch64 one, one that ships /usr/bin/app
#              too (a file conflict), one that conflicts with app;
#   OUT/repo2  updates: libfoo 1.10 (newer than 1.5 by RPM's ordering), app
#              1.1, kernel 6.2 and a new package;
#   OUT/local  RPM files to layer over a composed tree (`oxtree install`):
#              extra (needs libfoo, ships /etc and /var entries), addon
#              (needs /bin/sh, owned by a user of the base's passwd), and
#              two to refuse: needy (needs what nothing provides) and
#              clobber (ships the base's /usr/bin/app differently).
# Needs rpmbuild, createrepo_c, alien and apt-get download (.ci/run installs
# them). Reproducible (SOURCE_DATE_EPOCH); concurrent callers wait for the
# first.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/target/rpm-compose}
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.lock"
flock 9
[ -e "$out/.done" ] && exit 0
rm -rf "$out/repo1" "$out/repo2" "$out/local"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# mkpkg REPO NAME EPOCH VERSION RELEASE ARCH "PREAMBLE LINES" "INSTALL SCRIPT" "FILES" ["EXTRA SECTIONS"]
mkpkg() {
  local repo=$1 name=$2 epoch=$3 version=$4 release=$5 arch=$6 preamble=$7 install=$8 files=$9 extra=${10:-}
  local spec="$work/$name-$version.spec"
  {
    echo "Name: $name"
    [ -n "$epoch" ] && echo "Epoch: $epoch"
    echo "Version: $version"
    echo "Release: $release"
    echo "Summary: $name for the oxtree compose tests"
    echo "License: MIT"
    [ "$arch" = noarch ] && echo "BuildArch: noarch"
    echo "AutoReqProv: no"
    printf '%b\n' "$preamble"
    echo "%description"
    echo "$name, a package of the oxtree compose tests."
    echo "%install"
    printf '%b\n' "$install"
    echo "%files"
    printf '%b\n' "$files"
    printf '%b\n' "$extra"
  } > "$spec"
  SOURCE_DATE_EPOCH=1700000000 rpmbuild --quiet \
    --define "_topdir $work/rpmbuild" --define "_rpmdir $out/$repo" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" --define "_buildhost localhost" \
    --define "_build_id_links none" --define "__os_install_post %{nil}" \
    --target "$([ "$arch" = noarch ] && echo x86_64 || echo "$arch")" \
    -bb "$spec" > "$work/$name-$version.log" 2>&1 \
    || { cat "$spec" "$work/$name-$version.log" >&2; exit 1; }
}

B='%{buildroot}'
data() { # data FILE TEXT: an install line writing the line TEXT to FILE
  echo "mkdir -p $B$(dirname "$1") && echo '$2' > $B$1"
}

mkkernel() { # mkkernel REPO VERSION: a kernel and its initramfs in usr/lib/modules
  local m=/usr/lib/modules/$2-1.x86_64
  mkpkg "$1" kernel "" "$2" 1 x86_64 "Requires: filesystem" \
    "$(data $m/vmlinuz "kernel $2")\n$(data $m/initramfs.img "initramfs $2")" "$m"
}

mkpkg repo1 filesystem "" 3.18 1 noarch "" \
  "mkdir -p $B/usr/bin $B/usr/sbin $B/usr/lib $B/usr/lib64 $B/usr/share/doc $B/etc $B/var/log\nfor d in bin sbin lib lib64; do ln -s usr/\$d $B/\$d; done" \
  "%dir /usr\n%dir /usr/bin\n%dir /usr/sbin\n%dir /usr/lib\n%dir /usr/lib64\n%dir /usr/share\n%dir /usr/share/doc\n%dir /etc\n%dir /var\n%dir /var/log\n/bin\n/sbin\n/lib\n/lib64"
mkpkg repo1 setup "" 2.14 1 noarch "Requires: filesystem" \
  "mkdir -p $B/etc\necho 'root:x:0:0:root:/root:/bin/sh' > $B/etc/passwd\necho 'appuser:x:1001:1001::/var/app:/bin/false' >> $B/etc/passwd\necho 'root:x:0:' > $B/etc/group\necho 'appgroup:x:1002:appuser' >> $B/etc/group" \
  "%config /etc/passwd\n%config /etc/group"
mkpkg repo1 testos-release "" 1 1 noarch "Requires: filesystem" \
  "mkdir -p $B/usr/lib $B/etc\necho 'ID=testos' > $B/usr/lib/os-release\necho 'PRETTY_NAME=\"TestOS 1\"' >> $B/usr/lib/os-release\nln -s ../usr/lib/os-release $B/etc/os-release" \
  "/usr/lib/os-release\n/etc/os-release"
mkkernel repo1 6.1.0
mkpkg repo1 sh "" 1.0 1 noarch "Requires: busybox\nProvides: /bin/sh" \
  "mkdir -p $B/usr/bin && ln -s /bin/busybox $B/usr/bin/sh" "/usr/bin/sh"
mkpkg repo1 libfoo "" 1.0 1 x86_64 "Provides: libfoo.so.1" "$(data /usr/lib/libfoo.so.1 'foo 1.0')" "/usr/lib/libfoo.so.1"
mkpkg repo1 libfoo "" 1.5 1 x86_64 "Provides: libfoo.so.1" "$(data /usr/lib/libfoo.so.1 'foo 1.5')" "/usr/lib/libfoo.so.1"
mkpkg repo1 libbar "" 1.9 1 x86_64 "" "$(data /usr/lib/libbar.so.1 'bar 1.9')" "/usr/lib/libbar.so.1"
mkpkg repo1 libbar 2 0.9 1 x86_64 "" "$(data /usr/lib/libbar.so.1 'bar 2:0.9')" "/usr/lib/libbar.so.1"
mkpkg repo1 app "" 1.0 1 x86_64 "Requires: libfoo >= 1.2\nRequires: libbar >= 1:0" \
  "$(data /usr/bin/app 'app 1.0')" "/usr/bin/app" \
  "%changelog\n* Tue Nov 14 2023 Dev <dev@example.org> - 1.0-1\n- First app"
mkpkg repo1 postfix "" 3.7 1 x86_64 "Provides: mta\nRequires: setup" "$(data /usr/sbin/sendmail 'postfix')" "/usr/sbin/sendmail"
mkpkg repo1 mailer "" 1.0 1 noarch "Requires: mta" "$(data /usr/bin/mailer 'mailer')" "/usr/bin/mailer"
mkpkg repo1 tool "" 1.0 1 noarch "Requires: /bin/sh" "$(data /usr/bin/tool '#!/bin/sh')" "%attr(0755,root,root) /usr/bin/tool"
for i in 1 2 3 4 5 6 7 8; do
  req=""
  [ "$i" -gt 1 ] && req="Requires: chain$((i - 1))"
  mkpkg repo1 "chain$i" "" 1.0 1 noarch "$req" "$(data /usr/share/chain/$i "link $i")" "/usr/share/chain/$i"
done
mkpkg repo1 docpkg "" 1.0 1 noarch "" \
  "$(data /usr/share/docpkg/data 'data')\n$(data /usr/share/doc/docpkg/README 'read me')" \
  "/usr/share/docpkg\n%doc /usr/share/doc/docpkg/README"
mkpkg repo1 ownerpkg "" 1.0 1 noarch "Requires: setup" \
  "$(data /usr/share/ownerpkg/secret 'secret')\n$(data /usr/share/ownerpkg/orphan 'orphan')" \
  "%dir /usr/share/ownerpkg\n%attr(0640,appuser,appgroup) /usr/share/ownerpkg/secret\n%attr(0644,nosuchuser,root) /usr/share/ownerpkg/orphan"
mkpkg repo1 scriptpkg "" 1.0 1 noarch "" "$(data /usr/share/scriptpkg/data 'data')" \
  "/usr/share/scriptpkg/data" \
  "%pre\necho \"pre \$1\" > /usr/share/scriptpkg-pre\n%post\necho \"configured \$1\" > /usr/share/scriptpkg/configured\necho 'scripted:x:901:901::/:/bin/false' >> /etc/passwd\necho state > /var/log/scriptpkg.log"
# Fedora's glibc declares rtld(GNU_HASH), which rpmbuild requires of every
# ELF binary; Debian's libc6 (converted) does not.
mkpkg repo1 glibc-rtld "" 1.0 1 noarch "Provides: rtld(GNU_HASH)\nRequires: libc6" "" ""
mkpkg repo1 clash "" 1.0 1 noarch "" "$(data /usr/bin/app 'not the app')" "/usr/bin/app"
mkpkg repo1 unused "" 1.0 1 noarch "" "$(data /usr/share/unused 'unused')" "/usr/share/unused"
# Obsoletes and conflicts: newtool replaces oldtool; fighter cannot be
# installed with app.
mkpkg repo1 oldtool "" 1.0 1 noarch "" "$(data /usr/bin/oldtool 'old')" "/usr/bin/oldtool"
mkpkg repo1 newtool "" 2.0 1 noarch "Obsoletes: oldtool < 2\nProvides: oldtool = 2.0" \
  "$(data /usr/bin/newtool 'new')" "/usr/bin/newtool"
mkpkg repo1 fighter "" 1.0 1 noarch "Conflicts: app" "$(data /usr/share/fighter 'fight')" "/usr/share/fighter"
mkpkg repo1 other-arch "" 1.0 1 aarch64 "" "$(data /usr/share/other-arch 'arm')" "/usr/share/other-arch"

mkdir -p "$work/debs"
(cd "$work/debs" && apt-get download busybox hello tzdata libc6 > /dev/null 2>&1) \
  || { echo "apt-get download busybox hello tzdata libc6 failed (run apt-get update first)" >&2; exit 1; }
for deb in "$work"/debs/*.deb; do
  (cd "$out/repo1" && alien --to-rpm --keep-version "$deb" > "$work/alien.log" 2>&1) || { cat "$work/alien.log" >&2; exit 1; }
done

mkpkg repo2 libfoo "" 1.10 1 x86_64 "Provides: libfoo.so.1" "$(data /usr/lib/libfoo.so.1 'foo 1.10')" "/usr/lib/libfoo.so.1"
mkpkg repo2 app "" 1.1 1 x86_64 "Requires: libfoo >= 1.10\nRequires: libbar >= 1:0" \
  "$(data /usr/bin/app 'app 1.1')" "/usr/bin/app" \
  "%changelog\n* Wed Nov 15 2023 Dev <dev@example.org> - 1.1-1\n- Faster app\n- Fewer bugs\n\n* Tue Nov 14 2023 Dev <dev@example.org> - 1.0-1\n- First app"
mkkernel repo2 6.2.0
mkpkg repo2 newpkg "" 1.0 1 noarch "" "$(data /usr/share/newpkg 'new')" "/usr/share/newpkg"

mkpkg local extra "" 1.0 1 noarch "Requires: libfoo >= 1.0" \
  "$(data /usr/bin/extra 'extra 1.0')\n$(data /etc/extra.conf 'setting=1')\nmkdir -p $B/var/lib/extra" \
  "/usr/bin/extra\n%config /etc/extra.conf\n%dir /var/lib/extra"
mkpkg local addon "" 1.0 1 x86_64 "Requires: /bin/sh" "$(data /usr/share/addon/data 'addon data')" \
  "%dir /usr/share/addon\n%attr(0640,appuser,appgroup) /usr/share/addon/data" \
  "%post\necho added > /usr/share/addon/posted"
mkpkg local needy "" 1.0 1 noarch "Requires: libnothere >= 2" "$(data /usr/share/needy 'needy')" "/usr/share/needy"
mkpkg local clobber "" 1.0 1 noarch "" "$(data /usr/bin/app 'clobbered')" "/usr/bin/app"

createrepo_c --quiet "$out/repo1"
createrepo_c --quiet "$out/repo2"
touch "$out/.done"

#!/bin/bash
# Fills fuzz/corpus/<target>/ with seed inputs taken from repositories that
# the real `ostree` writes (corpus directories are gitignored).
#
#   fuzz/seed-corpus.sh            (needs ostree and python3; setfattr optional)
#
# It commits the golden tiny tree (tests/golden/mktree.sh), and the xattr tree
# when setfattr is there, into an archive and a bare-user repo, twice (the
# second commit with metadata, detached metadata and --generate-sizes), then
# makes summaries and static deltas, and copies:
#
#   dirtree, dirmeta, commit, commitmeta   the objects of those types
#   file_header      .filez objects and bare-user user.ostreemeta values
#   filez            .filez objects
#   gvariant_value   every metadata object, the summary and the delta
#                    superblock, each behind the selector byte of its type
#   gvariant_text    `ostree show --raw` of the commits, detached metadata
#   checksum         object checksums: hex, modified base64 and raw
#   keyfile          the repos' config files, one with a remote added
#   summary          the archive repo's summary, before and after deltas
#   remote_text      a mirrorlist and a cookie jar made by `ostree remote add-cookie`
#
# Files are named after the SHA-256 of their contents, as libFuzzer does.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
golden="$here/../tests/golden"
corpus="$here/corpus"
command -v ostree >/dev/null || { echo "the real ostree is needed (apt-get install ostree)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/oxtree-seed.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Selector bytes of gvariant_value: indexes into OSTREE_TYPES in
# bodies/src/lib.rs (keep in sync).
SEL_DIRTREE=0 SEL_DIRMETA=1 SEL_COMMIT=2 SEL_VARDICT=3 SEL_SUMMARY=7 SEL_SUPERBLOCK=8

put() { # put TARGET FILE [SELECTOR]: copy FILE into the target's corpus
  local target=$1 src=$2 sel=${3:-} tmp
  mkdir -p "$corpus/$target"
  tmp="$corpus/$target/.tmp.$$"
  if [ -n "$sel" ]; then
    { printf "\\$(printf '%03o' "$sel")"; cat "$src"; } >"$tmp"
  else
    cat "$src" >"$tmp"
  fi
  mv "$tmp" "$corpus/$target/$(sha256sum "$tmp" | cut -c1-40)"
}

put_text() { # put_text TARGET STRING
  printf '%s' "$2" >"$work/text"
  put "$1" "$work/text"
}

sh "$golden/mktree.sh" "$work/tree"
trees=("$work/tree")
if command -v setfattr >/dev/null && sh "$golden/mkxattr-tree.sh" "$work/xtree" 2>/dev/null; then
  trees+=("$work/xtree")
fi

for mode in archive bare-user; do
  repo="$work/repo-$mode"
  ostree init --repo="$repo" --mode="$mode"
  for t in "${trees[@]}"; do
    b="$(basename "$t")"
    ostree commit --repo="$repo" -b "$b" --subject="seed $b" --timestamp=2020-01-01 "$t" >/dev/null
    ostree commit --repo="$repo" -b "$b" --subject="seed $b two" --body="a body" --timestamp=2020-01-02 \
      --add-metadata-string=version=1.0 --add-metadata=ostree.x='<uint32 5>' \
      --add-detached-metadata-string=sig=abc --generate-sizes "$t" >/dev/null
    ostree show --repo="$repo" --raw "$b" >"$work/show" && put gvariant_text "$work/show"
    ostree show --repo="$repo" --raw "$b^" >"$work/show" && put gvariant_text "$work/show"
    ostree show --repo="$repo" --print-detached-metadata-key=sig "$b" >"$work/show" && put gvariant_text "$work/show"
    if ostree show --repo="$repo" --print-metadata-key=ostree.sizes "$b" >"$work/show" 2>/dev/null; then
      put gvariant_text "$work/show"
    fi
  done
  put keyfile "$repo/config"
  if [ "$mode" = archive ]; then
    ostree summary --repo="$repo" -u >/dev/null
    put gvariant_value "$repo/summary" "$SEL_SUMMARY"
    put summary "$repo/summary"
    ostree static-delta generate --repo="$repo" tree >/dev/null 2>&1
    ostree static-delta generate --repo="$repo" --empty tree >/dev/null 2>&1
    ostree summary --repo="$repo" -u --add-metadata=x.y='(1, <@mi nothing>)' >/dev/null
    put summary "$repo/summary"
    put gvariant_value "$repo/summary" "$SEL_SUMMARY"
    find "$repo/deltas" -name superblock -print0 | while IFS= read -r -d '' f; do
      put gvariant_value "$f" "$SEL_SUPERBLOCK"
    done
    ostree remote add --repo="$repo" --no-gpg-verify --set=branches='main;dev;' origin http://127.0.0.1:8000/repo
    put keyfile "$repo/config"
    ostree remote add-cookie --repo="$repo" origin 127.0.0.1 / foo bar
    ostree remote add-cookie --repo="$repo" origin example.org /repo id 'x y'
    put remote_text "$repo/origin.cookies.txt"
    printf '# mirrors\n\nhttp://127.0.0.1:8000/repo\nhttps://mirror.example/repo/\n' >"$work/mirrorlist"
    put remote_text "$work/mirrorlist"
  fi
  while IFS= read -r -d '' f; do
    case "$f" in
      *.dirtree) put dirtree "$f"; put gvariant_value "$f" "$SEL_DIRTREE" ;;
      *.dirmeta) put dirmeta "$f"; put gvariant_value "$f" "$SEL_DIRMETA" ;;
      *.commit) put commit "$f"; put gvariant_value "$f" "$SEL_COMMIT" ;;
      *.commitmeta) put commitmeta "$f"; put gvariant_value "$f" "$SEL_VARDICT" ;;
      *.filez) put file_header "$f"; put filez "$f" ;;
    esac
  done < <(find "$repo/objects" -type f -print0)
  if [ "$mode" = bare-user ]; then
    # user.ostreemeta of every content object.
    python3 - "$repo" "$work/meta" <<'EOF' | while IFS= read -r f; do put file_header "$f"; done
import os, sys
repo, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for d, _, files in os.walk(os.path.join(repo, "objects")):
    for n in files:
        if n.endswith(".file"):
            try:
                v = os.getxattr(os.path.join(d, n), "user.ostreemeta", follow_symlinks=False)
            except OSError:
                continue
            p = os.path.join(out, n)
            with open(p, "wb") as fh:
                fh.write(v)
            print(p)
EOF
  fi
  # Checksums in their three spellings.
  python3 - "$repo" "$work/csum" <<'EOF' | while IFS= read -r f; do put checksum "$f"; done
import base64, os, sys
repo, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
i = 0
for d, _, files in os.walk(os.path.join(repo, "objects")):
    for n in sorted(files)[:4]:
        hexsum = os.path.basename(d) + n.split(".")[0]
        raw = bytes.fromhex(hexsum)
        b64 = base64.b64encode(raw).decode().rstrip("=").replace("/", "_")
        for data in (hexsum.encode(), b64.encode(), raw):
            i += 1
            p = os.path.join(out, str(i))
            with open(p, "wb") as fh:
                fh.write(data)
            print(p)
EOF
done

for t in "$corpus"/*/; do
  printf '%-16s %4d files\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)"
done

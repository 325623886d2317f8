//! The hostile-input corpus in `tests/hostile/`: repositories, tarballs
//! and RPMs made to break an importer (`..` names, duplicate and unsorted
//! entries, a symlink standing where a directory goes, a chain of dirtrees
//! deeper than any tree, setuid files, decompression bombs, sizes that lie,
//! paths that escape, static deltas that make such things). Each case
//! directory holds its input and a `case` file naming the command to run on
//! it and the error it must end with.
//!
//! [`every_case_is_refused`] runs each case in a scratch directory and
//! checks: the command (`pull MODE [ARGS]`, over HTTP from 127.0.0.1;
//! `checkout [ARGS]` or `repo ARGS` on a copy of the case's repository;
//! `commit-tar`; `rpm-import`) exits 1 with an `error: ` line holding the expected
//! text; nothing changed in the scratch directory outside the command's
//! target (the repository or checkout it writes); nothing appeared at the
//! absolute path the escaping symlinks aim at; no ref was written; and the
//! real `ostree fsck` accepts what the target repository holds.
//!
//! The corpus is data in the repository so that other tools (the fuzzers'
//! seeds, the real ostree) can be pointed at it. [`corpus_is_current`]
//! rebuilds it with the builders below and compares byte for byte;
//! `OXTREE_HOSTILE_REGEN=1` writes the rebuilt corpus in place instead.

mod common;
// The fetch crate's test server, to serve the repositories over HTTP.
#[allow(dead_code)]
#[path = "../../../fetch/tests/common/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use oxtree_store::object::{DirEntry, DirMeta, DirTree, FileEntry, FileHeader, ObjectType};
use oxtree_store::{Checksum, Repo, RepoMode};

/// Where every escaping symlink in the corpus points. Nothing may ever be
/// created there.
const OUTSIDE: &str = "/tmp/oxtree-hostile-outside";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile")
}

// ------------------------------------------------------------------ cases

/// One case: its directory name, what it is, the command (see [`run_case`])
/// and the text its error must hold.
struct Case {
    name: &'static str,
    what: &'static str,
    run: &'static str,
    expect: &'static str,
    build: fn(&Path),
    /// Another case whose input this one runs on (instead of building its
    /// own).
    input: Option<&'static str>,
}

/// One more level than any walk accepts.
const DEEP: usize = oxtree_store::object::MAX_RECURSION + 1;

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "name-dotdot",
            what: "a dirtree listing a file named '..'",
            run: "pull bare-user",
            expect: "Invalid path uplink filename '..'",
            build: |d| repo_with_root(d, |r| dirtree(r, &[("..", file(r, b"x"))], &[])),
            input: None,
        },
        Case {
            name: "name-dotdot-local",
            what: "the same tree already in a local repository, checked out",
            run: "checkout",
            expect: "Invalid path uplink filename '..'",
            build: |d| repo_with_root(d, |r| dirtree(r, &[("..", file(r, b"x"))], &[])),
            input: None,
        },
        Case {
            name: "name-slash",
            what: "a directory named 'etc/passwd'",
            run: "pull bare-user",
            expect: "Invalid / in filename etc/passwd",
            build: |d| {
                repo_with_root(d, |r| {
                    let sub = dirtree(r, &[], &[]);
                    dirtree_raw(r, &[], &[("etc/passwd", sub)])
                })
            },
            input: None,
        },
        Case {
            name: "duplicate-file",
            what: "a dirtree listing the file 'x' twice, with different contents",
            run: "pull bare-user",
            expect: "duplicate name 'x'",
            build: |d| repo_with_root(d, |r| dirtree_raw(r, &[("x", file(r, b"one")), ("x", file(r, b"two"))], &[])),
            input: None,
        },
        Case {
            name: "symlink-then-dir",
            what: "a symlink 'escape' to an absolute path outside, and a directory 'escape' holding a file: \
                   checking out the second would write through the first",
            run: "checkout",
            expect: "duplicate name 'escape'",
            build: |d| repo_with_root(d, symlink_and_dir),
            input: None,
        },
        Case {
            name: "symlink-then-dir-union",
            what: "the same, checked out with --union (which would reuse what exists)",
            run: "checkout --union",
            expect: "duplicate name 'escape'",
            build: |d| repo_with_root(d, symlink_and_dir),
            input: None,
        },
        Case {
            name: "symlink-then-dir-pull",
            what: "the same, from a remote",
            run: "pull bare-user",
            expect: "duplicate name 'escape'",
            build: |d| repo_with_root(d, symlink_and_dir),
            input: None,
        },
        Case {
            name: "unsorted-dirtree",
            what: "a dirtree whose names are not sorted (OSTree never writes one)",
            run: "pull bare-user",
            expect: "'a' is listed after 'b'",
            build: |d| repo_with_root(d, |r| dirtree_raw(r, &[("b", file(r, b"b")), ("a", file(r, b"a"))], &[])),
            input: None,
        },
        Case {
            name: "unsorted-duplicate",
            what: "an unsorted dirtree hiding a duplicate ('x', 'a', 'x'), in a local repository",
            run: "checkout",
            expect: "duplicate name 'x'",
            build: |d| {
                repo_with_root(d, |r| {
                    let f = file(r, b"x");
                    dirtree_raw(r, &[("x", f), ("a", f), ("x", f)], &[])
                })
            },
            input: None,
        },
        Case {
            name: "deep-chain",
            what: "directories nested one deeper than the limit (2049), a few bytes each",
            run: "pull bare-user",
            expect: "Exceeded maximum recursion",
            build: |d| repo_with_root(d, |r| chain(r, DEEP)),
            input: None,
        },
        Case {
            name: "deep-chain-checkout",
            what: "the same in a local repository, checked out",
            run: "checkout",
            expect: "exceeded maximum recursion",
            build: |_| {},
            input: Some("deep-chain"),
        },
        Case {
            name: "deep-chain-prune",
            what: "the same, pruned (the walk of what is reachable)",
            run: "repo prune --refs-only",
            expect: "Exceeded maximum recursion",
            build: |_| {},
            input: Some("deep-chain"),
        },
        Case {
            name: "dirmeta-not-a-directory",
            what: "a directory whose dirmeta gives the mode of a regular file",
            run: "pull bare-user",
            expect: "invalid directory mode 100644",
            build: |d| {
                repo_with(d, |r| {
                    let meta = DirMeta { uid: 0, gid: 0, mode: 0o100644, xattrs: Default::default() };
                    let meta = put(r, ObjectType::DirMeta, &meta.to_bytes());
                    let root = dirtree(r, &[("f", file(r, b"f"))], &[]);
                    (root, meta)
                })
            },
            input: None,
        },
        Case {
            name: "setuid-bare-user-only",
            what: "a setuid root file pulled into a bare-user-only repository",
            run: "pull bare-user-only",
            expect: "invalid mode 0104755 with bits 04000",
            build: |d| repo_with_root(d, |r| dirtree(r, &[("su", file_with(r, 0, 0o104755, b"#!/bin/sh\n"))], &[])),
            input: None,
        },
        Case {
            name: "setuid-bareuseronly-files",
            what: "the same, pulled into bare-user with --bareuseronly-files",
            run: "pull bare-user --bareuseronly-files",
            expect: "invalid mode 0104755 with bits 04000",
            build: |d| repo_with_root(d, |r| dirtree(r, &[("su", file_with(r, 0, 0o104755, b"#!/bin/sh\n"))], &[])),
            input: None,
        },
        Case {
            name: "zlib-bomb",
            what: "a .filez declaring 16 bytes whose deflate stream inflates to 64 MiB",
            run: "pull bare-user",
            expect: "content is larger than the 16 bytes declared",
            build: |d| repo_with_root(d, |r| dirtree(r, &[("bomb", bomb(r, 16, 64 << 20))], &[])),
            input: None,
        },
        Case {
            name: "huge-declared-size",
            what: "a .filez declaring 2^62 bytes and holding 16",
            run: "pull bare-user",
            expect: "bytes short of the 4611686018427387904 declared",
            build: |d| repo_with_root(d, |r| dirtree(r, &[("huge", bomb(r, 1 << 62, 16))], &[])),
            input: None,
        },
        Case {
            name: "delta-bomb",
            what: "a static delta whose part is 64 MiB of zeros in a few kilobytes of xz",
            run: "pull bare-user --require-static-deltas",
            expect: "expands beyond",
            build: |d| {
                with_delta(d, |_, part| {
                    *part = oxtree_fetch::delta::generate::compress(
                        &vec![0u8; 64 << 20],
                        oxtree_fetch::delta::part::Compression::Xz,
                    )
                    .unwrap()
                })
            },
            input: None,
        },
        Case {
            name: "delta-corrupt-file",
            what:
                "a static delta whose part makes a file with one byte changed (the part's own checksum made to match)",
            run: "pull bare-user --require-static-deltas",
            expect: "Corrupted file object",
            build: |d| {
                with_delta(d, |payload, _| {
                    let at = payload.windows(DELTA_FILE.len()).position(|w| w == DELTA_FILE).unwrap();
                    payload[at] ^= 1;
                })
            },
            input: None,
        },
        Case {
            name: "delta-dotdot",
            what: "a static delta whose part makes a dirtree listing a file named '..' (every checksum made to match, up to the commit)",
            run: "pull bare-user --require-static-deltas",
            expect: "Invalid path uplink filename '..'",
            build: delta_with_dotdot,
            input: None,
        },
        Case {
            name: "delta-setuid-bare-user-only",
            what: "a static delta carrying a setuid root file, pulled into a bare-user-only repository",
            run: "pull bare-user-only --require-static-deltas",
            expect: "invalid mode 0104755 with bits 04000",
            build: |d| with_delta(d, |_, _| {}),
            input: None,
        },
        Case {
            name: "tar-dotdot",
            what: "a tarball member '../evil'",
            run: "commit-tar",
            expect: "tar entry ../evil: Invalid path uplink filename '..'",
            build: |d| tarball(d, &[Member::file("ok", b"ok"), Member::file("../evil", b"evil")]),
            input: None,
        },
        Case {
            name: "tar-file-then-dir",
            what: "a tarball with a file 'a', then a member 'a/b' that needs 'a' to be a directory",
            run: "commit-tar",
            expect: "tar entry a/b: Can't replace file with directory: a",
            build: |d| tarball(d, &[Member::file("a", b"a"), Member::file("a/b", b"b")]),
            input: None,
        },
        Case {
            name: "tar-through-symlink",
            what: "a tarball with a symlink 'l' to the outside, then a member 'l/pwned'",
            run: "commit-tar",
            expect: "tar entry l/pwned: Can't replace file with directory: l",
            build: |d| tarball(d, &[Member::symlink("l", OUTSIDE), Member::file("l/pwned", b"pwned")]),
            input: None,
        },
        Case {
            name: "tar-hardlink-escape",
            what: "a tarball with a hard link to '../../etc/passwd'",
            run: "commit-tar",
            expect: "tar entry h: hard link to ../../etc/passwd, which is not in the archive before it",
            build: |d| tarball(d, &[Member::file("ok", b"ok"), Member::hardlink("h", "../../etc/passwd")]),
            input: None,
        },
        Case {
            name: "rpm-escape",
            what: "an RPM installing '/usr/../../etc/evil'",
            run: "rpm-import",
            expect: "'/usr/../../etc/evil' escapes the tree",
            build: |d| rpm_with(d, &[("/usr/../../etc/evil", b"evil")]),
            input: None,
        },
    ]
}

// --------------------------------------------------------------- builders

/// Makes `dir/repo`, an archive repository whose `main` is a commit of
/// the root dirtree `root` returns (with a plain 0755 root dirmeta).
fn repo_with_root(dir: &Path, root: impl FnOnce(&Repo) -> Checksum) {
    repo_with(dir, |r| {
        let t = root(r);
        (t, plain_dirmeta(r))
    })
}

/// Like [`repo_with_root`], with the root dirmeta chosen too.
fn repo_with(dir: &Path, root: impl FnOnce(&Repo) -> (Checksum, Checksum)) {
    let path = dir.join("repo");
    let r = Repo::init(&path, RepoMode::Archive).unwrap();
    let (root_tree, root_meta) = root(&r);
    let c = put(&r, ObjectType::Commit, &hostile_commit(root_tree, root_meta, 1_600_000_000).to_bytes());
    std::fs::write(path.join("refs/heads/main"), format!("{c}\n")).unwrap();
}

/// Writes a metadata object as it is (no validation), returns its name.
fn put(r: &Repo, ty: ObjectType, bytes: &[u8]) -> Checksum {
    let c = Checksum::digest(bytes);
    plant_object(r.path(), &c, ty, bytes);
    c
}

fn plain_dirmeta(r: &Repo) -> Checksum {
    put(r, ObjectType::DirMeta, &DirMeta { uid: 0, gid: 0, mode: 0o40755, xattrs: Default::default() }.to_bytes())
}

/// A regular file owned by root, mode 0644.
fn file(r: &Repo, content: &[u8]) -> Checksum {
    file_with(r, 0, 0o100644, content)
}

fn header(uid: u32, mode: u32, target: &str) -> FileHeader {
    FileHeader { uid, gid: uid, mode, symlink_target: target.into(), xattrs: Default::default() }
}

fn deflate(data: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    data(&mut e);
    e.finish().unwrap()
}

fn file_with(r: &Repo, uid: u32, mode: u32, content: &[u8]) -> Checksum {
    let h = header(uid, mode, "");
    let mut bytes = h.archive_prefix(content.len() as u64);
    bytes.extend(deflate(|w| w.write_all(content).unwrap()));
    let c = h.checksum(content);
    plant_object(r.path(), &c, ObjectType::File, &bytes);
    c
}

fn symlink(r: &Repo, target: &str) -> Checksum {
    let h = header(0, 0o120777, target);
    let c = h.checksum(b"");
    plant_object(r.path(), &c, ObjectType::File, &h.archive_prefix(0));
    c
}

/// A `.filez` that declares `declared` bytes and inflates to `actual`
/// zero bytes, named as if it held `declared` zeros (up to 16).
fn bomb(r: &Repo, declared: u64, actual: u64) -> Checksum {
    let h = header(0, 0o100644, "");
    let mut bytes = h.archive_prefix(declared);
    bytes.extend(deflate(|w| {
        let zeros = vec![0u8; 1 << 20];
        let mut left = actual;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            w.write_all(&zeros[..n]).unwrap();
            left -= n as u64;
        }
    }));
    let c = h.checksum(&vec![0u8; declared.min(16) as usize]);
    plant_object(r.path(), &c, ObjectType::File, &bytes);
    c
}

/// The content of the file [`with_delta`]'s tree holds.
const DELTA_FILE: &[u8] = b"the file the static delta carries\n";

/// A from-scratch static delta of `main`, as `static-delta generate
/// --empty` makes it, taken apart to be altered.
struct Delta {
    repo: PathBuf,
    sb: oxtree_fetch::delta::Superblock,
    /// Part 0, uncompressed.
    payload: Vec<u8>,
    generated: Vec<u8>,
    /// Part 0's file.
    part: Vec<u8>,
}

impl Delta {
    /// Makes `dir/repo` with the root dirtree `root` makes, and its delta.
    fn generate(dir: &Path, root: impl FnOnce(&Repo) -> Checksum) -> Delta {
        use oxtree_fetch::delta::{part::decompress, StaticDelta, Superblock};
        repo_with_root(dir, root);
        let repo = dir.join("repo");
        ox(&[&format!("--repo={}", repo.display()), "static-delta", "generate", "--empty", "--to=main"]);
        let to: Checksum = std::fs::read_to_string(repo.join("refs/heads/main")).unwrap().trim().parse().unwrap();
        let delta = repo.join(StaticDelta { from: None, to }.rel_path());
        let sb = Superblock::parse(&std::fs::read(delta.join("superblock")).unwrap()).unwrap();
        let part = std::fs::read(delta.join("0")).unwrap();
        let payload = decompress(&part, 0, 1 << 20).unwrap();
        Delta { repo, sb, generated: payload.clone(), payload, part }
    }

    /// Writes the delta back: part 0 recompressed if its payload changed,
    /// its size and checksum in the superblock made to match, under the
    /// name of the superblock's target (which `main` then names), with the
    /// timestamp fixed so that the corpus rebuilds byte for byte.
    fn write(mut self) {
        use oxtree_fetch::delta::{part::Compression, StaticDelta};
        if self.payload != self.generated {
            self.part = oxtree_fetch::delta::generate::compress(&self.payload, Compression::Xz).unwrap();
        }
        self.sb.timestamp = 1_600_000_000;
        self.sb.parts[0].checksum = Checksum::digest(&self.part);
        self.sb.parts[0].size = self.part.len() as u64;
        std::fs::remove_dir_all(self.repo.join("deltas")).unwrap();
        let delta = self.repo.join(StaticDelta { from: None, to: self.sb.to }.rel_path());
        std::fs::create_dir_all(&delta).unwrap();
        std::fs::write(delta.join("0"), &self.part).unwrap();
        std::fs::write(delta.join("superblock"), self.sb.to_bytes()).unwrap();
        std::fs::write(self.repo.join("refs/heads/main"), format!("{}\n", self.sb.to)).unwrap();
    }
}

/// Makes `dir/repo` with a from-scratch static delta of a tree of one
/// file, [`DELTA_FILE`], set-uid root, after `alter` has changed part 0:
/// its uncompressed payload, or the part file itself.
fn with_delta(dir: &Path, alter: fn(&mut Vec<u8>, &mut Vec<u8>)) {
    let mut d = Delta::generate(dir, |r| dirtree(r, &[("setuid", file_with(r, 0, 0o104755, DELTA_FILE))], &[]));
    alter(&mut d.payload, &mut d.part);
    d.write();
}

/// Makes `dir/repo` with a from-scratch static delta whose root dirtree
/// lists a file named `..`: generated for a tree with the file `xx` (our
/// generator refuses a hostile tree), then the name changed in the part's
/// bytes and every checksum above it made to match (the part's object
/// list, the commit in the superblock, the delta's name and `main`).
fn delta_with_dotdot(dir: &Path) {
    let mut d = Delta::generate(dir, |r| dirtree(r, &[("xx", file(r, DELTA_FILE))], &[]));
    let r = Repo::open(&d.repo).unwrap();
    let mut commit = oxtree_store::object::Commit::from_bytes(&d.sb.commit).unwrap();
    let old_tree = std::fs::read(r.object_path(&commit.root_tree, ObjectType::DirTree)).unwrap();
    let at = d.payload.windows(old_tree.len()).position(|w| w == old_tree).unwrap();
    let name = at + old_tree.windows(3).position(|w| w == b"xx\0").unwrap();
    d.payload[name..name + 2].copy_from_slice(b"..");
    let new_tree = Checksum::digest(&d.payload[at..at + old_tree.len()]);
    for (_, c) in d.sb.parts[0].objects.iter_mut().filter(|(_, c)| *c == commit.root_tree) {
        *c = new_tree;
    }
    commit.root_tree = new_tree;
    d.sb.commit = commit.to_bytes();
    d.sb.to = put(&r, ObjectType::Commit, &d.sb.commit);
    d.write();
}

/// A dirtree of `files` and `dirs` (each with a plain dirmeta), sorted.
fn dirtree(r: &Repo, files: &[(&str, Checksum)], dirs: &[(&str, Checksum)]) -> Checksum {
    let mut f = files.to_vec();
    f.sort_by(|a, b| a.0.cmp(b.0));
    let mut d = dirs.to_vec();
    d.sort_by(|a, b| a.0.cmp(b.0));
    dirtree_raw(r, &f, &d)
}

/// A dirtree listing exactly what it is given, in that order.
fn dirtree_raw(r: &Repo, files: &[(&str, Checksum)], dirs: &[(&str, Checksum)]) -> Checksum {
    let meta = plain_dirmeta(r);
    let t = DirTree {
        files: files.iter().map(|(n, c)| FileEntry { name: n.to_string(), checksum: *c }).collect(),
        dirs: dirs.iter().map(|(n, t)| DirEntry { name: n.to_string(), tree: *t, meta }).collect(),
    };
    put(r, ObjectType::DirTree, &t.to_bytes())
}

fn symlink_and_dir(r: &Repo) -> Checksum {
    let inner = dirtree(r, &[("pwned", file(r, b"pwned"))], &[]);
    dirtree(r, &[("escape", symlink(r, OUTSIDE))], &[("escape", inner)])
}

/// `depth` directories named `d`, one inside the other, the last with a
/// file.
fn chain(r: &Repo, depth: usize) -> Checksum {
    let mut t = dirtree(r, &[("bottom", file(r, b"bottom"))], &[]);
    for _ in 0..depth {
        t = dirtree(r, &[], &[("d", t)]);
    }
    t
}

/// One member of a tarball.
struct Member {
    name: &'static str,
    kind: u8,
    data: &'static [u8],
    link: &'static str,
}

impl Member {
    fn file(name: &'static str, data: &'static [u8]) -> Member {
        Member { name, kind: b'0', data, link: "" }
    }
    fn symlink(name: &'static str, link: &'static str) -> Member {
        Member { name, kind: b'2', data: b"", link }
    }
    fn hardlink(name: &'static str, link: &'static str) -> Member {
        Member { name, kind: b'1', data: b"", link }
    }
}

/// Writes `dir/input.tar`: ustar headers, owned by root, mtime 0.
fn tarball(dir: &Path, members: &[Member]) {
    let mut out = Vec::new();
    for m in members {
        let mut h = [0u8; 512];
        let field = |h: &mut [u8; 512], at: usize, v: &[u8]| h[at..at + v.len()].copy_from_slice(v);
        let mode = if m.kind == b'2' { 0o777 } else { 0o644 };
        field(&mut h, 0, m.name.as_bytes());
        field(&mut h, 100, format!("{mode:07o}\0").as_bytes());
        field(&mut h, 108, b"0000000\0");
        field(&mut h, 116, b"0000000\0");
        field(&mut h, 124, format!("{:011o}\0", m.data.len()).as_bytes());
        field(&mut h, 136, b"00000000000\0");
        field(&mut h, 148, b"        ");
        h[156] = m.kind;
        field(&mut h, 157, m.link.as_bytes());
        field(&mut h, 257, b"ustar\x0000");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        field(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(m.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    std::fs::write(dir.join("input.tar"), out).unwrap();
}

/// Writes `dir/input.rpm`, a noarch package of `files`, built with the rpm
/// crate (rpmbuild refuses such paths).
fn rpm_with(dir: &Path, files: &[(&str, &[u8])]) {
    let mut b = rpm::PackageBuilder::new("hostile", "1.0", "MIT", "noarch", "refused by the importer");
    b.using_config(rpm::BuildConfig::v4().compression(rpm::CompressionType::None).source_date(1_600_000_000));
    for (dest, data) in files {
        b.with_file_contents(data.to_vec(), rpm::FileOptions::new(*dest)).unwrap();
    }
    b.build().unwrap().write_file(dir.join("input.rpm")).unwrap();
}

/// Builds the whole corpus into `root`.
fn build_corpus(root: &Path) {
    let mut readme = String::from(
        "# Hostile inputs\n\nEach directory is one input made to break an importer, and a `case` file:\n\
         what it is, the command `crates/cli/tests/hostile.rs` runs on it, the text\n\
         the error must hold, and (`input:`) the case whose input it shares, if any. The test also checks that nothing was written outside the\n\
         command's target and that no ref moved. Rebuild with\n\
         `OXTREE_HOSTILE_REGEN=1 cargo test --release -p oxtree --test hostile`.\n\n\
         | case | input | command | error |\n|---|---|---|---|\n",
    );
    for case in cases() {
        let d = root.join(case.name);
        std::fs::create_dir_all(&d).unwrap();
        (case.build)(&d);
        let input = case.input.map(|i| format!("input: {i}\n")).unwrap_or_default();
        std::fs::write(d.join("case"), format!("# {}\nrun: {}\nexpect: {}\n{input}", case.what, case.run, case.expect))
            .unwrap();
        readme.push_str(&format!("| `{}` | {} | `{}` | `{}` |\n", case.name, case.what, case.run, case.expect));
    }
    std::fs::write(root.join("README.md"), readme).unwrap();
}

// ----------------------------------------------------------------- runner

/// Every file under `root`, with its bytes' checksum (or link target).
fn files_under(root: &Path) -> BTreeMap<String, String> {
    snapshot(root, false).into_iter().map(|(k, e)| (k, format!("{} {:o} {}", e.kind, e.mode, e.content))).collect()
}

/// Reads a case's `run:` and `expect:` lines, and the directory of its
/// input (its own, or the case its `input:` line names).
fn read_case(dir: &Path) -> (String, String, PathBuf) {
    let text = std::fs::read_to_string(dir.join("case")).unwrap();
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string());
    let need = |k: &str| field(k).unwrap_or_else(|| panic!("{}: no {k}", dir.display()));
    let input = field("input:").map(|i| dir.parent().unwrap().join(i)).unwrap_or_else(|| dir.to_path_buf());
    (need("run:"), need("expect:"), input)
}

/// Runs one case in the scratch directory `w`; returns the error text.
fn run_case(dir: &Path, w: &Path) -> String {
    let (run, expect, case) = read_case(dir);
    let case = case.as_path();
    let words: Vec<&str> = run.split_whitespace().collect();
    let repo = w.join("repo");
    let r = format!("--repo={}", repo.display());
    // git keeps no empty directories: make those `init` makes.
    let copy_repo = || {
        sh(&format!("cp -a '{}' '{}'", case.join("repo").display(), repo.display()));
        for d in ["tmp", "extensions", "state", "refs/heads", "refs/mirrors", "refs/remotes", "objects"] {
            std::fs::create_dir_all(repo.join(d)).unwrap();
        }
    };
    // Kept alive until the command is over.
    let mut _server = None;
    let out = match words[0] {
        "pull" => {
            ox(&[&r, "init", &format!("--mode={}", words[1])]);
            let srv = server::Server::start(server::serve_dir(case.join("repo")));
            ox(&[&r, "remote", "add", "--no-gpg-verify", "origin", &srv.url]);
            _server = Some(srv);
            let mut a = vec![r.as_str(), "pull", "--network-retries=1"];
            a.extend(&words[2..]);
            a.extend(["origin", "main"]);
            ox_out(&a)
        }
        "checkout" => {
            copy_repo();
            let out = w.join("out").to_string_lossy().into_owned();
            let mut a = vec![r.as_str(), "checkout"];
            a.extend(&words[1..]);
            a.extend(["main", out.as_str()]);
            ox_out(&a)
        }
        "repo" => {
            copy_repo();
            let mut a = vec![r.as_str()];
            a.extend(&words[1..]);
            ox_out(&a)
        }
        "commit-tar" => {
            ox(&[&r, "init", "--mode=bare-user"]);
            ox_out(&[&r, "commit", "-b", "main", &format!("--tree=tar={}", case.join("input.tar").display())])
        }
        "rpm-import" => {
            ox(&[&r, "init", "--mode=bare-user"]);
            ox_out(&["rpm", "import", &r, &case.join("input.rpm").to_string_lossy()])
        }
        other => panic!("{}: unknown command {other}", case.display()),
    };
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let name = dir.file_name().unwrap().to_string_lossy();
    assert_eq!(out.status.code(), Some(1), "{name}: `{run}` should fail with exit 1; stderr: {err}");
    assert!(err.starts_with("error: ") || err.contains("\nerror: "), "{name}: no error line: {err}");
    assert!(err.contains(&expect), "{name}: the error should hold {expect:?}: {err}");
    err
}

#[test]
fn every_case_is_refused() {
    let corpus = corpus_dir();
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(&corpus).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("case").exists()).collect();
    names.sort();
    assert!(names.len() >= 20, "the corpus has {} cases", names.len());
    let _ = std::fs::remove_dir_all(OUTSIDE);
    for case in &names {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let w = TempDir::new(&format!("hostile-{name}"));
        // Something beside the target, which must be left as it is.
        std::fs::write(w.join("bystander"), b"untouched\n").unwrap();
        let before = files_under(w.path());
        let err = run_case(case, w.path());
        eprintln!("{name}: {}", err.trim());
        let after: BTreeMap<_, _> = files_under(w.path())
            .into_iter()
            .filter(|(k, _)| !k.starts_with("/repo/") && !k.starts_with("/out/") && k != "/repo" && k != "/out")
            .collect();
        assert_eq!(before, after, "{name}: something was written outside the target");
        assert!(!Path::new(OUTSIDE).exists(), "{name}: {OUTSIDE} was created");
        let repo = w.join("repo");
        if repo.join("config").exists() {
            let copied = read_case(case).2.join("repo").exists();
            let r = format!("--repo={}", repo.display());
            if !copied {
                assert_eq!(ox(&[&r, "refs"]), "", "{name}: a ref was written");
                if ostree_out(&["--version"]).status.success() {
                    let fsck = ostree_out(&[&r, "fsck"]);
                    assert!(fsck.status.success(), "{name}: ostree fsck: {fsck:?}");
                }
            }
        }
    }
}

#[test]
fn corpus_is_current() {
    if std::env::var_os("OXTREE_HOSTILE_REGEN").is_some() {
        let root = corpus_dir();
        let _ = std::fs::remove_dir_all(&root);
        build_corpus(&root);
        return;
    }
    let w = TempDir::new("hostile-build");
    build_corpus(w.path());
    // Files only: git keeps no empty directories.
    let files = |p: &Path| -> BTreeMap<String, String> {
        files_under(p).into_iter().filter(|(_, v)| !v.starts_with('d')).collect()
    };
    let fresh = files(w.path());
    let kept = files(&corpus_dir());
    assert!(
        fresh == kept,
        "tests/hostile differs from what its builders make; rerun with OXTREE_HOSTILE_REGEN=1 and review the change: {:?}",
        fresh.iter().filter(|(k, v)| kept.get(*k) != Some(v)).map(|(k, _)| k).collect::<Vec<_>>()
    );
}

/// The other side of the depth limit: a tree exactly as deep as it allows
/// is pulled, checked out, listed, checked and pruned, without a stack
/// overflow (`fsck` and `ls` walk without recursion and take any depth); and a 300-deep tree the real ostree commits (deeper than its
/// own `OSTREE_MAX_RECURSION`, which its pull and checkout do not apply)
/// is one we take too.
#[test]
fn the_deepest_allowed_tree_works_everywhere() {
    let w = TempDir::new("hostile-deepest");
    let at_limit = w.join("at-limit");
    std::fs::create_dir_all(&at_limit).unwrap();
    repo_with_root(&at_limit, |r| chain(r, oxtree_store::object::MAX_RECURSION));
    let mut sources = vec![at_limit.join("repo")];
    if ostree_out(&["--version"]).status.success() {
        let mut p = w.join("tree");
        for _ in 0..300 {
            p = p.join("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("bottom"), b"bottom").unwrap();
        let real = w.join("real");
        let s = format!("--repo={}", real.display());
        ostree(&[&s, "init", "--mode=archive"]);
        ostree(&[&s, "commit", "-b", "main", &w.join("tree").to_string_lossy()]);
        sources.push(real);
    }
    for (i, src) in sources.iter().enumerate() {
        let srv = server::Server::start(server::serve_dir(src.clone()));
        let dst = w.join(&format!("dst-{i}"));
        let d = format!("--repo={}", dst.display());
        ox(&[&d, "init", "--mode=bare-user"]);
        ox(&[&d, "remote", "add", "--no-gpg-verify", "origin", &srv.url]);
        ox(&[&d, "pull", "origin", "main"]);
        let out = w.join(&format!("out-{i}"));
        ox(&[&d, "checkout", "origin:main", &out.to_string_lossy()]);
        // Deeper than PATH_MAX: find(1) walks it by descriptors.
        let found = std::process::Command::new("find").arg(&out).args(["-name", "bottom"]).output().unwrap();
        let bottom = String::from_utf8_lossy(&found.stdout).into_owned();
        assert!(bottom.matches("/d").count() >= 300, "{bottom}");
        assert!(ox(&[&d, "ls", "-R", "origin:main"]).contains("/bottom"));
        assert!(ox(&[&d, "fsck"]).contains("no errors found"));
        ox(&[&d, "prune", "--refs-only"]);
        ox(&[&d, "refs", "--delete", "origin:main"]);
        assert!(ox(&[&d, "prune", "--refs-only"]).contains("Total objects"));
    }
}

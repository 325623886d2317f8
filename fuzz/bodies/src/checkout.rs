//! The `checkout_escape` target: arbitrary bytes become a repository of one
//! or two hostile trees, which are checked out into a temporary directory
//! with options the bytes choose (union modes, whiteouts, user mode,
//! copies), over a destination that may already hold symlinks pointing
//! outside. Errors are fine; what must hold for every input is that nothing
//! outside the destination (and the repository) changes.
//!
//! Input layout: byte 0 picks the repository mode and options, byte 1 what
//! the destination holds beforehand, then a program builds the first tree
//! and, if any bytes are left, a second one checked out over it:
//!
//! | op (byte % 6) | meaning                                                        |
//! |---------------|----------------------------------------------------------------|
//! | 0             | end the current directory (at the top: end the tree)           |
//! | 1 N M         | file named `NAMES[N]`, mode `MODES[M]`, content its own name   |
//! | 2 N T         | symlink named `NAMES[N]` to `TARGETS[T]`                       |
//! | 3 N M         | directory named `NAMES[N]` with mode `DIR_MODES[M]`; ops follow |
//! | 4             | leave the entry lists of this directory unsorted               |
//! | 5 N           | a second entry named `NAMES[N]`: the last file, again          |

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oxtree_checkout::{checkout_tree, CheckoutOptions, OverwriteMode};
use oxtree_store::object::{DirEntry, DirMeta, DirTree, FileEntry, FileHeader, ObjectType, Xattrs};
use oxtree_store::repo::Transaction;
use oxtree_store::{Checksum, Repo, RepoMode};

/// Entry names: ordinary, hostile (invalid in OSTree), whiteouts, and
/// names that clash with the symlinks the destination may hold.
const NAMES: &[&str] = &[
    "a",
    "b",
    "etc",
    "passwd",
    "..",
    ".",
    "",
    "a/b",
    "../outside",
    ".wh.a",
    ".wh.b",
    ".wh..wh..opq",
    ".wh..",
    ".wh...",
    ".ostree-wh.a",
    ".ostree-wh...",
    "link",
    "nul\0name",
];

/// Symlink targets, most of them leading out of the destination.
const TARGETS: &[&str] = &[
    "OUTSIDE",
    "OUTSIDE/keep",
    "../outside",
    "../../outside",
    "../../../outside",
    "..",
    "/",
    "a",
    "b/../../outside",
    ".",
];

/// File modes, set-id bits included.
const MODES: &[u32] = &[0o100644, 0o100755, 0o104755, 0o102755, 0o101777, 0o100000, 0o100600];

/// Directory modes, unwritable and unsearchable ones included.
const DIR_MODES: &[u32] = &[0o040755, 0o040700, 0o040000, 0o041777, 0o040500];

/// Bounds on what one input may build, to keep each run short.
const MAX_ENTRIES: usize = 64;
const MAX_DEPTH: usize = 8;

struct Program<'a> {
    data: &'a [u8],
    pos: usize,
    entries: usize,
    outside: String,
}

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.byte().unwrap_or(0) as usize % from.len()]
    }

    /// Builds one directory from the program and stores it; returns its
    /// dirtree checksum.
    fn dir(&mut self, tx: &Transaction<'_>, metas: &[Checksum], depth: usize) -> Checksum {
        let (mut files, mut dirs) = (Vec::<FileEntry>::new(), Vec::<DirEntry>::new());
        let mut sorted = true;
        while let Some(op) = self.byte() {
            if self.entries >= MAX_ENTRIES {
                break;
            }
            match op % 6 {
                0 => break,
                1 => {
                    let name = self.pick(NAMES);
                    let mode = self.pick(MODES);
                    let h = FileHeader { uid: 0, gid: 0, mode, symlink_target: String::new(), xattrs: Xattrs::new() };
                    if let Ok(c) = tx.write_file_bytes(&h, name.as_bytes()) {
                        files.push(FileEntry { name: name.into(), checksum: c });
                    }
                }
                2 => {
                    let name = self.pick(NAMES);
                    let target = self.pick(TARGETS).replace("OUTSIDE", &self.outside);
                    let h =
                        FileHeader { uid: 0, gid: 0, mode: 0o120777, symlink_target: target, xattrs: Xattrs::new() };
                    if let Ok(c) = tx.write_file_bytes(&h, b"") {
                        files.push(FileEntry { name: name.into(), checksum: c });
                    }
                }
                3 => {
                    let name = self.pick(NAMES);
                    let meta = metas[self.byte().unwrap_or(0) as usize % metas.len()];
                    let tree = if depth < MAX_DEPTH { self.dir(tx, metas, depth + 1) } else { self.empty(tx) };
                    dirs.push(DirEntry { name: name.into(), tree, meta });
                }
                4 => sorted = false,
                _ => {
                    let name = self.pick(NAMES);
                    if let Some(last) = files.last() {
                        let checksum = last.checksum;
                        files.push(FileEntry { name: name.into(), checksum });
                    }
                }
            }
            self.entries += 1;
        }
        if sorted {
            files.sort_by(|a, b| a.name.cmp(&b.name));
            dirs.sort_by(|a, b| a.name.cmp(&b.name));
        }
        tx.write_metadata(ObjectType::DirTree, &DirTree { files, dirs }.to_bytes()).unwrap_or_else(|_| self.empty(tx))
    }

    fn empty(&self, tx: &Transaction<'_>) -> Checksum {
        tx.write_metadata(ObjectType::DirTree, &DirTree::default().to_bytes()).expect("storing an empty dirtree")
    }
}

/// Every path below `dir` (not following symlinks), relative to it, with
/// type and mode; for comparing what lies outside the destination.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(md) = std::fs::symlink_metadata(&p) else { continue };
            let content = if md.is_file() { std::fs::read(&p).unwrap_or_default() } else { Vec::new() };
            if md.is_dir() {
                stack.push(p.clone());
            }
            out.push((p.strip_prefix(dir).unwrap_or(&p).to_path_buf(), md.mode(), md.nlink(), content));
        }
    }
    out.sort();
    out
}

/// Removes `dir` even where the checkout left unwritable directories.
fn remove_all(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700));
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The fuzz target body (see the module docs).
pub fn checkout_escape(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    guarded(|base, outside| {
        run(data, base, outside);
    });
}

/// Sets up the scratch directories, runs `work(base, outside)` and panics
/// if anything outside `base/dest` and `base/repo` changed.
fn guarded(work: impl FnOnce(&Path, &Path)) {
    let root = std::env::temp_dir().join(format!(
        "oxtree-fuzz-checkout-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    remove_all(&root);
    let base = root.join("base");
    let outside = base.join("outside");
    std::fs::create_dir_all(outside.join("sub")).expect("creating the fuzz scratch directory");
    std::fs::write(outside.join("keep"), b"keep\n").expect("writing the sentinel");
    let before = snapshot(&outside);
    work(&base, &outside);
    // Nothing next to the base directory or the destination, and nothing
    // outside changed (entries, modes, link counts, contents).
    let top: Vec<_> =
        std::fs::read_dir(&root).expect("reading the fuzz root").flatten().map(|e| e.file_name()).collect();
    assert_eq!(top, [std::ffi::OsString::from("base")], "checkout wrote next to its base directory");
    let mut names: Vec<_> = std::fs::read_dir(&base)
        .expect("reading the base")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.retain(|n| n != "dest" && n != "repo");
    assert_eq!(names, ["outside"], "checkout wrote next to its destination");
    assert_eq!(snapshot(&outside), before, "checkout changed what lies outside its destination");
    remove_all(&root);
}

/// Builds the trees and checks them out; returns whether the first
/// checkout succeeded.
fn run(data: &[u8], base: &Path, outside: &Path) -> bool {
    let root_user = rustix::process::geteuid().is_root();
    let modes: &[RepoMode] = if root_user {
        &[RepoMode::Archive, RepoMode::BareUser, RepoMode::BareUserOnly, RepoMode::Bare]
    } else {
        &[RepoMode::Archive, RepoMode::BareUser, RepoMode::BareUserOnly]
    };
    let (opt, pre) = (data[0], data[1]);
    let mode = modes[(opt & 3) as usize % modes.len()];
    let Ok(repo) = Repo::init(&base.join("repo"), mode) else { return false };
    let Ok(tx) = repo.transaction() else { return false };
    let metas: Vec<Checksum> = DIR_MODES
        .iter()
        .filter_map(|&m| {
            let dm = DirMeta { uid: 0, gid: 0, mode: m, xattrs: Xattrs::new() };
            tx.write_metadata(ObjectType::DirMeta, &dm.to_bytes()).ok()
        })
        .collect();
    if metas.is_empty() {
        return false;
    }
    let mut prog = Program { data, pos: 2, entries: 0, outside: outside.display().to_string() };
    let first = prog.dir(&tx, &metas, 0);
    let second = (prog.pos < data.len()).then(|| prog.dir(&tx, &metas, 0));
    if tx.commit().is_err() {
        return false;
    }

    let dest = base.join("dest");
    // What the destination holds before: nothing, or symlinks out of it.
    if pre & 1 != 0 {
        let _ = std::fs::create_dir(&dest);
        for (name, target) in
            [("a", outside.to_path_buf()), ("etc", outside.to_path_buf()), ("b", outside.join("keep"))]
        {
            let _ = std::os::unix::fs::symlink(target, dest.join(name));
        }
        let _ = std::os::unix::fs::symlink("../outside", dest.join("link"));
    }
    let overwrite = match (opt >> 2) & 3 {
        0 => OverwriteMode::None,
        1 => OverwriteMode::UnionFiles,
        2 => OverwriteMode::AddFiles,
        _ => OverwriteMode::UnionIdentical,
    };
    let opts = CheckoutOptions {
        user_mode: opt & 0x10 != 0 || !root_user,
        overwrite,
        require_hardlinks: overwrite == OverwriteMode::UnionIdentical,
        force_copy: opt & 0x20 != 0 && overwrite != OverwriteMode::UnionIdentical,
        whiteouts: opt & 0x40 != 0,
        process_passthrough_whiteouts: opt & 0x80 != 0,
        bareuseronly_dirs: pre & 2 != 0,
        ..Default::default()
    };
    let meta = metas[0];
    let ok = checkout_tree(&repo, &first, &meta, &dest, &opts).is_ok();
    if let Some(second) = second {
        let opts = CheckoutOptions {
            overwrite: if overwrite == OverwriteMode::None { OverwriteMode::UnionFiles } else { overwrite },
            ..opts
        };
        let _ = checkout_tree(&repo, &second, &meta, &dest, &opts);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    #[should_panic(expected = "outside its destination")]
    fn a_write_outside_is_caught() {
        guarded(|_, outside| std::fs::write(outside.join("sub/evil"), b"x").unwrap());
    }

    #[test]
    #[should_panic(expected = "outside its destination")]
    fn a_changed_sentinel_is_caught() {
        guarded(|_, outside| std::fs::write(outside.join("keep"), b"changed\n").unwrap());
    }

    #[test]
    #[should_panic(expected = "next to its destination")]
    fn a_write_next_to_the_destination_is_caught() {
        guarded(|base, _| std::fs::write(base.join("evil"), b"x").unwrap());
    }

    #[test]
    fn a_checkout_of_a_plain_tree_passes() {
        // `a` (a file) and `b/` holding `b`: nothing hostile, so the
        // checkout succeeds and the files are there.
        guarded(|base, outside| {
            assert!(super::run(&[0, 0, 1, 0, 0, 3, 1, 0, 1, 1, 0, 0, 0], base, outside));
            assert_eq!(std::fs::read(base.join("dest/a")).unwrap(), b"a");
            assert_eq!(std::fs::read(base.join("dest/b/b")).unwrap(), b"b");
        });
    }
}

//! Committing a directory: a generated tree of ~5000 small files, some
//! symlinks and a few large files, committed through the library
//! (`build::write_directory`, `MutableTree::write`, `build::write_commit`,
//! `Transaction::commit`) into a fresh bare-user or archive repository, with
//! fsync on (the default: one syncfs per transaction) and off.
//!
//!   cargo bench -p oxtree-store --bench commit
//!
//! The tree and the repos live under the target directory's tmp/ (a real
//! disk, not tmpfs). Each measured iteration is one whole commit into an
//! empty repo; making and deleting the repo are not timed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use oxtree_store::build::{write_commit, write_directory, CommitFilter, CommitInfo};
use oxtree_store::{Checksum, Repo, RepoMode};

const DIRS: usize = 50;
const FILES_PER_DIR: usize = 100;
const SYMLINKS: usize = 100;
/// The large files: one just past the in-memory hashing limit (4 MiB), and two bigger.
const LARGE: &[usize] = &[(4 << 20) + 1, 8 << 20, 16 << 20];

fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("oxtree-bench-commit")
}

/// Deterministic bytes, about half compressible: runs of text between
/// pseudo-random stretches.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(2) {
            out.extend_from_slice(format!("line {seed} {x:016x} lorem ipsum dolor sit amet\n").as_bytes());
        } else {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// Makes the source tree once; returns its path and its payload size.
fn source_tree() -> (PathBuf, u64) {
    let root = work_dir().join("src");
    let stamp = root.join(".complete");
    let mut total = 0u64;
    let fresh = !stamp.exists();
    if fresh {
        let _ = std::fs::remove_dir_all(&root);
    }
    for d in 0..DIRS {
        let dir = root.join(format!("usr/share/pkg{d:03}"));
        if fresh {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        for f in 0..FILES_PER_DIR {
            let seed = (d * FILES_PER_DIR + f) as u64;
            // Mostly small: 0 B to 16 KiB, skewed towards a few KiB.
            let len = ((seed * 2_654_435_761) % 16_384) as usize * (1 + (seed % 3) as usize) / 3;
            total += len as u64;
            if fresh {
                std::fs::write(dir.join(format!("file{f:03}.txt")), content(seed, len)).expect("write");
            }
        }
    }
    if fresh {
        let links = root.join("usr/lib/links");
        std::fs::create_dir_all(&links).expect("mkdir");
        for i in 0..SYMLINKS {
            std::os::unix::fs::symlink(
                format!("../../share/pkg{:03}/file000.txt", i % DIRS),
                links.join(format!("l{i}")),
            )
            .expect("symlink");
        }
        std::fs::create_dir_all(root.join("var/big")).expect("mkdir");
    }
    for (i, &len) in LARGE.iter().enumerate() {
        total += len as u64;
        if fresh {
            std::fs::write(root.join(format!("var/big/blob{i}")), content(1_000_000 + i as u64, len)).expect("write");
        }
    }
    if fresh {
        std::fs::write(&stamp, b"").expect("stamp");
    }
    (root, total)
}

/// A fresh repo directory, deleted on drop (after the measurement).
struct TempRepo(PathBuf);

impl Drop for TempRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fresh_repo(mode: RepoMode, fsync: bool, n: &mut u64) -> (TempRepo, Repo) {
    *n += 1;
    let path = work_dir().join(format!("repo-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let mut repo = Repo::init(&path, mode).expect("init");
    repo.set_fsync(fsync);
    (TempRepo(path), repo)
}

fn commit_tree(repo: &Repo, src: &Path) -> Checksum {
    // As bench-vs-ostree.sh does: `commit --no-xattrs`.
    let filter = CommitFilter { no_xattrs: true, ..Default::default() };
    let mut tx = repo.transaction().expect("transaction");
    let tree = write_directory(&tx, src, &filter).expect("write_directory");
    let root = tree.write(&tx).expect("write tree");
    let info = CommitInfo { subject: "bench".into(), timestamp: 1_767_225_600, ..Default::default() };
    let c = write_commit(&tx, &info, root).expect("write_commit");
    tx.set_ref("main", Some(c)).expect("set_ref");
    tx.commit().expect("commit");
    c
}

fn bench_commit(c: &mut Criterion) {
    let (src, bytes) = source_tree();
    let mut g = c.benchmark_group("commit-5000-files");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes(bytes));
    let mut n = 0u64;
    for (label, mode, fsync) in [
        ("bare-user", RepoMode::BareUser, true),
        ("bare-user-nofsync", RepoMode::BareUser, false),
        ("archive", RepoMode::Archive, true),
        ("archive-nofsync", RepoMode::Archive, false),
    ] {
        g.bench_function(label, |b| {
            b.iter_batched(
                || fresh_repo(mode, fsync, &mut n),
                |(guard, repo)| {
                    let commit = commit_tree(&repo, &src);
                    // Dropped after the measurement: the repo, then its directory.
                    (repo, guard, commit)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_commit);
criterion_main!(benches);

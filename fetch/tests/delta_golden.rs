//! The golden static deltas the real `ostree static-delta generate` made
//! (tests/golden/delta): parsed field by field and applied, every object
//! checked, into each bare mode.

use std::path::{Path, PathBuf};

use oxtree_fetch::delta::ops::{count, OpCounts};
use oxtree_fetch::delta::part::{decompress, payload_limit, Payload};
use oxtree_fetch::delta::superblock::EndiannessSource;
use oxtree_fetch::delta::{apply_offline, Endianness, StaticDelta, Superblock};
use oxtree_fetch::{pull_local, PullLocalOptions};
use oxtree_store::fsck::{fsck, FsckOptions};
use oxtree_store::object::ObjectType;
use oxtree_store::{Checksum, Repo, RepoMode};

const FROM: &str = "747239d1438f927f9840c399fca107b5b013b00b801e7218648ac5fddd5a8734";
const TO: &str = "40519c5f17543a725f34ef1ca4c41de569a54e00cf900127f74930f31a71c2cb";

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/delta")
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxtree-delta-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn csum(s: &str) -> Checksum {
    Checksum::from_hex(s).unwrap()
}

/// The golden archive repo, copied and given the directories git drops.
fn golden_repo(tag: &str) -> PathBuf {
    let d = tempdir(tag).join("src");
    let st = std::process::Command::new("cp").arg("-r").arg(golden().join("repo")).arg(&d).status().unwrap();
    assert!(st.success());
    for sub in ["tmp", "state", "extensions", "refs/remotes", "refs/mirrors"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    d
}

fn from_to_dir() -> PathBuf {
    golden().join("repo").join(StaticDelta { from: Some(csum(FROM)), to: csum(TO) }.rel_path())
}

fn scratch_dir() -> PathBuf {
    golden().join("repo").join(StaticDelta { from: None, to: csum(TO) }.rel_path())
}

fn assert_fsck_clean(repo: &Repo) {
    let r = fsck(repo, &FsckOptions::default(), &|_| {}).unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(!repo.is_partial(&csum(TO)));
}

#[test]
fn superblocks_parse_as_recorded() {
    let bytes = std::fs::read(from_to_dir().join("superblock")).unwrap();
    assert_eq!(Checksum::digest(&bytes).to_hex(), "7aac167d86abd64e5a7200750edc76f7ed7be8ade384f07e5002d6bddcf0bf7b");
    let sb = Superblock::parse(&bytes).unwrap();
    assert_eq!(sb.from, Some(csum(FROM)));
    assert_eq!(sb.to, csum(TO));
    assert_eq!(sb.timestamp, 1795753288);
    assert_eq!(sb.commit.len(), 190);
    assert_eq!((sb.endianness, sb.endianness_source), (Endianness::Little, EndiannessSource::Declared));
    assert_eq!(sb.parts.len(), 1);
    let p = &sb.parts[0];
    assert_eq!((p.version, p.size, p.usize, p.objects.len()), (0, 1809, 9801, 12));
    assert_eq!(p.checksum.to_hex(), "5c987f897265e52837eb7d86fc232b5840d4c988f3b0ab89fd992b3a9f546be4");
    assert!(sb.fallbacks.is_empty());
    // Written back, the superblock is the same bytes.
    assert_eq!(sb.to_bytes(), bytes);

    // The part: tables, blob and program as recorded.
    let part = std::fs::read(from_to_dir().join("0")).unwrap();
    assert_eq!(Checksum::digest(&part), p.checksum);
    let raw = decompress(&part, 0, payload_limit(p.usize, p.objects.len())).unwrap();
    assert_eq!(raw.len(), 6188);
    let payload = Payload::parse(&raw).unwrap();
    assert_eq!(payload.modes, vec![(0, 0, 0o100644), (0, 0, 0o100755)]);
    assert_eq!((payload.xattrs.len(), payload.blob.len(), payload.ops.len()), (1, 6081, 76));
    assert_eq!(payload.to_bytes(), raw);
    let counts = count(payload.ops, |i| p.objects[i].0.is_meta()).unwrap();
    assert_eq!(
        counts,
        OpCounts { open_splice_close: 10, open: 2, write: 2, set_read: 2, unset_read: 2, close: 2, bspatch: 1 }
    );

    // The scratch delta.
    let sb = Superblock::parse(&std::fs::read(scratch_dir().join("superblock")).unwrap()).unwrap();
    assert_eq!(sb.from, None);
    assert_eq!((sb.parts[0].size, sb.parts[0].usize, sb.parts[0].objects.len()), (2841, 9918, 18));

    // The inline big-endian variant: the same part, declared 'B'.
    let sb = Superblock::parse(&std::fs::read(golden().join("delta-inline-bigendian/superblock")).unwrap()).unwrap();
    assert_eq!(sb.endianness, Endianness::Big);
    assert_eq!((sb.parts[0].size, sb.parts[0].usize, sb.parts[0].objects.len()), (1809, 9801, 12));
    let rel = StaticDelta { from: sb.from, to: sb.to }.rel_path();
    assert_eq!(sb.inline_part(&rel, 0).unwrap(), part);
}

#[test]
fn scratch_delta_applies_into_every_bare_mode() {
    for mode in [RepoMode::Bare, RepoMode::BareUser, RepoMode::BareUserOnly] {
        let d = tempdir(&format!("scratch-{}", mode.as_config_str()));
        let repo = Repo::init(&d.join("repo"), mode).unwrap();
        let (sb, stats) = apply_offline(&repo, &scratch_dir()).unwrap();
        assert_eq!(sb.to, csum(TO));
        assert_eq!(stats.parts_applied, 1);
        assert_eq!(stats.objects_written, 18);
        let repo = Repo::open(&d.join("repo")).unwrap();
        assert!(repo.has_object(ObjectType::Commit, &csum(TO)));
        assert_fsck_clean(&repo);
        // Applying again finds everything there.
        let (_, again) = apply_offline(&repo, &scratch_dir()).unwrap();
        assert_eq!((again.parts_applied, again.parts_skipped), (0, 1));
        let _ = std::fs::remove_dir_all(&d);
    }
}

#[test]
fn from_to_delta_applies_on_top_of_from() {
    let src_path = golden_repo("fromto");
    let src = Repo::open(&src_path).unwrap();
    for (i, delta) in [from_to_dir(), golden().join("delta-inline-bigendian/superblock")].iter().enumerate() {
        let dest_path = src_path.parent().unwrap().join(format!("dest{i}"));
        let dest = Repo::init(&dest_path, RepoMode::BareUser).unwrap();
        pull_local(&src, &dest, &[FROM.to_string()], &PullLocalOptions::default()).unwrap();
        assert!(!dest.has_object(ObjectType::Commit, &csum(TO)));
        let (_, stats) = apply_offline(&dest, delta).unwrap();
        assert_eq!(stats.objects_written, 12, "{}", delta.display());
        let dest = Repo::open(&dest_path).unwrap();
        assert_fsck_clean(&dest);
    }
    let _ = std::fs::remove_dir_all(src_path.parent().unwrap());
}

#[test]
fn from_to_delta_needs_from() {
    let d = tempdir("nofrom");
    let repo = Repo::init(&d.join("repo"), RepoMode::BareUser).unwrap();
    let e = apply_offline(&repo, &from_to_dir()).unwrap_err();
    assert!(e.to_string().contains(&format!("Commit {FROM}, which is the delta source, is not in repository")), "{e}");
    assert!(!repo.has_object(ObjectType::Commit, &csum(TO)));
    let _ = std::fs::remove_dir_all(&d);
}

//! Hostile static deltas: every operation with offsets or lengths out of
//! range, a bspatch that writes past its output, a decompression bomb,
//! wrong checksums, objects a part lists but never makes. Each is refused
//! with an error that says what is wrong; nothing of the target reaches the
//! repository's objects, and a pull through such a delta leaves the ref
//! where it was.

use std::path::{Path, PathBuf};

use oxtree_fetch::delta::generate::compress;
use oxtree_fetch::delta::ops::{put_varint, Reader};
use oxtree_fetch::delta::part::{decompress, Compression, Payload};
use oxtree_fetch::delta::{apply_offline, StaticDelta, Superblock};
use oxtree_fetch::{pull_local, PullLocalOptions};
use oxtree_store::object::ObjectType;
use oxtree_store::{Checksum, Repo, RepoMode};

const FROM: &str = "747239d1438f927f9840c399fca107b5b013b00b801e7218648ac5fddd5a8734";
const TO: &str = "40519c5f17543a725f34ef1ca4c41de569a54e00cf900127f74930f31a71c2cb";
const REF: &str = "golden/x86_64/stable";

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/delta")
}

fn csum(s: &str) -> Checksum {
    Checksum::from_hex(s).unwrap()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("oxtree-delta-hostile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The golden archive repo, copied with the directories git drops.
fn golden_repo(dir: &Path) -> Repo {
    let d = dir.join("src");
    let st = std::process::Command::new("cp").arg("-r").arg(golden().join("repo")).arg(&d).status().unwrap();
    assert!(st.success());
    for sub in ["tmp", "state", "extensions", "refs/remotes", "refs/mirrors"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    Repo::open(&d).unwrap()
}

/// A bare-user repo holding FROM, with the ref at FROM.
fn dest_with_from(dir: &Path, src: &Repo, tag: &str) -> Repo {
    let p = dir.join(tag);
    let dest = Repo::init(&p, RepoMode::BareUser).unwrap();
    pull_local(src, &dest, &[format!("{REF}@{FROM}")], &PullLocalOptions::default()).unwrap();
    Repo::open(&p).unwrap()
}

/// One operation and its operands.
type Op = (u8, Vec<u64>);

fn decode_ops(ops: &[u8], objects: &[(ObjectType, Checksum)]) -> Vec<Op> {
    let mut r = Reader::new(ops);
    let mut out = Vec::new();
    let mut object = 0;
    while let Some(op) = r.op() {
        let n = match op {
            b'S' => {
                object += 1;
                if objects[object - 1].0.is_meta() {
                    2
                } else {
                    4
                }
            }
            b'o' => 3,
            b'w' | b'B' => 2,
            b'r' => 1,
            b'c' => {
                object += 1;
                0
            }
            _ => 0,
        };
        out.push((op, (0..n).map(|_| r.varint().unwrap()).collect()));
    }
    out
}

fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for (op, args) in ops {
        out.push(*op);
        for a in args {
            put_varint(&mut out, *a);
        }
    }
    out
}

/// The golden from→to delta, taken apart: superblock, and part 0's tables,
/// blob and program.
struct Parts {
    sb: Superblock,
    modes: Vec<(u32, u32, u32)>,
    xattrs: Vec<oxtree_store::object::Xattrs>,
    blob: Vec<u8>,
    ops: Vec<Op>,
}

fn golden_parts() -> Parts {
    let dir = golden().join("repo").join(StaticDelta { from: Some(csum(FROM)), to: csum(TO) }.rel_path());
    let sb = Superblock::parse(&std::fs::read(dir.join("superblock")).unwrap()).unwrap();
    let raw = decompress(&std::fs::read(dir.join("0")).unwrap(), 0, 1 << 20).unwrap();
    let p = Payload::parse(&raw).unwrap();
    let ops = decode_ops(p.ops, &sb.parts[0].objects);
    Parts { modes: p.modes.clone(), xattrs: p.xattrs.clone(), blob: p.blob.to_vec(), ops, sb }
}

impl Parts {
    /// Writes the (possibly altered) delta to `dir`, its part as `part`
    /// bytes when given, else compressed from the tables.
    fn write(&self, dir: &Path, part: Option<Vec<u8>>) {
        std::fs::create_dir_all(dir).unwrap();
        let ops = encode_ops(&self.ops);
        let payload = Payload { modes: self.modes.clone(), xattrs: self.xattrs.clone(), blob: &self.blob, ops: &ops };
        let bytes = part.unwrap_or_else(|| compress(&payload.to_bytes(), Compression::Xz).unwrap());
        let mut sb = self.sb.clone();
        sb.parts[0].checksum = Checksum::digest(&bytes);
        sb.parts[0].size = bytes.len() as u64;
        std::fs::write(dir.join("0"), &bytes).unwrap();
        std::fs::write(dir.join("superblock"), sb.to_bytes()).unwrap();
    }
}

/// Applies the altered delta `p` into a repo holding FROM and expects an
/// error containing `want`; the target commit and the objects only the
/// delta makes must not be in the repo's objects afterwards.
fn refused(s: &Scratch, src: &Repo, tag: &str, p: &Parts, part: Option<Vec<u8>>, want: &str) {
    let dir = s.0.join(format!("delta-{tag}"));
    p.write(&dir, part);
    let dest = dest_with_from(&s.0, src, &format!("dest-{tag}"));
    let e = apply_offline(&dest, &dir).expect_err(tag).to_string();
    assert!(e.contains(want), "{tag}: {e}");
    let dest = Repo::open(dest.path()).unwrap();
    assert!(!dest.has_object(ObjectType::Commit, &csum(TO)), "{tag}: the target commit was stored");
    for (ty, c) in &golden_parts().sb.parts[0].objects {
        assert!(!dest.has_object(*ty, c), "{tag}: object {c} of the delta was stored");
    }
}

/// The index of the first operation `op`.
fn nth(p: &Parts, op: u8, n: usize) -> usize {
    p.ops.iter().enumerate().filter(|(_, (o, _))| *o == op).nth(n).map(|(i, _)| i).unwrap()
}

#[test]
fn out_of_range_operands_in_every_operation() {
    let s = Scratch::new("ranges");
    let src = golden_repo(&s.0);
    let far = 1u64 << 40;
    // (operation, which of them, operand, value, expected message)
    let cases: &[(u8, usize, usize, u64, &str)] = &[
        (b'S', 0, 0, far, "outside the 6081-byte blob"), // metadata length
        (b'S', 0, 1, far, "outside the 6081-byte blob"), // metadata offset
        (b'S', 8, 0, 99, "mode index 99 outside"),       // content mode
        (b'S', 8, 1, 99, "xattr index 99 outside"),      // content xattrs
        (b'S', 8, 2, far, "outside the 6081-byte blob"), // content size
        (b'S', 8, 3, far, "outside the 6081-byte blob"), // content offset
        (b'o', 0, 0, 7, "mode index 7 outside"),
        (b'o', 0, 1, 7, "xattr index 7 outside"),
        (b'o', 0, 2, 10, "writes past the 10 bytes declared"),
        (b'w', 0, 0, far, "outside the 6081-byte blob"), // write from the blob
        (b'w', 0, 1, far, "outside the 6081-byte blob"),
        (b'w', 1, 1, 8000, "reads past the 8893 bytes of source object"), // from the source
        (b'r', 0, 0, far, "outside the 6081-byte blob"),
        (b'B', 0, 0, far, "outside the 6081-byte blob"),
        (b'B', 0, 1, far, "outside the 6081-byte blob"),
    ];
    for (i, &(op, which, arg, value, want)) in cases.iter().enumerate() {
        let mut p = golden_parts();
        let at = nth(&p, op, which);
        p.ops[at].1[arg] = value;
        refused(&s, &src, &format!("{}{which}-{arg}-{i}", op as char), &p, None, want);
    }
    // A source object that is not there, and operations out of place.
    let mut p = golden_parts();
    let at = nth(&p, b'r', 0);
    let off = p.ops[at].1[0] as usize;
    p.blob[off..off + 32].copy_from_slice(&[0xab; 32]);
    refused(&s, &src, "missing-source", &p, None, "abababab");
    let mut p = golden_parts();
    let at = nth(&p, b'c', 0);
    p.ops.remove(at);
    refused(&s, &src, "no-close", &p, None, "while an object is open");
    let mut p = golden_parts();
    p.ops.insert(0, (b'c', vec![]));
    refused(&s, &src, "stray-close", &p, None, "close with no open object");
    let mut p = golden_parts();
    p.ops.insert(0, (b'Z', vec![]));
    refused(&s, &src, "unknown-op", &p, None, "unknown operation 0x5a");
}

#[test]
fn bspatch_past_its_output_and_wrong_checksums() {
    let s = Scratch::new("patch");
    let src = golden_repo(&s.0);
    // The bspatch's control block says 9 literal bytes where 2 fit.
    let mut p = golden_parts();
    let at = nth(&p, b'B', 0);
    let off = p.ops[at].1[0] as usize;
    p.blob[off + 8..off + 16].copy_from_slice(&9u64.to_le_bytes());
    refused(&s, &src, "bspatch-past", &p, None, "bspatch: writes past the 10 bytes of its output");
    // One byte of a file's data changed: the object is not what its
    // record names.
    let mut p = golden_parts();
    let last = p.ops.len() - 1;
    let off = p.ops[last].1[3] as usize;
    p.blob[off] ^= 1;
    refused(&s, &src, "file-checksum", &p, None, "Corrupted file object; checksum expected='dced09e3");
    // A dirtree's bytes changed.
    let mut p = golden_parts();
    p.blob[3] ^= 1;
    refused(&s, &src, "dirtree-checksum", &p, None, "Corrupted dirtree object; checksum expected='2053f572");
    // The part file is not the one its header's checksum names.
    let p = golden_parts();
    let dir = s.0.join("delta-part-checksum");
    p.write(&dir, None);
    let mut bytes = std::fs::read(dir.join("0")).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(dir.join("0"), &bytes).unwrap();
    let dest = dest_with_from(&s.0, &src, "dest-part-checksum");
    let e = apply_offline(&dest, &dir).unwrap_err().to_string();
    assert!(e.contains("part 0: checksum"), "{e}");
    // The embedded commit is not TO.
    let p = golden_parts();
    let mut sb = p.sb.clone();
    sb.commit[10] ^= 1;
    let e = Superblock::parse(&sb.to_bytes()).unwrap_err().to_string();
    assert!(e.contains("not to the target"), "{e}");
}

#[test]
fn a_decompression_bomb_and_objects_never_made() {
    let s = Scratch::new("bomb");
    let src = golden_repo(&s.0);
    // 64 MiB of zeros in a few kilobytes, for a part said to hold 9801
    // bytes of objects.
    let bomb = compress(&vec![0u8; 64 << 20], Compression::Xz).unwrap();
    assert!(bomb.len() < 64 << 10);
    refused(&s, &src, "bomb", &golden_parts(), Some(bomb), "expands beyond");
    // The part header lists an object its program never makes.
    let mut p = golden_parts();
    p.sb.parts[0].objects.push((ObjectType::File, csum(FROM)));
    refused(&s, &src, "unmade", &p, None, "the program made 12 of the 13 objects listed");
    // ... or fewer objects than the program makes.
    let mut p = golden_parts();
    p.sb.parts[0].objects.pop();
    refused(&s, &src, "too-few", &p, None, "more than the 11 objects listed");
}

#[test]
fn a_pull_through_a_hostile_delta_leaves_the_ref_alone() {
    let s = Scratch::new("pull");
    let src = golden_repo(&s.0);
    // Corrupt the served from→to part: a file's data changed, checksums
    // made to match the part so that only the object check catches it.
    let mut p = golden_parts();
    let last = p.ops.len() - 1;
    let off = p.ops[last].1[3] as usize;
    p.blob[off] ^= 1;
    let dir = src.path().join(StaticDelta { from: Some(csum(FROM)), to: csum(TO) }.rel_path());
    p.write(&dir, None);
    oxtree_store::deltas::reindex_static_deltas(&src).unwrap();
    oxtree_store::summary::update_summary(&src, &[]).unwrap();
    let dest = dest_with_from(&s.0, &src, "dest");
    let opts = PullLocalOptions { require_static_deltas: true, ..Default::default() };
    let e = pull_local(&src, &dest, &[REF.to_string()], &opts).unwrap_err().to_string();
    assert!(e.contains("Corrupted file object"), "{e}");
    let dest = Repo::open(dest.path()).unwrap();
    assert_eq!(dest.resolve_rev(REF, false).unwrap(), Some(csum(FROM)), "the ref moved");
    assert!(dest.is_partial(&csum(TO)) || !dest.has_object(ObjectType::Commit, &csum(TO)));
    // A good delta afterwards finishes the pull from there.
    let good = golden_parts();
    good.write(&dir, None);
    oxtree_store::deltas::reindex_static_deltas(&src).unwrap();
    oxtree_store::summary::update_summary(&src, &[]).unwrap();
    pull_local(&src, &dest, &[REF.to_string()], &opts).unwrap();
    let dest = Repo::open(dest.path()).unwrap();
    assert_eq!(dest.resolve_rev(REF, false).unwrap(), Some(csum(TO)));
    assert!(!dest.is_partial(&csum(TO)));
}

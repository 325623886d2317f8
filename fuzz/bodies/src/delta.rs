//! Static delta targets: the superblock parser, part decompression and
//! payload parsing with the program run into a scratch repository, and
//! bspatch.

use std::sync::OnceLock;

use oxtree_fetch::delta::bspatch::bspatch;
use oxtree_fetch::delta::ops::count;
use oxtree_fetch::delta::part::{decompress, Payload};
use oxtree_fetch::delta::superblock::{parse_object_records, PartHeader};
use oxtree_fetch::delta::{apply_part, Superblock};
use oxtree_store::object::ObjectType;
use oxtree_store::{Checksum, Repo, RepoMode};

/// `Superblock::parse`: what parses writes back to bytes that parse to the
/// same superblock, with the embedded commit hashing to TO.
pub fn delta_superblock(data: &[u8]) {
    let Ok(sb) = Superblock::parse(data) else { return };
    assert_eq!(Checksum::digest(&sb.commit), sb.to);
    let again = Superblock::parse(&sb.to_bytes()).expect("a written superblock parses");
    assert_eq!((again.from, again.to, &again.commit), (sb.from, sb.to, &sb.commit));
    assert_eq!((&again.parts, &again.fallbacks, again.endianness), (&sb.parts, &sb.fallbacks, sb.endianness));
    assert_eq!(again.timestamp, sb.timestamp);
    for i in 0..sb.parts.len() {
        let _ = sb.inline_part("deltas/x/y", i);
    }
}

/// A scratch bare-user repository for running part programs (one per
/// process; transactions are never committed).
fn scratch_repo() -> &'static Repo {
    static REPO: OnceLock<Repo> = OnceLock::new();
    REPO.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("oxtree-fuzz-delta-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Repo::init(&p, RepoMode::BareUser).expect("scratch repo")
    })
}

/// A part: the first byte says how many 33-byte object records follow
/// (0 to 31), the rest is a part file (compression byte and payload). It is
/// decompressed under a small limit, parsed, its operations counted, and
/// its program run into a scratch repository: every object it stores must
/// be one it lists, with that checksum.
pub fn delta_part(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n % 32) as usize;
    if rest.len() < n * 33 {
        return;
    }
    let (records, part) = rest.split_at(n * 33);
    let Ok(objects) = parse_object_records(records) else { return };
    let Ok(raw) = decompress(part, 0, 1 << 20) else { return };
    assert!(raw.len() <= 1 << 20, "decompression exceeded its limit");
    let Ok(payload) = Payload::parse(&raw) else { return };
    let _ = count(payload.ops, |i| objects.get(i).is_some_and(|o| o.0.is_meta()));
    let header =
        PartHeader { version: 0, checksum: Checksum::digest(part), size: part.len() as u64, usize: 0, objects };
    let repo = scratch_repo();
    let Ok(tx) = repo.transaction() else { return };
    let res = apply_part(&tx, &header, &payload, false);
    if res.is_ok() {
        for (ty, c) in &header.objects {
            assert!(tx.has_object(*ty, c), "listed object {c} was not made");
            if *ty == ObjectType::File {
                continue;
            }
            let b = tx.read_staged_metadata(*ty, c).or_else(|| repo.read_metadata(*ty, c).ok());
            assert_eq!(b.map(|b| Checksum::digest(&b)), Some(*c));
        }
    }
    drop(tx);
}

/// bspatch: byte 0 and 1 give the output size, byte 2 the old data's
/// length; old data, then the patch. Output is exactly the size asked, or
/// an error.
pub fn bspatch_target(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let size = u16::from_le_bytes([data[0], data[1]]) as u64;
    let old_len = (data[2] as usize).min(data.len() - 3);
    let (old, patch) = data[3..].split_at(old_len);
    let mut out = Vec::new();
    if bspatch(old, patch, size, &mut out).is_ok() {
        assert_eq!(out.len() as u64, size);
    }
}

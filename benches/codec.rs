//! The object codec: serialising and parsing a large dirtree, a commit with
//! typical metadata, file headers, and raw `Value::from_bytes_normal`.
//!
//!   cargo bench -p oxtree-store --bench codec

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::{
    Commit, CommitMetadata, DirEntry, DirMeta, DirTree, FileEntry, FileHeader, Xattrs, S_IFDIR, S_IFREG,
};
use oxtree_store::Checksum;

fn csum(i: u64, salt: u8) -> Checksum {
    Checksum::digest(&[&i.to_le_bytes()[..], &[salt]].concat())
}

/// A directory of `n` entries, one in ten a subdirectory, names like a
/// `/usr/lib` listing.
fn big_dirtree(n: u64) -> DirTree {
    let mut t = DirTree::default();
    for i in 0..n {
        let name = format!("lib{:05}-component.so.{}", i * 7919 % 100_000, i % 13);
        if i % 10 == 0 {
            t.dirs.push(DirEntry { name, tree: csum(i, 1), meta: csum(i, 2) });
        } else {
            t.files.push(FileEntry { name, checksum: csum(i, 0) });
        }
    }
    t.sort();
    t
}

fn commit() -> Commit {
    let mut metadata = CommitMetadata::default();
    metadata.set("version", Value::str("42.20260101.0"));
    metadata.set(
        "ostree.ref-binding",
        Value::Array(Type::Str, vec![Value::str("os/x86_64/stable"), Value::str("os/x86_64/latest")]),
    );
    metadata.set("ostree.linux", Value::str("6.12.0-1-amd64"));
    metadata.set("rpmostree.inputhash", Value::str(csum(9, 9).to_hex()));
    metadata.set("ostree.bootable", Value::Bool(true));
    metadata.set("ostree.sizes", Value::Array(Type::array_of(Type::Byte), (0..200).map(sizes_entry).collect()));
    Commit {
        metadata,
        parent: Some(csum(1, 4)),
        related: Vec::new(),
        subject: "Release 42.20260101.0".into(),
        body: "Automated build.\n\nChanges: kernel, systemd, glibc.".into(),
        timestamp: 1_767_225_600,
        root_tree: csum(2, 1),
        root_meta: csum(2, 2),
    }
}

fn sizes_entry(i: u64) -> Value<'static> {
    let mut b = csum(i, 7).as_bytes().to_vec();
    b.extend_from_slice(&[0x8e, 0x2c, 0xa0, 0x8d, 0x01, 0x01]);
    Value::Bytes(Cow::Owned(b))
}

fn header() -> FileHeader {
    FileHeader {
        uid: 0,
        gid: 0,
        mode: S_IFREG | 0o644,
        symlink_target: String::new(),
        xattrs: Xattrs::from_pairs(vec![
            (b"security.selinux".to_vec(), b"system_u:object_r:lib_t:s0\0".to_vec()),
            (b"user.checksum".to_vec(), b"abc".to_vec()),
        ]),
    }
}

fn bench_dirtree(c: &mut Criterion) {
    let t = big_dirtree(2000);
    let bytes = t.to_bytes();
    let ty = Type::parse(DirTree::TYPE).expect("type");
    let mut g = c.benchmark_group("dirtree-2000");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("to_bytes", |b| b.iter(|| black_box(&t).to_bytes()));
    g.bench_function("from_bytes", |b| b.iter(|| DirTree::from_bytes(black_box(&bytes)).expect("parse")));
    g.bench_function("from_bytes_normal", |b| b.iter(|| DirTree::from_bytes_normal(black_box(&bytes)).expect("parse")));
    g.bench_function("Value::from_bytes", |b| b.iter(|| Value::from_bytes(&ty, black_box(&bytes)).expect("parse")));
    g.bench_function("Value::from_bytes_normal", |b| {
        b.iter(|| Value::from_bytes_normal(&ty, black_box(&bytes)).expect("parse"))
    });
    g.bench_function("lookup-all", |b| {
        b.iter(|| t.files.iter().filter(|f| black_box(&t).file(&f.name).is_some()).count())
    });
    g.finish();
}

fn bench_commit(c: &mut Criterion) {
    let commit = commit();
    let bytes = commit.to_bytes();
    let ty = Type::parse(Commit::TYPE).expect("type");
    let mut g = c.benchmark_group("commit");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("to_bytes", |b| b.iter(|| black_box(&commit).to_bytes()));
    g.bench_function("from_bytes", |b| b.iter(|| Commit::from_bytes(black_box(&bytes)).expect("parse")));
    g.bench_function("from_bytes_normal", |b| b.iter(|| Commit::from_bytes_normal(black_box(&bytes)).expect("parse")));
    g.bench_function("Value::from_bytes_normal", |b| {
        b.iter(|| Value::from_bytes_normal(&ty, black_box(&bytes)).expect("parse"))
    });
    g.finish();
}

fn bench_headers(c: &mut Criterion) {
    let h = header();
    let archive = h.archive_prefix(123_456);
    let stream = h.stream_prefix();
    let meta = h.ostreemeta();
    let dirmeta = DirMeta { uid: 0, gid: 0, mode: S_IFDIR | 0o755, xattrs: h.xattrs.clone() }.to_bytes();
    let mut g = c.benchmark_group("file-header");
    g.bench_function("stream_prefix", |b| b.iter(|| black_box(&h).stream_prefix()));
    g.bench_function("archive_prefix", |b| b.iter(|| black_box(&h).archive_prefix(123_456)));
    g.bench_function("ostreemeta", |b| b.iter(|| black_box(&h).ostreemeta()));
    g.bench_function("parse_archive", |b| b.iter(|| FileHeader::parse_archive(black_box(&archive)).expect("parse")));
    g.bench_function("parse_header", |b| b.iter(|| FileHeader::parse_header(black_box(&stream[8..])).expect("parse")));
    g.bench_function("parse_ostreemeta", |b| b.iter(|| FileHeader::parse_ostreemeta(black_box(&meta)).expect("parse")));
    g.bench_function("dirmeta-from_bytes", |b| b.iter(|| DirMeta::from_bytes(black_box(&dirmeta)).expect("parse")));
    g.finish();
}

criterion_group!(benches, bench_dirtree, bench_commit, bench_headers);
criterion_main!(benches);

//! Content checksums: SHA-256 over the content stream (length prefix, file
//! header, payload) through `FileHeader::hasher`, as every commit and fsck
//! computes them.
//!
//!   cargo bench -p oxtree-store --bench hashing

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oxtree_store::object::{FileHeader, Xattrs, S_IFREG};

fn payload(len: usize) -> Vec<u8> {
    // Deterministic, incompressible-looking bytes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn bench_content_checksum(c: &mut Criterion) {
    let header =
        FileHeader { uid: 0, gid: 0, mode: S_IFREG | 0o644, symlink_target: String::new(), xattrs: Xattrs::new() };
    let mut g = c.benchmark_group("content-checksum");
    for (label, len) in [("4KiB", 4 << 10), ("1MiB", 1 << 20), ("64MiB", 64 << 20)] {
        let data = payload(len);
        g.throughput(Throughput::Bytes(len as u64));
        if len >= 64 << 20 {
            g.sample_size(10).measurement_time(Duration::from_secs(8));
        } else {
            g.sample_size(50).measurement_time(Duration::from_secs(3));
        }
        g.bench_with_input(BenchmarkId::from_parameter(label), &data, |b, data| {
            b.iter(|| {
                let mut h = black_box(&header).hasher();
                // Fed in 64 KiB chunks, as the commit path reads files.
                for chunk in data.chunks(64 << 10) {
                    h.update(chunk);
                }
                h.finish()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_content_checksum);
criterion_main!(benches);

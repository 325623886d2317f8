//! Payloads made by the real tools: a tree archived by GNU `cpio -o -H
//! newc` (the format rpmbuild writes, hardlink data on the last member as
//! rpm does) and compressed by `gzip`, `xz`, `lzma`, `zstd` and `bzip2`,
//! read back entry by entry against the tree itself.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oxtree_rpmimport::cpio::{Name, Reader};
use oxtree_rpmimport::payload::{decoder, Compression, PayloadError};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        TempDir(base)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sh(script: &str) {
    let st = Command::new("sh").args(["-ec", script]).status().unwrap();
    assert!(st.success(), "{script}");
}

fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/empty")).unwrap();
    let mut big = Vec::new();
    let mut x: u32 = 1;
    for _ in 0..(1 << 20) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        big.push((x >> 16) as u8 % 7 + b'a');
    }
    std::fs::write(root.join("usr/share/big"), &big).unwrap();
    std::fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
    std::fs::write(root.join("usr/share/zero"), b"").unwrap();
    std::fs::write(root.join("usr/share/odd"), b"123").unwrap();
    std::fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-link")).unwrap();
    std::os::unix::fs::symlink("tool", root.join("usr/bin/alias")).unwrap();
    sh(&format!("chmod 4755 {0}/usr/bin/tool; chmod 0600 {0}/usr/share/odd", root.display()));
}

/// (mode, data) of every member, the data of a hardlink set given to every
/// member of it (as an importer does).
fn read_all(c: Compression, bytes: &[u8]) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut r = Reader::new(decoder(c, bytes).unwrap());
    let mut out = BTreeMap::new();
    let mut sets: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    while let Some(e) = r.next_entry(&mut |_| None).unwrap() {
        let Name::Path(p) = e.name else { panic!("stripped member from GNU cpio") };
        let name = String::from_utf8(p).unwrap();
        let mut data = Vec::new();
        r.data().read_to_end(&mut data).unwrap();
        assert_eq!(data.len() as u64, e.size);
        if e.nlink > 1 && e.mode & 0o170000 == 0o100000 {
            sets.entry(e.ino).or_default().push(name.clone());
        }
        out.insert(name, (e.mode, data));
    }
    for names in sets.values() {
        let data = names.iter().map(|n| out[n].1.clone()).find(|d| !d.is_empty()).unwrap_or_default();
        for n in names {
            out.get_mut(n).unwrap().1 = data.clone();
        }
    }
    out
}

fn expected(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), ".".to_string())];
    while let Some((p, rel)) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let data = if md.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap();
                // GNU cpio stores `./usr` as `usr` (rpm keeps the `./`).
                let name = e.file_name().to_string_lossy().into_owned();
                stack.push((e.path(), if rel == "." { name } else { format!("{rel}/{name}") }));
            }
            Vec::new()
        } else if md.file_type().is_symlink() {
            std::fs::read_link(&p).unwrap().to_string_lossy().into_owned().into_bytes()
        } else {
            std::fs::read(&p).unwrap()
        };
        out.insert(rel, (md.mode(), data));
    }
    out
}

#[test]
fn every_compressor_round_trips_a_gnu_cpio_archive() {
    let w = TempDir::new("payload");
    let tree = w.0.join("tree");
    make_tree(&tree);
    sh(&format!("cd {} && find . | LC_ALL=C sort | cpio -o -H newc --quiet > ../a.cpio", tree.display()));
    let want = expected(&tree);
    let cpio = std::fs::read(w.0.join("a.cpio")).unwrap();
    for (c, cmd) in [
        (Compression::None, "cat"),
        (Compression::Gzip, "gzip -9 -c"),
        (Compression::Xz, "xz -6 -c"),
        (Compression::Lzma, "lzma -c"),
        (Compression::Zstd, "zstd -q -3 -c"),
        (Compression::Bzip2, "bzip2 -9 -c"),
    ] {
        let out = Command::new("sh")
            .args(["-c", &format!("{cmd} < {}", w.0.join("a.cpio").display())])
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}");
        let got = read_all(c, &out.stdout);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{c:?}");
        for (k, (mode, data)) in &want {
            assert_eq!(got[k].0, *mode, "{c:?} {k}: mode");
            assert!(got[k].1 == *data, "{c:?} {k}: data differs");
        }
        // A stream cut short is an error, never a short tree.
        let cut = &out.stdout[..out.stdout.len() * 2 / 3];
        let mut failed = false;
        if let Ok(d) = decoder(c, cut) {
            let mut r = Reader::new(d);
            loop {
                match r.next_entry(&mut |_| None) {
                    Ok(Some(_)) => {
                        let mut sink = Vec::new();
                        if r.data().read_to_end(&mut sink).is_err() {
                            failed = true;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
        } else {
            failed = true;
        }
        assert!(failed, "{c:?}: a truncated payload read as complete");
    }
    let _ = cpio;
}

#[test]
fn the_header_must_name_the_compressor_the_stream_has() {
    let gz = Command::new("sh").args(["-c", "printf 'x' | gzip -c"]).output().unwrap().stdout;
    assert!(matches!(decoder(Compression::Xz, &gz[..]), Err(PayloadError::Mismatch(Compression::Xz, _))));
    assert!(matches!(Compression::from_header(Some("lz4")), Err(PayloadError::Unknown(_))));
    assert_eq!(Compression::from_header(None).unwrap(), Compression::Gzip);
}

#[test]
fn zstd_frames_one_after_another() {
    let w = TempDir::new("zstd-frames");
    sh(&format!(
        "cd {} && printf 'first ' | zstd -q -c > a.zst && printf 'second' | zstd -q -c > b.zst && cat a.zst b.zst > ab.zst",
        w.0.display()
    ));
    let bytes = std::fs::read(w.0.join("ab.zst")).unwrap();
    let mut s = String::new();
    // Not a cpio archive: the frames are read through the decoder alone.
    let mut d = decoder(Compression::Zstd, &bytes[..]).unwrap();
    d.read_to_string(&mut s).unwrap();
    assert_eq!(s, "first second");
}

//! The tiny golden tree committed through the library gives the objects the
//! real `ostree` 2022.7 wrote (vectors in `tests/golden/`, made by that tool).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxtree_store::build::{write_commit, write_directory, CommitFilter, CommitInfo};
use oxtree_store::{Checksum, Repo, RepoMode};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden")
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxtree-store-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn check(json: &str, mode: RepoMode) {
    let w = tempdir(json);
    let tree = w.join("tree");
    let st = Command::new("sh").arg(golden_dir().join("mktree.sh")).arg(&tree).status().unwrap();
    assert!(st.success());
    let repo = Repo::init(&w.join("repo"), mode).unwrap();
    let filter = CommitFilter { owner_uid: Some(0), owner_gid: Some(0), ..Default::default() };
    let mut tx = repo.transaction().unwrap();
    let mt = write_directory(&tx, &tree, &filter).unwrap();
    let root = mt.write(&tx).unwrap();
    let info = CommitInfo { subject: "golden".into(), timestamp: 1577836800, ..Default::default() };
    let c = write_commit(&tx, &info, root).unwrap();
    tx.set_ref("main", Some(c)).unwrap();
    tx.commit().unwrap();

    let text = std::fs::read_to_string(golden_dir().join(json)).unwrap();
    let g: serde_json::Value = serde_json::from_str(&text).unwrap();
    for o in g["objects"].as_array().unwrap() {
        let path = w.join("repo").join(o["path"].as_str().unwrap());
        let md = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let want = match o.get("hex").and_then(|h| h.as_str()) {
            Some(h) => unhex(h),
            None => o["symlink_target"].as_str().unwrap().as_bytes().to_vec(),
        };
        let got = if md.file_type().is_symlink() {
            std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()
        } else {
            std::fs::read(&path).unwrap()
        };
        assert_eq!(got, want, "bytes of {}", path.display());
        if let Some(m) = o.get("st_mode").and_then(|m| m.as_str()) {
            let want_mode = u32::from_str_radix(m.trim_start_matches("0o"), 8).unwrap();
            assert_eq!(md.mode(), want_mode, "mode of {}", path.display());
        }
        if let Some(m) = o.get("mtime").and_then(|m| m.as_i64()) {
            assert_eq!(md.mtime(), m, "mtime of {}", path.display());
        }
        if let Some(meta) = o.get("user.ostreemeta").and_then(|m| m.as_str()) {
            let f = std::fs::File::open(&path).unwrap();
            let mut buf = vec![0u8; 512];
            let n = rustix::fs::fgetxattr(&f, "user.ostreemeta", &mut buf[..]).unwrap();
            assert_eq!(&buf[..n], &unhex(meta)[..], "user.ostreemeta of {}", path.display());
        }
    }
    let r = std::fs::read_to_string(w.join("repo/refs/heads/main")).unwrap();
    assert_eq!(Some(r.as_str()), g["refs"]["refs/heads/main"].as_str());
    // Every object reads back and verifies.
    for o in g["objects"].as_array().unwrap() {
        let c = Checksum::from_hex(o["checksum"].as_str().unwrap()).unwrap();
        if o["ext"].as_str().unwrap().starts_with("file") {
            repo.verify_file(&c).unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn tiny_archive() {
    check("tiny-archive.json", RepoMode::Archive);
}

#[test]
fn tiny_bare_user() {
    check("tiny-bare-user.json", RepoMode::BareUser);
}

#[test]
fn tiny_bare_user_only() {
    check("tiny-bare-user-only.json", RepoMode::BareUserOnly);
}

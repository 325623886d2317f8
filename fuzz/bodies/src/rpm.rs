//! RPM payloads: a compressed cpio stream, read member by member.

use std::io::Read;

use oxtree_rpmimport::cpio::Reader;
use oxtree_rpmimport::payload::{decoder, Compression};

/// The most decompressed bytes one input may produce (a bomb is an input
/// like any other; reading it all would only make the fuzzer slow).
const MAX_OUT: u64 = 16 << 20;

/// The first byte picks the compressor (none, gzip, xz, lzma, zstd, bzip2);
/// the rest is the payload. Every member and its data are read; stripped
/// members get a size from their index.
pub fn cpio(data: &[u8]) {
    let Some((sel, payload)) = data.split_first() else { return };
    let c = [
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Lzma,
        Compression::Zstd,
        Compression::Bzip2,
    ][*sel as usize % 6];
    let Ok(d) = decoder(c, payload) else { return };
    let mut r = Reader::new(d.take(MAX_OUT));
    let mut size_of = |i: u32| (i < 1000).then_some(u64::from(i) * 3);
    let mut buf = [0u8; 4096];
    while let Ok(Some(e)) = r.next_entry(&mut size_of) {
        let mut got = 0u64;
        loop {
            match r.read_data(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n as u64,
                Err(_) => return,
            }
        }
        assert_eq!(got, e.size, "a member's data is exactly its size");
    }
}

/// A whole RPM, headers to tree: the input is read as a package
/// ([`Package::read`]), its changelog read, and it is imported into a scratch archive repository
/// ([`import_payload`]). Errors are fine; an import that succeeds must
/// give a commit the repository can load, whose tree holds no name a
/// dirtree may not.
pub fn rpm_import(data: &[u8]) {
    use oxtree_rpmimport::import::{import_payload, Options};
    use oxtree_rpmimport::Package;
    use oxtree_store::{Repo, RepoMode};

    let Ok((pkg, reader)) = Package::read(std::io::Cursor::new(data)) else { return };
    // The changelog `db diff --changelogs` reads from an import's headers
    // (which a pulled commit carries): errors are fine, panics are not.
    let _ = oxtree_rpmimport::package::changelog(&pkg.raw_headers);
    let root =
        std::env::temp_dir().join(format!("oxtree-fuzz-rpm-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&root);
    let repo = Repo::init(&root, RepoMode::Archive).expect("creating the fuzz repository");
    let tx = repo.transaction().expect("a transaction");
    let res = import_payload(&tx, pkg, reader.take(MAX_OUT), &Options::default());
    if let Ok(imported) = res {
        tx.commit().expect("committing the transaction");
        let commit = repo.load_commit(&imported.commit).expect("the imported commit loads");
        let mut stack = vec![commit.root_tree];
        while let Some(t) = stack.pop() {
            let dt = repo.load_dirtree(&t).expect("an imported dirtree loads");
            for f in &dt.files {
                oxtree_store::object::validate_name(&f.name).expect("a valid file name");
            }
            for d in &dt.dirs {
                oxtree_store::object::validate_name(&d.name).expect("a valid directory name");
                stack.push(d.tree);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// A compose manifest: YAML (a superset of JSON) through
/// `Treefile::parse`. An accepted manifest names a ref, packages and
/// repositories, and its canonical JSON reads back as the same manifest.
pub fn treefile(data: &[u8]) {
    use oxtree_rpmimport::treefile::Treefile;
    let Ok(text) = std::str::from_utf8(data) else { return };
    let dir = std::path::Path::new("/m");
    let Ok(t) = Treefile::parse(text, false, dir, "x86_64") else { return };
    assert!(!t.branch.is_empty() && !t.packages.is_empty() && !t.repos.is_empty());
    let again = Treefile::parse(&t.canonical, true, dir, "x86_64").expect("the canonical form parses");
    assert_eq!(again.canonical, t.canonical);
    assert_eq!(again.packages, t.packages);
}

//! The `filez` target: the input is stored as an `archive` repository's
//! content object and read back through [`Repo::open_file`], which parses
//! the header and inflates the payload in pieces with reused buffers.
//! Errors are fine; what must hold is that the object opens exactly when
//! its header parses, and that a payload read without error is the one
//! flate2's own streaming decoder gives for the bytes after the header.

use std::io::Read;

use oxtree_store::object::FileHeader;
use oxtree_store::repo::FileContent;
use oxtree_store::{Checksum, Repo, RepoMode};

/// More than any input can inflate to (deflate expands at most ~1032:1).
const MAX_PAYLOAD: u64 = 1 << 30;

/// Runs the target on `data`.
pub fn filez(data: &[u8]) {
    let root = std::env::temp_dir().join(format!(
        "oxtree-fuzz-filez-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    let repo = Repo::init(&root, RepoMode::Archive).expect("creating the fuzz repository");
    let csum = Checksum::digest(b"filez");
    let path = repo.object_path(&csum, oxtree_store::object::ObjectType::File);
    std::fs::create_dir_all(path.parent().expect("object directory")).expect("creating objects/XX");
    std::fs::write(&path, data).expect("writing the object");
    let opened = repo.open_file(&csum);
    let parsed = FileHeader::parse_archive(data);
    match (opened, parsed) {
        (Err(_), Err(_)) => {}
        (Ok(obj), Ok((header, size, off))) => {
            assert_eq!(obj.header, header, "the reader's header differs from parse_archive's");
            match obj.content {
                FileContent::Symlink => {
                    assert!(header.is_symlink());
                    assert_eq!(obj.size, header.symlink_target.len() as u64);
                }
                FileContent::Regular(r) => {
                    assert!(!header.is_symlink());
                    assert_eq!(obj.size, size);
                    let mut ours = Vec::new();
                    if r.take(MAX_PAYLOAD).read_to_end(&mut ours).is_ok() {
                        let mut reference = Vec::new();
                        flate2::read::DeflateDecoder::new(&data[off..])
                            .take(MAX_PAYLOAD)
                            .read_to_end(&mut reference)
                            .expect("flate2 rejects a stream the object reader accepted");
                        assert_eq!(ours, reference, "payloads differ");
                    }
                }
            }
        }
        (Ok(_), Err(e)) => panic!("the object opened but its header does not parse: {e}"),
        (Err(e), Ok(_)) => panic!("the header parses but the object does not open: {e}"),
    }
    let _ = std::fs::remove_dir_all(&root);
}

//! The `tar_import` target: a tar stream committed as `ostree commit
//! --tree=tar=FILE` commits it, into a scratch bare-user repository made
//! once per thread, in a transaction that is dropped afterwards (so the
//! repository never grows). An accepted stream gives a tree that writes
//! as dirtree objects, and the tree read back from them is the same.

use std::path::PathBuf;

use oxtree_store::build::{write_tar, CommitFilter, MutableTree};
use oxtree_store::{Repo, RepoMode};

thread_local! {
    static REPO: Option<(PathBuf, Repo)> = {
        let dir = std::env::temp_dir().join(format!(
            "oxtree-fuzz-tar-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Repo::init(&dir, RepoMode::BareUser).ok().map(|r| (dir, r))
    };
}

/// The fuzz target body (see the module docs).
pub fn tar_import(data: &[u8]) {
    REPO.with(|r| {
        let (_, repo) = r.as_ref().expect("a scratch repository in the temporary directory");
        let tx = repo.transaction().expect("a transaction in the scratch repository");
        let Ok(tree) = write_tar(&tx, &mut &data[..], &CommitFilter::default()) else { return };
        let (dirtree, dirmeta) = tree.write(&tx).expect("an accepted tar stream writes as dirtrees");
        let back = MutableTree::from_transaction(&tx, &dirtree, &dirmeta).expect("its dirtrees read back");
        assert_eq!(back.write(&tx).expect("rewritten"), (dirtree, dirmeta), "the tree changes when read back");
    });
}

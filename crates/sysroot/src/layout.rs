//! Making sysroots and stateroots (`admin init-fs`, `admin os-init`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use oxtree_store::{Repo, RepoMode};

use crate::Error;

fn mkdir_mode(p: &Path, mode: u32) -> Result<(), Error> {
    std::fs::create_dir_all(p).map_err(Error::io(p))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(Error::io(p))
}

/// Makes the skeleton of a sysroot at `dir`: `ostree/repo` (mode `bare`)
/// and `ostree/deploy`, `boot`, and unless `modern`, the top-level
/// directories of a root file system (`dev home proc run sys root tmp`).
/// With `epoch` 2, `ostree/` is private (0700).
pub fn init_fs(dir: &Path, modern: bool, epoch: u32) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    if modern {
        mkdir_mode(&dir.join("boot"), 0o755)?;
    } else {
        for d in ["boot", "dev", "home", "proc", "run", "sys"] {
            mkdir_mode(&dir.join(d), 0o755)?;
        }
        mkdir_mode(&dir.join("root"), 0o700)?;
        mkdir_mode(&dir.join("tmp"), 0o1777)?;
    }
    let ostree = dir.join("ostree");
    mkdir_mode(&ostree, if epoch >= 2 { 0o700 } else { 0o755 })?;
    mkdir_mode(&ostree.join("deploy"), 0o775)?;
    Repo::init(&ostree.join("repo"), RepoMode::Bare)?;
    Ok(())
}

/// Whether `name` can name a stateroot (a single, ordinary path component).
pub fn valid_stateroot_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Makes stateroot `name`: `ostree/deploy/NAME/var` with `tmp` (1777),
/// `lib`, `log`, and `run -> ../run`, `lock -> ../run/lock`, as OSTree
/// 2022.7 does.
pub fn os_init(sysroot: &Path, name: &str) -> Result<(), Error> {
    if !valid_stateroot_name(name) {
        return Err(Error::Invalid(format!("Invalid stateroot name '{name}'")));
    }
    let deploy = sysroot.join("ostree/deploy");
    if !deploy.is_dir() {
        return Err(Error::Invalid(format!("{}: not a sysroot (run admin init-fs first)", sysroot.display())));
    }
    let root = deploy.join(name);
    std::fs::create_dir(&root)
        .map_err(|e| Error::Invalid(format!("Creating ostree/deploy/{name}: {}", crate::write::errno_text(&e))))?;
    let var = root.join("var");
    std::fs::create_dir(&var).map_err(Error::io(&var))?;
    mkdir_mode(&var.join("tmp"), 0o1777)?;
    std::fs::create_dir(var.join("lib")).map_err(Error::io(&var.join("lib")))?;
    mkdir_mode(&var.join("log"), 0o755)?;
    std::os::unix::fs::symlink("../run", var.join("run")).map_err(Error::io(&var.join("run")))?;
    std::os::unix::fs::symlink("../run/lock", var.join("lock")).map_err(Error::io(&var.join("lock")))?;
    crate::write::bump_mtime(sysroot)
}

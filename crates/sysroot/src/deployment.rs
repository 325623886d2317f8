//! One deployment: a commit checked out into a stateroot.

use oxtree_bootloader::BootEntry;
use oxtree_store::repo::KeyFile;

use crate::KernelArgs;

/// A deployment, as the boot configuration lists it.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Its position in the list (0 boots by default).
    pub index: usize,
    /// The stateroot (`--os`).
    pub stateroot: String,
    /// The commit, in hex.
    pub csum: String,
    /// Tells apart deployments of the same commit in one stateroot.
    pub deployserial: u32,
    /// SHA-256 of its kernel, initramfs and device tree (names
    /// `boot/ostree/STATEROOT-BOOTCSUM`).
    pub bootcsum: String,
    /// Tells apart deployments sharing a bootcsum in one list.
    pub bootserial: u32,
    /// Its boot entry (`options` holds the kernel arguments).
    pub bootconfig: BootEntry,
    /// Its `.origin` key file, if it has one.
    pub origin: Option<KeyFile>,
    /// The name of its live BLS entry file, when it was read from one.
    pub entry_file: Option<String>,
    /// Staged: checked out, to be finalized and booted at the next
    /// shutdown (see [`crate::staged`]); no boot entry yet.
    pub staged: bool,
}

impl Deployment {
    /// `CSUM.SERIAL`, the directory name.
    pub fn name(&self) -> String {
        format!("{}.{}", self.csum, self.deployserial)
    }

    /// `ostree/deploy/STATEROOT/deploy/CSUM.SERIAL`.
    pub fn relative_dir(&self) -> String {
        format!("ostree/deploy/{}/deploy/{}", self.stateroot, self.name())
    }

    /// Whether this is the same deployment as `other` (stateroot, commit, serial).
    pub fn same(&self, other: &Deployment) -> bool {
        self.stateroot == other.stateroot && self.csum == other.csum && self.deployserial == other.deployserial
    }

    /// Whether it is pinned (`[libostree-transient] pinned=true`).
    pub fn is_pinned(&self) -> bool {
        self.origin.as_ref().and_then(|o| o.get("libostree-transient", "pinned")).and_then(KeyFile::parse_bool)
            == Some(true)
    }

    /// `[origin] refspec`.
    pub fn refspec(&self) -> Option<&str> {
        self.origin.as_ref().and_then(|o| o.get("origin", "refspec"))
    }

    /// The kernel arguments.
    pub fn kargs(&self) -> KernelArgs {
        KernelArgs::parse(self.bootconfig.get("options").unwrap_or(""))
    }

    /// The kernel arguments without `ostree=`, which differs per boot version.
    pub fn kargs_without_ostree(&self) -> String {
        let mut k = self.kargs();
        k.remove_key("ostree");
        k.to_string()
    }
}

//! Staged deployments: made now, booted only once finalized at shutdown.
//!
//! `admin deploy --stage` (and `upgrade --stage`) on a booted system checks
//! the new deployment out and writes its origin, but leaves the boot
//! configuration alone; the deployment is recorded in the running system's
//! `/run/ostree/staged-deployment` (gone at the next boot, so a staged
//! deployment that is never finalized is simply dropped). At shutdown
//! `admin finalize-staged` (run by `ostree-finalize-staged.service`'s
//! `ExecStop`) does what had to wait: the three-way `/etc` merge, so that
//! changes the administrator made to `/etc` after staging are kept; the
//! merge deployment's kernel arguments unless new ones were given; and the
//! new boot configuration with the staged deployment first.
//!
//! # The file
//!
//! `/run/ostree/staged-deployment` is a GVariant `a{sv}` in OSTree's form:
//!
//! | key | type | |
//! |---|---|---|
//! | `target` | `a{sv}` | the staged deployment |
//! | `merge-deployment` | `a{sv}` | where `/etc` and kernel arguments come from, if any |
//! | `kargs` | `as` | kernel arguments given at staging, if any |
//! | `overlay-initrds` | `as` | SHA-256 of each overlay initramfs, in `/run/ostree/staged-initrds/` |
//!
//! A deployment is an `a{sv}` of three strings: `name` (`CSUM.SERIAL`),
//! `osname` (the stateroot) and `bootcsum`.
//!
//! The staged deployment is listed first (index 0) when the sysroot is the
//! booted system; any other write of the deployment list drops it (its
//! directory and origin with it) unless the new list starts with it.

use std::borrow::Cow;
use std::path::Path;

use oxtree_bootloader::BootEntry;
use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::CommitMetadata;

use crate::load::{parse_deploy_name, read_origin};
use crate::{Deployment, Error, Sysroot};

/// The running system's record of its staged deployment.
pub const STAGED_PATH: &str = "/run/ostree/staged-deployment";

/// While this file exists, `finalize-staged` leaves the staged deployment
/// unbooted (`admin deploy --lock-finalization`).
pub const LOCKED_PATH: &str = "/run/ostree/staged-deployment-locked";

/// Creates [`LOCKED_PATH`] (`admin deploy --lock-finalization`): the next
/// staged deployment waits until the file is removed.
pub fn lock_finalization() -> Result<(), Error> {
    let p = Path::new(LOCKED_PATH);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    std::fs::write(p, b"").map_err(Error::io(p))
}

/// A deployment named by the staged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRef {
    /// The stateroot.
    pub osname: String,
    /// The commit, in hex.
    pub csum: String,
    /// The deployment serial.
    pub deployserial: u32,
    /// The boot checksum.
    pub bootcsum: String,
}

impl StagedRef {
    /// The reference to `d`.
    pub fn of(d: &Deployment) -> StagedRef {
        StagedRef {
            osname: d.stateroot.clone(),
            csum: d.csum.clone(),
            deployserial: d.deployserial,
            bootcsum: d.bootcsum.clone(),
        }
    }

    /// Whether it names `d`.
    pub fn names(&self, d: &Deployment) -> bool {
        self.osname == d.stateroot && self.csum == d.csum && self.deployserial == d.deployserial
    }

    fn to_value(&self) -> Value<'static> {
        Value::vardict([
            (Cow::Borrowed("name"), Value::str(format!("{}.{}", self.csum, self.deployserial))),
            (Cow::Borrowed("osname"), Value::str(self.osname.clone())),
            (Cow::Borrowed("bootcsum"), Value::str(self.bootcsum.clone())),
        ])
    }

    fn from_value(v: &Value<'_>) -> Result<StagedRef, String> {
        let m = CommitMetadata::from_value(v).map_err(|e| e.to_string())?;
        let s =
            |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("Missing key: {k}"));
        let name = s("name")?;
        let (csum, deployserial) =
            parse_deploy_name(&name).ok_or_else(|| format!("Invalid deployment name '{name}'"))?;
        let osname = s("osname")?;
        if !crate::layout::valid_stateroot_name(&osname) {
            return Err(format!("Invalid stateroot '{osname}'"));
        }
        Ok(StagedRef { csum: csum.to_string(), deployserial, osname, bootcsum: s("bootcsum")? })
    }
}

/// The contents of the staged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The staged deployment.
    pub target: StagedRef,
    /// The deployment `/etc` and kernel arguments are merged from.
    pub merge: Option<StagedRef>,
    /// Kernel arguments given at staging; else the merge deployment's.
    pub kargs: Option<Vec<String>>,
    /// Overlay initramfs images, by SHA-256.
    pub overlay_initrds: Vec<String>,
}

impl Staged {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let strings = |v: &[String]| Value::Array(Type::Str, v.iter().map(|s| Value::str(s.clone())).collect());
        let mut entries = vec![(Cow::Borrowed("target"), self.target.to_value())];
        if let Some(m) = &self.merge {
            entries.push((Cow::Borrowed("merge-deployment"), m.to_value()));
        }
        if let Some(k) = &self.kargs {
            entries.push((Cow::Borrowed("kargs"), strings(k)));
        }
        if !self.overlay_initrds.is_empty() {
            entries.push((Cow::Borrowed("overlay-initrds"), strings(&self.overlay_initrds)));
        }
        Value::vardict(entries).to_bytes()
    }

    /// Parses the file's bytes.
    pub fn parse(data: &[u8]) -> Result<Staged, Error> {
        let bad = |w: String| Error::Invalid(format!("{STAGED_PATH}: {w}"));
        let m = CommitMetadata::from_bytes(data).map_err(|e| bad(e.to_string()))?;
        let target = StagedRef::from_value(m.get("target").ok_or_else(|| bad("Missing key: target".into()))?)
            .map_err(|w| bad(format!("target: {w}")))?;
        let merge = match m.get("merge-deployment") {
            Some(v) => Some(StagedRef::from_value(v).map_err(|w| bad(format!("merge-deployment: {w}")))?),
            None => None,
        };
        let strings = |key: &str| -> Result<Option<Vec<String>>, Error> {
            let Some(v) = m.get(key) else { return Ok(None) };
            let items = v
                .as_array()
                .filter(|_| v.type_of() == Type::parse("as").expect("as"))
                .ok_or_else(|| bad(format!("{key}: expected type 'as', found '{}'", v.type_of())))?;
            Ok(Some(items.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()))
        };
        let kargs = strings("kargs")?;
        let overlay_initrds = strings("overlay-initrds")?.unwrap_or_default();
        for c in &overlay_initrds {
            if c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("overlay-initrds: Invalid checksum '{c}'")));
            }
        }
        Ok(Staged { target, merge, kargs, overlay_initrds })
    }

    /// Writes [`STAGED_PATH`] by a rename in its directory (made 0755 if
    /// missing). `/run` does not outlive a boot, so nothing is synced.
    pub(crate) fn write(&self) -> Result<(), Error> {
        use std::os::unix::fs::DirBuilderExt;
        let path = Path::new(STAGED_PATH);
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir).map_err(Error::io(dir))?;
        }
        let tmp = format!("{STAGED_PATH}.tmp");
        std::fs::write(&tmp, self.to_bytes()).map_err(Error::io(Path::new(&tmp)))?;
        std::fs::rename(&tmp, path).map_err(Error::io(path))
    }

    /// Reads `path`; `None` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Staged>, Error> {
        match std::fs::read(path) {
            Ok(data) => Staged::parse(&data).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io(path.display().to_string(), e)),
        }
    }

    /// The staged deployment as listed (index 0), with its origin read
    /// from `sysroot`; `None` when its directory is gone.
    pub(crate) fn deployment(&self, sysroot: &Path) -> Result<Option<Deployment>, Error> {
        let t = &self.target;
        let dir = sysroot.join(format!("ostree/deploy/{}/deploy/{}.{}", t.osname, t.csum, t.deployserial));
        if !dir.is_dir() {
            return Ok(None);
        }
        let mut origin_path = dir.into_os_string();
        origin_path.push(".origin");
        let mut bootconfig = BootEntry::new();
        if let Some(k) = &self.kargs {
            bootconfig.set("options", &k.join(" "));
        }
        bootconfig
            .set_overlay_initrds(self.overlay_initrds.iter().map(|c| crate::overlay::entry_path("", c)).collect());
        Ok(Some(Deployment {
            index: 0,
            stateroot: t.osname.clone(),
            csum: t.csum.clone(),
            deployserial: t.deployserial,
            bootcsum: t.bootcsum.clone(),
            bootserial: 0,
            bootconfig,
            origin: read_origin(Path::new(&origin_path))?,
            entry_file: None,
            staged: true,
        }))
    }
}

/// Drops the staged deployment `d`: its record, then its directory and
/// origin.
pub(crate) fn discard(sysroot: &Sysroot, d: &Deployment) -> Result<(), Error> {
    match std::fs::remove_file(STAGED_PATH) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::Io(STAGED_PATH.to_string(), e)),
    }
    let root = sysroot.deployment_dir(d);
    crate::fsops::set_immutable(&root, false);
    crate::fsops::remove_all(&root)?;
    crate::fsops::remove_all(&sysroot.origin_path(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(c: char, serial: u32) -> StagedRef {
        StagedRef {
            osname: "os".into(),
            csum: c.to_string().repeat(64),
            deployserial: serial,
            bootcsum: "b".repeat(64),
        }
    }

    #[test]
    fn round_trip() {
        let s = Staged {
            target: r('a', 1),
            merge: Some(r('c', 0)),
            kargs: Some(vec!["root=LABEL=x".into(), "quiet".into()]),
            overlay_initrds: vec!["d".repeat(64)],
        };
        assert_eq!(Staged::parse(&s.to_bytes()).unwrap(), s);
        let bare = Staged { target: r('a', 0), merge: None, kargs: None, overlay_initrds: vec![] };
        assert_eq!(Staged::parse(&bare.to_bytes()).unwrap(), bare);
    }

    #[test]
    fn bad_files_are_named() {
        let e = Staged::parse(b"junk").unwrap_err().to_string();
        assert!(e.starts_with(STAGED_PATH), "{e}");
        let no_target = Value::vardict([(Cow::Borrowed("kargs"), Value::Array(Type::Str, vec![]))]).to_bytes();
        assert!(Staged::parse(&no_target).unwrap_err().to_string().contains("Missing key: target"));
        let mut t = r('a', 0);
        t.osname = "../x".into();
        let bad = Staged { target: t, merge: None, kargs: None, overlay_initrds: vec![] };
        assert!(Staged::parse(&bad.to_bytes()).unwrap_err().to_string().contains("Invalid stateroot"));
        let bad_initrd = Staged { target: r('a', 0), merge: None, kargs: None, overlay_initrds: vec!["../x".into()] };
        assert!(Staged::parse(&bad_initrd.to_bytes()).unwrap_err().to_string().contains("Invalid checksum"));
    }
}

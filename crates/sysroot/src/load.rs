//! Reading the deployment list from the live boot configuration.

use std::path::Path;

use oxtree_bootloader::bls;
use oxtree_store::repo::KeyFile;

use crate::staged::{Staged, STAGED_PATH};
use crate::{Deployment, Error};

pub(crate) struct State {
    pub bootversion: u32,
    pub subbootversion: u32,
    pub deployments: Vec<Deployment>,
    pub booted: Option<usize>,
}

/// `N` of a symlink `PREFIX.N` (0 or 1); a missing link is version 0.
pub(crate) fn read_version_link(link: &Path, prefix: &str) -> Result<u32, Error> {
    match std::fs::read_link(link) {
        Ok(t) => {
            let t = t.to_string_lossy().into_owned();
            match t.strip_prefix(prefix).and_then(|s| s.strip_prefix('.')) {
                Some("0") => Ok(0),
                Some("1") => Ok(1),
                _ => Err(Error::Invalid(format!("Invalid target '{t}' in {}", link.display()))),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::Io(link.display().to_string(), e)),
    }
}

/// Parses `ostree=/ostree/boot.B/STATEROOT/BOOTCSUM/SERIAL`.
pub(crate) fn parse_ostree_karg(value: &str) -> Option<(u32, &str, &str, u32)> {
    let rest = value.strip_prefix("/ostree/boot.")?;
    let mut parts = rest.split('/');
    let b = match parts.next()? {
        "0" => 0,
        "1" => 1,
        _ => return None,
    };
    let os = parts.next().filter(|s| !s.is_empty())?;
    let csum = parts.next().filter(|s| !s.is_empty())?;
    let serial = parts.next().filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((b, os, csum, serial))
}

/// Parses a deployment directory name, `CSUM.SERIAL`.
pub(crate) fn parse_deploy_name(name: &str) -> Option<(&str, u32)> {
    let (csum, serial) = name.rsplit_once('.')?;
    if csum.is_empty() || !csum.bytes().all(|c| c.is_ascii_hexdigit()) || serial.is_empty() {
        return None;
    }
    if !serial.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((csum, serial.parse().ok()?))
}

pub(crate) fn read_origin(path: &Path) -> Result<Option<KeyFile>, Error> {
    match std::fs::read_to_string(path) {
        Ok(t) => KeyFile::parse(&t).map(Some).map_err(|e| Error::Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(path.display().to_string(), e)),
    }
}

pub(crate) fn load(sysroot: &Path) -> Result<State, Error> {
    let bootversion = read_version_link(&sysroot.join("boot/loader"), "loader")?;
    let subbootversion =
        read_version_link(&sysroot.join(format!("ostree/boot.{bootversion}")), &format!("boot.{bootversion}"))?;
    let entries = bls::read_entries(&sysroot.join(format!("boot/loader.{bootversion}/entries")))?;
    let mut deployments = Vec::new();
    for (file, entry) in entries {
        let options = entry.get("options").unwrap_or("");
        let Some(ostree_arg) =
            crate::KernelArgs::parse(options).values("ostree").into_iter().flatten().next_back().map(str::to_string)
        else {
            // Not one of ours (a foreign entry with an ostree- name).
            continue;
        };
        let Some((_, os, bootcsum, bootserial)) = parse_ostree_karg(&ostree_arg) else {
            return Err(Error::Invalid(format!(
                "boot/loader.{bootversion}/entries/{file}: Invalid ostree= argument '{ostree_arg}', expected ostree=/ostree/boot.BOOTVERSION/OSNAME/BOOTCSUM/TREESERIAL"
            )));
        };
        let link = sysroot.join(&ostree_arg[1..]);
        let target = std::fs::read_link(&link).map_err(Error::io(&link))?;
        let base = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Some((csum, deployserial)) = parse_deploy_name(&base) else {
            return Err(Error::Invalid(format!("{}: Invalid deployment name '{base}'", link.display())));
        };
        let dir = sysroot.join(format!("ostree/deploy/{os}/deploy/{base}"));
        let mut origin_path = dir.clone().into_os_string();
        origin_path.push(".origin");
        let origin = read_origin(Path::new(&origin_path))?;
        crate::overlay::checksums(&entry)?;
        deployments.push(Deployment {
            index: deployments.len(),
            stateroot: os.to_string(),
            csum: csum.to_string(),
            deployserial,
            bootcsum: bootcsum.to_string(),
            bootserial,
            bootconfig: entry,
            origin,
            entry_file: Some(file),
            staged: false,
        });
    }
    let mut booted = find_booted(sysroot, &deployments)?;
    // Only the running system has a staged deployment: its record is in
    // its own /run.
    if booted.is_some() {
        if let Some(staged) = Staged::read(Path::new(STAGED_PATH))?.and_then(|s| s.deployment(sysroot).transpose()) {
            deployments.insert(0, staged?);
            booted = booted.map(|i| i + 1);
            for (i, d) in deployments.iter_mut().enumerate() {
                d.index = i;
            }
        }
    }
    Ok(State { bootversion, subbootversion, deployments, booted })
}

/// The booted deployment: only when `/run/ostree-booted` exists and the
/// sysroot is `/`; it is the one whose directory is the running root.
fn find_booted(sysroot: &Path, deployments: &[Deployment]) -> Result<Option<usize>, Error> {
    if !Path::new("/run/ostree-booted").exists()
        || std::fs::canonicalize(sysroot).ok().as_deref() != Some(Path::new("/"))
    {
        return Ok(None);
    }
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/").map_err(Error::io(Path::new("/")))?;
    for (i, d) in deployments.iter().enumerate() {
        if let Ok(m) = std::fs::metadata(sysroot.join(d.relative_dir())) {
            if m.dev() == root.dev() && m.ino() == root.ino() {
                return Ok(Some(i));
            }
        }
    }
    Err(Error::Invalid("Unexpected state: /run/ostree-booted found, but no / deployment found".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ostree_karg_and_names() {
        assert_eq!(parse_ostree_karg("/ostree/boot.1/os/abc/0"), Some((1, "os", "abc", 0)));
        assert_eq!(parse_ostree_karg("/ostree/boot.2/os/abc/0"), None);
        assert_eq!(parse_ostree_karg("/ostree/boot.1/os/abc/x"), None);
        assert_eq!(parse_ostree_karg("/ostree/boot.1/os/abc/0/extra"), None);
        assert_eq!(parse_deploy_name("ab12.3"), Some(("ab12", 3)));
        assert_eq!(parse_deploy_name("ab12.3.origin"), None);
        assert_eq!(parse_deploy_name("xyz.1"), None);
    }
}

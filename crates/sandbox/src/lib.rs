//! `oxtree-sandbox`: runs a program chrooted into a root file system tree
//! without letting it change the tree or anything outside it, for rpm
//! scriptlets and compose post-processing (what rpm-ostree uses bubblewrap
//! and rofiles-fuse for).
//!
//! The tree is the read-only lower layer of an overlay; what the program
//! writes lands in an upper directory, which [`changes`] lists for the
//! caller to fold into its tree. The program runs in private mount, IPC,
//! UTS and network namespaces (no network), and, when not run as root, in
//! a user namespace where the caller is root (kernel 5.11 or later, for
//! overlays in user namespaces). It sees the host's `/dev` and `/proc`,
//! empty tmpfs at `/tmp` and `/run`, and at `/var` a directory the caller
//! prepares (state written there is not part of a tree). Mounts die with
//! the program.
//!
//! Stable: [`run`] and [`changes`]. Linux only.
#![deny(missing_docs)]
#![deny(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::thread::UnshareFlags;

/// Why a program could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Preparing the directories.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Entering the namespaces, mounting or starting the program.
    #[error("starting {program} in the sandbox (namespaces, overlay mount, chroot): {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The program (or the interpreter its `#!` line names) is not in the
    /// tree.
    #[error("{0}: not found in the tree (nor the interpreter its #! line names)")]
    NotFound(String),
    /// A path with a NUL byte or a comma (overlay options cannot hold it).
    #[error("{0}: not usable as an overlay directory")]
    BadPath(PathBuf),
}

/// The directories of one sandbox: `lower` is the tree (never written);
/// `upper`, `work` and `merged` are empty directories of the caller's, on
/// one file system (`upper` collects the changes across runs).
#[derive(Debug, Clone)]
pub struct Overlay {
    /// The tree.
    pub lower: PathBuf,
    /// Where changes go.
    pub upper: PathBuf,
    /// The overlay's work directory.
    pub work: PathBuf,
    /// The mount point.
    pub merged: PathBuf,
    /// Bound at `/var`.
    pub var: PathBuf,
}

fn cstring(p: &Path) -> Result<CString, SandboxError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| SandboxError::BadPath(p.to_path_buf()))
}

/// Directories the sandbox mounts over, made in `lower` when missing (the
/// lower tree is the caller's scratch copy).
const MOUNT_POINTS: &[&str] = &["dev", "proc", "tmp", "run", "var"];

/// Runs `argv` (an absolute program path and its arguments) chrooted into
/// the overlay of `ov`, with `stdin` as its input and a fixed environment
/// (`PATH=/usr/sbin:/usr/bin:/sbin:/bin`, `LANG=C.UTF-8`,
/// `SYSTEMD_OFFLINE=1`, `HOME=/root`, and `env`). Returns its output.
// The two unsafe calls (unshare in the child, pre_exec) are why this crate
// is not forbid(unsafe_code); each has its SAFETY line.
#[allow(unsafe_code)]
pub fn run(ov: &Overlay, argv: &[String], stdin: &[u8], env: &[(String, String)]) -> Result<Output, SandboxError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SandboxError::Io { path, source }
    };
    for p in [&ov.lower, &ov.upper, &ov.work] {
        let b = p.as_os_str().as_bytes();
        if b.contains(&b',') || b.contains(&b':') {
            return Err(SandboxError::BadPath(p.clone()));
        }
    }
    for d in MOUNT_POINTS {
        let p = ov.lower.join(d);
        if std::fs::symlink_metadata(&p).is_err() {
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
    }
    for d in [&ov.upper, &ov.work, &ov.merged, &ov.var] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    // The child changes directory before it mounts: absolute paths only.
    let abs = |p: &Path| std::fs::canonicalize(p).map_err(io(p));
    let ov = &Overlay {
        lower: abs(&ov.lower)?,
        upper: abs(&ov.upper)?,
        work: abs(&ov.work)?,
        merged: abs(&ov.merged)?,
        var: abs(&ov.var)?,
    };
    let root = rustix::process::geteuid().is_root();
    let mut opts =
        format!("lowerdir={},upperdir={},workdir={}", ov.lower.display(), ov.upper.display(), ov.work.display());
    if !root {
        opts.push_str(",userxattr");
    }
    let opts = CString::new(opts).map_err(|_| SandboxError::BadPath(ov.lower.clone()))?;
    let merged = cstring(&ov.merged)?;
    let sub = |d: &str| cstring(&ov.merged.join(d));
    let (dev, proc_, tmp, run_, var) = (sub("dev")?, sub("proc")?, sub("tmp")?, sub("run")?, sub("var")?);
    let var_src = cstring(&ov.var)?;
    let uid_map = format!("0 {} 1", rustix::process::getuid().as_raw());
    let gid_map = format!("0 {} 1", rustix::process::getgid().as_raw());

    let Some(program) = argv.first() else {
        return Err(SandboxError::Spawn { program: String::new(), source: std::io::ErrorKind::InvalidInput.into() });
    };
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .env("SYSTEMD_OFFLINE", "1")
        .env("HOME", "/root")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let setup = move || -> std::io::Result<()> {
        let mut flags = UnshareFlags::NEWNS | UnshareFlags::NEWIPC | UnshareFlags::NEWUTS | UnshareFlags::NEWNET;
        if !root {
            flags |= UnshareFlags::NEWUSER;
        }
        // SAFETY: this runs in the forked child before exec, which has a
        // single thread; unsharing there affects no other thread.
        unsafe { rustix::thread::unshare_unsafe(flags) }?;
        if !root {
            write_proc(c"/proc/self/setgroups", b"deny")?;
            write_proc(c"/proc/self/uid_map", uid_map.as_bytes())?;
            write_proc(c"/proc/self/gid_map", gid_map.as_bytes())?;
        }
        rustix::mount::mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
        rustix::mount::mount(c"overlay", merged.as_c_str(), c"overlay", MountFlags::empty(), opts.as_c_str())?;
        rustix::mount::mount_bind_recursive(c"/dev", dev.as_c_str())?;
        rustix::mount::mount_bind_recursive(c"/proc", proc_.as_c_str())?;
        rustix::mount::mount_bind(var_src.as_c_str(), var.as_c_str())?;
        for t in [&tmp, &run_] {
            rustix::mount::mount(
                c"tmpfs",
                t.as_c_str(),
                c"tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV,
                c"mode=0755",
            )?;
        }
        rustix::process::chroot(merged.as_c_str())?;
        rustix::process::chdir(c"/")?;
        Ok(())
    };
    // SAFETY: `setup` only makes system calls (unshare, open, write,
    // mount, chroot, chdir) on values prepared before the fork: it does
    // not allocate or take locks, as code between fork and exec must not.
    unsafe { cmd.pre_exec(setup) };
    let spawn_err = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => SandboxError::NotFound(program.clone()),
        _ => SandboxError::Spawn { program: program.clone(), source },
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut i) = child.stdin.take() {
        // A program that does not read its input closes the pipe early.
        let _ = i.write_all(stdin);
    }
    child.wait_with_output().map_err(spawn_err)
}

fn write_proc(path: &std::ffi::CStr, data: &[u8]) -> std::io::Result<()> {
    let fd =
        rustix::fs::open(path, rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())?;
    let n = rustix::io::write(&fd, data)?;
    if n != data.len() {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    Ok(())
}

/// One change a sandboxed program made, as its overlay's upper directory
/// records it. Paths are relative to the tree's root, `/`-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The path was removed (an overlay whiteout).
    Removed(String),
    /// A directory that replaces the lower one whole (opaque): its old
    /// entries are gone; its new ones follow as their own changes.
    Replaced(String),
    /// A directory made or whose metadata changed (or that holds changes).
    Dir(String),
    /// A regular file or symlink written, made or whose metadata changed:
    /// read it from the upper directory.
    File(String),
}

fn is_opaque(path: &Path) -> bool {
    let mut buf = [0u8; 8];
    ["trusted.overlay.opaque", "user.overlay.opaque"].iter().any(|name| {
        let name = CString::new(*name).unwrap_or_default();
        matches!(rustix::fs::lgetxattr(path, name.as_c_str(), &mut buf), Ok(1) if buf[0] == b'y')
    })
}

/// The changes recorded in `upper`, parents before children, in name
/// order.
pub fn changes(upper: &Path) -> Result<Vec<Change>, SandboxError> {
    let mut out = Vec::new();
    walk(upper, "", &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<Change>) -> Result<(), SandboxError> {
    let io = |source| SandboxError::Io { path: dir.to_path_buf(), source };
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let path = if rel.is_empty() { lossy(&name) } else { format!("{rel}/{}", lossy(&name)) };
        let md = std::fs::symlink_metadata(e.path()).map_err(io)?;
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            out.push(Change::Removed(path));
        } else if ft.is_dir() {
            out.push(if is_opaque(&e.path()) { Change::Replaced(path.clone()) } else { Change::Dir(path.clone()) });
            walk(&e.path(), &path, out)?;
        } else {
            out.push(Change::File(path));
        }
    }
    Ok(())
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upper_directory_reads_as_changes() {
        let up = std::env::temp_dir().join(format!("oxtree-sandbox-upper-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&up);
        std::fs::create_dir_all(up.join("usr/etc")).unwrap();
        std::fs::create_dir_all(up.join("usr/share/gone-whole")).unwrap();
        std::fs::write(up.join("usr/etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("passwd", up.join("usr/etc/link")).unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            // What overlayfs writes: a 0/0 character device for a removal,
            // trusted.overlay.opaque=y on a directory replaced whole.
            rustix::fs::mknodat(
                rustix::fs::CWD,
                up.join("usr/etc/hostname").as_path(),
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                0,
            )
            .unwrap();
            rustix::fs::setxattr(
                up.join("usr/share/gone-whole").as_path(),
                c"trusted.overlay.opaque",
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .unwrap();
        }
        let mut want = vec![Change::Dir("usr".into()), Change::Dir("usr/etc".into())];
        if root {
            want.push(Change::Removed("usr/etc/hostname".into()));
        }
        want.push(Change::File("usr/etc/link".into()));
        want.push(Change::File("usr/etc/passwd".into()));
        want.push(Change::Dir("usr/share".into()));
        want.push(if root {
            Change::Replaced("usr/share/gone-whole".into())
        } else {
            Change::Dir("usr/share/gone-whole".into())
        });
        assert_eq!(changes(&up).unwrap(), want);
        std::fs::remove_dir_all(&up).unwrap();
    }

    #[test]
    fn bad_overlay_paths_are_refused_before_anything_runs() {
        let dir = std::env::temp_dir().join(format!("oxtree-sandbox-bad-{}", std::process::id()));
        let ov = Overlay {
            lower: dir.join("low,er"),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            var: dir.join("var"),
        };
        let e = run(&ov, &["/bin/true".to_string()], b"", &[]).unwrap_err();
        assert!(matches!(e, SandboxError::BadPath(_)), "{e}");
        assert!(!dir.exists(), "made directories before refusing");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

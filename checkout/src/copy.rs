//! Checking out a file by copying it: a regular file is written under its
//! name when nothing is there to replace, otherwise to an unnamed
//! temporary file in the target directory that is linked into place
//! according to the overwrite mode; either is given owner, xattrs and mode
//! before it counts as done. Symlinks are created from their target and
//! given owner and xattrs.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use oxtree_store::object::S_IFMT;
use oxtree_store::Checksum;
use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use crate::context::Ctx;
use crate::fsops::{owner, rm_rf_at, set_fd_xattrs, set_name_xattrs, LinkMode, NewFile, TmpFile};
use crate::ondisk::file_checksum;
use crate::source::{Obj, Payload};
use crate::stats::bump;
use crate::{CheckoutError, OverwriteMode};

/// Copies `size` bytes of `src` to `out` in the kernel: usually one
/// `copy_file_range`, falling back to `read`/`write` where the kernel
/// cannot. Stops early (without error) if `src` is shorter.
fn copy_fd(src: &mut std::fs::File, out: &mut std::fs::File, size: u64) -> io::Result<u64> {
    let mut done = 0u64;
    while done < size {
        let want = usize::try_from(size - done).unwrap_or(usize::MAX).min(1 << 30);
        match rustix::fs::copy_file_range(&*src, None, &*out, None, want) {
            Ok(0) => return Ok(done),
            Ok(n) => done += n as u64,
            Err(Errno::INTR) => continue,
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP | Errno::PERM) => {
                return Ok(done + io::copy(src, out)?);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Decoded bytes are written in pieces of this size: `io::copy`'s 8 KiB
/// made a decompressing checkout of a root file system ~100,000 writes.
const STREAM_CHUNK: usize = 128 * 1024;

thread_local! {
    static STREAM_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Copies up to `size` bytes of `src` to `out` through one buffer per
/// thread; returns how many there were.
fn copy_stream(src: &mut dyn Read, out: &mut std::fs::File, size: u64) -> io::Result<u64> {
    STREAM_BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        buf.resize(STREAM_CHUNK, 0);
        let mut done = 0u64;
        while done < size {
            let want = usize::try_from(size - done).unwrap_or(usize::MAX).min(buf.len());
            // Fill the buffer (the decoder hands out less than asked for).
            let mut filled = 0;
            while filled < want {
                match src.read(&mut buf[filled..want]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if filled == 0 {
                break;
            }
            out.write_all(&buf[..filled])?;
            done += filled as u64;
        }
        Ok(done)
    })
}

/// Writes a payload of `size` bytes into `out`; returns the bytes written.
/// Object files are copied in the kernel (`copy_file_range`); a stream
/// that ends early is an error.
pub(crate) fn write_payload(payload: &mut Payload, out: &mut std::fs::File, size: u64) -> io::Result<u64> {
    match payload {
        Payload::File(f) => copy_fd(f, out, size),
        Payload::Stream(s) => {
            let n = copy_stream(s.as_mut(), out, size)?;
            if n != size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("payload is {n} bytes, expected {size}"),
                ));
            }
            out.flush()?;
            Ok(n)
        }
    }
}

/// Copies the content object `csum` (metadata `obj`) to `name` in `dir`.
/// `add_user_read` gives the copy `u+r` (user mode, unreadable object).
pub(crate) fn copy_file(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
    rel: &str,
    csum: &Checksum,
    obj: &mut Obj,
    add_user_read: bool,
) -> Result<(), CheckoutError> {
    if obj.is_symlink() {
        copy_symlink(ctx, dir, name, rel, csum, obj)
    } else {
        copy_regular(ctx, dir, name, rel, csum, obj, add_user_read)
    }
}

fn copy_symlink(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
    rel: &str,
    csum: &Checksum,
    obj: &mut Obj,
) -> Result<(), CheckoutError> {
    let err = |op: &'static str| move |e: Errno| CheckoutError::io(ctx.path(rel, name), op, e);
    let target = ctx.src.target(csum, obj)?.to_owned();
    match rustix::fs::symlinkat(target.as_str(), dir, name) {
        Ok(()) => {}
        Err(Errno::EXIST) => match ctx.opts.overwrite {
            OverwriteMode::None => return Err(err("symlinkat")(Errno::EXIST)),
            OverwriteMode::AddFiles => {
                bump(&ctx.counters.files_kept);
                return Ok(());
            }
            OverwriteMode::UnionFiles => {
                if ctx.opts.whiteouts {
                    rm_rf_at(dir, name).map_err(|e| CheckoutError::io(ctx.path(rel, name), "rm_rf", e))?;
                } else {
                    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(err("unlinkat")(e)),
                    }
                }
                rustix::fs::symlinkat(target.as_str(), dir, name).map_err(err("symlinkat"))?;
                // OSTree (2022.7 and later) returns here without applying
                // owner and xattrs to a symlink that replaced another; kept
                // so that union checkouts come out identical.
                bump(&ctx.counters.symlinks_created);
                return Ok(());
            }
            OverwriteMode::UnionIdentical => {
                let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err("fstatat"))?;
                if st.st_mode & S_IFMT == 0o120000 {
                    let cur = rustix::fs::readlinkat(dir, name, Vec::new()).map_err(err("readlinkat"))?;
                    if cur.as_bytes() == target.as_bytes() {
                        bump(&ctx.counters.files_kept);
                        return Ok(());
                    }
                }
                return Err(err("symlinkat")(Errno::EXIST));
            }
        },
        Err(e) => return Err(err("symlinkat")(e)),
    }
    if !ctx.user {
        let (u, g) = owner(obj.uid, obj.gid);
        rustix::fs::chownat(dir, name, u, g, AtFlags::SYMLINK_NOFOLLOW).map_err(err("fchownat"))?;
        if ctx.apply_xattrs {
            let x = ctx.src.xattrs(csum, obj)?;
            if !x.is_empty() {
                set_name_xattrs(dir, name, x).map_err(|e| CheckoutError::io(ctx.path(rel, name), "lsetxattr", e))?;
            }
        }
    }
    bump(&ctx.counters.symlinks_created);
    Ok(())
}

fn copy_regular(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
    rel: &str,
    csum: &Checksum,
    obj: &mut Obj,
    add_user_read: bool,
) -> Result<(), CheckoutError> {
    let path = || ctx.path(rel, name);
    let io_err = |op: &'static str| move |e: io::Error| CheckoutError::io(ctx.path(rel, name), op, e);
    let errno = |op: &'static str| move |e: Errno| CheckoutError::io(ctx.path(rel, name), op, e);
    // Decide before writing anything when an existing file settles it.
    let link_mode = match ctx.opts.overwrite {
        OverwriteMode::None => LinkMode::NoReplace,
        OverwriteMode::UnionFiles if ctx.opts.whiteouts => {
            rm_rf_at(dir, name).map_err(io_err("rm_rf"))?;
            LinkMode::NoReplace
        }
        OverwriteMode::UnionFiles => LinkMode::Replace,
        OverwriteMode::AddFiles => {
            if rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                bump(&ctx.counters.files_kept);
                return Ok(());
            }
            LinkMode::NoReplaceIgnoreExist
        }
        OverwriteMode::UnionIdentical => {
            if let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                let actual = file_checksum(dir, name, &st, ctx.repo.xattrs_disabled()).map_err(io_err("checksum"))?;
                if actual == Some(*csum) {
                    bump(&ctx.counters.files_kept);
                    return Ok(());
                }
                return Err(CheckoutError::io(path(), "linkat", Errno::EXIST));
            }
            LinkMode::NoReplace
        }
    };
    let mut mode = obj.mode & 0o7777;
    if ctx.user {
        mode &= !0o6000;
    }
    if add_user_read {
        mode |= 0o400;
    }
    if link_mode == LinkMode::NoReplace {
        // Nothing to replace: the file is written under its name, given
        // its final mode at creation where the umask allows.
        let as_created = ctx.user && ctx.mode_as_created(mode);
        let mut f = NewFile::create(dir, name, if ctx.user { mode } else { 0o600 }).map_err(errno("openat"))?;
        let n = fill(ctx, csum, obj, f.file())?;
        finish(ctx, rel, name, csum, obj, f.file().as_fd(), (!as_created).then_some(mode))?;
        f.keep();
        bump(&ctx.counters.files_copied);
        ctx.counters.bytes_copied.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    let mut tmp = TmpFile::new(dir).map_err(io_err("open(O_TMPFILE)"))?;
    let n = fill(ctx, csum, obj, tmp.file())?;
    finish(ctx, rel, name, csum, obj, tmp.file().as_fd(), Some(mode))?;
    match tmp.link(dir, name, link_mode) {
        Ok(true) => {
            bump(&ctx.counters.files_copied);
            ctx.counters.bytes_copied.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(false) => bump(&ctx.counters.files_kept),
        Err(e) => return Err(CheckoutError::io(path(), "linkat", e)),
    }
    Ok(())
}

/// Writes the payload of `csum` into `out`; returns its length.
fn fill(ctx: &Ctx<'_>, csum: &Checksum, obj: &mut Obj, out: &mut std::fs::File) -> Result<u64, CheckoutError> {
    let mut payload = ctx.src.payload(csum, obj)?;
    write_payload(&mut payload, out, obj.size).map_err(|e| CheckoutError::io(ctx.src.path(csum), "copy", e))
}

/// Gives a written file its owner and xattrs (unless in user mode), then
/// `mode` if given, and syncs it if asked to.
fn finish(
    ctx: &Ctx<'_>,
    rel: &str,
    name: &str,
    csum: &Checksum,
    obj: &mut Obj,
    fd: BorrowedFd<'_>,
    mode: Option<u32>,
) -> Result<(), CheckoutError> {
    let errno = |op: &'static str| move |e: Errno| CheckoutError::io(ctx.path(rel, name), op, e);
    if !ctx.user {
        let (u, g) = owner(obj.uid, obj.gid);
        rustix::fs::fchown(fd, u, g).map_err(errno("fchown"))?;
        if ctx.apply_xattrs {
            let x = ctx.src.xattrs(csum, obj)?;
            if !x.is_empty() {
                set_fd_xattrs(fd, x).map_err(|e| CheckoutError::io(ctx.path(rel, name), "fsetxattr", e))?;
            }
        }
    }
    if let Some(mode) = mode {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(errno("fchmod"))?;
    }
    if ctx.opts.fsync {
        rustix::fs::fsync(fd).map_err(errno("fsync"))?;
    }
    Ok(())
}

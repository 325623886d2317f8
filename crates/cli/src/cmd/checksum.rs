//! `checksum`: the content checksum of a file (or a directory's dirmeta).

use std::os::unix::fs::MetadataExt;

use anyhow::{Context as _, Result};
use oxtree_store::object::{DirMeta, FileHeader, Xattrs};
use oxtree_store::repo::read_xattrs;

use super::{Command, Context};
use crate::flag;

pub static COMMAND: Command = Command {
    name: "checksum",
    usage: "PATH",
    summary: "Checksum a file or directory",
    opts: &[
        flag!("ignore-xattrs", "Don't include xattrs in checksum"),
        flag!("canonical-permissions", "Canonicalize permissions in the same way bare-user does for hardlinked files"),
    ],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    if ctx.args.args.is_empty() {
        ctx.arg(0, "A filename")?;
    }
    for p in &ctx.args.args {
        let path = std::path::Path::new(p);
        let md = std::fs::symlink_metadata(path).with_context(|| p.clone())?;
        let xattrs = if ctx.args.flag("ignore-xattrs") || ctx.args.flag("canonical-permissions") {
            Xattrs::new()
        } else {
            read_xattrs(path)?
        };
        let (mut uid, mut gid, mut mode) = (md.uid(), md.gid(), md.mode());
        if ctx.args.flag("canonical-permissions") {
            uid = 0;
            gid = 0;
            if !md.file_type().is_symlink() {
                mode &= 0o170000 | 0o755;
            }
        }
        let csum = if md.is_dir() {
            oxtree_store::Checksum::digest(&DirMeta { uid, gid, mode, xattrs }.to_bytes())
        } else if md.file_type().is_symlink() {
            let target = std::fs::read_link(path)?.to_string_lossy().into_owned();
            FileHeader { uid, gid, mode, symlink_target: target, xattrs }.checksum(b"")
        } else {
            let header = FileHeader { uid, gid, mode, symlink_target: String::new(), xattrs };
            let mut h = header.hasher();
            let mut f = std::fs::File::open(path).with_context(|| p.clone())?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            h.finish()
        };
        if ctx.args.args.len() > 1 {
            println!("{csum}  {p}");
        } else {
            println!("{csum}");
        }
    }
    Ok(())
}

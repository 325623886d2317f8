//! `ls`: list paths in a commit.

use std::io::Write;

use anyhow::{anyhow, Result};
use oxtree_store::object::{DirMeta, FileHeader, Xattrs};
use oxtree_store::{Checksum, Repo};

use super::{Command, Context};
use crate::flag;
use crate::util::{lookup, Node};

pub static COMMAND: Command = Command {
    name: "ls",
    usage: "COMMIT [PATH...]",
    summary: "List file paths",
    opts: &[
        flag!("dironly", 'd', "Do not recurse into directory arguments"),
        flag!("recursive", 'R', "Print directories recursively"),
        flag!("checksum", 'C', "Print checksum"),
        flag!("xattrs", 'X', "Print xattrs"),
        flag!("nul-filenames-only", 'n', "Print only filenames, NUL separated"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

struct Ls<'a> {
    repo: &'a Repo,
    checksum: bool,
    xattrs: bool,
    nul: bool,
    recursive: bool,
    out: std::io::StdoutLock<'static>,
}

/// One line of the listing.
struct Row<'a> {
    kind: char,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    csums: String,
    xattrs: &'a Xattrs,
    target: Option<&'a str>,
}

fn xattr_text(x: &Xattrs) -> String {
    x.to_value().to_text()
}

impl Ls<'_> {
    fn line(&mut self, row: Row<'_>, path: &str) -> Result<()> {
        if self.nul {
            self.out.write_all(path.as_bytes())?;
            self.out.write_all(b"\0")?;
            return Ok(());
        }
        let mut s = format!("{}{:05o} {} {} {:6} ", row.kind, row.mode & 0o7777, row.uid, row.gid, row.size);
        if self.checksum {
            s.push_str(&row.csums);
            s.push(' ');
        }
        if self.xattrs {
            s.push_str(&format!("{{ {} }} ", xattr_text(row.xattrs)));
        }
        s.push_str(path);
        if let Some(t) = row.target {
            s.push_str(" -> ");
            s.push_str(t);
        }
        writeln!(self.out, "{s}")?;
        Ok(())
    }

    fn dir_line(&mut self, tree: &Checksum, meta: &Checksum, path: &str) -> Result<()> {
        let m: DirMeta = self.repo.load_dirmeta(meta)?;
        let row = Row {
            kind: 'd',
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            size: 0,
            csums: format!("{tree} {meta}"),
            xattrs: &m.xattrs,
            target: None,
        };
        self.line(row, path)
    }

    fn file_line(&mut self, csum: &Checksum, path: &str) -> Result<()> {
        let obj = self.repo.open_file(csum)?;
        let h: &FileHeader = &obj.header;
        if h.is_symlink() {
            let row = Row {
                kind: 'l',
                mode: h.mode,
                uid: h.uid,
                gid: h.gid,
                size: 0,
                csums: csum.to_hex(),
                xattrs: &h.xattrs,
                target: Some(&h.symlink_target),
            };
            self.line(row, path)
        } else {
            let row = Row {
                kind: '-',
                mode: h.mode,
                uid: h.uid,
                gid: h.gid,
                size: obj.size,
                csums: csum.to_hex(),
                xattrs: &h.xattrs,
                target: None,
            };
            self.line(row, path)
        }
    }

    fn children(&mut self, tree: &Checksum, path: &str) -> Result<()> {
        let dt = self.repo.load_dirtree(tree)?;
        let base = if path == "/" { String::new() } else { path.to_string() };
        for f in &dt.files {
            self.file_line(&f.checksum, &format!("{base}/{}", f.name))?;
        }
        for d in &dt.dirs {
            let p = format!("{base}/{}", d.name);
            self.dir_line(&d.tree, &d.meta, &p)?;
            if self.recursive {
                self.children(&d.tree, &p)?;
            }
        }
        Ok(())
    }
}

fn run(ctx: &Context) -> Result<()> {
    let rev = ctx.arg(0, "A COMMIT argument")?;
    let repo = ctx.repo()?;
    let c = repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))?;
    let commit = repo.load_commit(&c)?;
    let mut ls = Ls {
        repo: &repo,
        checksum: ctx.args.flag("checksum"),
        xattrs: ctx.args.flag("xattrs"),
        nul: ctx.args.flag("nul-filenames-only"),
        recursive: ctx.args.flag("recursive"),
        out: std::io::stdout().lock(),
    };
    let paths: Vec<&str> =
        if ctx.args.args.len() > 1 { ctx.args.args[1..].iter().map(String::as_str).collect() } else { vec!["/"] };
    for p in paths {
        let node = lookup(&repo, (commit.root_tree, commit.root_meta), p)
            .map_err(|e| anyhow!("Inspecting path '{p}': {e}"))?;
        let norm = {
            let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            format!("/{}", comps.join("/"))
        };
        match node {
            Node::File(f) => ls.file_line(&f, &norm)?,
            Node::Dir(tree, meta) => {
                ls.dir_line(&tree, &meta, &norm)?;
                if !ctx.args.flag("dironly") {
                    ls.children(&tree, &norm)?;
                }
            }
        }
    }
    ls.out.flush()?;
    Ok(())
}

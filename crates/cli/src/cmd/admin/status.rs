//! `admin status`: the deployments, in boot order.

use anyhow::Result;
use oxtree_store::gvariant::Value;
use oxtree_store::Checksum;
use oxtree_sysroot::Sysroot;

use super::open;
use crate::admin_opts;
use crate::cmd::{Command, Context};

pub static COMMAND: Command = Command {
    name: "status",
    usage: "",
    summary: "List deployments",
    opts: admin_opts![],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let s = open(ctx)?;
    print!("{}", text(&s));
    Ok(())
}

/// `admin status`'s text for a sysroot.
pub fn text(s: &Sysroot) -> String {
    if s.deployments().is_empty() {
        return "No deployments.\n".to_string();
    }
    let booted = s.booted_deployment().cloned();
    // Pending: the first of the booted stateroot's deployments before the
    // booted one; rollback: the first after it.
    let (mut pending, mut rollback) = (None, None);
    if let Some(b) = &booted {
        let mut before = true;
        for d in s.deployments().iter().filter(|d| d.stateroot == b.stateroot) {
            if d.same(b) {
                before = false;
            } else if before && pending.is_none() {
                pending = Some(d.index);
            } else if !before && rollback.is_none() {
                rollback = Some(d.index);
            }
        }
    }
    let mut out = String::new();
    for d in s.deployments() {
        let is_booted = booted.as_ref().is_some_and(|b| b.same(d));
        let mut suffix = String::new();
        if pending == Some(d.index) {
            suffix.push_str(" (pending)");
        }
        if rollback == Some(d.index) {
            suffix.push_str(" (rollback)");
        }
        out.push_str(&format!("{} {} {}{suffix}\n", if is_booted { '*' } else { ' ' }, d.stateroot, d.name()));
        let commit = Checksum::from_hex(&d.csum).ok().and_then(|c| s.repo().load_commit(&c).ok());
        let meta =
            |k: &str| commit.as_ref().and_then(|c| c.metadata.get(k).and_then(Value::as_str).map(str::to_string));
        if let Some(v) = meta("version") {
            out.push_str(&format!("    Version: {v}\n"));
        }
        if d.is_pinned() {
            out.push_str("    Pinned: yes\n");
        }
        match &d.origin {
            None => out.push_str("    origin: none\n"),
            Some(o) => {
                match o.get("origin", "refspec") {
                    Some(r) => out.push_str(&format!("    origin refspec: {r}\n")),
                    None => out.push_str("    origin: <unknown origin type>\n"),
                }
                if let Some(t) = meta("ostree.source-title") {
                    out.push_str(&format!("    `- {t}\n"));
                }
            }
        }
    }
    out
}

//! `admin status`: the deployments, in boot order.
//!
//! The text is OSTree's. `--json` prints one object for scripts:
//!
//! ```text
//! { "deployments": [ {
//!     "index": 0,                  // position in boot order (0 = default)
//!     "stateroot": "os",
//!     "checksum": "<commit>",      // 64 hex digits
//!     "serial": 0,                 // deployment serial (CHECKSUM.SERIAL)
//!     "booted": false, "pending": false, "rollback": false, "pinned": false,
//!     "version": "1.0" | null,     // the commit's `version` metadata
//!     "timestamp": 1700000000 | null,  // the commit's time (seconds)
//!     "refspec": "remote:ref" | null,  // `[origin] refspec` of the .origin file
//!     "source-title": "..." | null,    // `ostree.source-title` metadata
//!     "bootcsum": "<boot checksum>", "bootserial": 0,
//!     "kernel-args": "root=...",   // the entry's options without `ostree=`
//!     "path": "/sysroot/ostree/deploy/os/deploy/<commit>.0"
//! } ] }
//! ```
//!
//! Fields may be added; none will be removed or change meaning.

use anyhow::Result;
use oxtree_store::gvariant::Value;
use oxtree_store::object::Commit;
use oxtree_store::Checksum;
use oxtree_sysroot::{Deployment, Sysroot};

use super::open;
use crate::cmd::{Command, Context};
use crate::{admin_opts, flag};

pub static COMMAND: Command = Command {
    name: "status",
    usage: "",
    summary: "List deployments",
    opts: admin_opts![flag!("json", "Print the deployments as JSON (see the module documentation)")],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let s = open(ctx)?;
    if ctx.args.flag("json") {
        println!("{}", json(&s));
    } else {
        print!("{}", text(&s));
    }
    Ok(())
}

/// One deployment as `status` shows it.
struct Row<'a> {
    d: &'a Deployment,
    booted: bool,
    pending: bool,
    rollback: bool,
    commit: Option<Commit>,
}

impl Row<'_> {
    fn meta(&self, key: &str) -> Option<String> {
        self.commit.as_ref().and_then(|c| c.metadata.get(key).and_then(Value::as_str).map(str::to_string))
    }
}

/// The deployments in boot order, with OSTree's marks: the booted one;
/// pending, the first of the booted stateroot's deployments before the
/// booted one; rollback, the first after it.
fn rows(s: &Sysroot) -> Vec<Row<'_>> {
    let booted = s.booted_deployment();
    let (mut pending, mut rollback) = (None, None);
    if let Some(b) = booted {
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
    s.deployments()
        .iter()
        .map(|d| Row {
            d,
            booted: booted.is_some_and(|b| b.same(d)),
            pending: pending == Some(d.index),
            rollback: rollback == Some(d.index),
            commit: Checksum::from_hex(&d.csum).ok().and_then(|c| s.repo().load_commit(&c).ok()),
        })
        .collect()
}

/// `admin status`'s text for a sysroot.
pub fn text(s: &Sysroot) -> String {
    if s.deployments().is_empty() {
        return "No deployments.\n".to_string();
    }
    let mut out = String::new();
    for r in rows(s) {
        let d = r.d;
        let mut suffix = String::new();
        if r.pending {
            suffix.push_str(" (pending)");
        }
        if r.rollback {
            suffix.push_str(" (rollback)");
        }
        out.push_str(&format!("{} {} {}{suffix}\n", if r.booted { '*' } else { ' ' }, d.stateroot, d.name()));
        if let Some(v) = r.meta("version") {
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
                if let Some(t) = r.meta("ostree.source-title") {
                    out.push_str(&format!("    `- {t}\n"));
                }
            }
        }
    }
    out
}

/// `admin status --json`: one object with the deployments in boot order
/// (schema in the module documentation).
pub fn json(s: &Sysroot) -> serde_json::Value {
    let deployments: Vec<serde_json::Value> = rows(s)
        .iter()
        .map(|r| {
            let d = r.d;
            serde_json::json!({
                "index": d.index,
                "stateroot": d.stateroot,
                "checksum": d.csum,
                "serial": d.deployserial,
                "booted": r.booted,
                "pending": r.pending,
                "rollback": r.rollback,
                "pinned": d.is_pinned(),
                "version": r.meta("version"),
                "timestamp": r.commit.as_ref().map(|c| c.timestamp),
                "refspec": d.origin.as_ref().and_then(|o| o.get("origin", "refspec")),
                "source-title": r.meta("ostree.source-title"),
                "bootcsum": d.bootcsum,
                "bootserial": d.bootserial,
                "kernel-args": d.kargs_without_ostree(),
                "path": s.deployment_dir(d).to_string_lossy(),
            })
        })
        .collect();
    serde_json::json!({ "deployments": deployments })
}

//! `fsck`: check the repository for consistency.
//!
//! Stage names and progress go to stdout, problems to stderr (a clean run
//! leaves stderr empty), as `ostree fsck` prints them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use oxtree_store::fsck::{fsck, FsckEvent, FsckOptions};

use super::{Command, Context};
use crate::flag;

pub static COMMAND: Command = Command {
    name: "fsck",
    usage: "",
    summary: "Check the repository for consistency",
    opts: &[
        flag!("add-tombstones", "Add tombstones for missing commits"),
        flag!("quiet", 'q', "Only print error messages"),
        flag!("all", 'a', "Don't stop on first error"),
        flag!("delete", "Remove corrupted objects"),
        flag!("verify-bindings", "Verify ref bindings"),
        flag!("verify-back-refs", "Verify back-references (implies --verify-bindings)"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

/// Progress lines as OSTree prints them when stdout is not a terminal: the
/// first object, then at most one line a second, then the last.
struct Progress {
    last: Mutex<Option<Instant>>,
}

impl Progress {
    fn report(&self, done: u64, total: u64) {
        let Ok(mut last) = self.last.lock() else { return };
        let now = Instant::now();
        let due = match *last {
            None => true,
            Some(t) => now.duration_since(t) >= Duration::from_secs(1),
        };
        if done == 1 || done == total || due {
            let pct = (done * 100).checked_div(total).unwrap_or(100);
            println!("fsck objects ({done}/{total}) {pct}%");
            *last = Some(now);
        }
    }
}

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let opts = FsckOptions {
        delete: a.flag("delete"),
        all: a.flag("all"),
        quiet: a.flag("quiet"),
        verify_bindings: a.flag("verify-bindings"),
        verify_back_refs: a.flag("verify-back-refs"),
        add_tombstones: a.flag("add-tombstones"),
    };
    let repo = ctx.repo()?;
    let progress = Progress { last: Mutex::new(None) };
    let events = |e: &FsckEvent<'_>| match e {
        FsckEvent::Phase(p) => println!("{p}"),
        FsckEvent::Progress { done, total } => progress.report(*done, *total),
        FsckEvent::Problem(p) => eprintln!("{p}"),
        FsckEvent::MarkedPartial(c) => eprintln!("Marking commit as partial: {c}"),
        FsckEvent::Tombstone(c) => println!("Adding tombstone for commit {c}"),
    };
    let report = fsck(&repo, &opts, &events)?;
    if report.partial_commits > 0 {
        println!("{} partial commits not verified", report.partial_commits);
    }
    if let Some(msg) = report.error_message() {
        bail!(msg);
    }
    println!("{}", report.success_message());
    Ok(())
}

//! The commands. Each module declares its options and a `run` function;
//! [`COMMANDS`] lists them in the order `ostree --help` shows.

use std::path::PathBuf;

use anyhow::{bail, Result};
use oxtree_store::Repo;

use crate::opts::{Opt, Parsed};

pub use admin::{run_top as admin_top, TOP_OPTS as ADMIN_TOP_OPTS};

mod admin;
mod cat;
mod checkout;
mod checksum;
mod commit;
mod compose;
mod config;
mod db;
mod demo;
mod diff;
mod export;
mod fsck;
mod gpg_sign;
mod init;
mod layer;
mod log;
mod ls;
mod prune;
pub(crate) mod pull;
mod pull_local;
mod refs;
mod remote;
mod reset;
mod rev_parse;
mod rpm;
mod show;
mod sign;
mod static_delta;
mod summary;

/// A command of the CLI.
pub struct Command {
    /// Its name.
    pub name: &'static str,
    /// Arguments, as shown after `[OPTION…]` in usage.
    pub usage: &'static str,
    /// One line for `oxtree --help`.
    pub summary: &'static str,
    /// Its options (besides the common ones).
    pub opts: &'static [Opt],
    /// Whether it takes `--repo`.
    pub repo: bool,
    /// Runs it.
    pub run: fn(&Context) -> Result<()>,
    /// Subcommands (`remote add`, …); when non-empty, `run` is not used.
    pub subcommands: &'static [&'static Command],
}

/// A command's `run` when it only dispatches to subcommands.
pub fn no_run(_: &Context) -> Result<()> {
    bail!("a subcommand is required")
}

/// What a command is handed.
pub struct Context {
    /// The parsed arguments.
    pub args: Parsed,
}

impl Context {
    /// The repository: `--repo`, else `$OSTREE_REPO`, else the current
    /// directory if it is a repo, else the system repo (`$OSTREE_SYSROOT/ostree/repo`).
    pub fn repo_path(&self) -> Result<PathBuf> {
        if let Some(r) = self.args.get("repo") {
            return Ok(PathBuf::from(r));
        }
        if let Ok(r) = std::env::var("OSTREE_REPO") {
            if !r.is_empty() {
                return Ok(PathBuf::from(r));
            }
        }
        let cwd = PathBuf::from(".");
        if cwd.join("objects").is_dir() && cwd.join("config").is_file() {
            return Ok(cwd);
        }
        // The system repo: `$OSTREE_SYSROOT/ostree/repo`, `/ostree/repo`
        // when that is unset, as ostree looks for it.
        let sysroot = std::env::var("OSTREE_SYSROOT").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "/".into());
        let sys = PathBuf::from(sysroot).join("ostree/repo");
        if sys.join("objects").is_dir() {
            return Ok(sys);
        }
        bail!(crate::opts::UsageError("Command requires a --repo argument".into()))
    }

    /// Opens the repository.
    pub fn repo(&self) -> Result<Repo> {
        let p = self.repo_path()?;
        Ok(Repo::open(&p)?)
    }

    /// Positional argument `i`, or a usage error naming what is missing.
    pub fn arg(&self, i: usize, what: &str) -> Result<&str> {
        match self.args.args.get(i) {
            Some(a) => Ok(a),
            None => bail!(crate::opts::UsageError(format!("{what} must be specified"))),
        }
    }
}

/// Every command, in `ostree --help` order.
pub static COMMANDS: &[&Command] = &[
    &admin::COMMAND,
    &cat::COMMAND,
    &checkout::COMMAND,
    &checksum::COMMAND,
    &commit::COMMAND,
    &config::COMMAND,
    &diff::COMMAND,
    &export::COMMAND,
    &fsck::COMMAND,
    &gpg_sign::COMMAND,
    &init::COMMAND,
    &log::COMMAND,
    &ls::COMMAND,
    &prune::COMMAND,
    &pull_local::COMMAND,
    &pull::COMMAND,
    &refs::COMMAND,
    &remote::COMMAND,
    &reset::COMMAND,
    &rev_parse::COMMAND,
    &sign::COMMAND,
    &show::COMMAND,
    &static_delta::COMMAND,
    &summary::COMMAND,
];

/// Commands of oxtree's own, not in `ostree --help` (which scripts parse):
/// runnable, but not listed.
pub static EXTRA_COMMANDS: &[&Command] =
    &[&compose::COMMAND, &db::COMMAND, &demo::COMMAND, &layer::INSTALL, &rpm::COMMAND, &layer::UNINSTALL];

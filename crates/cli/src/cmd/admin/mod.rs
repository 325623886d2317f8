//! `admin`: the deployment manager (sysroots, deployments, boot entries).
//!
//! Every subcommand works on a sysroot: `--sysroot=PATH`, else
//! `$OSTREE_SYSROOT`, else `/`; and accepts `--print-current-dir`, which
//! prints the first deployment's directory and exits.

use std::path::PathBuf;

use anyhow::{bail, Result};
use oxtree_sysroot::Sysroot;

use super::{no_run, Command, Context};
use crate::opts::Opt;
use crate::{flag, opt};

mod config_diff;
mod deploy;
mod finalize;
mod init;
mod kargs;
mod pin;
pub(crate) mod status;
mod undeploy;
mod unlock;
mod upgrade;

/// The options every `admin` subcommand takes.
#[macro_export]
macro_rules! admin_opts {
    ($($o:expr),* $(,)?) => {
        &[
            $($o,)*
            $crate::opt!("sysroot", "PATH", "Create a new OSTree sysroot at PATH"),
            $crate::flag!("print-current-dir", "Print the current deployment directory and exit"),
        ]
    };
}

pub static COMMAND: Command = Command {
    name: "admin",
    usage: "--print-current-dir|COMMAND",
    summary: "Commands for managing a host system booted with ostree",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[
        &kargs::INSTUTIL,
        &undeploy::CLEANUP,
        &config_diff::COMMAND,
        &deploy::COMMAND,
        &finalize::COMMAND,
        &init::INIT_FS,
        &init::OS_INIT,
        &kargs::KARGS,
        &pin::COMMAND,
        &undeploy::SET_DEFAULT,
        &upgrade::SET_ORIGIN,
        &status::COMMAND,
        &upgrade::SWITCH,
        &undeploy::COMMAND,
        &unlock::COMMAND,
        &upgrade::UPGRADE,
    ],
};

/// The options of `admin` with no subcommand (`admin --print-current-dir`).
pub static TOP_OPTS: &[Opt] = &[
    opt!("sysroot", "PATH", "Create a new OSTree sysroot at PATH"),
    flag!("print-current-dir", "Print the current deployment directory and exit"),
];

/// `admin --print-current-dir` without a subcommand.
pub fn run_top(ctx: &Context) -> Result<()> {
    if ctx.args.flag("print-current-dir") {
        let s = open(ctx)?;
        return print_current_dir(&s);
    }
    bail!(crate::opts::UsageError("No \"admin\" subcommand specified".into()))
}

/// The sysroot path: `--sysroot`, `$OSTREE_SYSROOT`, or `/`.
pub fn sysroot_path(ctx: &Context) -> PathBuf {
    if let Some(p) = ctx.args.get("sysroot") {
        return PathBuf::from(p);
    }
    match std::env::var("OSTREE_SYSROOT") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("/"),
    }
}

fn print_current_dir(s: &Sysroot) -> Result<()> {
    let Some(d) = s.deployments().first() else { bail!("Unable to find a deployment in sysroot") };
    println!("{}", s.deployment_dir(d).display());
    std::process::exit(0);
}

/// Opens the sysroot; handles `--print-current-dir`.
pub fn open(ctx: &Context) -> Result<Sysroot> {
    let s = Sysroot::open(&sysroot_path(ctx))?;
    if ctx.args.flag("print-current-dir") {
        print_current_dir(&s)?;
    }
    Ok(s)
}

/// Parses a deployment index as OSTree does (`Invalid index`, `Index too
/// large`, `Out of range deployment index`).
pub fn parse_index(s: &Sysroot, text: &str) -> Result<usize> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        bail!("Invalid index: {text}");
    }
    let Ok(i) = text.parse::<u64>() else { bail!("Index too large: {text}") };
    let n = s.deployments().len();
    if i >= n as u64 {
        bail!("Out of range deployment index {i}, expected < {n}");
    }
    Ok(i as usize)
}

/// Prints a list write's outcome as OSTree does.
pub fn print_write(w: &oxtree_sysroot::WriteReport) {
    println!("{}", w.message());
    if let Some(freed) = w.freed.filter(|f| *f > 0) {
        println!("Freed objects: {}", oxtree_store::traverse::format_size(freed));
    }
}

/// The stateroot a command works on: `--os`, else the booted deployment's.
pub fn stateroot(ctx: &Context, s: &Sysroot) -> Result<String> {
    match ctx.args.get("os") {
        Some(o) => Ok(o.to_string()),
        None => match s.booted_deployment() {
            Some(b) => Ok(b.stateroot.clone()),
            None => bail!("Not currently booted into an OSTree system and no --os= argument given"),
        },
    }
}

/// Stages a deployment (`--stage`) and has it finalized at shutdown: with
/// systemd running, by starting `ostree-finalize-staged.service` (whose
/// `ExecStop` runs `admin finalize-staged`; `dist/systemd/` has the unit);
/// otherwise the system's shutdown must run `admin finalize-staged`.
pub fn stage_deployment(s: &mut Sysroot, opts: &oxtree_sysroot::deploy::DeployOptions) -> Result<()> {
    let d = oxtree_sysroot::deploy::stage(s, opts)?;
    if s.debug().test_staged_path {
        println!("test-staged-path: Not running `systemctl start`");
    } else if std::path::Path::new("/run/systemd/system").is_dir() {
        let st = std::process::Command::new("systemctl")
            .args(["start", "ostree-finalize-staged.service"])
            .status()
            .map_err(|e| anyhow::anyhow!("running systemctl start ostree-finalize-staged.service: {e}"))?;
        if !st.success() {
            bail!("systemctl start ostree-finalize-staged.service: {st}");
        }
    } else {
        eprintln!("note: no systemd: run `oxtree admin finalize-staged` at shutdown to boot the staged deployment");
    }
    println!("Staged deployment {} (finalized at shutdown)", d.name());
    Ok(())
}

/// Prints a deploy's outcome as OSTree does: the first use of the
/// stateroot's /var, the /etc changes carried over, then the list write.
pub fn print_deploy(r: &oxtree_sysroot::deploy::DeployReport) {
    if r.var_first_use {
        println!("Relabeling /var (no stamp file 'var/.ostree-selabeled' found)");
    }
    if let Some(d) = &r.etc {
        println!("{}", d.summary());
    }
    print_write(&r.write);
}

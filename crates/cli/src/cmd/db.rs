//! `db`: the packages of composed commits (`db list`, `db diff`), read from
//! their `rpmostree.rpmdb.pkglist` metadata, in rpm-ostree's formats
//! (`rpmimport/DB-FORMATS.md`).
//!
//! JSON (`db diff --format=json`, or `--json`) is rpm-ostree's:
//! `{"ostree-commit-from": CSUM, "ostree-commit-to": CSUM, "pkgdiff":
//! [[NAME, TYPE, {"PreviousPackage": [NAME, EVR, ARCH], "NewPackage":
//! [...]}]...], "advisories": []}`, TYPE 0 added, 1 removed, 2 upgraded, 3
//! downgraded, sorted by type then name. `db list --json` is ours: `[{"rev":
//! REV, "commit": CSUM, "packages": [{"name", "epoch", "version",
//! "release", "arch", "nevra"}...]}...]`.

use std::cmp::Ordering;

use anyhow::{anyhow, bail, Result};
use oxtree_rpmimport::package::{changelog, ChangelogEntry};
use oxtree_rpmimport::pkglist::{diff, Diff, Pkg};
use oxtree_store::gvariant::Value;
use oxtree_store::{Checksum, Repo};
use serde_json::{json, Value as Json};

use super::{no_run, Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "db",
    usage: "COMMAND",
    summary: "Commands to query the package lists of composed commits",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[&DIFF, &LIST],
};

static DIFF: Command = Command {
    name: "diff",
    usage: "[FROM_REV] [TO_REV]",
    summary: "Show package changes between two commits",
    opts: &[
        opt!("format", 'F', "FORMAT", "Output format: \"diff\" or \"json\" or (default) \"block\""),
        flag!("json", "Output JSON (as --format=json)"),
        opt!("sysroot", "PATH", "Compare deployments of the sysroot at PATH (with fewer than two revisions)"),
        flag!("base", "Compare the base commits of layered deployments"),
        flag!("changelogs", 'c', "Also output RPM changelogs (block format only)"),
    ],
    repo: true,
    run: run_diff,
    subcommands: &[],
};

static LIST: Command = Command {
    name: "list",
    usage: "REV...",
    summary: "List packages within commits",
    opts: &[flag!("json", "Output JSON")],
    repo: true,
    run: run_list,
    subcommands: &[],
};

/// The package list a commit's metadata carries.
fn pkglist(repo: &Repo, rev: &str) -> Result<(Checksum, Vec<Pkg>)> {
    let c = repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))?;
    let commit = repo.load_commit(&c)?;
    match oxtree_rpmimport::pkglist::from_metadata(&commit.metadata) {
        Ok(Some(list)) => Ok((c, list)),
        Ok(None) => {
            bail!("Loading package list: commit {c} has no rpmostree.rpmdb.pkglist metadata (not a composed commit?)")
        }
        Err(e) => bail!("commit {c}: {e}"),
    }
}

fn run_list(ctx: &Context) -> Result<()> {
    ctx.arg(0, "At least one REV")?;
    let repo = ctx.repo()?;
    let mut json_out = Vec::new();
    for rev in &ctx.args.args {
        let (c, pkgs) = pkglist(&repo, rev)?;
        if ctx.args.flag("json") {
            let packages: Vec<Json> = pkgs
                .iter()
                .map(|p| {
                    json!({"name": p.name, "epoch": p.epoch, "version": p.version, "release": p.release,
                           "arch": p.arch, "nevra": p.nevra()})
                })
                .collect();
            json_out.push(json!({"rev": rev, "commit": c.to_hex(), "packages": packages}));
            continue;
        }
        if *rev == c.to_hex() {
            println!("ostree commit: {rev}");
        } else {
            println!("ostree commit: {rev} ({c})");
        }
        for p in &pkgs {
            println!(" {}", p.nevra());
        }
    }
    if ctx.args.flag("json") {
        println!("{}", serde_json::to_string_pretty(&Json::Array(json_out))?);
    }
    Ok(())
}

fn run_diff(ctx: &Context) -> Result<()> {
    let format = match (ctx.args.flag("json"), ctx.args.get("format")) {
        (true, None | Some("json")) => "json",
        (true, Some(_)) => bail!(crate::opts::UsageError("--json and --format disagree".into())),
        (false, f) => f.unwrap_or("block"),
    };
    if !matches!(format, "block" | "diff" | "json") {
        bail!(crate::opts::UsageError("Format argument is invalid, pick one of: diff, block, json".into()));
    }
    let args = &ctx.args.args;
    if args.len() > 2 {
        bail!(crate::opts::UsageError("\"diff\" takes at most 2 arguments".into()));
    }
    let ends = if args.len() == 2 {
        let repo = ctx.repo()?;
        let (fc, from) = pkglist(&repo, &args[0])?;
        let (tc, to) = pkglist(&repo, &args[1])?;
        [(args[0].clone(), fc, from), (args[1].clone(), tc, to)]
    } else if ctx.args.get("repo").is_some() && ctx.args.get("sysroot").is_none() {
        bail!("db diff --repo needs FROM_REV and TO_REV (--sysroot compares deployments)");
    } else {
        deployment_ends(ctx, args.first().map(String::as_str))?
    };
    let [(from_what, fc, from), (to_what, tc, to)] = ends;
    let d = diff(&from, &to);
    let mut out = String::new();
    if format == "json" {
        print!("{}", glib_pretty(&diff_json(&fc, &tc, &d), 0));
        return Ok(());
    }
    for (what, rev, c) in [("from:", &from_what, fc), ("to:  ", &to_what, tc)] {
        if *rev == c.to_hex() {
            out.push_str(&format!("ostree diff commit {what} {rev}\n"));
        } else {
            out.push_str(&format!("ostree diff commit {what} {rev} ({c})\n"));
        }
    }
    let changelogs = if ctx.args.flag("changelogs") {
        if format != "block" {
            bail!(crate::opts::UsageError("--changelogs is only for the block format".into()));
        }
        Some(changelog_repo(ctx)?)
    } else {
        None
    };
    if format == "block" {
        block(&d, &mut out, changelogs.as_ref());
    } else {
        merged(&d, &mut out);
    }
    print!("{out}");
    Ok(())
}

/// The two ends of a `db diff` given fewer than two revisions, from the
/// sysroot's deployments (rpm-ostree's defaults): from the booted
/// deployment to the pending one, or to `to_rev` when given. A sysroot that
/// is not the running system (an image) has no booted deployment: there
/// the default deployment stands for the pending one and the one after it
/// for the booted one. With `--base`, layered deployments are compared by
/// their base commits.
fn deployment_ends(ctx: &Context, to_rev: Option<&str>) -> Result<[(String, Checksum, Vec<Pkg>); 2]> {
    let s = oxtree_sysroot::Sysroot::open(&super::admin::sysroot_path(ctx))?;
    let repo = s.repo();
    let commit_of = |d: &oxtree_sysroot::Deployment| -> Result<Checksum> {
        if ctx.args.flag("base") {
            super::layer::deployment_base(repo, d)
        } else {
            Checksum::from_hex(&d.csum).map_err(|e| anyhow!("deployment {}: {e}", d.name()))
        }
    };
    let end = |what: String, d: &oxtree_sysroot::Deployment| -> Result<(String, Checksum, Vec<Pkg>)> {
        let c = commit_of(d)?;
        let (c, list) = pkglist(repo, &c.to_hex())?;
        Ok((what, c, list))
    };
    let deployments = s.deployments();
    let (current, pending) = match s.booted_deployment() {
        Some(b) => {
            let pending = deployments.iter().take_while(|d| !d.same(b)).find(|d| d.stateroot == b.stateroot);
            (Some((b, "booted deployment")), pending.map(|p| (p, "pending deployment")))
        }
        None => (deployments.get(1).map(|d| (d, "deployment 1")), deployments.first().map(|d| (d, "deployment 0"))),
    };
    if let Some(rev) = to_rev {
        let (d, what) = match s.booted_deployment() {
            Some(b) => (b, "booted deployment"),
            None => deployments.first().map(|d| (d, "deployment 0")).ok_or_else(|| anyhow!("No deployments."))?,
        };
        let (tc, to) = pkglist(repo, rev)?;
        return Ok([end(what.to_string(), d)?, (rev.to_string(), tc, to)]);
    }
    let (Some((cd, cw)), Some((pd, pw))) = (current, pending) else {
        bail!("No pending deployment to diff against (give FROM_REV and TO_REV)");
    };
    Ok([end(cw.to_string(), cd)?, end(pw.to_string(), pd)?])
}

/// The repository that holds the package imports changelogs are read from:
/// the one compared in (a compose server's, where the packages were
/// imported).
fn changelog_repo(ctx: &Context) -> Result<Repo> {
    if ctx.args.get("repo").is_some() || ctx.args.args.len() == 2 && ctx.args.get("sysroot").is_none() {
        ctx.repo()
    } else {
        let s = oxtree_sysroot::Sysroot::open(&super::admin::sysroot_path(ctx))?;
        Ok(Repo::open(s.repo().path())?)
    }
}

/// The `%changelog` entries of `new` that `old` does not have (newer than
/// its newest), as rpm prints them, indented under the package line. They
/// come from the packages' imports (`rpmostree/pkg/…` commits): a repo
/// without them (a client's) says so.
fn changelog_text(repo: &Repo, old: &Pkg, new: &Pkg) -> String {
    let entries = |p: &Pkg| -> Result<Vec<ChangelogEntry>, String> {
        let c = repo
            .resolve_rev(&p.branch(), true)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no import of {} in this repository", p.nevra()))?;
        let meta = repo.load_commit(&c).map_err(|e| e.to_string())?.metadata;
        let Some(Value::Bytes(raw)) = meta.get("rpmostree.metadata") else {
            return Err(format!("the import of {} has no headers", p.nevra()));
        };
        changelog(raw).map_err(|e| format!("{}: {e}", p.nevra()))
    };
    let (olds, news) = match (entries(old), entries(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return format!("    (no changelog: {e})\n"),
    };
    let newest_old = olds.iter().map(|e| e.time).max().unwrap_or(0);
    let mut out = String::new();
    for e in news.iter().filter(|e| e.time > newest_old) {
        out.push_str(&format!("    * {} {}\n", rpm_date(e.time), e.name));
        for line in e.text.lines() {
            out.push_str(&format!("    {line}\n"));
        }
        out.push('\n');
    }
    out
}

/// A changelog date as rpm prints it: `Wed Nov 15 2023` (UTC).
fn rpm_date(t: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = (t / 86400) as i64;
    let (y, m, d) = oxtree_store::calendar::civil_from_days(days);
    format!("{} {} {d:02} {y}", DAYS[days.rem_euclid(7) as usize], MONTHS[(m - 1) as usize])
}

/// Upgraded, Downgraded, Removed, Added: each title only when it has
/// lines; with `changelogs`, each upgrade's new changelog entries.
fn block(d: &Diff, out: &mut String, changelogs: Option<&Repo>) {
    let up: Vec<_> = d.upgraded().collect();
    let down: Vec<_> = d.downgraded().collect();
    for (title, pairs) in [("Upgraded:", up), ("Downgraded:", down)] {
        if !pairs.is_empty() {
            out.push_str(title);
            out.push('\n');
            for (a, b) in pairs {
                out.push_str(&format!("  {} {} -> {}\n", a.name, a.evr(), b.evr()));
                if let (Some(repo), true) = (changelogs, title == "Upgraded:") {
                    out.push_str(&changelog_text(repo, a, b));
                }
            }
        }
    }
    for (title, list) in [("Removed:", &d.removed), ("Added:", &d.added)] {
        if !list.is_empty() {
            out.push_str(title);
            out.push('\n');
            for p in list {
                out.push_str(&format!("  {}\n", p.nevra()));
            }
        }
    }
}

/// One stream in package order: `!old` `=new`, `-removed`, `+added`.
fn merged(d: &Diff, out: &mut String) {
    // An exhausted list sorts after everything.
    fn cmp_end(a: Option<&Pkg>, b: Option<&Pkg>) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => a.order(b),
        }
    }
    let (mut m, mut r, mut a) = (0, 0, 0);
    loop {
        let pm = d.modified.get(m).map(|(old, _)| old);
        let (pr, pa) = (d.removed.get(r), d.added.get(a));
        if pm.is_none() && pr.is_none() && pa.is_none() {
            break;
        }
        let take_mod = cmp_end(pm, pr) == Ordering::Less && cmp_end(pm, pa) == Ordering::Less;
        if take_mod {
            let (old, new) = &d.modified[m];
            out.push_str(&format!("!{}\n={}\n", old.nevra(), new.nevra()));
            m += 1;
        } else if pr.is_some() && cmp_end(pr, pa) == Ordering::Less {
            out.push_str(&format!("-{}\n", d.removed[r].nevra()));
            r += 1;
        } else if let Some(p) = pa {
            out.push_str(&format!("+{}\n", p.nevra()));
            a += 1;
        } else if let Some(p) = pr {
            out.push_str(&format!("-{}\n", p.nevra()));
            r += 1;
        } else {
            let (old, new) = &d.modified[m];
            out.push_str(&format!("!{}\n={}\n", old.nevra(), new.nevra()));
            m += 1;
        }
    }
}

/// A JSON value whose objects keep their keys in insertion order, as
/// json-glib writes GVariant dictionaries.
enum J {
    Str(String),
    Num(u32),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

fn diff_json(from: &Checksum, to: &Checksum, d: &Diff) -> J {
    let tuple = |p: &Pkg| J::Arr(vec![J::Str(p.name.clone()), J::Str(p.evr()), J::Str(p.arch.clone())]);
    let mut entries: Vec<(u32, String, J)> = Vec::new();
    for (a, b) in &d.modified {
        let ty = if a.order(b) == Ordering::Greater { 3 } else { 2 };
        entries.push((ty, a.name.clone(), J::Obj(vec![("PreviousPackage", tuple(a)), ("NewPackage", tuple(b))])));
    }
    for p in &d.removed {
        entries.push((1, p.name.clone(), J::Obj(vec![("PreviousPackage", tuple(p))])));
    }
    for p in &d.added {
        entries.push((0, p.name.clone(), J::Obj(vec![("NewPackage", tuple(p))])));
    }
    // Stable: entries of one type and name keep their order.
    entries.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.cmp(&y.1)));
    let pkgdiff = entries.into_iter().map(|(ty, name, opts)| J::Arr(vec![J::Str(name), J::Num(ty), opts])).collect();
    J::Obj(vec![
        ("ostree-commit-from", J::Str(from.to_hex())),
        ("ostree-commit-to", J::Str(to.to_hex())),
        ("pkgdiff", J::Arr(pkgdiff)),
        ("advisories", J::Arr(Vec::new())),
    ])
}

/// JSON as json-glib's pretty generator writes it: two-space indents,
/// `"key" : value`, empty containers as `[]`, no final newline.
fn glib_pretty(v: &J, depth: usize) -> String {
    let pad = |d: usize| "  ".repeat(d);
    match v {
        J::Str(s) => Json::String(s.clone()).to_string(),
        J::Num(n) => n.to_string(),
        J::Arr(items) if items.is_empty() => "[]".into(),
        J::Obj(m) if m.is_empty() => "{}".into(),
        J::Arr(items) => {
            let inner: Vec<String> =
                items.iter().map(|i| format!("{}{}", pad(depth + 1), glib_pretty(i, depth + 1))).collect();
            format!("[\n{}\n{}]", inner.join(",\n"), pad(depth))
        }
        J::Obj(m) => {
            let inner: Vec<String> =
                m.iter().map(|(k, v)| format!("{}\"{k}\" : {}", pad(depth + 1), glib_pretty(v, depth + 1))).collect();
            format!("{{\n{}\n{}}}", inner.join(",\n"), pad(depth))
        }
    }
}

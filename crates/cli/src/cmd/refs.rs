//! `refs`: list, create, alias and delete refs.

use anyhow::{anyhow, bail, Result};

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "refs",
    usage: "[PREFIX]",
    summary: "List refs",
    opts: &[
        flag!("delete", "Delete refs which match PREFIX, rather than listing them"),
        flag!("list", "Do not remove the prefix from the refs"),
        flag!("revision", 'r', "Show revisions in listings"),
        opt!("create", "NEWREF", "Create a new ref for an existing commit"),
        flag!("collections", 'c', "Enable listing collection IDs for refs"),
        flag!("force", "Overwrite existing refs when creating"),
        flag!("alias", 'A', "If used with --create, create an alias, otherwise just list aliases"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    let a = &ctx.args;
    if let Some(newref) = a.get("create") {
        let target = ctx.arg(0, "An existing ref or commit")?;
        // Validate first: `.` or `-x` must be refused as names, not found
        // to "exist" as paths.
        oxtree_store::repo::RefSpec::parse(newref)?;
        let exists = repo.path().join("refs/heads").join(newref).is_file();
        if exists && !a.flag("force") {
            bail!("--create specified but ref {newref} already exists");
        }
        if a.flag("alias") {
            repo.write_alias(newref, target)?;
            return Ok(());
        }
        let c = repo.resolve_rev(target, false)?.ok_or_else(|| anyhow!("Refspec '{target}' not found"))?;
        if !repo.has_object(oxtree_store::object::ObjectType::Commit, &c) {
            bail!("Commit {c} not found");
        }
        let mut tx = repo.transaction()?;
        tx.set_ref(newref, Some(c))?;
        tx.commit()?;
        return Ok(());
    }
    let all = repo.all_refs()?;
    if a.flag("delete") {
        if a.args.is_empty() {
            bail!(crate::opts::UsageError("At least one PREFIX is required when deleting refs".into()));
        }
        let mut tx = repo.transaction()?;
        for prefix in &a.args {
            let mut any = false;
            for name in all.keys() {
                if name == prefix
                    || name.starts_with(&format!("{prefix}/"))
                    || (prefix.ends_with(':') && name.starts_with(prefix.as_str()))
                {
                    tx.set_ref(name, None)?;
                    any = true;
                }
            }
            if !any && repo.alias_target(prefix).is_some() {
                let p = repo.path().join("refs/heads").join(prefix);
                std::fs::remove_file(&p).map_err(|e| anyhow!("{}: {e}", p.display()))?;
            }
        }
        tx.commit()?;
        return Ok(());
    }
    // `REMOTE:.` means `REMOTE:` (flatpak spells it so).
    let prefix = a.args.first().map(|p| p.strip_suffix(":.").map_or(p.as_str(), |r| &p[..r.len() + 1]));
    for (name, c) in &all {
        let alias = if name.contains(':') { None } else { repo.alias_target(name) };
        if a.flag("alias") && alias.is_none() {
            continue;
        }
        let shown = match prefix {
            None => name.clone(),
            Some(p) => {
                if a.flag("list") {
                    if !(name == p || name.starts_with(p)) {
                        continue;
                    }
                    name.clone()
                } else if name == p {
                    // A prefix naming one ref lists it whole, as ostree does.
                    name.clone()
                } else if let Some(rest) = name.strip_prefix(p) {
                    let rest = rest.strip_prefix('/').unwrap_or(rest);
                    if rest.is_empty() || !(p.ends_with('/') || p.ends_with(':') || name[p.len()..].starts_with('/')) {
                        continue;
                    }
                    // Under `REMOTE:PREFIX` the names keep their `REMOTE:`.
                    match p.split_once(':') {
                        Some((remote, _)) => format!("{remote}:{rest}"),
                        None => rest.to_string(),
                    }
                } else {
                    continue;
                }
            }
        };
        match (a.flag("alias"), alias, a.flag("revision")) {
            (true, Some(t), _) => println!("{shown} -> {t}"),
            (_, _, true) => println!("{shown}\t{c}"),
            _ => println!("{shown}"),
        }
    }
    Ok(())
}

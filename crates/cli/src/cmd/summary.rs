//! `summary`: regenerate or show the repository summary.

use anyhow::{anyhow, bail, Result};
use oxtree_store::gvariant::parse_text;
use oxtree_store::summary::{raw_text, update_summary, Summary};

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "summary",
    usage: "",
    summary: "Manage summary metadata",
    opts: &[
        flag!("update", 'u', "Update the summary"),
        flag!("view", 'v', "View the local summary file"),
        flag!("raw", "View the raw bytes of the summary file"),
        opt!("gpg-sign", "KEY-ID", "GPG Key ID to sign the summary with"),
        opt!("gpg-homedir", "HOMEDIR", "GPG Homedir to use when looking for keyrings"),
        opt!("sign", "KEY-ID", "Key ID to sign the summary with"),
        opt!("sign-type", "NAME", "Signature type to use (defaults to 'ed25519')"),
        opt!("add-metadata", 'm', "KEY=VALUE", "Additional metadata field to add to the summary"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    // Keys are read first: a bad one fails before the summary is rewritten.
    let signers = super::sign::signers(super::sign::sign_type(a.get("sign-type"))?, &a.all("sign"), None)?;
    let gpg_keys: Vec<&str> = a.all("gpg-sign");
    let homedir = a.get("gpg-homedir").map(std::path::Path::new);
    let repo = ctx.repo()?;
    if a.flag("update") {
        let mut extra = Vec::new();
        for m in a.all("add-metadata") {
            let (k, v) = m.split_once('=').ok_or_else(|| anyhow!("Missing '=' in KEY=VALUE metadata '{m}'"))?;
            let value = parse_text(v, None).map_err(|e| anyhow!("Error parsing variant ‘{v}’: {e}"))?;
            extra.push((k.to_string(), value));
        }
        update_summary(&repo, &extra)?;
        if !signers.is_empty() || !gpg_keys.is_empty() {
            sign_summary(&repo, &signers, &gpg_keys, homedir)?;
        }
    } else if !signers.is_empty() {
        sign_summary(&repo, &signers, &[], None)?;
    } else if a.flag("view") || a.flag("raw") {
        let path = repo.path().join("summary");
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("openat(summary): No such file or directory")
            } else {
                anyhow!("{}: {e}", path.display())
            }
        })?;
        if a.flag("raw") {
            println!("{}", raw_text(&bytes).map_err(|e| anyhow!("summary: {e}"))?);
        } else {
            let s = Summary::from_bytes(&bytes).map_err(|e| anyhow!("summary: {e}"))?;
            print!("{}", s.view_text());
        }
    } else {
        bail!("No option specified; use -u to update summary");
    }
    Ok(())
}

/// Adds signatures by `signers` and by the GPG keys `gpg_keys` (from
/// GnuPG home `homedir`) of the repo's `summary` to `summary.sig` (an
/// `a{sv}` like detached metadata).
fn sign_summary(
    repo: &oxtree_store::Repo,
    signers: &[oxtree_sign::Signer],
    gpg_keys: &[&str],
    homedir: Option<&std::path::Path>,
) -> Result<()> {
    let path = repo.path().join("summary");
    let bytes = std::fs::read(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let sig_path = repo.path().join("summary.sig");
    let mut sigs = match std::fs::read(&sig_path) {
        Ok(b) => {
            oxtree_store::object::CommitMetadata::from_bytes(&b).map_err(|e| anyhow!("{}: {e}", sig_path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => bail!("{}: {e}", sig_path.display()),
    };
    oxtree_fetch::verify::sign_into(&mut sigs, signers, &bytes).map_err(|e| anyhow!("{}: {e}", sig_path.display()))?;
    oxtree_fetch::verify::gpg_sign_into(&mut sigs, homedir, gpg_keys, &bytes, None).map_err(|e| anyhow!(e))?;
    oxtree_store::repo::write_atomic(&sig_path, &sigs.to_bytes(), 0o644, repo.fsync_enabled())?;
    Ok(())
}

//! `gpg-sign`: add or delete a commit's OpenPGP signatures
//! (`ostree.gpgsigs` in its detached metadata).

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use oxtree_fetch::verify::{all_remotes_keyring, gpg_sign_into, gpg_signatures, gpg_verify, set_signatures};
use oxtree_sign::openpgp;
use oxtree_store::object::ObjectType;
use oxtree_store::{Checksum, Repo};

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "gpg-sign",
    usage: "COMMIT KEY-ID...",
    summary: "Sign a commit",
    opts: &[
        flag!("delete", 'd', "Delete signatures having any of the GPG KEY-IDs"),
        opt!("gpg-homedir", "HOMEDIR", "GPG Homedir to use when looking for keyrings"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

/// Signs commit `c` with each key of `key_ids` from GnuPG home `homedir`,
/// refusing a key that has already signed it (as the global keyring and
/// the homedir's public keyrings tell).
pub fn sign_commit(repo: &Repo, c: &Checksum, homedir: Option<&Path>, key_ids: &[&str]) -> Result<()> {
    let data = repo.read_metadata(ObjectType::Commit, c).map_err(|e| anyhow!("Failed to read commit: {e}"))?;
    let mut meta =
        repo.load_commitmeta(c).map_err(|e| anyhow!("Failed to read detached metadata: {e}"))?.unwrap_or_default();
    let signed_by = signed_by_keyring(homedir)?;
    // One key at a time: a failure keeps the signatures made before it.
    for k in key_ids {
        gpg_sign_into(&mut meta, homedir, &[k], &data, Some(&signed_by)).map_err(|e| anyhow!(e))?;
        super::sign::write_meta(repo, c, &meta)?;
    }
    Ok(())
}

/// The keyring that tells which keys have signed a commit already: the
/// global keyring directory's and the GnuPG home's public keyrings.
pub fn signed_by_keyring(homedir: Option<&Path>) -> Result<openpgp::Keyring> {
    let mut keyring = openpgp::Keyring::new();
    for dir in [Some(openpgp::global_keyring_dir().as_path()), homedir].into_iter().flatten() {
        keyring.add_keyring_dir(dir)?;
    }
    Ok(keyring)
}

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let rev = a.args.first().ok_or_else(|| crate::opts::UsageError("Need a COMMIT to sign".into()))?;
    let keys: Vec<&str> = a.args[1..].iter().map(String::as_str).collect();
    if keys.is_empty() {
        bail!(crate::opts::UsageError("Need at least one GPG KEY-ID to sign with".into()));
    }
    let repo = ctx.repo()?;
    let c = repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))?;
    if a.flag("delete") {
        return delete(&repo, &c, &keys);
    }
    sign_commit(&repo, &c, a.get("gpg-homedir").map(Path::new), &keys)
}

/// Deletes, for each key, the first signature it made (keys as the repo's
/// and the global keyrings know them; `--gpg-homedir` is not used, as in
/// OSTree).
fn delete(repo: &Repo, c: &Checksum, keys: &[&str]) -> Result<()> {
    let data = repo.read_metadata(ObjectType::Commit, c)?;
    let Some(mut meta) = repo.load_commitmeta(c)? else {
        println!("Signatures deleted: 0");
        return Ok(());
    };
    let sigs = gpg_signatures(&meta).map_err(|e| anyhow!("{c}: {e}"))?.unwrap_or_default();
    let keyring = all_remotes_keyring(repo, None).map_err(|e| anyhow!(e))?;
    let result = gpg_verify(&keyring, &data, &meta).map_err(|e| anyhow!("{c}: {e}"))?.unwrap_or_default();
    let mut trash = Vec::new();
    for k in keys {
        if let Some(i) = result.signed_by(&keyring, k, &trash) {
            trash.push(i);
        }
    }
    let kept: Vec<Vec<u8>> = sigs.into_iter().enumerate().filter(|(i, _)| !trash.contains(i)).map(|(_, s)| s).collect();
    set_signatures(&mut meta, openpgp::METADATA_KEY, kept);
    if !trash.is_empty() {
        super::sign::write_meta(repo, c, &meta)?;
    }
    println!("Signatures deleted: {}", trash.len());
    Ok(())
}

//! `sign`: add, check or delete a commit's signatures of one signer type
//! (`ed25519`, or OSTree's test-only `dummy`), in its detached metadata.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use oxtree_fetch::verify::{set_signatures, sign_into, signatures, verify_with};
use oxtree_sign::{SignType, Signer, Verifier};
use oxtree_store::object::{CommitMetadata, ObjectType};
use oxtree_store::{Checksum, Repo};

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "sign",
    usage: "COMMIT KEY-ID...",
    summary: "Sign a commit",
    opts: &[
        flag!("delete", 'd', "Delete signatures having any of the KEY-IDs"),
        flag!("verify", "Verify signatures"),
        opt!("sign-type", 's', "NAME", "Signature type to use (defaults to 'ed25519')"),
        opt!("keys-file", "NAME", "Read key(s) from file"),
        opt!("keys-dir", "NAME", "Redefine system-wide directories with public and revoked keys for verification"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

/// The signer type `--sign-type` names (ed25519 when absent).
pub fn sign_type(name: Option<&str>) -> Result<SignType> {
    Ok(SignType::from_name(name.unwrap_or("ed25519"))?)
}

/// The signers of `--sign=KEY` values and a `--keys-file` of secret keys.
pub fn signers(ty: SignType, keys: &[&str], keys_file: Option<&str>) -> Result<Vec<Signer>> {
    let mut out = Vec::new();
    for k in keys {
        out.push(Signer::from_text(ty, k)?);
    }
    if let Some(f) = keys_file {
        out.extend(Signer::from_file(ty, Path::new(f))?);
    }
    Ok(out)
}

/// Loads public keys into `v` from `--keys-file`, else `--keys-dir`, else
/// the system directories.
pub fn load_keys(v: &mut Verifier, keys_file: Option<&str>, keys_dir: Option<&str>) -> Result<()> {
    if let Some(f) = keys_file {
        return Ok(v.add_keys_file(Path::new(f))?);
    }
    match v {
        Verifier::Ed25519(ed) => {
            let dirs: Vec<PathBuf> = match keys_dir {
                Some(d) => vec![PathBuf::from(d)],
                None => oxtree_sign::ed25519::DEFAULT_KEY_DIRS.iter().map(PathBuf::from).collect(),
            };
            Ok(ed.load_dirs(&dirs)?)
        }
        Verifier::Dummy(_) => bail!("dummy: loading keys is not implemented; give the key"),
    }
}

/// Signs commit `c` with every signer, adding to its detached metadata.
pub fn sign_commit(repo: &Repo, c: &Checksum, signers: &[Signer]) -> Result<()> {
    let data = repo.read_metadata(ObjectType::Commit, c)?;
    let mut meta = repo.load_commitmeta(c)?.unwrap_or_default();
    sign_into(&mut meta, signers, &data).map_err(|e| anyhow!("{c}: {e}"))?;
    write_meta(repo, c, &meta)
}

pub fn write_meta(repo: &Repo, c: &Checksum, meta: &CommitMetadata) -> Result<()> {
    let tx = repo.transaction()?;
    tx.write_commitmeta(c, meta)?;
    tx.commit()?;
    Ok(())
}

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let ty = sign_type(a.get("sign-type"))?;
    let rev = ctx.arg(0, "COMMIT")?;
    let repo = ctx.repo()?;
    let c = repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))?;
    let keys: Vec<&str> = a.args[1..].iter().map(String::as_str).collect();
    if a.flag("verify") {
        return verify(&repo, &c, ty, &keys, a.get("keys-file"), a.get("keys-dir"));
    }
    if a.flag("delete") {
        return delete(&repo, &c, ty, &keys);
    }
    let signers = signers(ty, &keys, a.get("keys-file"))?;
    if signers.is_empty() {
        bail!(crate::opts::UsageError("KEY-ID must be specified".into()));
    }
    sign_commit(&repo, &c, &signers)
}

fn verify(
    repo: &Repo,
    c: &Checksum,
    ty: SignType,
    keys: &[&str],
    keys_file: Option<&str>,
    keys_dir: Option<&str>,
) -> Result<()> {
    let data = repo.read_metadata(ObjectType::Commit, c)?;
    let meta = repo.load_commitmeta(c)?.unwrap_or_default();
    // Each KEY-ID on its own, as OSTree does; a key that does not parse is
    // passed over.
    let mut last = None;
    for k in keys {
        let mut v = Verifier::new(ty);
        if v.add_key(k).is_err() {
            continue;
        }
        if let Ok(msg) = verify_with(&v, &data, &meta) {
            println!("{msg}");
            return Ok(());
        }
        last = Some(v);
    }
    if keys.is_empty() || keys_file.is_some() {
        let mut v = last.unwrap_or_else(|| Verifier::new(ty));
        load_keys(&mut v, keys_file, keys_dir)?;
        println!("{}", verify_with(&v, &data, &meta).map_err(|e| anyhow!(e))?);
        return Ok(());
    }
    bail!("No valid signatures found")
}

/// Removes the signatures that the given public keys verify (for `dummy`,
/// those equal to the key).
fn delete(repo: &Repo, c: &Checksum, ty: SignType, keys: &[&str]) -> Result<()> {
    if keys.is_empty() {
        bail!(crate::opts::UsageError("KEY-ID must be specified".into()));
    }
    let data = repo.read_metadata(ObjectType::Commit, c)?;
    let mut meta = repo.load_commitmeta(c)?.unwrap_or_default();
    let sigs = signatures(&meta, ty).map_err(|e| anyhow!("{c}: {e}"))?.unwrap_or_default();
    let mut verifiers = Vec::new();
    for k in keys {
        let mut v = Verifier::new(ty);
        v.add_key(k)?;
        verifiers.push(v);
    }
    let before = sigs.len();
    let kept: Vec<Vec<u8>> =
        sigs.into_iter().filter(|s| !verifiers.iter().any(|v| v.verify(&data, Some(&[&s[..]])).is_ok())).collect();
    let deleted = before - kept.len();
    set_signatures(&mut meta, ty.metadata_key(), kept);
    if deleted > 0 {
        write_meta(repo, c, &meta)?;
    }
    println!("Signatures deleted: {deleted}");
    Ok(())
}

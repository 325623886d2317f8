//! Signatures in OSTree's containers, and the checks a remote asks for.
//!
//! Signatures live in an `a{sv}`: a commit's detached metadata, a
//! `summary.sig`, or a signed delta superblock. Under each signer's key
//! ([`SignType::metadata_key`]) is an `aay`, one signature per element.
//! This module reads and writes those arrays and builds, from a remote's
//! configuration, the verifiers a pull runs (`sign-verify`,
//! `sign-verify-summary`, `verification-TYPE-key`, `verification-TYPE-file`)
//! and the GPG keyrings of `gpg-verify` and `gpg-verify-summary`.

use std::borrow::Cow;
use std::path::Path;

use oxtree_sign::openpgp::{self, Keyring, VerifyResult};
use oxtree_sign::{SignType, Signer, Verifier};
use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::CommitMetadata;
use oxtree_store::Checksum;
use oxtree_store::Repo;

/// The signatures of type `ty` in `meta`, if it has that key; an element
/// that is not a byte string is an error.
pub fn signatures(meta: &CommitMetadata, ty: SignType) -> Result<Option<Vec<Vec<u8>>>, String> {
    signatures_at(meta, ty.metadata_key(), ty.name())
}

/// The `aay` under `key` in `meta` (signatures of the signer `name`).
pub fn signatures_at(meta: &CommitMetadata, key: &str, name: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
    let Some(v) = meta.get(key) else { return Ok(None) };
    let wrong = || format!("{name}: wrong type passed for verification");
    let items = v.as_array().ok_or_else(wrong)?;
    items.iter().map(|i| i.as_bytes().map(<[u8]>::to_vec).ok_or_else(wrong)).collect::<Result<Vec<_>, _>>().map(Some)
}

/// The GPG signatures (`ostree.gpgsigs`) in `meta`.
pub fn gpg_signatures(meta: &CommitMetadata) -> Result<Option<Vec<Vec<u8>>>, String> {
    signatures_at(meta, openpgp::METADATA_KEY, "GPG")
}

/// Checks the GPG signatures of `meta` over `data`; `Ok(None)` when it has
/// none.
pub fn gpg_verify(keyring: &Keyring, data: &[u8], meta: &CommitMetadata) -> Result<Option<VerifyResult>, String> {
    let Some(sigs) = gpg_signatures(meta)? else { return Ok(None) };
    let refs: Vec<&[u8]> = sigs.iter().map(Vec::as_slice).collect();
    openpgp::verify::verify(keyring, data, &refs, openpgp::verify::now()).map(Some).map_err(|e| e.to_string())
}

/// What [`GpgReport`] calls: the commit and its checked signatures.
pub type GpgReportFn = dyn Fn(&Checksum, &VerifyResult) + Send + Sync;

/// A callback for each commit's checked GPG signatures.
#[derive(Clone)]
pub struct GpgReport(pub std::sync::Arc<GpgReportFn>);

impl std::fmt::Debug for GpgReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GpgReport")
    }
}

/// What a pull requires of commits (or of the summary): a valid GPG
/// signature by a key of `gpg` when that is set (`gpg-verify`), and one
/// that a signer of `sign` accepts when that is not empty (`sign-verify`).
#[derive(Default)]
pub struct Checks {
    /// The remote's GPG keyring, when GPG verification is on.
    pub gpg: Option<Keyring>,
    /// The signapi verifiers.
    pub sign: Vec<Verifier>,
    /// Told of each commit's GPG signatures once checked.
    pub report: Option<GpgReport>,
}

impl Checks {
    /// True when nothing is checked.
    pub fn is_empty(&self) -> bool {
        self.gpg.is_none() && self.sign.is_empty()
    }
}

/// The GPG check: `meta`'s `ostree.gpgsigs` must hold a valid signature
/// of `data` by a key of `keyring`; `report` is shown the signatures
/// first.
fn check_gpg(
    keyring: &Keyring,
    data: &[u8],
    meta: Option<&CommitMetadata>,
    report: Option<&dyn Fn(&VerifyResult)>,
) -> Result<(), String> {
    let none = || {
        "GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)"
            .to_string()
    };
    let Some(meta) = meta else { return Err(none()) };
    match gpg_verify(keyring, data, meta)? {
        Some(r) if !r.signatures.is_empty() => {
            if let Some(f) = report {
                f(&r);
            }
            r.require_valid().map_err(|e| e.to_string())
        }
        _ => Err(none()),
    }
}

/// Where `remote gpg-import` keeps a remote's trusted keys:
/// `REPO/REMOTE.trustedkeys.gpg`.
pub fn remote_keyring_path(repo: &Repo, remote: &str) -> std::path::PathBuf {
    repo.path().join(format!("{remote}.trustedkeys.gpg"))
}

/// The keyring a named remote trusts: its `REMOTE.trustedkeys.gpg` (in
/// the repo, else a parent repo) or, when it has none and `global` is
/// set, the global keyring directory; plus the files and directories of
/// its `gpgkeypath`. (`remote gpg-list-keys` lists a remote's own keys:
/// without the global ones.)
pub fn remote_keyring(repo: &Repo, remote: &str, global: bool) -> Result<Keyring, String> {
    let mut keyring = Keyring::new();
    let mut found = false;
    let mut r = Some(repo);
    while let Some(x) = r {
        let p = remote_keyring_path(x, remote);
        if p.is_file() {
            keyring.add_file(&p).map_err(|e| e.to_string())?;
            found = true;
            break;
        }
        r = x.parent_repo();
    }
    if !found && global {
        let dir = openpgp::global_keyring_dir();
        keyring.add_keyring_dir(&dir).map_err(|e| format!("Reading keyring directory '{}': {e}", dir.display()))?;
    }
    let paths = repo.remote_option(remote, "gpgkeypath").map_err(|e| e.to_string())?;
    for p in split_list(paths.as_deref().unwrap_or(""))? {
        keyring.add_key_path(Path::new(p)).map_err(|e| match e {
            oxtree_sign::SignError::Io { path, source } if path == Path::new(p) => format!("opendir({p}): {source}"),
            e => e.to_string(),
        })?;
    }
    Ok(keyring)
}

/// The keyring of checks tied to no remote (`show`, `gpg-sign --delete`):
/// every `*.gpg` keyring in the repo directory, the global keyring
/// directory, and `homedir`'s keyrings if given.
pub fn all_remotes_keyring(repo: &Repo, homedir: Option<&Path>) -> Result<Keyring, String> {
    let mut keyring = Keyring::new();
    for dir in [Some(repo.path().to_path_buf()), Some(openpgp::global_keyring_dir()), homedir.map(Path::to_path_buf)]
        .into_iter()
        .flatten()
    {
        keyring.add_keyring_dir(&dir).map_err(|e| format!("Reading keyring directory '{}': {e}", dir.display()))?;
    }
    Ok(keyring)
}

/// A list-valued remote option (`gpgkeypath`): separated by `;` or by
/// `,`, not both; a trailing separator ends the list.
pub fn split_list(value: &str) -> Result<Vec<&str>, String> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let sep = match (value.contains(';'), value.contains(',')) {
        (true, true) => return Err("key value list contains more than one separator".into()),
        (false, true) => ',',
        _ => ';',
    };
    let mut parts: Vec<&str> = value.split(sep).collect();
    if parts.last() == Some(&"") {
        parts.pop();
    }
    Ok(parts)
}

/// The `aay` value of `sigs`.
pub fn signature_array(sigs: Vec<Vec<u8>>) -> Value<'static> {
    Value::Array(Type::Array(Box::new(Type::Byte)), sigs.into_iter().map(|s| Value::Bytes(Cow::Owned(s))).collect())
}

/// Sets the `aay` under `key` in `meta` to `sigs`, removing the key when
/// there are none left (as OSTree does on deleting signatures).
pub fn set_signatures(meta: &mut CommitMetadata, key: &str, sigs: Vec<Vec<u8>>) {
    if sigs.is_empty() {
        meta.remove(key);
    } else {
        meta.set(key, signature_array(sigs));
    }
}

/// Appends `sig` to the signatures of type `ty` in `meta` (a signature
/// already there is not added twice).
pub fn add_signature(meta: &mut CommitMetadata, ty: SignType, sig: Vec<u8>) -> Result<(), String> {
    let mut sigs = signatures(meta, ty)?.unwrap_or_default();
    if !sigs.contains(&sig) {
        sigs.push(sig);
    }
    meta.set(ty.metadata_key(), signature_array(sigs));
    Ok(())
}

/// Adds a signature of `data` by each of `signers` to `meta`.
pub fn sign_into(meta: &mut CommitMetadata, signers: &[Signer], data: &[u8]) -> Result<(), String> {
    for s in signers {
        add_signature(meta, s.sign_type(), s.sign(data).map_err(|e| e.to_string())?)?;
    }
    Ok(())
}

/// Checks the signatures of `v`'s type in `meta` over `data`; returns the
/// signer's success message.
pub fn verify_with(v: &Verifier, data: &[u8], meta: &CommitMetadata) -> Result<String, String> {
    let sigs = signatures(meta, v.sign_type())?;
    let refs: Option<Vec<&[u8]>> = sigs.as_ref().map(|s| s.iter().map(Vec::as_slice).collect());
    v.verify(data, refs.as_deref()).map_err(|e| e.to_string())
}

/// Checks the signatures of `verifiers` in `meta` over `data`: the first
/// verifier whose signatures verify wins; types with no signatures in
/// `meta` are skipped, and when none had any the error is "No signatures
/// found". Returns the success message.
pub fn verify_any(verifiers: &[Verifier], data: &[u8], meta: &CommitMetadata) -> Result<String, String> {
    let mut last = None;
    for v in verifiers {
        if meta.get(v.sign_type().metadata_key()).is_none() {
            continue;
        }
        match verify_with(v, data, meta) {
            Ok(m) => return Ok(m),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| "No signatures found".to_string()))
}

/// The check a pull makes before it stores commit `c`: its bytes `commit`
/// must carry signatures that `checks` accept in its detached metadata
/// `meta` (as fetched; `None` when there is none). GPG first, as OSTree.
pub fn verify_commit(checks: &Checks, c: &Checksum, commit: &[u8], meta: Option<&[u8]>) -> Result<(), String> {
    // Detached metadata that is not an a{sv} holds no signatures (OSTree
    // reads it as an empty dictionary).
    let parsed = meta.map(CommitMetadata::from_bytes);
    if let Some(keyring) = &checks.gpg {
        let m = parsed.as_ref().and_then(|p| p.as_ref().ok());
        let report = checks.report.as_ref().map(|r| move |v: &VerifyResult| (r.0)(c, v));
        let report = report.as_ref().map(|f| f as &dyn Fn(&VerifyResult));
        check_gpg(keyring, commit, m, report).map_err(|e| format!("Commit {c}: {e}"))?;
    }
    if checks.sign.is_empty() {
        return Ok(());
    }
    let Some(parsed) = parsed else {
        return Err(format!("Can't verify commit without detached metadata (commit {c})"));
    };
    let meta = parsed.map_err(|e| format!("detached metadata of {c}: {e}"))?;
    verify_any(&checks.sign, commit, &meta).map(|_| ()).map_err(|e| format!("Can't verify commit: {e} (commit {c})"))
}

/// The check a pull makes of a summary: `sig` (its `summary.sig`, if the
/// server has one) must hold signatures of `summary` that `checks` accept.
pub fn verify_summary(checks: &Checks, summary: &[u8], sig: Option<&[u8]>) -> Result<(), String> {
    // Bytes that are not an a{sv} hold no signatures, as for OSTree.
    let meta = sig.map(|s| CommitMetadata::from_bytes(s).unwrap_or_default());
    if let Some(g) = &checks.gpg {
        if meta.is_none() {
            return Err("GPG verification enabled, but no summary.sig found \
                        (use gpg-verify-summary=false in remote config to disable)"
                .into());
        }
        check_gpg(g, summary, meta.as_ref(), None)?;
    }
    if checks.sign.is_empty() {
        return Ok(());
    }
    let Some(meta) = meta else {
        return Err("Signatures verification enabled, but no summary.sig found \
                    (use sign-verify-summary=false in remote config to disable)"
            .into());
    };
    verify_any(&checks.sign, summary, &meta).map(|_| ())
}

/// The signers a remote's `sign-verify` (or `sign-verify-summary`) value
/// asks for: none when off; every signer, keys optional, for `true`;
/// the listed ones, each required to have keys, otherwise.
pub fn verifiers_for_remote(
    value: Option<&str>,
    keys: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Verifier>, String> {
    let value = value.map(str::trim).unwrap_or("");
    let (types, required): (Vec<SignType>, bool) = match value {
        "" | "false" | "0" | "no" => return Ok(Vec::new()),
        "true" | "1" | "yes" => (SignType::ALL.to_vec(), false),
        list => (
            list.split([',', ';', ' '])
                .filter(|s| !s.is_empty())
                .map(SignType::from_name)
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
            true,
        ),
    };
    let mut out = Vec::new();
    for ty in types {
        let mut v = Verifier::new(ty);
        let name = ty.name();
        if let Some(file) = keys(&format!("verification-{name}-file")) {
            v.add_keys_file(Path::new(&file)).map_err(|e| format!("Failed loading '{name}' keys from '{file}: {e}"))?;
        }
        if let Some(key) = keys(&format!("verification-{name}-key")) {
            v.add_key(&key).map_err(|e| e.to_string())?;
        }
        if v.is_empty() {
            if required {
                return Err(format!("No keys found for required signapi type {name}"));
            }
            continue;
        }
        out.push(v);
    }
    if out.is_empty() {
        // Verification was asked for; passing everything for want of keys
        // would be the opposite.
        return Err("No keys found for signapi verification".to_string());
    }
    Ok(out)
}

/// Appends to `meta`'s `ostree.gpgsigs` a signature of `data` by each key
/// `key_ids` names, made from the GnuPG home `homedir`. With `signed_by`
/// (commits: the keyring that tells who made the signatures already
/// there), a key that has already signed is refused, as OSTree refuses it:
/// "Commit is already signed with GPG key K".
pub fn gpg_sign_into(
    meta: &mut CommitMetadata,
    homedir: Option<&Path>,
    key_ids: &[&str],
    data: &[u8],
    signed_by: Option<&Keyring>,
) -> Result<(), String> {
    for key_id in key_ids {
        if let Some(keyring) = signed_by {
            if gpg_verify(keyring, data, meta)?.and_then(|r| r.signed_by(keyring, key_id, &[])).is_some() {
                return Err(format!("Commit is already signed with GPG key {key_id}"));
            }
        }
        let sig = openpgp::secret::sign(homedir, key_id, data).map_err(|e| e.to_string())?;
        let mut sigs = gpg_signatures(meta)?.unwrap_or_default();
        sigs.push(sig);
        meta.set(openpgp::METADATA_KEY, signature_array(sigs));
    }
    Ok(())
}

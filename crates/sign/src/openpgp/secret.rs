//! Making OpenPGP signatures as `ostree commit --gpg-sign=KEY-ID
//! --gpg-homedir=DIR` does: a binary detached signature (type 0x00) over
//! the exact bytes of the commit or summary.
//!
//! Where GnuPG is installed, the home directory is GnuPG's: signing goes
//! through the `gpg` program (`gpg --detach-sign --local-user KEY-ID`),
//! which holds keys in gpg-agent, on smart cards, behind passphrases, and
//! migrates GnuPG 1 homes as it goes (OSTree's tests rely on that, through
//! GPGME). Without it (`OXTREE_GPG=none`, or no `gpg` on `PATH`), keys are
//! read directly, in pure Rust: the home directory's `secring.gpg`
//! (GnuPG 1's secret keyring, which OSTree's test keys use) and exported
//! secret keys in `*.key`/`*.sec` files there; those must be unprotected.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgp::composed::{DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password};

use super::keyring::{matches_pattern, parse_secret_keys};
use crate::SignError;

/// The homedir as OSTree's messages show it.
fn shown(homedir: Option<&Path>) -> String {
    homedir.map(|h| h.display().to_string()).unwrap_or_else(|| "<default>".into())
}

/// The secret keys a GnuPG home directory holds in files we can read.
pub fn load_homedir(homedir: &Path) -> Result<Vec<SignedSecretKey>, SignError> {
    let mut out = Vec::new();
    let mut files = vec![homedir.join("secring.gpg")];
    if let Ok(entries) = std::fs::read_dir(homedir) {
        let mut more: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "key" || x == "sec"))
            .collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        match load_homedir_file(&f) {
            Ok(keys) => out.extend(keys),
            Err(SignError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The secret keys of one file (`secring.gpg`, an exported secret key).
pub fn load_homedir_file(f: &Path) -> Result<Vec<SignedSecretKey>, SignError> {
    let data = std::fs::read(f).map_err(|e| SignError::Io { path: f.to_path_buf(), source: e })?;
    parse_secret_keys(&data)
        .map_err(|why| SignError::BadKey { what: "OpenPGP secret keyring", why: format!("{}: {why}", f.display()) })
}

/// The hash GnuPG would pick: the key's first preference that we can
/// make, else SHA-256.
fn preferred_hash(key: &SignedSecretKey) -> HashAlgorithm {
    let prefs = key.details.users.iter().flat_map(|u| u.signatures.iter()).flat_map(|s| s.preferred_hash_algs());
    for h in prefs {
        if matches!(h, HashAlgorithm::Sha256 | HashAlgorithm::Sha384 | HashAlgorithm::Sha512) {
            return *h;
        }
    }
    HashAlgorithm::Sha256
}

/// A detached signature of `data` by `key`: by its primary key when that
/// may sign, else by its newest signing subkey.
pub fn sign_with(key: &SignedSecretKey, data: &[u8]) -> Result<Vec<u8>, SignError> {
    let fail = |e: pgp::errors::Error| SignError::BadKey {
        what: "OpenPGP secret key",
        why: format!("signing failed: {}", super::keyring::short_error(&e)),
    };
    let hash = preferred_hash(key);
    let mut rng = rand::thread_rng();
    let primary_signs = key.details.users.iter().flat_map(|u| u.signatures.iter()).any(|s| s.key_flags().sign());
    let sub = key
        .secret_subkeys
        .iter()
        .filter(|s| s.signatures.iter().any(|b| b.key_flags().sign()))
        .max_by_key(|s| s.key.created_at().as_secs());
    let sig = match (primary_signs, sub) {
        (false, Some(s)) => {
            DetachedSignature::sign_binary_data(&mut rng, &s.key, &Password::empty(), hash, data).map_err(fail)?
        }
        _ => DetachedSignature::sign_binary_data(&mut rng, &key.primary_key, &Password::empty(), hash, data)
            .map_err(fail)?,
    };
    sig.to_bytes().map_err(fail)
}

/// Signs `data` with the key `key_id` names, from `homedir` (GnuPG's
/// default home when `None`): through the `gpg` program when there is
/// one, else with the secret keys readable there.
pub fn sign(homedir: Option<&Path>, key_id: &str, data: &[u8]) -> Result<Vec<u8>, SignError> {
    if let Some(gpg) = gpg_program() {
        return sign_with_gpg(&gpg, homedir, key_id, data);
    }
    let keys = match homedir.map(Path::to_path_buf).or_else(default_homedir) {
        Some(h) => load_homedir(&h)?,
        None => Vec::new(),
    };
    let found: Vec<&SignedSecretKey> = keys.iter().filter(|k| matches_pattern(&k.to_public_key(), key_id)).collect();
    match found.as_slice() {
        [k] => sign_with(k, data),
        [] => Err(SignError::NotVerified(format!("No gpg key found with ID {key_id} (homedir: {})", shown(homedir)))),
        _ => Err(SignError::NotVerified(format!(
            "gpg key id {key_id} ambiguous (homedir: {}). Try the fingerprint instead",
            shown(homedir)
        ))),
    }
}

/// The `gpg` program: `$OXTREE_GPG` (`none`: do without), else `gpg` if
/// it is on `PATH`.
fn gpg_program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OXTREE_GPG") {
        return (p != "none" && !p.is_empty()).then(|| PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("gpg")).find(|p| p.is_file())
}

/// `$GNUPGHOME`, else `~/.gnupg`.
fn default_homedir() -> Option<PathBuf> {
    std::env::var_os("GNUPGHOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".gnupg")))
}

/// Signs through `gpg --detach-sign`, which asks gpg-agent for the key.
fn sign_with_gpg(gpg: &Path, homedir: Option<&Path>, key_id: &str, data: &[u8]) -> Result<Vec<u8>, SignError> {
    let not_found = |why: String| {
        SignError::NotVerified(format!("No gpg key found with ID {key_id} (homedir: {}){why}", shown(homedir)))
    };
    let mut cmd = Command::new(gpg);
    if let Some(h) = homedir {
        cmd.arg("--homedir").arg(h);
    }
    cmd.args(["--batch", "--no-tty", "--yes", "--detach-sign", "--local-user", key_id, "--output", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Err(not_found(format!("; and the gpg program could not be run: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // gpg reads everything before it writes: no deadlock.
        stdin.write_all(data).map_err(|e| not_found(format!("; writing to gpg: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| not_found(format!("; gpg: {e}")))?;
    if !out.status.success() || out.stdout.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(not_found(if last.is_empty() { String::new() } else { format!(": {last}") }));
    }
    Ok(out.stdout)
}

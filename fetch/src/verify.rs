//! Signatures in OSTree's containers, and the checks a remote asks for.
//!
//! Signatures live in an `a{sv}`: a commit's detached metadata, a
//! `summary.sig`, or a signed delta superblock. Under each signer's key
//! ([`SignType::metadata_key`]) is an `aay`, one signature per element.
//! This module reads and writes those arrays and builds, from a remote's
//! configuration, the verifiers a pull runs (`sign-verify`,
//! `sign-verify-summary`, `verification-TYPE-key`, `verification-TYPE-file`).

use std::borrow::Cow;
use std::path::Path;

use oxtree_sign::{SignType, Signer, Verifier};
use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::CommitMetadata;
use oxtree_store::Checksum;

/// The signatures of type `ty` in `meta`, if it has that key; an element
/// that is not a byte string is an error.
pub fn signatures(meta: &CommitMetadata, ty: SignType) -> Result<Option<Vec<Vec<u8>>>, String> {
    let Some(v) = meta.get(ty.metadata_key()) else { return Ok(None) };
    let items = v.as_array().ok_or_else(|| format!("{}: wrong type passed for verification", ty.name()))?;
    items
        .iter()
        .map(|i| {
            i.as_bytes().map(<[u8]>::to_vec).ok_or_else(|| format!("{}: wrong type passed for verification", ty.name()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The `aay` value of `sigs`.
pub fn signature_array(sigs: Vec<Vec<u8>>) -> Value<'static> {
    Value::Array(Type::Array(Box::new(Type::Byte)), sigs.into_iter().map(|s| Value::Bytes(Cow::Owned(s))).collect())
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
/// must carry a signature `verifiers` accept in its detached metadata
/// `meta` (as fetched; `None` when there is none).
pub fn verify_commit(verifiers: &[Verifier], c: &Checksum, commit: &[u8], meta: Option<&[u8]>) -> Result<(), String> {
    let Some(meta) = meta else {
        return Err(format!("Can't verify commit without detached metadata (commit {c})"));
    };
    let meta = CommitMetadata::from_bytes(meta).map_err(|e| format!("detached metadata of {c}: {e}"))?;
    verify_any(verifiers, commit, &meta).map(|_| ()).map_err(|e| format!("Can't verify commit: {e} (commit {c})"))
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

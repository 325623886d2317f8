//! OSTree's `dummy` signer, for tests only: the signature is the key
//! string's bytes, and it verifies when it equals the expected key string.
//! Both directions are refused unless `OSTREE_DUMMY_SIGN_ENABLED=1`.

use crate::SignError;

/// The detached metadata key of dummy signatures (`aay`).
pub const METADATA_KEY: &str = "ostree.sign.dummy";

/// Refuses unless the environment opts in.
pub fn check_enabled() -> Result<(), SignError> {
    if std::env::var_os("OSTREE_DUMMY_SIGN_ENABLED").is_some_and(|v| v == "1") {
        Ok(())
    } else {
        Err(SignError::DummyDisabled)
    }
}

/// The "signature" made with key `key`.
pub fn sign(key: &str) -> Result<Vec<u8>, SignError> {
    check_enabled()?;
    Ok(key.as_bytes().to_vec())
}

/// Checks that one of `signatures` is `key`.
pub fn verify(key: Option<&str>, signatures: Option<&[&[u8]]>) -> Result<String, SignError> {
    check_enabled()?;
    let sigs = signatures.ok_or(SignError::NoSignatures("signature: dummy"))?;
    if sigs.len() > crate::MAX_SIGNATURES {
        return Err(SignError::TooMany { ty: "dummy", n: sigs.len(), max: crate::MAX_SIGNATURES });
    }
    if let Some(k) = key {
        if sigs.contains(&k.as_bytes()) {
            return Ok("dummy: Signature verified".to_string());
        }
    }
    Err(SignError::NotVerified(if sigs.is_empty() {
        "signature: dummy: no signatures".to_string()
    } else {
        format!("signature: dummy: incorrect signatures found: {}", sigs.len())
    }))
}

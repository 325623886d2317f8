//! Ed25519 signatures as OSTree's `ed25519` signer makes them.
//!
//! - Signatures: 64-byte pure Ed25519 (RFC 8032) over the exact bytes of
//!   the signed object, listed under [`METADATA_KEY`] as an `aay`.
//! - Public keys: 32 bytes, written in base64.
//! - Secret keys: libsodium's 64-byte form, the 32-byte seed followed by
//!   the public key, in base64.
//! - Key files: one base64 key per line. Trusted keys are read from
//!   `trusted.ed25519` and `trusted.ed25519.d/*` under a base directory
//!   (`/etc/ostree` and `/usr/share/ostree` by default), revoked keys from
//!   `revoked.ed25519` and `revoked.ed25519.d/*`; a revoked key verifies
//!   nothing even when it is also trusted.

use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::{keyfile, SignError, MAX_SIGNATURES};

/// The detached metadata key of Ed25519 signatures (`aay`).
pub const METADATA_KEY: &str = "ostree.sign.ed25519";
/// Bytes in a signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes in a public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes in a secret key (seed and public key).
pub const SECRET_KEY_LEN: usize = 64;

/// The directories OSTree looks in for key files when none is given.
pub const DEFAULT_KEY_DIRS: [&str; 2] = ["/etc/ostree", "/usr/share/ostree"];

/// Base64 as GLib writes it, read with or without padding.
const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn decode(what: &'static str, text: &str, len: usize) -> Result<Vec<u8>, SignError> {
    let bad = |why: String| SignError::BadKey { what, why };
    let bytes = B64.decode(text.trim()).map_err(|e| bad(format!("not base64: {e}")))?;
    if bytes.len() != len {
        return Err(bad(format!("expected {len} bytes, got {} bytes", bytes.len())));
    }
    Ok(bytes)
}

/// An Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// Reads a base64 public key.
    pub fn from_base64(text: &str) -> Result<PublicKey, SignError> {
        Self::decode("ed25519 public key", text)
    }

    fn decode(what: &'static str, text: &str) -> Result<PublicKey, SignError> {
        let b = decode(what, text, PUBLIC_KEY_LEN)?;
        let mut k = [0u8; PUBLIC_KEY_LEN];
        k.copy_from_slice(&b);
        Ok(PublicKey(k))
    }

    /// The key in base64.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// The key in lowercase hex, as OSTree's messages show it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// An Ed25519 secret key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// Reads a base64 secret key in libsodium's 64-byte form; the public
    /// half must be the seed's.
    pub fn from_base64(text: &str) -> Result<SecretKey, SignError> {
        let b = decode("ed25519 secret key", text, SECRET_KEY_LEN)?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&b[..32]);
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes()[..] != b[32..] {
            return Err(SignError::BadKey {
                what: "ed25519 secret key",
                why: "its second half is not the public key of its first".into(),
            });
        }
        Ok(SecretKey(key))
    }

    /// The secret key made from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The key in libsodium's 64-byte form, base64.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.to_keypair_bytes())
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The signature of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(data).to_bytes()
    }
}

/// Trusted and revoked public keys.
#[derive(Debug, Default, Clone)]
pub struct Verifier {
    trusted: Vec<PublicKey>,
    revoked: Vec<PublicKey>,
}

impl Verifier {
    /// Trusts `key`.
    pub fn add_trusted(&mut self, key: PublicKey) {
        if !self.trusted.contains(&key) {
            self.trusted.push(key);
        }
    }

    /// Revokes `key`.
    pub fn add_revoked(&mut self, key: PublicKey) {
        if !self.revoked.contains(&key) {
            self.revoked.push(key);
        }
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.trusted.is_empty()
    }

    /// Reads a key file into the trusted (or revoked) keys; returns how
    /// many keys it held. A line that is not a key is an error naming it.
    pub fn load_file(&mut self, path: &Path, trusted: bool) -> Result<usize, SignError> {
        let what = if trusted { "ed25519 public key" } else { "ed25519 revoked key" };
        let lines = keyfile::read_lines(path)?;
        let mut keys = Vec::with_capacity(lines.len());
        for (n, line) in &lines {
            keys.push(PublicKey::decode(what, line).map_err(|e| SignError::at_line(path, *n, e))?);
        }
        if keys.is_empty() {
            return Err(SignError::NoKeysInFile { ty: "ed25519", path: path.to_path_buf() });
        }
        let n = keys.len();
        for k in keys {
            if trusted {
                self.add_trusted(k)
            } else {
                self.add_revoked(k)
            }
        }
        Ok(n)
    }

    /// Reads `BASE/trusted.ed25519`, `BASE/trusted.ed25519.d/*` and the
    /// `revoked` counterparts for each base directory. Missing files are
    /// skipped; a file that is there but holds no valid keys is an error.
    /// Fails when no trusted key was found at all.
    pub fn load_dirs(&mut self, bases: &[PathBuf]) -> Result<(), SignError> {
        let mut found = false;
        for trusted in [true, false] {
            let name = if trusted { "trusted.ed25519" } else { "revoked.ed25519" };
            for base in bases {
                for file in key_files(&base.join(name)) {
                    self.load_file(&file, trusted)?;
                    found |= trusted;
                }
            }
        }
        if found {
            Ok(())
        } else {
            Err(SignError::NoKeysLoaded("ed25519"))
        }
    }

    /// Checks `signatures` over `data`: one signature by a trusted key that
    /// is not revoked is enough.
    pub fn verify(&self, data: &[u8], signatures: Option<&[&[u8]]>) -> Result<String, SignError> {
        let sigs = signatures.ok_or(SignError::NoSignatures("ed25519"))?;
        if sigs.len() > MAX_SIGNATURES {
            return Err(SignError::TooMany { ty: "ed25519", n: sigs.len(), max: MAX_SIGNATURES });
        }
        let keys: Vec<(PublicKey, Option<VerifyingKey>)> = self
            .trusted
            .iter()
            .filter(|k| !self.revoked.contains(k))
            .map(|k| (*k, VerifyingKey::from_bytes(&k.0).ok()))
            .collect();
        if keys.is_empty() {
            let why = if self.trusted.is_empty() { "no trusted keys" } else { "every trusted key is revoked" };
            return Err(SignError::NotVerified(format!("ed25519: Signature couldn't be verified: {why}")));
        }
        let mut failed = Vec::new();
        for sig in sigs {
            let bytes: &[u8; SIGNATURE_LEN] = (*sig)
                .try_into()
                .map_err(|_| SignError::SignatureLength { expected: SIGNATURE_LEN, got: sig.len() })?;
            let sig = Signature::from_bytes(bytes);
            for (k, vk) in &keys {
                // verify_strict: libsodium's rules (no small-order keys, no
                // non-canonical signatures).
                if vk.as_ref().is_some_and(|vk| vk.verify_strict(data, &sig).is_ok()) {
                    return Ok(format!("ed25519: Signature verified successfully with key '{}'", k.to_hex()));
                }
                failed.push(*k);
            }
        }
        Err(SignError::NotVerified(match failed.len() {
            0 => "ed25519: no signatures found".to_string(),
            n if n > 3 => format!("ed25519: Signature couldn't be verified; tried {n} keys"),
            _ => format!(
                "ed25519: Signature couldn't be verified with: {}",
                failed.iter().map(|k| format!("key '{}'", k.to_hex())).collect::<Vec<_>>().join("; ")
            ),
        }))
    }
}

/// `file` and the files of `file.d`, in name order, those that exist.
fn key_files(file: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if file.is_file() {
        out.push(file.to_path_buf());
    }
    let mut d = file.as_os_str().to_owned();
    d.push(".d");
    if let Ok(rd) = std::fs::read_dir(PathBuf::from(d)) {
        let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
        names.sort();
        out.extend(names);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 section 7.1, test 2: secret seed, public key, message 0x72.
    #[test]
    fn rfc8032_vector() {
        let hex = |s: &str| {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>()
        };
        let seed: [u8; 32] =
            hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb").try_into().unwrap();
        let key = SecretKey::from_seed(&seed);
        assert_eq!(key.public().to_hex(), "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
        let sig = key.sign(&[0x72]);
        assert_eq!(
            sig.to_vec(),
            hex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        );
        // The 64-byte base64 form reads back.
        let again = SecretKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.public(), key.public());
        let mut v = Verifier::default();
        v.add_trusted(key.public());
        assert!(v.verify(&[0x72], Some(&[&sig[..]])).unwrap().contains(&key.public().to_hex()));
        assert!(v.verify(&[0x73], Some(&[&sig[..]])).is_err());
        v.add_revoked(key.public());
        assert!(v.verify(&[0x72], Some(&[&sig[..]])).is_err(), "revoked keys verify nothing");
    }

    #[test]
    fn secret_key_halves_must_agree() {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        let mut bytes = B64.decode(a.to_base64()).unwrap();
        bytes[32..].copy_from_slice(&b.public().0);
        assert!(SecretKey::from_base64(&B64.encode(bytes)).is_err());
        assert!(PublicKey::from_base64("AAAA").is_err());
        assert!(PublicKey::from_base64("not base64 at all!").is_err());
    }

    #[test]
    fn bad_signatures_and_too_many() {
        let key = SecretKey::from_seed(&[3; 32]);
        let mut v = Verifier::default();
        v.add_trusted(key.public());
        assert!(matches!(v.verify(b"x", None), Err(SignError::NoSignatures(_))));
        let short = [0u8; 10];
        assert!(matches!(v.verify(b"x", Some(&[&short[..]])), Err(SignError::SignatureLength { .. })));
        let sig = key.sign(b"x");
        let many: Vec<&[u8]> = vec![&sig[..]; MAX_SIGNATURES + 1];
        assert!(matches!(v.verify(b"x", Some(&many)), Err(SignError::TooMany { .. })));
        let wrong = SecretKey::from_seed(&[4; 32]).sign(b"x");
        let e = v.verify(b"x", Some(&[&wrong[..]])).unwrap_err().to_string();
        assert!(e.starts_with("ed25519: Signature couldn't be verified with: key '"), "{e}");
    }
}

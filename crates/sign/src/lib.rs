//! Signatures on OSTree commits, summaries and static deltas, in pure Rust.
//!
//! OSTree keeps signatures outside what they sign: a commit's go in its
//! detached metadata (`.commitmeta`), a summary's in `summary.sig`, a
//! delta's in the signed superblock wrapper. Each is an `a{sv}` in which a
//! signer's key (for example [`ed25519::METADATA_KEY`]) holds an `aay`, one
//! signature per element, each over the exact bytes of the signed object.
//! This crate makes and checks those signatures; reading and writing the
//! `a{sv}` is the caller's (the store has the GVariant code).
//!
//! Signers, as OSTree's "sign" API names them (`--sign-type`):
//! - [`ed25519`]: RFC 8032 Ed25519 with libsodium's key encodings;
//! - [`dummy`]: OSTree's test signer, whose "signature" is the key
//!   itself, refused unless `OSTREE_DUMMY_SIGN_ENABLED=1`.
//!
//! And OpenPGP ([`openpgp`]), OSTree's older GPG signatures, which are
//! configured apart from the signers above (`gpg-verify`, keyrings).
//!
//! Stable: the types and functions re-exported here, and the error
//! messages, which follow OSTree's wording because its tests grep for them.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod dummy;
pub mod ed25519;
mod error;
pub mod keyfile;
pub mod openpgp;

pub use error::SignError;

/// The most signatures of one type that are checked on one object: more is
/// an attack (each costs a verification per trusted key), not a vendor.
pub const MAX_SIGNATURES: usize = 256;

/// A signer, as `--sign-type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    /// `ed25519`, the default.
    Ed25519,
    /// `dummy`, OSTree's test signer.
    Dummy,
}

impl SignType {
    /// Every signer, in the order verification tries them.
    pub const ALL: [SignType; 2] = [SignType::Ed25519, SignType::Dummy];

    /// The signer called `name`.
    pub fn from_name(name: &str) -> Result<SignType, SignError> {
        match name {
            "ed25519" => Ok(SignType::Ed25519),
            "dummy" => Ok(SignType::Dummy),
            _ => Err(SignError::NotImplemented(name.to_string())),
        }
    }

    /// Its `--sign-type` name.
    pub fn name(self) -> &'static str {
        match self {
            SignType::Ed25519 => "ed25519",
            SignType::Dummy => "dummy",
        }
    }

    /// The key of its signatures in detached metadata and `summary.sig`.
    pub fn metadata_key(self) -> &'static str {
        match self {
            SignType::Ed25519 => ed25519::METADATA_KEY,
            SignType::Dummy => dummy::METADATA_KEY,
        }
    }
}

/// A key to sign with, of either signer.
pub enum Signer {
    /// An Ed25519 secret key.
    Ed25519(ed25519::SecretKey),
    /// The dummy signer's key string.
    Dummy(String),
}

impl Signer {
    /// A signer of type `ty` from a key as given on the command line
    /// (base64 for ed25519).
    pub fn from_text(ty: SignType, key: &str) -> Result<Signer, SignError> {
        match ty {
            SignType::Ed25519 => Ok(Signer::Ed25519(ed25519::SecretKey::from_base64(key)?)),
            SignType::Dummy => {
                dummy::check_enabled()?;
                Ok(Signer::Dummy(key.to_string()))
            }
        }
    }

    /// Signers of type `ty` from a key file, one key per line.
    pub fn from_file(ty: SignType, path: &std::path::Path) -> Result<Vec<Signer>, SignError> {
        let lines = keyfile::read_lines(path)?;
        let mut out = Vec::new();
        for (n, line) in lines {
            out.push(Signer::from_text(ty, &line).map_err(|e| SignError::at_line(path, n, e))?);
        }
        if out.is_empty() {
            return Err(SignError::NoKeysInFile { ty: ty.name(), path: path.to_path_buf() });
        }
        Ok(out)
    }

    /// Its type.
    pub fn sign_type(&self) -> SignType {
        match self {
            Signer::Ed25519(_) => SignType::Ed25519,
            Signer::Dummy(_) => SignType::Dummy,
        }
    }

    /// The signature of `data`.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        match self {
            Signer::Ed25519(k) => Ok(k.sign(data).to_vec()),
            Signer::Dummy(k) => dummy::sign(k),
        }
    }
}

/// Keys to check signatures with, of either signer.
pub enum Verifier {
    /// Trusted and revoked Ed25519 public keys.
    Ed25519(ed25519::Verifier),
    /// The dummy signer's expected key string.
    Dummy(Option<String>),
}

impl Verifier {
    /// A verifier of type `ty` with no keys yet.
    pub fn new(ty: SignType) -> Verifier {
        match ty {
            SignType::Ed25519 => Verifier::Ed25519(ed25519::Verifier::default()),
            SignType::Dummy => Verifier::Dummy(None),
        }
    }

    /// Its type.
    pub fn sign_type(&self) -> SignType {
        match self {
            Verifier::Ed25519(_) => SignType::Ed25519,
            Verifier::Dummy(_) => SignType::Dummy,
        }
    }

    /// Adds a public key as given on the command line or in a remote's
    /// `verification-TYPE-key`.
    pub fn add_key(&mut self, key: &str) -> Result<(), SignError> {
        match self {
            Verifier::Ed25519(v) => v.add_trusted(ed25519::PublicKey::from_base64(key)?),
            Verifier::Dummy(k) => *k = Some(key.to_string()),
        }
        Ok(())
    }

    /// Adds the keys of a key file (`--keys-file`, `verification-TYPE-file`).
    pub fn add_keys_file(&mut self, path: &std::path::Path) -> Result<(), SignError> {
        match self {
            Verifier::Ed25519(v) => v.load_file(path, true).map(|_| ()),
            Verifier::Dummy(k) => {
                let lines = keyfile::read_lines(path)?;
                match lines.into_iter().next() {
                    Some((_, line)) => {
                        *k = Some(line);
                        Ok(())
                    }
                    None => Err(SignError::NoKeysInFile { ty: "dummy", path: path.to_path_buf() }),
                }
            }
        }
    }

    /// True when it holds no key at all.
    pub fn is_empty(&self) -> bool {
        match self {
            Verifier::Ed25519(v) => v.is_empty(),
            Verifier::Dummy(k) => k.is_none(),
        }
    }

    /// Checks `signatures` (the elements of the signer's `aay`, `None`
    /// when the metadata has no such key) over `data`; on success, the
    /// message OSTree prints ("ed25519: Signature verified successfully
    /// with key '...'").
    pub fn verify(&self, data: &[u8], signatures: Option<&[&[u8]]>) -> Result<String, SignError> {
        match self {
            Verifier::Ed25519(v) => v.verify(data, signatures),
            Verifier::Dummy(k) => dummy::verify(k.as_deref(), signatures),
        }
    }
}

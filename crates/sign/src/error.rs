//! What can go wrong making or checking a signature.

use std::path::{Path, PathBuf};

/// A key that cannot be used, or a signature that does not verify. The
/// messages are OSTree's where its tests look for them.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// `--sign-type` names a signer we do not have.
    #[error("Requested signature type is not implemented")]
    NotImplemented(String),
    /// The dummy signer outside OSTree's tests.
    #[error("dummy signature type is only for ostree testing")]
    DummyDisabled,
    /// A key of the wrong length or encoding.
    #[error("Invalid {what}: {why}")]
    BadKey {
        /// "ed25519 public key" and the like.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// An error about one line of a key file.
    #[error("{}:{line}: {source}", path.display())]
    AtLine {
        /// The key file.
        path: PathBuf,
        /// Its 1-based line number.
        line: usize,
        /// What is wrong with the line.
        source: Box<SignError>,
    },
    /// A key file that is not a regular file.
    #[error("File object '{}' is not a regular file", .0.display())]
    NotRegularFile(PathBuf),
    /// A key file with no keys.
    #[error("signature: {ty}: no valid keys in file '{}'", path.display())]
    NoKeysInFile {
        /// The signer.
        ty: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// No trusted key anywhere the signer looks.
    #[error("signature: {0}: no keys loaded")]
    NoKeysLoaded(&'static str),
    /// A key file that cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The object carries no signature of this type.
    #[error("{0}: commit have no signatures of my type")]
    NoSignatures(&'static str),
    /// A signature of the wrong length.
    #[error("Invalid signature: expected {expected} bytes, got {got} bytes")]
    SignatureLength {
        /// What the signer's signatures have.
        expected: usize,
        /// What this one has.
        got: usize,
    },
    /// More signatures than [`crate::MAX_SIGNATURES`].
    #[error("{ty}: {n} signatures; refusing to check more than {max}")]
    TooMany {
        /// The signer.
        ty: &'static str,
        /// How many the object carries.
        n: usize,
        /// The limit.
        max: usize,
    },
    /// Signatures present, none by a trusted key.
    #[error("{0}")]
    NotVerified(String),
}

impl SignError {
    /// `e`, said to be about line `line` of `path`.
    pub fn at_line(path: &Path, line: usize, e: SignError) -> SignError {
        SignError::AtLine { path: path.to_path_buf(), line, source: Box::new(e) }
    }
}

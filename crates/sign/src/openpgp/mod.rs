//! OpenPGP signatures, as OSTree's GPG support makes and checks them, in
//! pure Rust (the `pgp` crate) instead of GPGME and a gpg process.
//!
//! - A commit's signatures are the `ostree.gpgsigs` (`aay`) entry of its
//!   detached metadata; a summary's, the same entry of `summary.sig`. Each
//!   element is a binary detached signature over the exact bytes signed.
//! - [`Keyring`]: the trusted public keys (a remote's
//!   `REMOTE.trustedkeys.gpg`, `gpgkeypath`, the global `trusted.gpg.d`),
//!   read from binary or armored keyrings, merged by fingerprint.
//! - [`verify::verify`] checks signatures against a keyring, honouring
//!   expiry and revocation; [`verify::VerifyResult`] describes them as
//!   `ostree show` does and refuses as `ostree pull` does.
//! - [`secret::sign`] signs from a GnuPG home directory.
//! - [`listing::list_keys`]: `ostree remote gpg-list-keys`.
//!
//! Stable: the metadata key and the message texts (OSTree's tests grep
//! them); the types may grow.

pub mod keyinfo;
pub mod keyring;
pub mod listing;
pub mod secret;
mod time;
pub mod verify;
mod wkd;

pub use keyring::Keyring;
pub use time::format_c;
pub use verify::{SignatureStatus, VerifyResult};

/// The detached-metadata (and `summary.sig`) key of GPG signatures.
pub const METADATA_KEY: &str = "ostree.gpgsigs";

/// The global keyring directory: `$OSTREE_GPG_HOME`, else
/// `/usr/share/ostree/trusted.gpg.d`.
pub fn global_keyring_dir() -> std::path::PathBuf {
    std::env::var_os("OSTREE_GPG_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/usr/share/ostree/trusted.gpg.d"))
}

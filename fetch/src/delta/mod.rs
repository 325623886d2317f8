//! Static deltas (spec part B): reading, applying and generating OSTree's
//! precomputed "have FROM, want TO" bundles.
//!
//! A delta is a [`superblock::Superblock`] naming its parts and fallbacks,
//! and part files (or parts inlined in the superblock), each a compressed
//! [`part::Payload`] whose program ([`ops`]) writes the objects the part
//! header lists. [`apply`] runs parts into a transaction, checking every
//! object's checksum before it is stored; [`generate`] builds deltas that
//! the real OSTree applies.

pub mod apply;
pub mod bsdiff;
pub mod bspatch;
pub mod generate;
pub mod ops;
pub mod part;
pub mod pull;
mod rollsum;
pub mod superblock;

pub use apply::{apply_offline, apply_part, ApplyStats};
pub use generate::{generate, GenerateOptions, GenerateStats};
pub use oxtree_store::deltas::StaticDelta;
pub use superblock::{Endianness, Superblock};

/// A delta that cannot be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The bytes are not a valid delta, or its program is wrong.
    #[error("{0}")]
    Malformed(String),
    /// The repository reported an error.
    #[error(transparent)]
    Store(#[from] oxtree_store::Error),
}

impl DeltaError {
    /// The same error, said to be about `what` (a part, a delta).
    pub fn context(self, what: &str) -> DeltaError {
        match self {
            DeltaError::Malformed(m) => DeltaError::Malformed(format!("{what}: {m}")),
            other => other,
        }
    }
}

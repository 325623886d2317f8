//! The error of a pull.

use crate::http::HttpError;

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The repository (either side) reported an error.
    #[error(transparent)]
    Store(#[from] oxtree_store::Error),
    /// Fetching failed.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A static delta is unusable.
    #[error("static delta: {0}")]
    Delta(#[from] crate::delta::DeltaError),
    /// The remote or the request is unusable as configured.
    #[error("{0}")]
    Invalid(String),
}

//! `oxtree-fetch`: moving commits between repositories.
//!
//! Today: pulling from a local repository ([`local::pull_local`]), which
//! copies (or hardlinks, when both repos store objects the same way) every
//! object a commit reaches, verifying checksums when asked to distrust the
//! source; and [`http::Client`], the HTTP client with OSTree's retry rules,
//! size limits and `Range` resumption that pulls over HTTP are built on.
//! The walk over what commits reach (`walk`) serves every kind of source.
//!
//! Stability: young; the API may change between 0.x releases.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod error;
pub mod http;
pub mod local;
mod walk;

pub use error::PullError;
pub use local::{pull_local, PullLocalOptions};
pub use walk::PullStats;

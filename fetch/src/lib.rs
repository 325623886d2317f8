//! `oxtree-fetch`: moving commits between repositories.
//!
//! Today: pulling from a local repository ([`local::pull_local`]), which
//! copies (or hardlinks, when both repos store objects the same way) every
//! object a commit reaches, verifying checksums when asked to distrust the
//! source; and over HTTP from `archive` repositories ([`remote::pull`]),
//! through [`http::Client`], which has OSTree's retry rules, size limits
//! and `Range` resumption. Both walk commits the same way (`walk`), with
//! several threads fetching at once, into a transaction that takes over
//! what a killed pull had stored ([`oxtree_store::Repo::resume_transaction`]).
//! Static deltas ([`delta`]) are read, applied (by pulls when the server
//! offers one, and offline) and generated in OSTree's format.
//!
//! Stability: young; the API may change between 0.x releases.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cookies;
pub mod delta;
mod error;
pub mod http;
pub mod httpdate;
pub mod local;
pub mod metalink;
mod mirrors;
pub mod remote;
mod spool;
pub mod verify;
mod walk;

pub use error::PullError;
pub use local::{pull_local, PullLocalOptions};
pub use mirrors::parse_mirrorlist;
pub use remote::{fetch_remote_file, fetch_remote_summary, pull, HttpPullStats, Progress, ProgressFn, PullOptions};
pub use walk::PullStats;

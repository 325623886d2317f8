//! `oxtree-rpmimport`: RPM packages into OSTree commits, without librpm or
//! libarchive.
//!
//! - [`import`]: one package into one commit on rpm-ostree's per-package
//!   ref, reading the payload once ([`import::import_file`]).
//! - [`package`]: the headers, through the `rpm` crate (pinned; kept behind
//!   this module).
//! - [`payload`] and [`cpio`]: every payload compressor rpmbuild writes,
//!   and the cpio archive inside, as a stream.
//! - [`paths`]: rpm-ostree's path rules (`/etc` to `usr/etc`, `/var` to
//!   `tmpfiles.d`, …); [`caps`]: `%caps` text to `security.capability`;
//!   [`owners`]: owner names to ids.
//! - [`pkglist`] and [`vercmp`]: package lists of composed commits, their
//!   differences, and RPM's version ordering (`db list`, `db diff`).
//! - [`rootfs`]: any root file system made deployable (kernel into
//!   `usr/lib/modules`, `/etc` to `usr/etc`, `/var` to `tmpfiles.d`).
//! - [`compose`]: a manifest ([`treefile`]) of packages, chosen from local
//!   repositories ([`depsolve`]), into one bootable commit.
//!
//! Stable: the commit an import makes (tree, metadata, ref) for a given
//! RPM and repo mode. The Rust API may still change.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod caps;
pub mod compose;
pub mod cpio;
pub mod depsolve;
pub mod import;
pub mod layer;
pub mod lead;
pub mod owners;
pub mod package;
pub mod paths;
pub mod payload;
pub mod pkglist;
pub mod postprocess;
pub mod rootfs;
pub mod tree;
pub mod treefile;
pub mod vercmp;

pub use import::{import_file, Imported, Options};
pub use package::Package;

/// Why an import failed. Every variant names what was wrong; the caller
/// adds which RPM.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Opening or reading the file.
    #[error("{0}")]
    Io(String),
    /// The lead or a header does not parse, or lacks a required tag.
    #[error("bad RPM header: {0}")]
    Header(String),
    /// A header's digest does not match it.
    #[error("header digest mismatch: {0}")]
    HeaderDigest(String),
    /// The file ends early.
    #[error("truncated RPM: {0}")]
    Truncated(String),
    /// The payload's compression.
    #[error(transparent)]
    Payload(#[from] payload::PayloadError),
    /// The cpio archive.
    #[error(transparent)]
    Cpio(#[from] cpio::CpioError),
    /// A path that escapes the tree or that no rule places.
    #[error(transparent)]
    Path(#[from] paths::PathError),
    /// A payload member the header does not list.
    #[error("payload member '{0}' is not in the header's file list")]
    NotInHeader(String),
    /// A payload member that comes twice.
    #[error("payload member '{0}' appears twice")]
    Duplicate(String),
    /// A file the header lists (not `%ghost`) that the payload lacks.
    #[error("'{0}' is in the header but not in the payload")]
    Missing(String),
    /// Payload and header disagree.
    #[error("corrupt package: {0}")]
    Corrupt(String),
    /// A file's content does not match the header's digest.
    #[error("{path}: content digest {actual} does not match the header's {expected}")]
    FileDigest {
        /// The file.
        path: String,
        /// From the header.
        expected: String,
        /// Of the content.
        actual: String,
    },
    /// The payload does not match the header's digest.
    #[error("{what} digest {actual} does not match the header's {expected}")]
    PayloadDigest {
        /// Which digest.
        what: &'static str,
        /// From the header.
        expected: String,
        /// Of the bytes.
        actual: String,
    },
    /// A `%caps` text that is not valid.
    #[error("{0}: {1}")]
    Caps(String, caps::CapsError),
    /// A file type an OSTree commit cannot hold.
    #[error("unsupported file: {0}")]
    Unsupported(String),
    /// The repository.
    #[error(transparent)]
    Store(oxtree_store::Error),
}

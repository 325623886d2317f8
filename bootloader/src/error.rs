/// What can go wrong reading or writing boot configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// A BLS entry file that is not UTF-8 text.
    #[error("{0}: not UTF-8 text")]
    NotText(String),
    /// A boot entry lacks a key the backend needs.
    #[error("No \"{0}\" key in bootloader config")]
    MissingKey(&'static str),
    /// An existing native configuration that cannot be carried forward.
    #[error("{0}")]
    Config(String),
    /// `sysroot.bootloader` names no backend.
    #[error("Invalid sysroot.bootloader value '{0}' (expected auto, none, grub2, syslinux or uboot)")]
    UnknownBootloader(String),
    /// The GRUB configuration program failed.
    #[error("{0}")]
    Program(String),
}

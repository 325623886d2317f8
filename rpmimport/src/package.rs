//! An RPM's lead and headers: identity, the file list, the digests, and
//! where the payload starts. Read with the `rpm` crate (pinned: its API
//! breaks between minor releases), which is kept behind this module.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use std::path::Path;

use rpm::IndexTag;

use crate::payload::Compression;
use crate::ImportError;

/// One file the header lists.
#[derive(Debug, Clone)]
pub struct HeaderFile {
    /// Absolute path (`/usr/bin/x`).
    pub path: String,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    /// Owner name.
    pub user: String,
    /// Group name.
    pub group: String,
    /// Size in bytes (`LONGFILESIZES` or `FILESIZES`).
    pub size: u64,
    /// `%config`.
    pub config: bool,
    /// `%doc`.
    pub doc: bool,
    /// `%ghost`: listed, never in the payload.
    pub ghost: bool,
    /// Hex digest of the content (regular files), in [`Package::digest_algo`].
    pub digest: String,
    /// Capabilities text (`%caps`), if any.
    pub caps: Option<String>,
    /// Symlink target.
    pub linkto: String,
    /// IMA signature, as bytes (from the hex in `FILESIGNATURES`).
    pub ima: Option<Vec<u8>>,
    /// Hardlink set key: (device, inode). Files that share one are one file.
    pub inode: (u32, u32),
    /// `FILELANGS`: the language the file is for ("" for every language).
    pub lang: String,
}

/// A dependency as a header states it (`PROVIDE*`, `REQUIRE*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dep {
    /// The capability: a package name, a virtual name, a path, `rpmlib(…)`.
    pub name: String,
    /// RPM's sense flags (`RPMSENSE_*`: 2 less, 4 greater, 8 equal, …).
    pub flags: u32,
    /// `[E:]V[-R]`, empty when unversioned.
    pub version: String,
}

impl Dep {
    /// `RPMSENSE_LESS`.
    pub const LESS: u32 = 1 << 1;
    /// `RPMSENSE_GREATER`.
    pub const GREATER: u32 = 1 << 2;
    /// `RPMSENSE_EQUAL`.
    pub const EQUAL: u32 = 1 << 3;
    /// `RPMSENSE_RPMLIB`: a feature of rpm itself.
    pub const RPMLIB: u32 = 1 << 24;

    /// `name`, or `name OP version` as rpm prints it.
    pub fn display(&self) -> String {
        let op = match self.flags & (Dep::LESS | Dep::GREATER | Dep::EQUAL) {
            x if x == Dep::LESS => "<",
            x if x == Dep::GREATER => ">",
            x if x == Dep::EQUAL => "=",
            x if x == Dep::LESS | Dep::EQUAL => "<=",
            x if x == Dep::GREATER | Dep::EQUAL => ">=",
            _ => return self.name.clone(),
        };
        format!("{} {op} {}", self.name, self.version)
    }
}

/// A scriptlet a compose may run (`%pre`, `%post`, `%posttrans`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// `%pre`, `%post` or `%posttrans`.
    pub name: &'static str,
    /// The interpreter and its arguments (`/bin/sh` when the header names
    /// none; `<lua>` for rpm's built-in Lua).
    pub program: Vec<String>,
    /// The script.
    pub body: String,
}

/// Scriptlets a package may carry, with their header tags, in the order
/// rpm runs them on install.
const SCRIPTLETS: &[(&str, IndexTag)] = &[
    ("%pretrans", IndexTag::RPMTAG_PRETRANS),
    ("%pre", IndexTag::RPMTAG_PREIN),
    ("%post", IndexTag::RPMTAG_POSTIN),
    ("%posttrans", IndexTag::RPMTAG_POSTTRANS),
    ("%preun", IndexTag::RPMTAG_PREUN),
    ("%postun", IndexTag::RPMTAG_POSTUN),
    ("%triggers", IndexTag::RPMTAG_TRIGGERSCRIPTS),
];

/// A file digest algorithm (RPM's `PGPHASHALGO_*` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgo {
    /// 1
    Md5,
    /// 8
    Sha256,
    /// 9
    Sha384,
    /// 10
    Sha512,
    /// 11
    Sha224,
    /// 12
    Sha3_256,
    /// 14
    Sha3_512,
}

impl DigestAlgo {
    fn from_number(n: u32) -> Option<DigestAlgo> {
        Some(match n {
            1 => DigestAlgo::Md5,
            8 => DigestAlgo::Sha256,
            9 => DigestAlgo::Sha384,
            10 => DigestAlgo::Sha512,
            11 => DigestAlgo::Sha224,
            12 => DigestAlgo::Sha3_256,
            14 => DigestAlgo::Sha3_512,
            _ => return None,
        })
    }

    /// A fresh hasher.
    pub fn hasher(self) -> Box<dyn digest::DynDigest + Send> {
        match self {
            DigestAlgo::Md5 => Box::new(md5::Md5::default()),
            DigestAlgo::Sha256 => Box::new(sha2::Sha256::default()),
            DigestAlgo::Sha384 => Box::new(sha2::Sha384::default()),
            DigestAlgo::Sha512 => Box::new(sha2::Sha512::default()),
            DigestAlgo::Sha224 => Box::new(sha2::Sha224::default()),
            DigestAlgo::Sha3_256 => Box::new(sha3::Sha3_256::default()),
            DigestAlgo::Sha3_512 => Box::new(sha3::Sha3_512::default()),
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A payload digest the header declares: over the compressed payload
/// (`alt == false`) or the cpio archive inside (`alt == true`).
#[derive(Debug, Clone)]
pub struct PayloadDigest {
    /// Its algorithm.
    pub algo: DigestAlgo,
    /// Expected hex.
    pub hex: String,
    /// Whether it covers the uncompressed archive.
    pub alt: bool,
}

/// The parts of an RPM's headers an import needs.
#[derive(Debug, Clone)]
pub struct Package {
    /// `NAME`.
    pub name: String,
    /// `EPOCH` (0 when absent).
    pub epoch: u32,
    /// `VERSION`.
    pub version: String,
    /// `RELEASE`.
    pub release: String,
    /// `ARCH`.
    pub arch: String,
    /// `BUILDTIME`, seconds since the epoch.
    pub build_time: u64,
    /// The payload compressor.
    pub compression: Compression,
    /// The files, in header order (the index a stripped cpio member names).
    pub files: Vec<HeaderFile>,
    /// The files' digest algorithm.
    pub digest_algo: DigestAlgo,
    /// Payload digests to check.
    pub payload_digests: Vec<PayloadDigest>,
    /// What it provides (its own name at its EVR is added when absent).
    pub provides: Vec<Dep>,
    /// What it requires.
    pub requires: Vec<Dep>,
    /// What it cannot be installed with (`Conflicts:`).
    pub conflicts: Vec<Dep>,
    /// The packages it replaces (`Obsoletes:`), by name and version.
    pub obsoletes: Vec<Dep>,
    /// The scriptlets it carries (`%pre`, `%post`, …), in install order.
    pub scriptlets: Vec<&'static str>,
    /// Its `%pre`, `%post` and `%posttrans`, with their interpreters.
    pub scripts: Vec<Script>,
    /// The lead, signature header and header, byte for byte (rpm-ostree
    /// keeps them in the commit as `rpmostree.metadata`; parse them again
    /// with `rpm::PackageMetadata::parse` for what is not copied out).
    pub raw_headers: Vec<u8>,
}

fn string_tag(h: &rpm::Header<IndexTag>, tag: IndexTag) -> Option<String> {
    match h.get_entry_data_as_string_array(tag) {
        Ok(v) => v.first().map(|s| s.to_string()),
        Err(_) => h.get_entry_data_as_string(tag).ok().map(str::to_string),
    }
}

impl Package {
    /// Reads the headers of the RPM at `path`, checks their digests, and
    /// returns them with the file positioned at the payload.
    pub fn open(path: &Path) -> Result<(Package, BufReader<File>), ImportError> {
        let file = File::open(path).map_err(|e| ImportError::Io(format!("opening {}: {e}", path.display())))?;
        Package::read(file)
    }

    /// [`Package::open`] for any seekable reader.
    pub fn read<R: Read + Seek>(file: R) -> Result<(Package, BufReader<R>), ImportError> {
        let herr = |e: rpm::Error| ImportError::Header(e.to_string());
        let mut file = file;
        file.seek(SeekFrom::Start(0)).map_err(|e| ImportError::Io(e.to_string()))?;
        let mut r = BufReader::with_capacity(256 * 1024, file);
        let raw_headers = crate::lead::read_headers(&mut r)?;
        let metadata = rpm::PackageMetadata::parse(&mut &raw_headers[..]).map_err(herr)?;
        let report = metadata.check_digests().map_err(herr)?;
        report.result().map_err(|e| ImportError::HeaderDigest(e.to_string()))?;
        if metadata.get_package_segment_offsets().payload != raw_headers.len() as u64 {
            return Err(ImportError::Header("the headers' sizes disagree with their framing".into()));
        }

        let name = metadata.get_name().map_err(herr)?.to_string();
        let epoch = metadata.get_epoch().unwrap_or(0);
        let version = metadata.get_version().map_err(herr)?.to_string();
        let release = metadata.get_release().map_err(herr)?.to_string();
        let arch = metadata.get_arch().map_err(herr)?.to_string();
        let build_time = metadata.get_build_time().unwrap_or(0);
        let h = &metadata.header;
        let compression = Compression::from_header(h.get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADCOMPRESSOR).ok())
            .map_err(|e| ImportError::Header(e.to_string()))?;
        let algo_number = h
            .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEDIGESTALGO)
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(1);
        let digest_algo = DigestAlgo::from_number(algo_number)
            .ok_or_else(|| ImportError::Header(format!("unknown file digest algorithm {algo_number}")))?;

        let mut payload_digests = Vec::new();
        let payload_algo = h
            .get_entry_data_as_u32_array(IndexTag::RPMTAG_PAYLOADSHA256ALGO)
            .ok()
            .and_then(|v| v.first().copied())
            .map(|n| {
                DigestAlgo::from_number(n)
                    .ok_or_else(|| ImportError::Header(format!("unknown payload digest algorithm {n}")))
            })
            .transpose()?
            .unwrap_or(DigestAlgo::Sha256);
        for (tag, algo, alt) in [
            (IndexTag::RPMTAG_PAYLOADSHA256, payload_algo, false),
            (IndexTag::RPMTAG_PAYLOADSHA256ALT, payload_algo, true),
            (IndexTag::RPMTAG_PAYLOAD_SHA512, DigestAlgo::Sha512, false),
            (IndexTag::RPMTAG_PAYLOAD_SHA512_ALT, DigestAlgo::Sha512, true),
            (IndexTag::RPMTAG_PAYLOAD_SHA3_256, DigestAlgo::Sha3_256, false),
            (IndexTag::RPMTAG_PAYLOAD_SHA3_256_ALT, DigestAlgo::Sha3_256, true),
        ] {
            if let Some(hex) = string_tag(h, tag) {
                payload_digests.push(PayloadDigest { algo, hex: hex.to_ascii_lowercase(), alt });
            }
        }

        // One entry at a time: a Vec of the crate's entries for a 40k-file
        // package is 10 MB more at the peak.
        let n = h.get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES).map(|v| v.len()).unwrap_or(0);
        let inodes = h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEINODES).unwrap_or_default();
        let devices = h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEDEVICES).unwrap_or_default();
        if n > 0 && (inodes.len() != n || (!devices.is_empty() && devices.len() != n)) {
            return Err(ImportError::Header(format!(
                "FILEINODES/FILEDEVICES list {}/{} entries for {n} files",
                inodes.len(),
                devices.len()
            )));
        }
        let langs = h.get_entry_data_as_string_array(IndexTag::RPMTAG_FILELANGS).unwrap_or_default();
        let mut files = Vec::with_capacity(n);
        let mut bad_ima = None;
        metadata
            .for_each_file_entry(|e| {
                let i = files.len();
                let flags = e.flags();
                let ima = match e.ima_signature() {
                    Some(s) if !s.is_empty() => match unhex(s) {
                        Some(b) => Some(b),
                        None => {
                            bad_ima.get_or_insert_with(|| e.path().display().to_string());
                            None
                        }
                    },
                    _ => None,
                };
                files.push(HeaderFile {
                    path: e.path().to_string_lossy().into_owned(),
                    mode: u32::from(e.mode().raw_mode()),
                    user: e.user().to_string(),
                    group: e.group().to_string(),
                    size: e.size() as u64,
                    config: flags.contains(rpm::FileFlags::CONFIG),
                    doc: flags.contains(rpm::FileFlags::DOC),
                    ghost: flags.contains(rpm::FileFlags::GHOST),
                    digest: e.digest().map(|d| d.as_hex().to_ascii_lowercase()).unwrap_or_default(),
                    caps: e.caps().filter(|c| !c.is_empty()).map(str::to_string),
                    linkto: e.linkto().unwrap_or("").to_string(),
                    ima,
                    inode: (devices.get(i).copied().unwrap_or(0), inodes.get(i).copied().unwrap_or(0)),
                    lang: langs.get(i).map(|s| s.to_string()).unwrap_or_default(),
                });
                Ok(())
            })
            .map_err(herr)?;
        if let Some(path) = bad_ima {
            return Err(ImportError::Header(format!("{path}: IMA signature is not hex")));
        }
        if files.len() != n {
            return Err(ImportError::Header(format!("{} file entries for {n} FILEMODES", files.len())));
        }
        let deps = |v: Vec<rpm::Dependency>| -> Vec<Dep> {
            v.into_iter().map(|d| Dep { name: d.name, flags: d.flags.bits(), version: d.version }).collect()
        };
        let mut provides = deps(metadata.get_provides().map_err(herr)?);
        let own = Dep {
            name: name.clone(),
            flags: Dep::EQUAL,
            version: if epoch == 0 { format!("{version}-{release}") } else { format!("{epoch}:{version}-{release}") },
        };
        if !provides.iter().any(|p| p.name == name) {
            provides.push(own);
        }
        let requires = deps(metadata.get_requires().map_err(herr)?);
        let conflicts = deps(metadata.get_conflicts().map_err(herr)?);
        let obsoletes = deps(metadata.get_obsoletes().map_err(herr)?);
        let scriptlets = SCRIPTLETS.iter().filter(|(_, tag)| h.entry_is_present(*tag)).map(|(n, _)| *n).collect();
        let mut scripts = Vec::new();
        // The interpreter tag is a string array in new packages and a
        // string in old ones.
        let program = |tag: IndexTag| -> Option<Vec<String>> {
            match h.get_entry_data_as_string_array(tag) {
                Ok(v) => Some(v.iter().map(|s| s.to_string()).collect()),
                Err(_) => h.get_entry_data_as_string(tag).ok().map(|s| vec![s.to_string()]),
            }
            .filter(|v| !v.is_empty())
        };
        for (name, got, prog) in [
            ("%pre", metadata.get_pre_install_script(), IndexTag::RPMTAG_PREINPROG),
            ("%post", metadata.get_post_install_script(), IndexTag::RPMTAG_POSTINPROG),
            ("%posttrans", metadata.get_post_trans_script(), IndexTag::RPMTAG_POSTTRANSPROG),
        ] {
            match got {
                Ok(s) => scripts.push(Script {
                    name,
                    program: program(prog).unwrap_or_else(|| vec!["/bin/sh".to_string()]),
                    body: s.script,
                }),
                Err(rpm::Error::TagNotFound(_)) => {}
                Err(e) => return Err(herr(e)),
            }
        }
        Ok((
            Package {
                name,
                epoch,
                version,
                release,
                arch,
                build_time,
                compression,
                files,
                digest_algo,
                payload_digests,
                provides,
                requires,
                conflicts,
                obsoletes,
                scriptlets,
                scripts,
                raw_headers,
            },
            r,
        ))
    }

    /// `NAME-[EPOCH:]VERSION-RELEASE.ARCH`, the epoch left out when 0.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }

    /// `[EPOCH:]VERSION-RELEASE`, the epoch left out when 0.
    pub fn evr(&self) -> String {
        if self.epoch == 0 {
            format!("{}-{}", self.version, self.release)
        } else {
            format!("{}:{}-{}", self.epoch, self.version, self.release)
        }
    }

    /// The ref rpm-ostree caches this package under:
    /// `rpmostree/pkg/NAME/EVR.ARCH`, each part escaped by [`escape_ref_part`].
    pub fn branch(&self) -> String {
        format!(
            "rpmostree/pkg/{}/{}.{}",
            escape_ref_part(&self.name),
            escape_ref_part(&self.evr()),
            escape_ref_part(&self.arch)
        )
    }

    /// Header index by path, for matching payload members.
    pub fn index_by_path(&self) -> HashMap<&str, usize> {
        self.files.iter().enumerate().map(|(i, f)| (f.path.as_str(), i)).collect()
    }
}

/// One `%changelog` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogEntry {
    /// When (seconds since the epoch; rpm keeps the day, at noon).
    pub time: u64,
    /// Who, and usually the version: `Name <email> - 1.0-1`.
    pub name: String,
    /// What changed.
    pub text: String,
}

/// The `%changelog` of a package, newest first, from its raw headers (as
/// [`Package::raw_headers`] holds them, lead first).
pub fn changelog(raw_headers: &[u8]) -> Result<Vec<ChangelogEntry>, ImportError> {
    let herr = |e: rpm::Error| ImportError::Header(e.to_string());
    let metadata = rpm::PackageMetadata::parse(&mut &raw_headers[..]).map_err(herr)?;
    match metadata.get_changelog_entries() {
        Ok(v) => {
            Ok(v.into_iter().map(|e| ChangelogEntry { time: e.timestamp, name: e.name, text: e.description }).collect())
        }
        Err(rpm::Error::TagNotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(herr(e)),
    }
}

/// A package name, EVR or arch as a ref component, as rpm-ostree writes
/// it: ASCII letters, digits, `.` and `-` as they are, `_` doubled, any
/// other byte `_XX` (upper-case hex).
pub fn escape_ref_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' => out.push(b as char),
            b'_' => out.push_str("__"),
            _ => out.push_str(&format!("_{b:02X}")),
        }
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_escaping() {
        assert_eq!(escape_ref_part("x86_64"), "x86__64");
        assert_eq!(escape_ref_part("2:1.2.3-4"), "2_3A1.2.3-4");
        assert_eq!(escape_ref_part("libstdc++"), "libstdc_2B_2B");
        assert_eq!(escape_ref_part("1.0~rc1^git"), "1.0_7Erc1_5Egit");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(hex(&[0, 255]), "00ff");
    }
}

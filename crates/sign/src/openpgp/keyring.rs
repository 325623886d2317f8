//! OpenPGP public keyrings: what OSTree trusts for a remote.
//!
//! A keyring file is a sequence of transferable public keys (RFC 9580
//! §10.1), binary or ASCII-armored (one or more armor blocks), as
//! `gpg --export` writes it. GnuPG's own keyrings (`pubring.gpg`, the
//! `REMOTE.trustedkeys.gpg` files that `ostree remote gpg-import` writes)
//! also hold trust packets (tag 12), which are skipped. Keys are merged by
//! fingerprint: importing a key again adds its new signatures (a later
//! expiry, a revocation) to the copy already held.

use std::io::Read;
use std::path::Path;

use pgp::composed::{Deserializable, SignedPublicKey, SignedSecretKey};
use pgp::packet::{Packet, PacketParser, Signature, SignatureType};
use pgp::ser::Serialize;
use pgp::types::KeyDetails;

use crate::SignError;

/// Armored input as binary (every armor block, concatenated); binary
/// input as is; empty input (an empty keyring) as nothing.
pub fn dearmor(data: &[u8]) -> Result<Vec<u8>, String> {
    let start = data.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(data.len());
    if start == data.len() {
        return Ok(Vec::new());
    }
    if data.get(start).is_some_and(|b| b & 0x80 != 0) {
        return Ok(data.to_vec());
    }
    let text = std::str::from_utf8(data).map_err(|_| "neither binary OpenPGP data nor ASCII armor".to_string())?;
    let starts: Vec<usize> = text.match_indices("-----BEGIN PGP").map(|(i, _)| i).collect();
    if starts.is_empty() {
        return Err("no OpenPGP data (neither binary packets nor an armor block)".into());
    }
    let mut out = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        pgp::armor::Dearmor::new(std::io::BufReader::new(&text.as_bytes()[s..end]))
            .read_to_end(&mut out)
            .map_err(|e| format!("ASCII armor: {e}"))?;
    }
    Ok(out)
}

/// Checks that binary OpenPGP data is whole packets, end to end (RFC 9580
/// §4.2): the `pgp` crate stops quietly at a packet cut short after its
/// first bytes, which would lose the keys after it without a word.
pub fn check_framing(bin: &[u8]) -> Result<(), String> {
    let cut = |at: usize| format!("OpenPGP data truncated or malformed at byte {at} of {}", bin.len());
    let mut i = 0usize;
    while i < bin.len() {
        let start = i;
        let tag = bin[i];
        if tag & 0x80 == 0 {
            return Err(cut(start));
        }
        i += 1;
        let byte = |at: usize| bin.get(at).copied().map(usize::from).ok_or_else(|| cut(start));
        let be = |at: usize, n: usize| -> Result<usize, String> {
            let b = bin.get(at..at + n).ok_or_else(|| cut(start))?;
            Ok(b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x)))
        };
        if tag & 0x40 == 0 {
            // Old format: the length's size is in the tag byte.
            let (len, n) = match tag & 3 {
                0 => (byte(i)?, 1),
                1 => (be(i, 2)?, 2),
                2 => (be(i, 4)?, 4),
                // Indeterminate: to the end.
                _ => return Ok(()),
            };
            i = i.checked_add(n + len).filter(|&e| e <= bin.len()).ok_or_else(|| cut(start))?;
            continue;
        }
        // New format, possibly in partial-length chunks.
        loop {
            let o = byte(i)?;
            let (len, n, partial) = match o {
                0..=191 => (o, 1, false),
                192..=223 => (((o - 192) << 8) + byte(i + 1)? + 192, 2, false),
                255 => (be(i + 1, 4)?, 5, false),
                _ => (1usize << (o & 0x1f), 1, true),
            };
            i = i.checked_add(n + len).filter(|&e| e <= bin.len()).ok_or_else(|| cut(start))?;
            if !partial {
                break;
            }
        }
    }
    Ok(())
}

/// An error of the `pgp` crate in one line: its messages can carry the
/// debug form of an inner error, backtrace included.
pub fn short_error(e: &pgp::errors::Error) -> String {
    let s = e.to_string();
    let s = s.split(" {").next().unwrap_or(&s).trim_end_matches(':').trim();
    if s.ends_with("IO") || s.is_empty() {
        return "malformed or truncated OpenPGP packet".into();
    }
    s.to_string()
}

/// The packets of binary OpenPGP data, without GnuPG's trust packets and
/// other packets that carry no key material.
fn packets(bin: &[u8]) -> impl Iterator<Item = pgp::errors::Result<Packet>> + '_ {
    PacketParser::new(bin).filter(|p| !matches!(p, Ok(Packet::Trust(_) | Packet::Marker(_) | Packet::Padding(_))))
}

/// The public keys in `data` (binary or armored). Secret keys count as
/// their public halves.
pub fn parse_public_keys(data: &[u8]) -> Result<Vec<SignedPublicKey>, String> {
    let bin = dearmor(data)?;
    check_framing(&bin)?;
    // A secret keyring starts with a secret key packet.
    if matches!(packets(&bin).next(), Some(Ok(Packet::SecretKey(_)))) {
        return Ok(parse_secret_keys(data)?.iter().map(SignedSecretKey::to_public_key).collect());
    }
    SignedPublicKey::from_packets(packets(&bin).peekable()).collect::<Result<Vec<_>, _>>().map_err(|e| short_error(&e))
}

/// The secret keys in `data` (a `secring.gpg` or an exported secret key,
/// binary or armored).
pub fn parse_secret_keys(data: &[u8]) -> Result<Vec<SignedSecretKey>, String> {
    let bin = dearmor(data)?;
    check_framing(&bin)?;
    SignedSecretKey::from_packets(packets(&bin).peekable()).collect::<Result<Vec<_>, _>>().map_err(|e| short_error(&e))
}

/// The signatures among the packets of `data` (a revocation certificate,
/// say).
pub fn parse_signatures(data: &[u8]) -> Result<Vec<Signature>, String> {
    let bin = dearmor(data)?;
    check_framing(&bin)?;
    let mut out = Vec::new();
    for p in PacketParser::new(&bin[..]) {
        if let Packet::Signature(s) = p.map_err(|e| short_error(&e))? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Trusted public keys.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// No keys.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// The keys, in the order they were added.
    pub fn keys(&self) -> &[SignedPublicKey] {
        &self.keys
    }

    /// True when it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds the keys of `data`, read from `origin`; returns how many were
    /// new (keys already held are merged, and counted as not new). A bare
    /// key revocation certificate revokes the key it names.
    pub fn add_bytes(&mut self, data: &[u8], origin: &Path) -> Result<usize, SignError> {
        let bad =
            |why: String| SignError::BadKey { what: "OpenPGP keyring", why: format!("{}: {why}", origin.display()) };
        let keys = parse_public_keys(data).map_err(bad)?;
        if keys.is_empty() {
            // A revocation certificate is a lone signature.
            for s in parse_signatures(data).map_err(bad)? {
                self.add_revocation(s);
            }
            return Ok(0);
        }
        Ok(keys.into_iter().filter(|k| self.merge(k.clone())).count())
    }

    /// Adds the keys of the file at `path`.
    pub fn add_file(&mut self, path: &Path) -> Result<usize, SignError> {
        let data = std::fs::read(path).map_err(|e| SignError::Io { path: path.to_path_buf(), source: e })?;
        self.add_bytes(&data, path)
    }

    /// Adds the keyrings of a keyring directory (`trusted.gpg.d`, the repo
    /// directory): its regular files named `*.gpg` other than GnuPG's
    /// `trustdb.gpg` and `secring.gpg`. A missing directory adds nothing.
    pub fn add_keyring_dir(&mut self, dir: &Path) -> Result<(), SignError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(SignError::Io { path: dir.to_path_buf(), source: e }),
        };
        let mut names: Vec<std::path::PathBuf> = Vec::new();
        for e in entries {
            let e = e.map_err(|err| SignError::Io { path: dir.to_path_buf(), source: err })?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.ends_with(".gpg") || name == "trustdb.gpg" || name == "secring.gpg" {
                continue;
            }
            // Symlinks are passed over, as OSTree does.
            if e.file_type().is_ok_and(|t| t.is_file()) {
                names.push(e.path());
            }
        }
        names.sort();
        for p in names {
            self.add_file(&p)?;
        }
        Ok(())
    }

    /// Adds one entry of a remote's `gpgkeypath`: every regular file of a
    /// directory (files holding no keys are passed over), or one key file.
    /// A path that does not exist is an error that names it.
    pub fn add_key_path(&mut self, path: &Path) -> Result<(), SignError> {
        let not_found = |e: std::io::Error| SignError::Io { path: path.to_path_buf(), source: e };
        let meta = std::fs::metadata(path).map_err(not_found)?;
        if !meta.is_dir() {
            self.add_file(path)?;
            return Ok(());
        }
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(path)
            .map_err(not_found)?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            // Like `gpg --import` of each file: what is not a key is ignored.
            let _ = self.add_file(&f);
        }
        Ok(())
    }

    /// Adds `key`, merging it into the key of the same fingerprint if
    /// there is one; true when the key is new.
    pub fn merge(&mut self, key: SignedPublicKey) -> bool {
        let Some(old) = self.keys.iter_mut().find(|k| k.fingerprint() == key.fingerprint()) else {
            self.keys.push(key);
            return true;
        };
        add_signatures(&mut old.details.revocation_signatures, &key.details.revocation_signatures);
        add_signatures(&mut old.details.direct_signatures, &key.details.direct_signatures);
        for nu in key.details.users {
            match old.details.users.iter_mut().find(|u| u.id.id() == nu.id.id()) {
                Some(u) => add_signatures(&mut u.signatures, &nu.signatures),
                None => old.details.users.push(nu),
            }
        }
        for ns in key.public_subkeys {
            match old.public_subkeys.iter_mut().find(|s| s.key.fingerprint() == ns.key.fingerprint()) {
                Some(s) => add_signatures(&mut s.signatures, &ns.signatures),
                None => old.public_subkeys.push(ns),
            }
        }
        false
    }

    /// Applies a key revocation signature to the key it verifies for.
    fn add_revocation(&mut self, s: Signature) {
        if s.typ() != Some(SignatureType::KeyRevocation) {
            return;
        }
        for k in &mut self.keys {
            if s.verify_key(&k.primary_key).is_ok() && !k.details.revocation_signatures.contains(&s) {
                k.details.revocation_signatures.push(s);
                return;
            }
        }
    }

    /// The keys as one binary keyring (`gpg --export` form).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for k in &self.keys {
            // Writing to a Vec cannot fail; a key that cannot be
            // serialised was not parsed in the first place.
            let _ = k.to_writer(&mut out);
        }
        out
    }

    /// The keys `pattern` names, as GnuPG matches a key ID: a fingerprint,
    /// a long or short key ID (of the key or one of its subkeys, with an
    /// optional `0x` and trailing `!`), `<email>`, `=full user ID`, or a
    /// substring of a user ID.
    pub fn lookup(&self, pattern: &str) -> Vec<&SignedPublicKey> {
        self.keys.iter().filter(|k| matches_pattern(k, pattern)).collect()
    }
}

fn add_signatures(dst: &mut Vec<Signature>, src: &[Signature]) {
    for s in src {
        if !dst.contains(s) {
            dst.push(s.clone());
        }
    }
}

/// Upper-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Whether `pattern` names `key` (see [`Keyring::lookup`]).
pub fn matches_pattern(key: &SignedPublicKey, pattern: &str) -> bool {
    let p = pattern.trim();
    let hexpart = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")).unwrap_or(p);
    let hexpart = hexpart.strip_suffix('!').unwrap_or(hexpart);
    if matches!(hexpart.len(), 8 | 16 | 40) && hexpart.chars().all(|c| c.is_ascii_hexdigit()) {
        let want = hexpart.to_ascii_uppercase();
        let fprs = std::iter::once(hex(key.fingerprint().as_bytes()))
            .chain(key.public_subkeys.iter().map(|s| hex(s.key.fingerprint().as_bytes())));
        return fprs.into_iter().any(|f| f.ends_with(&want));
    }
    let uids = key.details.users.iter().filter_map(|u| u.id.as_str());
    if let Some(full) = p.strip_prefix('=') {
        return uids.into_iter().any(|u| u == full);
    }
    if let Some(email) = p.strip_prefix('<').and_then(|e| e.strip_suffix('>')) {
        return uids.into_iter().any(|u| crate::openpgp::wkd::email(u).is_some_and(|m| m.eq_ignore_ascii_case(email)));
    }
    if p.is_empty() {
        return false;
    }
    let lower = p.to_lowercase();
    uids.into_iter().any(|u| u.to_lowercase().contains(&lower))
}

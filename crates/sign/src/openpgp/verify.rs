//! Checking detached OpenPGP signatures (OSTree's `ostree.gpgsigs`: one
//! binary signature packet per element, over the exact bytes of the
//! commit or summary) against a [`Keyring`], and describing the result as
//! `ostree show` and `ostree pull` do.
//!
//! A signature is valid when it verifies with the key its issuer names
//! (the primary key or a subkey), that key is in the keyring, and neither
//! the signature, the key nor its primary key has expired or been
//! revoked. One valid signature is enough.

use pgp::composed::SignedPublicKey;
use pgp::packet::{PacketTrait, Signature};
use pgp::types::KeyDetails;

use super::keyinfo::{self, created};
use super::keyring::{check_framing, dearmor, hex, short_error, Keyring};
use super::time::format_c;
use crate::SignError;

/// The most signatures checked on one object (as for the other signers).
pub const MAX_SIGNATURES: usize = crate::MAX_SIGNATURES;

/// What the keyring says of the key that made a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerKey {
    /// The primary key's fingerprint (upper-case hex).
    pub primary_fingerprint: String,
    /// The name of its primary user ID (`[unknown name]` if none).
    pub name: String,
    /// The e-mail of its primary user ID (may be empty).
    pub email: String,
    /// When the signing key (primary or subkey) expires.
    pub key_expires: Option<i64>,
    /// When the primary key expires.
    pub primary_expires: Option<i64>,
    /// The signing key or its primary key is revoked.
    pub revoked: bool,
    /// The signature verified cryptographically with the key.
    pub verified: bool,
}

/// One signature, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureStatus {
    /// The signing key's fingerprint when known, else its key ID.
    pub fingerprint: String,
    /// The public-key algorithm's name (`RSA`, `EdDSA`, ...).
    pub algorithm: &'static str,
    /// When it was made (seconds since the epoch).
    pub created: i64,
    /// When it expires.
    pub expires: Option<i64>,
    /// The key that made it, if the keyring has it.
    pub key: Option<SignerKey>,
    /// The time the check was made against.
    pub now: i64,
    /// Which element of `ostree.gpgsigs` it came from.
    pub blob: usize,
}

impl SignatureStatus {
    /// The last 16 hex digits of the fingerprint: the key ID.
    pub fn key_id(&self) -> &str {
        &self.fingerprint[self.fingerprint.len().saturating_sub(16)..]
    }

    fn key_expired(&self) -> bool {
        self.key.as_ref().is_some_and(|k| {
            k.key_expires.is_some_and(|t| t <= self.now) || k.primary_expires.is_some_and(|t| t <= self.now)
        })
    }

    fn sig_expired(&self) -> bool {
        self.expires.is_some_and(|t| t <= self.now)
    }

    /// Whether the signature counts: made by a trusted key, intact, and
    /// nothing expired or revoked.
    pub fn is_valid(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.verified && !k.revoked) && !self.key_expired() && !self.sig_expired()
    }

    /// The status line OSTree's tests and users read, and an ordering of
    /// failures (as GPGME ranks them) for the error a pull reports.
    pub fn describe(&self, prefix: &str) -> String {
        let mut out = format!(
            "{prefix}Signature made {} using {} key ID {}\n",
            format_c(self.created),
            self.algorithm,
            self.key_id()
        );
        let Some(k) = &self.key else {
            out.push_str(&format!("{prefix}Can't check signature: public key not found\n"));
            return out;
        };
        let who = format!("\"{} <{}>\"", k.name, k.email);
        if self.is_valid() {
            out.push_str(&format!("{prefix}Good signature from {who}\n"));
        } else if k.revoked {
            out.push_str(&format!("{prefix}Key revoked\n"));
        } else if self.sig_expired() && k.verified {
            out.push_str(&format!("{prefix}Expired signature from {who}\n"));
        } else {
            out.push_str(&format!("{prefix}BAD signature from {who}\n"));
        }
        let is_subkey = self.fingerprint != k.primary_fingerprint;
        if is_subkey {
            let pk = &k.primary_fingerprint[k.primary_fingerprint.len().saturating_sub(16)..];
            out.push_str(&format!("{prefix}Primary key ID {pk}\n"));
        }
        let when = |label: &str, t: i64, expired: bool| {
            format!("{prefix}{label} {} {}\n", if expired { "expired" } else { "expires" }, format_c(t))
        };
        if let Some(t) = self.expires {
            out.push_str(&when("Signature", t, self.sig_expired()));
        }
        if let Some(t) = k.key_expires {
            out.push_str(&when("Key", t, self.key_expired()));
        }
        if let (Some(t), true) = (k.primary_expires, is_subkey) {
            out.push_str(&when("Primary key", t, self.key_expired()));
        }
        out
    }
}

/// The signatures of one object, checked.
#[derive(Debug, Clone, Default)]
pub struct VerifyResult {
    /// One entry per signature, in the order they are stored.
    pub signatures: Vec<SignatureStatus>,
}

impl VerifyResult {
    /// How many are valid.
    pub fn count_valid(&self) -> usize {
        self.signatures.iter().filter(|s| s.is_valid()).count()
    }

    /// The element of `ostree.gpgsigs`, other than those of `skip`, of the
    /// first signature made
    /// by the key `key_id` names in `keyring` (by it or any of its
    /// subkeys), valid or not.
    pub fn signed_by(&self, keyring: &Keyring, key_id: &str, skip: &[usize]) -> Option<usize> {
        let wanted: Vec<String> = keyring.lookup(key_id).iter().map(|k| hex(k.fingerprint().as_bytes())).collect();
        self.signatures
            .iter()
            .find(|s| {
                !skip.contains(&s.blob) && s.key.as_ref().is_some_and(|k| wanted.contains(&k.primary_fingerprint))
            })
            .map(|s| s.blob)
    }

    /// `Found N signature(s):` and each signature's description, as
    /// `ostree show` prints them (`header` replaces `Found`, as pulls say
    /// `GPG: Verification enabled, found`).
    pub fn describe_all(&self, header: &str) -> String {
        let n = self.signatures.len();
        let mut out = format!("{header} {n} signature{}:\n", if n == 1 { "" } else { "s" });
        for s in &self.signatures {
            out.push('\n');
            out.push_str(&s.describe("  "));
        }
        out
    }

    /// Ok when at least one signature is valid; otherwise every
    /// signature's description, last first, as OSTree reports it.
    pub fn require_valid(&self) -> Result<(), SignError> {
        if self.count_valid() > 0 {
            return Ok(());
        }
        if self.signatures.is_empty() {
            return Err(SignError::NotVerified("No GPG signatures found".into()));
        }
        let text: String = self.signatures.iter().rev().map(|s| s.describe("")).collect();
        Err(SignError::NotVerified(text.trim_end().to_string()))
    }
}

/// The key (primary or subkey) of `keyring` that the signature's issuer
/// subpackets name, with its primary key.
fn find_signer<'a>(
    keyring: &'a Keyring,
    sig: &Signature,
) -> Option<(&'a SignedPublicKey, Option<&'a pgp::composed::SignedPublicSubKey>)> {
    let ids: Vec<Vec<u8>> = sig.issuer_key_id().iter().map(|k| k.as_ref().to_vec()).collect();
    let fprs: Vec<Vec<u8>> = sig.issuer_fingerprint().iter().map(|f| f.as_bytes().to_vec()).collect();
    let named = |kid: &[u8], fpr: &[u8]| ids.iter().any(|i| i == kid) || fprs.iter().any(|f| f == fpr);
    for k in keyring.keys() {
        if named(k.legacy_key_id().as_ref(), k.fingerprint().as_bytes()) {
            return Some((k, None));
        }
        for sk in &k.public_subkeys {
            if named(sk.key.legacy_key_id().as_ref(), sk.key.fingerprint().as_bytes()) {
                return Some((k, Some(sk)));
            }
        }
    }
    None
}

/// Parses one element of `ostree.gpgsigs`: OpenPGP signature packets
/// (binary, or armored, which GnuPG also accepts).
pub fn parse_signature_packets(blob: &[u8]) -> Result<Vec<Signature>, String> {
    let bin = dearmor(blob)?;
    check_framing(&bin)?;
    let mut out = Vec::new();
    for p in pgp::packet::PacketParser::new(&bin[..]) {
        match p.map_err(|e| short_error(&e))? {
            pgp::packet::Packet::Signature(s) => out.push(s),
            other => return Err(format!("unexpected {:?} packet in a signature", other.tag())),
        }
    }
    if out.is_empty() {
        return Err("no OpenPGP signature packets".into());
    }
    Ok(out)
}

/// Checks each signature of `blobs` over `data` against `keyring`, at time
/// `now` (seconds since the epoch). Blobs that are not OpenPGP signatures
/// are an error, as they are for GPGME.
pub fn verify(keyring: &Keyring, data: &[u8], blobs: &[&[u8]], now: i64) -> Result<VerifyResult, SignError> {
    if blobs.len() > MAX_SIGNATURES {
        return Err(SignError::TooMany { ty: "GPG", n: blobs.len(), max: MAX_SIGNATURES });
    }
    let mut out = VerifyResult::default();
    for (n, blob) in blobs.iter().enumerate() {
        let sigs = parse_signature_packets(blob)
            .map_err(|e| SignError::NotVerified(format!("GPG: Unable to complete signature verification: {e}")))?;
        for sig in sigs {
            if out.signatures.len() >= MAX_SIGNATURES {
                return Err(SignError::TooMany { ty: "GPG", n: out.signatures.len() + 1, max: MAX_SIGNATURES });
            }
            out.signatures.push(check(keyring, data, &sig, now, n));
        }
    }
    Ok(out)
}

/// One signature (from element `blob` of `ostree.gpgsigs`), checked.
fn check(keyring: &Keyring, data: &[u8], sig: &Signature, now: i64, blob: usize) -> SignatureStatus {
    let alg = sig.config().map(|c| keyinfo::algorithm_name(c.pub_alg)).unwrap_or("[unknown name]");
    let made = created(sig);
    let expires = sig.signature_expiration_time().map(|d| d.as_secs()).filter(|&d| d != 0).map(|d| made + i64::from(d));
    let issuer = sig
        .issuer_fingerprint()
        .first()
        .map(|f| hex(f.as_bytes()))
        .or_else(|| sig.issuer_key_id().first().map(|k| hex(k.as_ref())))
        .unwrap_or_else(|| "0000000000000000".into());
    let Some((key, sub)) = find_signer(keyring, sig) else {
        return SignatureStatus { fingerprint: issuer, algorithm: alg, created: made, expires, key: None, now, blob };
    };
    let typ_ok = matches!(sig.typ(), Some(pgp::packet::SignatureType::Binary | pgp::packet::SignatureType::Text));
    // Each self-signature check is a public-key verification: once.
    let primary_expires = keyinfo::primary_expiry(key);
    let (fingerprint, verified, key_expires, sub_revoked) = match sub {
        None => (
            hex(key.fingerprint().as_bytes()),
            typ_ok && sig.verify(&key.primary_key, data).is_ok(),
            primary_expires,
            false,
        ),
        Some(sk) => (
            hex(sk.key.fingerprint().as_bytes()),
            typ_ok && sig.verify(&sk.key, data).is_ok(),
            keyinfo::subkey_expiry(key, sk),
            keyinfo::subkey_revoked(key, sk),
        ),
    };
    let (name, email) = match keyinfo::primary_user(key) {
        Some(u) => keyinfo::split_user_id(&u),
        None => ("[unknown name]".into(), "[unknown email]".into()),
    };
    SignatureStatus {
        fingerprint,
        algorithm: alg,
        created: made,
        expires,
        key: Some(SignerKey {
            primary_fingerprint: hex(key.fingerprint().as_bytes()),
            name,
            email,
            key_expires,
            primary_expires,
            revoked: keyinfo::primary_revoked(key) || sub_revoked,
            verified,
        }),
        now,
        blob,
    }
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

//! Signature targets: the signatures of a `summary.sig` (or detached
//! metadata) checked against a fixed key, and key files.

use std::sync::OnceLock;

use oxtree_fetch::verify::signatures;
use oxtree_sign::ed25519::{PublicKey, SecretKey};
use oxtree_sign::{keyfile, SignType, Verifier};
use oxtree_store::object::CommitMetadata;

/// What the fixed key signed.
pub const SIGNED: &[u8] = b"the bytes of a commit";

/// The fixed key (seed 0x2a..) and its one signature of [`SIGNED`].
pub fn fixed_key() -> &'static (SecretKey, [u8; 64]) {
    static KEY: OnceLock<(SecretKey, [u8; 64])> = OnceLock::new();
    KEY.get_or_init(|| {
        let k = SecretKey::from_seed(&[0x2a; 32]);
        let sig = k.sign(SIGNED);
        (k, sig)
    })
}

/// Signatures in an `a{sv}`: whatever the bytes, checking them against the
/// fixed key neither panics nor succeeds unless the genuine signature is
/// among them (no one else can make one).
pub fn sign_signatures(data: &[u8]) {
    let Ok(meta) = CommitMetadata::from_bytes(data) else { return };
    let (key, genuine) = fixed_key();
    let mut v = Verifier::new(SignType::Ed25519);
    v.add_key(&key.public().to_base64()).expect("a key's own base64");
    for ty in SignType::ALL {
        let Ok(sigs) = signatures(&meta, ty) else { continue };
        let refs: Option<Vec<&[u8]>> = sigs.as_ref().map(|s| s.iter().map(Vec::as_slice).collect());
        if ty == SignType::Ed25519 {
            let ok = v.verify(SIGNED, refs.as_deref()).is_ok();
            let has_genuine = refs.as_ref().is_some_and(|r| r.iter().any(|s| *s == &genuine[..]));
            assert!(!ok || has_genuine, "verified without the genuine signature");
        }
    }
}

/// Key files: every line that parses as a key writes back to itself.
pub fn sign_keyfile(data: &[u8]) {
    for (n, line) in keyfile::lines(data) {
        assert!(n >= 1 && !line.trim().is_empty());
        if let Ok(k) = PublicKey::from_base64(&line) {
            assert_eq!(PublicKey::from_base64(&k.to_base64()).expect("written key parses"), k);
        }
        if let Ok(k) = SecretKey::from_base64(&line) {
            let again = SecretKey::from_base64(&k.to_base64()).expect("written key parses");
            assert_eq!(again.public(), k.public());
        }
    }
}

/// OSTree's test key 1, public (see crates/sign/tests/data/openpgp).
const KEY1: &[u8] = include_bytes!("../../../crates/sign/tests/data/openpgp/key1.asc");

/// OpenPGP keyrings (binary or armored): whatever parses writes back to
/// a keyring with the same keys, and lists without panicking.
pub fn openpgp_keyring(data: &[u8]) {
    use oxtree_sign::openpgp::{listing, Keyring};
    let mut k = Keyring::new();
    if k.add_bytes(data, std::path::Path::new("fuzz.gpg")).is_err() {
        return;
    }
    let _ = listing::list_keys(k.keys(), 0);
    let mut again = Keyring::new();
    again.add_bytes(&k.to_bytes(), std::path::Path::new("again.gpg")).expect("a written keyring parses");
    assert_eq!(again.keys().len(), k.keys().len());
}

/// `ostree.gpgsigs` in an `a{sv}`, checked against test key 1: never a
/// panic, and every signature is described.
pub fn openpgp_signatures(data: &[u8]) {
    use oxtree_sign::openpgp::{verify, Keyring};
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    let keyring = KEYRING.get_or_init(|| {
        let mut k = Keyring::new();
        k.add_bytes(KEY1, std::path::Path::new("key1.asc")).expect("test key 1 parses");
        k
    });
    let Ok(meta) = CommitMetadata::from_bytes(data) else { return };
    let Ok(Some(result)) = oxtree_fetch::verify::gpg_verify(keyring, SIGNED, &meta) else { return };
    let text = result.describe_all("Found");
    assert_eq!(text.matches("Signature made ").count(), result.signatures.len());
    assert!(result.signatures.len() <= verify::MAX_SIGNATURES);
}

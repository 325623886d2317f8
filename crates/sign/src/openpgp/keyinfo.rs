//! What a key's self-signatures say about it: when it and its subkeys
//! expire, whether they or its user IDs are revoked, and its primary user
//! ID. Only signatures that verify with the key itself count.

use pgp::composed::{SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag};

use pgp::types::SignedUser;

/// Seconds since the epoch of a signature's creation (0 if it has none).
pub fn created(s: &Signature) -> i64 {
    s.created().map(|t| i64::from(t.as_secs())).unwrap_or(0)
}

/// The name GnuPG gives an algorithm (`RSA`, `EdDSA`, ...).
pub fn algorithm_name(a: PublicKeyAlgorithm) -> &'static str {
    match a {
        PublicKeyAlgorithm::RSA | PublicKeyAlgorithm::RSAEncrypt | PublicKeyAlgorithm::RSASign => "RSA",
        PublicKeyAlgorithm::DSA => "DSA",
        PublicKeyAlgorithm::ElgamalEncrypt | PublicKeyAlgorithm::Elgamal => "ELG",
        PublicKeyAlgorithm::ECDH => "ECDH",
        PublicKeyAlgorithm::ECDSA => "ECDSA",
        PublicKeyAlgorithm::EdDSALegacy | PublicKeyAlgorithm::Ed25519 | PublicKeyAlgorithm::Ed448 => "EdDSA",
        _ => "[unknown name]",
    }
}

/// A user ID's self-certifications that verify.
fn user_certifications<'a>(key: &'a SignedPublicKey, u: &'a SignedUser) -> impl Iterator<Item = &'a Signature> + 'a {
    u.signatures.iter().filter(move |s| {
        s.is_certification()
            && s.typ() != Some(SignatureType::CertRevocation)
            && s.verify_certification(&key.primary_key, Tag::UserId, &u.id).is_ok()
    })
}

/// When the primary key expires (seconds since the epoch), from its newest
/// valid self-signature; `None` if it does not.
pub fn primary_expiry(key: &SignedPublicKey) -> Option<i64> {
    let mut best: Option<&Signature> = None;
    let direct = key
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(&key.primary_key).is_ok());
    let certs = key.details.users.iter().flat_map(|u| user_certifications(key, u));
    for s in direct.chain(certs) {
        if best.is_none_or(|b| created(s) >= created(b)) {
            best = Some(s);
        }
    }
    let secs = best?.key_expiration_time()?.as_secs();
    (secs != 0).then(|| i64::from(key.created_at().as_secs()) + secs as i64)
}

/// Whether the key carries a key revocation signature made by itself.
pub fn primary_revoked(key: &SignedPublicKey) -> bool {
    key.details
        .revocation_signatures
        .iter()
        .any(|s| s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(&key.primary_key).is_ok())
}

/// When a subkey expires, from its newest valid binding signature.
pub fn subkey_expiry(key: &SignedPublicKey, sub: &SignedPublicSubKey) -> Option<i64> {
    let best = sub
        .signatures
        .iter()
        .filter(|s| {
            s.typ() == Some(SignatureType::SubkeyBinding) && s.verify_subkey_binding(&key.primary_key, &sub.key).is_ok()
        })
        .max_by_key(|s| created(s))?;
    let secs = best.key_expiration_time()?.as_secs();
    (secs != 0).then(|| i64::from(sub.key.created_at().as_secs()) + secs as i64)
}

/// Whether a subkey is revoked (by the primary key).
pub fn subkey_revoked(key: &SignedPublicKey, sub: &SignedPublicSubKey) -> bool {
    sub.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation) && s.verify_subkey_binding(&key.primary_key, &sub.key).is_ok()
    })
}

/// Whether a user ID is revoked (by the primary key).
pub fn user_revoked(key: &SignedPublicKey, u: &SignedUser) -> bool {
    u.signatures.iter().any(|s| {
        s.typ() == Some(SignatureType::CertRevocation)
            && s.verify_certification(&key.primary_key, Tag::UserId, &u.id).is_ok()
    })
}

/// The user ID GnuPG names a key by: the one marked primary, else the
/// first.
pub fn primary_user(key: &SignedPublicKey) -> Option<String> {
    let users = &key.details.users;
    users
        .iter()
        .find(|u| user_certifications(key, u).any(Signature::is_primary))
        .or_else(|| users.first())
        .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
}

/// The name and e-mail of a user ID as GPGME splits it: `Name (comment)
/// <email>` gives `Name` and `email`; missing parts are empty.
pub fn split_user_id(uid: &str) -> (String, String) {
    let (before, email) = match (uid.rfind('<'), uid.rfind('>')) {
        (Some(a), Some(b)) if a < b => (&uid[..a], uid[a + 1..b].to_string()),
        _ if uid.contains('@') && !uid.contains(' ') => ("", uid.to_string()),
        _ => (uid, String::new()),
    };
    let name = before.split_once('(').map(|(n, _)| n).unwrap_or(before);
    (name.trim().to_string(), email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_user_ids() {
        assert_eq!(split_user_id("Ostree Tester <test@test.com>"), ("Ostree Tester".into(), "test@test.com".into()));
        assert_eq!(split_user_id("Test Key 1"), ("Test Key 1".into(), String::new()));
        assert_eq!(
            split_user_id("J. Random User (valid signing key) <testcase@redhat.com>"),
            ("J. Random User".into(), "testcase@redhat.com".into())
        );
    }
}

//! A keyring's keys as `ostree remote gpg-list-keys` lists them: each key
//! with its creation and expiry dates, user IDs (with their Web Key
//! Directory addresses) and subkeys, revoked ones marked.

use pgp::composed::SignedPublicKey;
use pgp::types::KeyDetails;

use super::keyinfo;
use super::keyring::hex;
use super::time::format_c;
use super::wkd;

/// The listing of `keys`, at time `now`.
pub fn list_keys(keys: &[SignedPublicKey], now: i64) -> String {
    let mut out = String::new();
    let revoked = |r: bool| if r { " (revoked)" } else { "" };
    let expiry = |indent: &str, t: Option<i64>| match t {
        Some(t) => format!("{indent}{}: {}\n", if t <= now { "Expired" } else { "Expires" }, format_c(t)),
        None => String::new(),
    };
    for key in keys {
        let key_revoked = keyinfo::primary_revoked(key);
        out.push_str(&format!("Key: {}{}\n", hex(key.fingerprint().as_bytes()), revoked(key_revoked)));
        out.push_str(&format!("  Created: {}\n", format_c(i64::from(key.created_at().as_secs()))));
        out.push_str(&expiry("  ", keyinfo::primary_expiry(key)));
        for u in &key.details.users {
            let uid = String::from_utf8_lossy(u.id.id());
            // GnuPG shows a revoked key's user IDs as revoked too.
            out.push_str(&format!("  UID: {uid}{}\n", revoked(key_revoked || keyinfo::user_revoked(key, u))));
            let (adv, direct) = wkd::email(&uid).and_then(wkd::urls).unwrap_or_default();
            out.push_str(&format!("  Advanced update URL: {adv}\n"));
            out.push_str(&format!("  Direct update URL: {direct}\n"));
        }
        for sk in &key.public_subkeys {
            let r = key_revoked || keyinfo::subkey_revoked(key, sk);
            out.push_str(&format!("  Subkey: {}{}\n", hex(sk.key.fingerprint().as_bytes()), revoked(r)));
            out.push_str(&format!("    Created: {}\n", format_c(i64::from(sk.key.created_at().as_secs()))));
            out.push_str(&expiry("    ", keyinfo::subkey_expiry(key, sk)));
        }
    }
    out
}

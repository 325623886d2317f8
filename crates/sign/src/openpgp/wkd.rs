//! Web Key Directory addresses of a user ID's e-mail (draft-koch-openpgp-
//! webkey-service): where a client would look the key up. GnuPG reports
//! them for each user ID and `ostree remote gpg-list-keys` prints them.

use sha1::{Digest, Sha1};

/// The z-base-32 alphabet (RFC 6189 §5.1.6).
const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// `bytes` in z-base-32, most significant bit first, without padding.
fn zbase32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ZBASE32[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ZBASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The e-mail address of a user ID: the part in angle brackets, or the
/// whole ID when it is a bare address.
pub fn email(uid: &str) -> Option<&str> {
    let addr = match (uid.rfind('<'), uid.rfind('>')) {
        (Some(a), Some(b)) if a < b => &uid[a + 1..b],
        _ => uid.trim(),
    };
    let (local, domain) = addr.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !domain.contains('@') && !addr.contains(char::is_whitespace))
        .then_some(addr)
}

/// The (advanced, direct) WKD URLs of an e-mail address.
pub fn urls(email: &str) -> Option<(String, String)> {
    let (local, domain) = email.split_once('@')?;
    let domain = domain.to_ascii_lowercase();
    let hash = zbase32(&Sha1::digest(local.to_lowercase().as_bytes()));
    Some((
        format!("https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}/hu/{hash}?l={local}"),
        format!("https://{domain}/.well-known/openpgpkey/hu/{hash}?l={local}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_match_gnupg() {
        // What GnuPG (through OSTree's tests) reports for the test keys.
        let (adv, direct) = urls(email("Ostree Tester <test@test.com>").unwrap()).unwrap();
        assert_eq!(
            adv,
            "https://openpgpkey.test.com/.well-known/openpgpkey/test.com/hu/iffe93qcsgp4c8ncbb378rxjo6cn9q6u?l=test"
        );
        assert_eq!(direct, "https://test.com/.well-known/openpgpkey/hu/iffe93qcsgp4c8ncbb378rxjo6cn9q6u?l=test");
        let (_, d2) = urls("test2@test.com").unwrap();
        assert!(d2.contains("/hu/nnxwsxno46ap6hw7fgphp68j76egpfa9?l=test2"));
    }

    #[test]
    fn no_email_no_urls() {
        assert_eq!(email("Test Key 1"), None);
        assert_eq!(email("Test Key 1 <>"), None);
    }
}

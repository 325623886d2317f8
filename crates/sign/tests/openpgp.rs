//! OpenPGP verification and signing against signatures and keys GnuPG
//! made (OSTree's own test data, see `data/openpgp/README.md`).

use std::path::{Path, PathBuf};

use oxtree_sign::openpgp::{self, secret, verify, Keyring};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/openpgp").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn keyring(name: &str) -> Keyring {
    let mut k = Keyring::new();
    k.add_file(&data(name)).unwrap();
    k
}

/// The one signature of `sig` over `lgpl2`, checked now.
fn check(sig: &str, doc: &[u8]) -> verify::VerifyResult {
    let r = verify::verify(&keyring("verify-pubring.gpg"), doc, &[&read(sig)], verify::now()).unwrap();
    assert_eq!(r.signatures.len(), 1);
    r
}

#[test]
fn gnupg_keyrings_keep_their_subkeys() {
    // Trust packets sit between a key's packets in GnuPG 1 keyrings.
    let k = keyring("test-pubring.gpg");
    assert_eq!(k.keys().len(), 3);
    assert!(k.keys().iter().all(|key| key.public_subkeys.len() == 1));
    // Several armor blocks in one file.
    let mut both = read("key1.asc");
    both.extend(read("key2.asc"));
    let mut k = Keyring::new();
    assert_eq!(k.add_bytes(&both, Path::new("both.asc")).unwrap(), 2);
}

#[test]
fn good_signature() {
    let r = check("lgpl2.sig0", &read("lgpl2"));
    assert_eq!(r.count_valid(), 1);
    r.require_valid().unwrap();
    let text = r.describe_all("Found");
    assert!(text.starts_with("Found 1 signature:\n\n  Signature made "), "{text}");
    assert!(text.contains("using RSA key ID E8B35B6C9A51B00B\n"), "{text}");
    assert!(text.contains("  Good signature from \"J. Random User <testcase@redhat.com>\"\n"), "{text}");
}

#[test]
fn signature_over_other_bytes_is_bad() {
    let mut doc = read("lgpl2");
    doc[100] ^= 1;
    let r = check("lgpl2.sig0", &doc);
    assert_eq!(r.count_valid(), 0);
    let e = r.require_valid().unwrap_err().to_string();
    assert!(e.contains("BAD signature from \"J. Random User <testcase@redhat.com>\""), "{e}");
}

#[test]
fn expired_key_is_refused() {
    let r = check("lgpl2.sig1", &read("lgpl2"));
    assert_eq!(r.count_valid(), 0);
    let e = r.require_valid().unwrap_err().to_string();
    assert!(e.contains("BAD signature from") && e.contains("\nKey expired "), "{e}");
}

#[test]
fn revoked_key_is_refused() {
    let e = check("lgpl2.sig2", &read("lgpl2")).require_valid().unwrap_err().to_string();
    assert!(e.contains("\nKey revoked"), "{e}");
}

#[test]
fn unknown_key_is_refused() {
    let e = check("lgpl2.sig3", &read("lgpl2")).require_valid().unwrap_err().to_string();
    assert!(e.contains("key ID E769699B8E7E729C\nCan't check signature: public key not found"), "{e}");
}

#[test]
fn expired_signature_is_refused() {
    let e = check("lgpl2.sig4", &read("lgpl2")).require_valid().unwrap_err().to_string();
    assert!(e.contains("Expired signature from") && e.contains("Signature expired "), "{e}");
}

#[test]
fn one_good_signature_is_enough_and_errors_list_the_last_first() {
    let k = keyring("verify-pubring.gpg");
    let doc = read("lgpl2");
    let (good, gone) = (read("lgpl2.sig0"), read("lgpl2.sig3"));
    verify::verify(&k, &doc, &[&gone, &good], verify::now()).unwrap().require_valid().unwrap();
    let bad = verify::verify(&k, &doc, &[&read("lgpl2.sig2"), &gone], verify::now()).unwrap();
    let e = bad.require_valid().unwrap_err().to_string();
    assert!(e.find("E769699B8E7E729C").unwrap() < e.find("BD9D2A44B7F541A6").unwrap(), "{e}");
}

#[test]
fn truncated_and_garbage_signatures_are_errors() {
    let k = keyring("verify-pubring.gpg");
    let sig = read("lgpl2.sig0");
    for bad in [&sig[..sig.len() / 2], b"borkborkbork\n".as_slice(), b"".as_slice()] {
        let e = verify::verify(&k, &read("lgpl2"), &[bad], verify::now()).unwrap_err().to_string();
        assert!(e.contains("Unable to complete signature verification"), "{e}");
    }
}

#[test]
fn ten_thousand_signatures_are_refused_unchecked() {
    let sig = read("lgpl2.sig0");
    let many: Vec<&[u8]> = std::iter::repeat_n(sig.as_slice(), 10_000).collect();
    let e = verify::verify(&keyring("verify-pubring.gpg"), &read("lgpl2"), &many, verify::now()).unwrap_err();
    assert!(e.to_string().contains("10000 signatures"), "{e}");
}

#[test]
fn garbage_keyring_names_the_file() {
    let mut k = Keyring::new();
    let e = k.add_bytes(b"not a key\n", Path::new("/etc/bad.gpg")).unwrap_err().to_string();
    assert!(e.contains("/etc/bad.gpg"), "{e}");
    // Cut anywhere inside a packet (here two bytes into the second key,
    // and in the middle of its user ID): an error, not one key of three.
    let ring = read("test-pubring.gpg");
    for cut in [1191, 1470, ring.len() - 1] {
        let e = k.add_bytes(&ring[..cut], Path::new("cut.gpg")).unwrap_err().to_string();
        assert!(e.contains("cut.gpg") && e.contains("truncated"), "{e}");
        assert!(!e.contains("backtrace"), "{e}");
    }
}

#[test]
fn revocation_certificate_revokes_on_import() {
    let mut k = keyring("key1.asc");
    assert_eq!(k.add_file(&data("key1.rev")).unwrap(), 0);
    let listing = openpgp::listing::list_keys(k.keys(), verify::now());
    assert!(listing.starts_with("Key: 5E65DE75AB1C501862D476347FCA23D8472CDAFA (revoked)\n"), "{listing}");
    assert!(listing.contains("  UID: Ostree Tester <test@test.com> (revoked)\n"), "{listing}");
    // Importing the same key again adds nothing new.
    assert_eq!(k.add_file(&data("key1.asc")).unwrap(), 0);
    assert_eq!(k.keys().len(), 1);
}

#[test]
fn listing_matches_ostree() {
    std::env::set_var("TZ", "UTC");
    let listing = openpgp::listing::list_keys(keyring("key1.asc").keys(), verify::now());
    assert_eq!(
        listing,
        "Key: 5E65DE75AB1C501862D476347FCA23D8472CDAFA
  Created: Tue Sep 10 02:29:42 2013
  UID: Ostree Tester <test@test.com>
  Advanced update URL: https://openpgpkey.test.com/.well-known/openpgpkey/test.com/hu/iffe93qcsgp4c8ncbb378rxjo6cn9q6u?l=test
  Direct update URL: https://test.com/.well-known/openpgpkey/hu/iffe93qcsgp4c8ncbb378rxjo6cn9q6u?l=test
  Subkey: CC47B2DFB520AEF231180725DF20F58B408DEA49
    Created: Tue Sep 10 02:29:42 2013
"
    );
}

#[test]
fn signs_from_a_gnupg1_secret_keyring_in_pure_rust() {
    let keys = secret::load_homedir_file(&data("test-secring.gpg")).unwrap();
    assert_eq!(keys.len(), 3);
    let key = keys.iter().find(|k| openpgp::keyring::matches_pattern(&k.to_public_key(), "7FCA23D8472CDAFA")).unwrap();
    let doc = b"a commit's bytes";
    let sig = secret::sign_with(key, doc).unwrap();
    let r = verify::verify(&keyring("test-pubring.gpg"), doc, &[&sig], verify::now()).unwrap();
    assert_eq!(r.count_valid(), 1, "{}", r.describe_all("Found"));
    assert_eq!(r.signatures[0].key_id(), "7FCA23D8472CDAFA");
    // Not by a key of another keyring.
    let r = verify::verify(&keyring("key2.asc"), doc, &[&sig], verify::now()).unwrap();
    assert!(r.require_valid().unwrap_err().to_string().contains("public key not found"));
}

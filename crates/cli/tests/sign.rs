//! ed25519 signatures on commits, summaries and deltas, checked against a
//! second implementation (Python's `cryptography`, Debian's
//! python3-cryptography) and attacked: signatures moved to another commit,
//! revoked keys, a summary.sig of another summary, truncated signatures,
//! 10,000 of them, key files with garbage. Each is refused with a message
//! that says why, and no ref moves.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A python with `cryptography`: Debian's (where apt installs it), else
/// the one on PATH.
fn python() -> &'static str {
    let ok = |p: &str| Command::new(p).args(["-c", "import cryptography"]).output().is_ok_and(|o| o.status.success());
    for p in ["/usr/bin/python3", "python3"] {
        if ok(p) {
            return p;
        }
    }
    panic!("python3 with cryptography is needed (apt-get install python3-cryptography)");
}

/// Runs a Python snippet with `args` in sys.argv[1:]; returns its stdout.
fn py(code: &str, args: &[&str]) -> String {
    let out = Command::new(python()).arg("-c").arg(code).args(args).output().unwrap();
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A key pair from a fixed seed: (secret in libsodium's 64-byte form,
/// public), both base64, as Python's `cryptography` derives them.
fn keys(seed_byte: u8) -> (String, String) {
    let out = py(
        "import sys,base64\n\
         from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n\
         from cryptography.hazmat.primitives import serialization as s\n\
         seed=bytes([int(sys.argv[1])])*32\n\
         pub=Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(s.Encoding.Raw,s.PublicFormat.Raw)\n\
         print(base64.b64encode(seed+pub).decode()); print(base64.b64encode(pub).decode())",
        &[&seed_byte.to_string()],
    );
    let mut l = out.lines();
    (l.next().unwrap().to_string(), l.next().unwrap().to_string())
}

/// The commit's `ostree.sign.ed25519` signatures, read from its detached
/// metadata. (Not parsed from `show`'s text: GLib prints a signature that
/// happens to end in its only NUL byte as a `b'...'` bytestring, about one
/// in 330.)
fn signatures(repo: &str, c: &str) -> Vec<Vec<u8>> {
    use oxtree_store::gvariant::Value;
    let r = oxtree_store::Repo::open(Path::new(repo)).unwrap();
    let meta = r.load_commitmeta(&oxtree_store::Checksum::from_hex(c).unwrap()).unwrap().expect("detached metadata");
    let Some(Value::Array(_, sigs)) = meta.get("ostree.sign.ed25519") else { panic!("no ostree.sign.ed25519 in {c}") };
    sigs.iter()
        .map(|v| match v {
            Value::Bytes(b) => b.to_vec(),
            other => panic!("a signature that is not bytes: {other:?}"),
        })
        .collect()
}

fn commit_file(repo: &str, c: &str, ext: &str) -> std::path::PathBuf {
    Path::new(repo).join(format!("objects/{}/{}.{ext}", &c[..2], &c[2..]))
}

fn archive_with_commits(w: &TempDir, secret: &str) -> (String, String, String) {
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ox(&[&r, "init", "--mode=archive"]);
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let t = tree.to_string_lossy().into_owned();
    let a = ox(&[&r, "commit", "-b", "main", "-s", "one", &t, "--sign-type=ed25519", &format!("--sign={secret}")])
        .trim()
        .to_string();
    std::fs::write(tree.join("added"), "two\n").unwrap();
    let b = ox(&[&r, "commit", "-b", "main", "-s", "two", &t, "--sign-type=ed25519", &format!("--sign={secret}")])
        .trim()
        .to_string();
    (srv, a, b)
}

#[test]
fn signatures_match_a_second_implementation_both_ways() {
    let w = TempDir::new("sign-python");
    let (secret, public) = keys(7);
    let (srv, _, b) = archive_with_commits(&w, &secret);
    let sigs = signatures(&srv, &b);
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].len(), 64);
    let commit = commit_file(&srv, &b, "commit");
    // Ed25519 is deterministic: Python's signature of the .commit bytes is
    // ours, byte for byte, and verifies with the public key.
    let theirs = py(
        "import sys\n\
         from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n\
         k=Ed25519PrivateKey.from_private_bytes(bytes([7])*32)\n\
         d=open(sys.argv[1],'rb').read(); s=k.sign(d); k.public_key().verify(bytes.fromhex(sys.argv[2]), d)\n\
         print(s.hex())",
        &[commit.to_str().unwrap(), &sigs[0].iter().map(|b| format!("{b:02x}")).collect::<String>()],
    );
    assert_eq!(theirs.trim(), sigs[0].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let r = format!("--repo={srv}");
    let ok = ox(&[&r, "sign", "--verify", "--sign-type=ed25519", &b, &public]);
    assert!(ok.contains("ed25519: Signature verified successfully with key"), "{ok}");
}

#[test]
fn attacks_on_commit_signatures_are_refused_and_no_ref_moves() {
    require_ostree();
    let w = TempDir::new("sign-attacks");
    let (secret, public) = keys(9);
    let (_, other_public) = keys(10);
    let (srv, a, b) = archive_with_commits(&w, &secret);
    ox(&[&format!("--repo={srv}"), "summary", "-u", "--sign-type=ed25519", &format!("--sign={secret}")]);
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    let client = |tag: &str, extra: &[String]| {
        let dest = w.join(tag).to_string_lossy().into_owned();
        let d = format!("--repo={dest}");
        ox(&[&d, "init", "--mode=archive"]);
        let mut args: Vec<String> = vec![d.clone(), "remote".into(), "add".into(), "--no-gpg-verify".into()];
        args.extend_from_slice(extra);
        args.extend(["origin".into(), nginx.url.clone()]);
        ox(&args.iter().map(String::as_str).collect::<Vec<_>>());
        dest
    };
    let pull = |dest: &str| ox_out(&[&format!("--repo={dest}"), "pull", "origin", "main"]);
    let refused = |dest: &str, want: &str| {
        let out = pull(dest);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{dest}: pull succeeded; wanted '{want}'");
        assert!(err.contains(want), "wanted '{want}' in: {err}");
        let head = ox_out(&[&format!("--repo={dest}"), "rev-parse", "origin:main"]);
        assert!(!head.status.success(), "the ref moved");
        assert!(!commit_file(dest, &b, "commit").exists(), "the commit was stored");
    };
    let inline = |k: &str| format!("--sign-verify=ed25519=inline:{k}");

    // The right key: the pull lands.
    let good = client("good", &[inline(&public)]);
    let out = pull(&good);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A key that did not sign.
    refused(
        &client("wrong-key", &[inline(&other_public)]),
        "Can't verify commit: ed25519: Signature couldn't be verified",
    );

    // A revoked key, even though it is trusted.
    let keyfile = w.join("trusted");
    std::fs::write(&keyfile, format!("{public}\n")).unwrap();
    let dir = w.join("keydir");
    std::fs::create_dir_all(dir.join("revoked.ed25519.d")).unwrap();
    std::fs::write(dir.join("revoked.ed25519.d/old"), format!("{public}\n")).unwrap();
    let r = format!("--repo={srv}");
    let out = ox_out(&[&r, "sign", "--verify", "--sign-type=ed25519", &format!("--keys-dir={}", dir.display()), &b]);
    assert!(!out.status.success());
    std::fs::write(dir.join("trusted.ed25519"), format!("{public}\n")).unwrap();
    let out = ox_out(&[&r, "sign", "--verify", "--sign-type=ed25519", &format!("--keys-dir={}", dir.display()), &b]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("revoked"), "{err}");

    // A key file with a garbage line names the file and the line.
    std::fs::write(&keyfile, format!("{public}\nnot a key\n")).unwrap();
    let bad_file = client("garbage-keys", &[format!("--sign-verify=ed25519=file:{}", keyfile.display())]);
    refused(&bad_file, &format!("{}:2: Invalid ed25519 public key", keyfile.display()));

    // A valid signature, but over another commit: b's commitmeta swapped
    // for a's.
    let meta_b = commit_file(&srv, &b, "commitmeta");
    let saved = std::fs::read(&meta_b).unwrap();
    std::fs::copy(commit_file(&srv, &a, "commitmeta"), &meta_b).unwrap();
    refused(&client("moved-sig", &[inline(&public)]), "Can't verify commit: ed25519: Signature couldn't be verified");

    // A truncated signature, and 10,000 of them.
    for (tag, count, len, want) in [
        ("truncated", 1, 63, "expected 64 bytes, got 63 bytes"),
        ("flood", 10_000, 64, "refusing to check more than 256"),
    ] {
        let mut meta = oxtree_store::object::CommitMetadata::default();
        meta.set("ostree.sign.ed25519", oxtree_fetch::verify::signature_array(vec![vec![1u8; len]; count]));
        std::fs::write(&meta_b, meta.to_bytes()).unwrap();
        refused(&client(tag, &[inline(&public)]), want);
    }
    std::fs::write(&meta_b, saved).unwrap();

    // A summary.sig made for another summary.
    let sig = Path::new(&srv).join("summary.sig");
    let saved_sig = std::fs::read(&sig).unwrap();
    ox(&[&format!("--repo={srv}"), "summary", "-u", "--add-metadata=changed='yes'"]);
    std::fs::write(&sig, &saved_sig).unwrap();
    let summary_client = client(
        "stale-summary",
        &[inline(&public), "--set=sign-verify-summary=true".into(), format!("--set=verification-ed25519-key={public}")],
    );
    refused(&summary_client, "ed25519: Signature couldn't be verified");
}

#[test]
fn delta_pulls_verify_the_commit_and_the_signed_superblock_before_applying() {
    let w = TempDir::new("sign-delta");
    let (secret, public) = keys(11);
    let (_, other_public) = keys(12);
    let (srv, a, b) = archive_with_commits(&w, &secret);
    let r = format!("--repo={srv}");
    ox(&[
        &r,
        "static-delta",
        "generate",
        &format!("--from={a}"),
        "--to=main",
        "--sign-type=ed25519",
        &format!("--sign={secret}"),
    ]);
    ox(&[&r, "summary", "-u"]);
    let v = ox(&[&r, "static-delta", "verify", &format!("{a}-{b}"), &public]);
    assert!(v.contains("Verification OK"), "{v}");
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    for (tag, key, ok) in [("right", &public, true), ("wrong", &other_public, false)] {
        let dest = w.join(tag).to_string_lossy().into_owned();
        let d = format!("--repo={dest}");
        ox(&[&d, "init", "--mode=bare-user"]);
        ox(&[&d, "pull-local", &srv, &a]);
        ox(&[
            &d,
            "remote",
            "add",
            "--no-gpg-verify",
            &format!("--sign-verify=ed25519=inline:{key}"),
            "origin",
            &nginx.url,
        ]);
        let out = ox_out(&[&d, "pull", "--require-static-deltas", "origin", "main"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{tag}: {err}");
        if ok {
            assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), b);
            assert!(ox(&[&d, "fsck"]).contains("no errors"));
        } else {
            assert!(err.contains("Can't verify commit: ed25519"), "{err}");
            // Refused before any part was applied: not even the commit.
            assert!(!commit_file(&dest, &b, "commit").exists());
        }
    }
}

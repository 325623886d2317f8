//! Runs every fuzz target body on stable Rust, without libFuzzer: over the
//! objects the real `ostree` wrote (`tests/golden/*.json`), thousands of
//! deterministic mutations of them (bit flips, overwritten framing offsets,
//! truncation, extension, insertion, deletion, duplication), pseudo-random
//! input, and any reproducers kept in `fuzz/regressions/<target>/`.
//!
//! `OXTREE_FUZZ_SMOKE_SCALE=N` multiplies the number of generated inputs
//! (default 1); `OXTREE_FUZZ_SMOKE_SEED=N` changes the pseudo-random seed.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

mod common;

use common::{env_usize, Rng};
use oxtree_fuzz_bodies::{Body, COMPARED_TYPES, OSTREE_TYPES, TARGETS};
use oxtree_store::gvariant::{Type, Value};
use oxtree_store::Checksum;

/// Mutated inputs per seed object and target (times the scale).
const MUTATIONS_PER_TARGET: usize = 3000;
/// Pseudo-random inputs per target (times the scale).
const RANDOM_PER_TARGET: usize = 500;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// Seed inputs for every target, from the golden vectors.
fn seeds() -> BTreeMap<&'static str, Vec<Vec<u8>>> {
    let mut s: BTreeMap<&'static str, Vec<Vec<u8>>> = TARGETS.iter().map(|(n, _)| (*n, Vec::new())).collect();
    let type_index = |t: &str| OSTREE_TYPES.iter().position(|x| *x == t).expect("type in OSTREE_TYPES") as u8;
    let mut push = |target: &'static str, b: Vec<u8>| s.get_mut(target).expect("known target").push(b);
    let golden = root().join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&golden)
        .expect("tests/golden")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden vectors in {}", golden.display());
    let mut metadata: Vec<(&str, Vec<u8>)> = Vec::new();
    for f in files {
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("read")).expect("json");
        if let Some(cfg) = j.get("config").and_then(|c| c.as_str()) {
            push("keyfile", cfg.as_bytes().to_vec());
        }
        for r in j.get("refs").and_then(|r| r.as_object()).into_iter().flat_map(|o| o.values()) {
            if let Some(c) = r.as_str().and_then(|h| Checksum::from_hex(h.trim()).ok()) {
                push("checksum", c.to_hex().into_bytes());
                push("checksum", c.to_modified_base64().into_bytes());
                push("checksum", c.as_bytes().to_vec());
            }
        }
        for o in j.get("objects").and_then(|o| o.as_array()).into_iter().flatten() {
            if let Some(m) = o.get("user.ostreemeta").and_then(|m| m.as_str()) {
                push("file_header", unhex(m));
                let i = COMPARED_TYPES.iter().position(|t| *t == "(uuua(ayay))").expect("compared") as u8;
                push("gvariant_crate", [&[i][..], &unhex(m)].concat());
            }
            let (Some(ext), Some(h)) = (o["ext"].as_str(), o.get("hex").and_then(|h| h.as_str())) else { continue };
            let bytes = unhex(h);
            let ty = match ext {
                "dirtree" => DIRTREE,
                "dirmeta" => DIRMETA,
                "commit" => COMMIT,
                "commitmeta" | "tombstone-commit" => "a{sv}",
                "filez" | "file" => {
                    if ext == "filez" {
                        push("filez", bytes.clone());
                    }
                    // The header inside: a big-endian size, 4 bytes of
                    // padding, then the GVariant.
                    let ty = if ext == "filez" { "(tuuuusa(ayay))" } else { "(uuuusa(ayay))" };
                    let i = COMPARED_TYPES.iter().position(|t| *t == ty).expect("compared") as u8;
                    if let Some(size) = bytes.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4")) as usize) {
                        if let Some(header) = bytes.get(8..8 + size) {
                            push("gvariant_crate", [&[i][..], header].concat());
                        }
                    }
                    push("file_header", bytes);
                    continue;
                }
                _ => continue,
            };
            match ext {
                "dirtree" | "dirmeta" | "commit" | "commitmeta" => push(ext_target(ext), bytes.clone()),
                _ => {}
            }
            metadata.push((ty, bytes));
        }
        // extras.json: summary, delta superblock, delta index, tombstone.
        if let Some(obj) = j.as_object() {
            for (k, v) in obj {
                let Some(h) = v.as_str().filter(|_| k.ends_with("_hex")) else { continue };
                let ty = if k.starts_with("summary") {
                    push("summary", unhex(h));
                    "(a(s(taya{sv}))a{sv})"
                } else if k.starts_with("superblock") {
                    "(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))"
                } else {
                    "a{sv}"
                };
                metadata.push((ty, unhex(h)));
            }
        }
    }
    for (ty, bytes) in &metadata {
        let mut sel = vec![type_index(ty)];
        sel.extend_from_slice(bytes);
        push("gvariant_value", sel.clone());
        // The oracle's first choice reads a value the same way.
        push("python_oracle", [&[0u8][..], &sel].concat());
        // The same bytes with a spelled-out type (the last selector value).
        let mut custom = vec![OSTREE_TYPES.len() as u8];
        custom.extend_from_slice(ty.as_bytes());
        custom.push(0);
        custom.extend_from_slice(bytes);
        push("gvariant_value", custom);
        if let Some(i) = COMPARED_TYPES.iter().position(|t| t == ty) {
            push("gvariant_crate", [&[i as u8][..], bytes].concat());
        }
        let t = Type::parse(ty).expect("type");
        if let Ok(v) = Value::from_bytes(&t, bytes) {
            push("gvariant_text", v.to_text().into_bytes());
            push("gvariant_text", v.byteswap().to_text().into_bytes());
        }
        if *ty == COMMIT {
            // A commit's metadata alone is detached-metadata-shaped.
            if let Ok(c) = oxtree_store::object::Commit::from_bytes(bytes) {
                push("commitmeta", c.metadata.to_bytes());
            }
        }
    }
    for t in [
        "{'version': <'1.0'>, 'ostree.ref-binding': <['main']>}",
        "@a{sv} {}",
        "(uint32 1, 'x', [byte 0x01, 0x02], b'abc', @ay [])",
        "[<int64 -5>, <uint64 7>, <objectpath '/a'>, <signature 'a{sv}'>, <@mi nothing>, <just 3>]",
        "(true, false, 1.5, -2.0e3, int16 -1, uint16 65535, handle 3, \"q'\\n\\u00e9\")",
    ] {
        push("gvariant_text", t.as_bytes().to_vec());
    }
    push("remote_text", b"# mirrors\n\nhttp://127.0.0.1:8000/repo\n https://m.example/r \nftp://no\n".to_vec());
    push(
        "remote_text",
        b"<?xml version=\"1.0\"?><metalink version=\"3.0\"><files><file name=\"summary\"><size>5</size>\
          <verification><hash type=\"sha256\">00</hash></verification><resources>\
          <url protocol=\"http\" preference=\"100\">http://127.0.0.1:1/r/summary</url></resources></file></files></metalink>"
            .to_vec(),
    );
    push(
        "remote_text",
        b"# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tfoo\tbar\n#HttpOnly_example.org\tTRUE\t/repo\tTRUE\t1999999999\tid\tx y\n".to_vec(),
    );
    // The golden static deltas: superblocks, and parts (with their object
    // records, as `delta_part` takes them, and stored uncompressed too so
    // that mutations reach the payload).
    let delta = golden.join("delta");
    for sb_path in ["repo/deltas/dH", "repo/deltas/QF"]
        .iter()
        .flat_map(|d| std::fs::read_dir(delta.join(d)).expect("golden deltas"))
    {
        let dir = sb_path.expect("entry").path();
        let sb_bytes = std::fs::read(dir.join("superblock")).expect("superblock");
        push("delta_superblock", sb_bytes.clone());
        let sb = oxtree_fetch::delta::Superblock::parse(&sb_bytes).expect("golden superblock");
        let part = std::fs::read(dir.join("0")).expect("part");
        let h = &sb.parts[0];
        let raw = oxtree_fetch::delta::part::decompress(&part, 0, 1 << 20).expect("golden part");
        let records = oxtree_fetch::delta::superblock::object_records(&h.objects[..h.objects.len().min(31)]);
        let payload = COMPARED_TYPES.iter().position(|t| *t == "(a(uuu)aa(ayay)ayay)").expect("compared");
        push("gvariant_crate", [&[payload as u8][..], &raw].concat());
        for body in [part, [&[0u8][..], &raw].concat()] {
            let mut seed = vec![h.objects.len().min(31) as u8];
            seed.extend_from_slice(&records);
            seed.extend_from_slice(&body);
            push("delta_part", seed);
        }
    }
    push(
        "delta_superblock",
        std::fs::read(delta.join("delta-inline-bigendian/superblock")).expect("inline superblock"),
    );
    let mut patch = vec![10, 0, 10];
    patch.extend_from_slice(b"kernel v1\n");
    for n in [8u64, 2, 1] {
        patch.extend_from_slice(&n.to_le_bytes());
    }
    patch.extend_from_slice(&[0; 8]);
    patch.extend_from_slice(b"2\n");
    push("bspatch", patch);
    // The Python oracle's objects: fields from the front of the input (see
    // bodies/src/oracle.rs), then a file's content or a commit's metadata.
    let filler: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
    for kind in 1..6u8 {
        push("python_oracle", [&[kind][..], &filler].concat());
    }
    let mut commit = vec![4u8, 1];
    commit.extend_from_slice(&[0xaa; 32]);
    commit.extend_from_slice(&[1, 4]);
    commit.extend_from_slice(b"main");
    commit.extend_from_slice(&[0xbb; 32]);
    commit.extend_from_slice(&[5]);
    commit.extend_from_slice(b"hello");
    commit.extend_from_slice(&[0]);
    commit.extend_from_slice(&1_700_000_000u64.to_le_bytes());
    commit.extend_from_slice(&[0xcc; 64]);
    for (ty, bytes) in &metadata {
        if *ty == COMMIT {
            if let Ok(c) = oxtree_store::object::Commit::from_bytes(bytes) {
                push("python_oracle", [&commit[..], &c.metadata.to_bytes()].concat());
            }
        }
    }
    // A summary.sig with the genuine signature, another, and a short one;
    // a key file with a public key, a secret key and garbage.
    let (key, genuine) = oxtree_fuzz_bodies::fixed_key();
    let mut meta = oxtree_store::object::CommitMetadata::default();
    meta.set(
        "ostree.sign.ed25519",
        oxtree_fetch::verify::signature_array(vec![vec![7; 64], genuine.to_vec(), vec![1; 10]]),
    );
    meta.set("ostree.sign.dummy", oxtree_fetch::verify::signature_array(vec![b"dummysign".to_vec()]));
    push("sign_signatures", meta.to_bytes());
    push("sign_keyfile", format!("{}\n\n  {}  \nnot a key\n", key.public().to_base64(), key.to_base64()).into_bytes());
    // OpenPGP: GnuPG keyrings (binary with trust packets, armored, a
    // revocation) and real signatures, good and bad, in an a{sv}.
    let pgp = root().join("crates/sign/tests/data/openpgp");
    for f in ["test-pubring.gpg", "verify-pubring.gpg", "key1.asc", "key1.rev"] {
        push("openpgp_keyring", std::fs::read(pgp.join(f)).expect("OpenPGP fixture"));
    }
    let sigs: Vec<Vec<u8>> =
        (0..5).map(|n| std::fs::read(pgp.join(format!("lgpl2.sig{n}"))).expect("OpenPGP signature")).collect();
    let mut meta = oxtree_store::object::CommitMetadata::default();
    meta.set("ostree.gpgsigs", oxtree_fetch::verify::signature_array(sigs));
    push("openpgp_signatures", meta.to_bytes());
    for f in ["expected-output-2022.7.txt"] {
        let t = std::fs::read_to_string(root().join("tests/golden/sysroot").join(f)).expect("sysroot transcript");
        // Each BLS entry and syslinux.cfg of the recorded experiment.
        for block in t.split("\n-- ") {
            push("boot_config", block.as_bytes().to_vec());
        }
    }
    push("boot_config", b"title T (ostree:0)\nversion 1\noptions root=LABEL=ROOT a=\"b c\" ostree=/ostree/boot.1/os/c/0\nlinux /ostree/os-c/vmlinuz\ninitrd /ostree/os-c/initramfs.img\ninitrd /overlay.img\nfdtdir /ostree/os-c/dtb\n".to_vec());
    // Tar streams: a small tree (directory, file, symlink, hard link) as
    // GNU tar writes it.
    {
        let dir = std::env::temp_dir().join(format!(
            "oxtree-fuzz-seed-tar-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("t/usr/bin")).expect("seed tree");
        std::fs::write(dir.join("t/usr/bin/tool"), b"#!/bin/sh\n").expect("seed file");
        std::fs::hard_link(dir.join("t/usr/bin/tool"), dir.join("t/usr/bin/alias")).expect("seed hard link");
        std::os::unix::fs::symlink("usr/bin", dir.join("t/bin")).expect("seed symlink");
        let out = std::process::Command::new("tar")
            .args(["-C", "t", "--owner=0", "--group=0", "-cf", "-", "."])
            .current_dir(&dir)
            .output()
            .expect("tar");
        assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
        push("tar_import", out.stdout);
        let _ = std::fs::remove_dir_all(&dir);
    }
    // HTTP responses and dates.
    for r in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-4/5\r\nContent-Length: 3\r\n\r\nllo",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 500 Internal Server Error\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
        b"Sun, 06 Nov 1994 08:49:37 GMT",
    ] {
        push("http_response", r.to_vec());
    }
    // Staged-deployment records: a full one and a bare one.
    {
        use oxtree_sysroot::staged::{Staged, StagedRef};
        let r = |c: char, serial| StagedRef {
            osname: "os".into(),
            csum: c.to_string().repeat(64),
            deployserial: serial,
            bootcsum: "b".repeat(64),
        };
        let full = Staged {
            target: r('a', 1),
            merge: Some(r('c', 0)),
            kargs: Some(vec!["root=LABEL=ROOT".into(), "quiet".into()]),
            overlay_initrds: vec!["d".repeat(64)],
        };
        push("staged_record", full.to_bytes());
        push("staged_record", Staged { merge: None, kargs: None, overlay_initrds: vec![], ..full }.to_bytes());
        // Origin files: a plain deployment, a pinned and unlocked one, a
        // layered one as rpm-ostree writes it, and one not configured.
        for o in [
            "[origin]\nrefspec=os:os/x86_64/stable\n",
            "[origin]\nrefspec=local/ref\nunlocked=hotfix\noverride-commit=aa\n\n[libostree-transient]\npinned=true\n",
            "[origin]\nbaserefspec=fedora:fedora/x86_64/silverblue\n\n[packages]\nrequested-local=\
             0123abcd:hello-0:1.0-1.x86_64;feedbeef:tree-2.1-3.noarch;\n",
            "[origin]\nunconfigured-state=Use the vendor's tool to set an origin\n",
        ] {
            push("origin", o.as_bytes().to_vec());
        }
    }
    push("boot_config", b"DEFAULT rescue\nLABEL rescue\n\tKERNEL /vmlinuz-rescue\n\tAPPEND single\nLABEL Old (ostree:0)\n\tKERNEL /boot/ostree/os-old/vmlinuz\n".to_vec());
    // An uncompressed payload (selector 0): a file, a directory, a stripped
    // member (index 2: 6 bytes) and the trailer.
    let member = |name: &str, mode: u32, data: &[u8]| {
        let mut v = format!(
            "070701{:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        )
        .into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    };
    let mut payload = vec![0u8];
    payload.extend(member("./usr/bin/tool", 0o100755, b"#!/bin/sh\n"));
    payload.extend(member("./usr/lib", 0o40755, b""));
    payload.extend(b"07070X00000002\0\0abcdef\0\0");
    payload.extend(member("TRAILER!!!", 0, b""));
    push("cpio", payload);
    // Whole RPMs: the rpm crate's v4 and v6 packages the import tests use.
    let mut dirs = vec![root().join("rpmimport/tests/fixtures/rpm-rs")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("rpm fixtures") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                push("rpm_import", std::fs::read(&p).expect("an RPM fixture"));
            }
        }
    }
    push("treefile", b"ref: os/x86_64/base\nrepos: [repo]\npackages: [\"a b\", c]\npackages-x86_64: [d]\nexclude-packages: [f]\nadd-files: [[motd, /etc/motd]]\nremove-files: [usr/share/doc]\ndocumentation: false\nselinux: false\ninstall-langs: [en_US]\nautomatic-version-prefix: \"40\"\n".to_vec());
    push("treefile", br#"{"ref": "r", "repos": ["x"], "packages": ["a"], "boot-location": "modules"}"#.to_vec());
    push("keyfile", b"# comment\n[core]\nrepo_version=1\nmode=bare\n\n[remote \"origin\"]\nurl=http://127.0.0.1:8000/repo\ngpg-verify=false\nbranches=main;dev;\nx=\\s lead\\ttab\\\\\n".to_vec());
    s
}

const DIRTREE: &str = "(a(say)a(sayay))";
const DIRMETA: &str = "(uuua(ayay))";
const COMMIT: &str = "(a{sv}aya(say)sstayay)";

fn ext_target(ext: &str) -> &'static str {
    match ext {
        "dirtree" => "dirtree",
        "dirmeta" => "dirmeta",
        "commit" => "commit",
        _ => "commitmeta",
    }
}

/// Values that make GVariant framing interesting: offset widths' edges.
const INTERESTING: &[u64] = &[0, 1, 2, 7, 8, 0x7f, 0x80, 0xfe, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, u64::MAX];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        // Framing offsets sit at the end of containers: favour the tail.
        let pos = if len > 0 && rng.below(2) == 0 { len - 1 - rng.below(len.min(16)) } else { rng.below(len + 1) };
        match rng.below(9) {
            0 if len > 0 => b[pos.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => b[pos.min(len - 1)] = rng.next() as u8,
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let w = [1, 2, 4, 8][rng.below(4)];
                for (i, byte) in v[..w].iter().enumerate() {
                    if let Some(slot) = b.get_mut(pos + i) {
                        *slot = *byte;
                    }
                }
            }
            3 => b.truncate(pos),
            4 => {
                let n = 1 + rng.below(64);
                let extra = rng.bytes(n);
                b.extend_from_slice(&extra);
            }
            5 => {
                let n = 1 + rng.below(16);
                let extra = rng.bytes(n);
                b.splice(pos..pos, extra);
            }
            6 if len > 0 => {
                let end = (pos + 1 + rng.below(16)).min(len);
                b.drain(pos.min(len - 1)..end);
            }
            7 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let chunk = b[start..end].to_vec();
                b.splice(pos..pos, chunk);
            }
            _ if len > 1 => {
                let other = rng.below(len);
                b.swap(pos.min(len - 1), other);
            }
            _ => b.push(rng.next() as u8),
        }
    }
    b
}

/// Random text in the alphabets the text parsers care about.
fn random_text(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "'",
        "\"",
        "\\",
        "<",
        ">",
        "[",
        "]",
        "{",
        "}",
        "(",
        ")",
        ",",
        ":",
        " ",
        "\n",
        "\r",
        "=",
        "#",
        "@",
        "a{sv}",
        "ay",
        "true",
        "nothing",
        "just",
        "byte",
        "uint32",
        "int64",
        "double",
        "objectpath",
        "signature",
        "0x",
        "-1",
        "1e9",
        ".5",
        "nan",
        "inf",
        "\\u00e9",
        "\\n",
        "\\s",
        "é",
        "\u{0}",
        "x",
        "core",
        "[core]",
        "mode",
        "b'",
        "handle",
        "string",
    ];
    let n = rng.below(24);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(PIECES[rng.below(PIECES.len())]);
    }
    s.into_bytes()
}

struct Failure {
    target: &'static str,
    input: Vec<u8>,
}

fn run_one(target: &'static str, body: Body, input: &[u8], failures: &mut Vec<Failure>) {
    if catch_unwind(AssertUnwindSafe(|| body(input))).is_err() {
        failures.push(Failure { target, input: input.to_vec() });
    }
}

#[test]
fn every_target_survives_mutated_golden_and_random_input() {
    let scale = env_usize("OXTREE_FUZZ_SMOKE_SCALE", 1).max(1);
    let mut rng = Rng(env_usize("OXTREE_FUZZ_SMOKE_SEED", 0x0c7e_e5ee_d5ee_d5ee) as u64 | 1);
    let seeds = seeds();
    let all: Vec<Vec<u8>> = seeds.values().flatten().cloned().collect();
    let mut failures = Vec::new();
    let mut total = 0usize;
    for (name, body) in TARGETS {
        let own = &seeds[name];
        assert!(!own.is_empty(), "no seeds for {name}");
        let text =
            matches!(*name, "gvariant_text" | "keyfile" | "checksum" | "remote_text" | "boot_config" | "http_response");
        // The seeds as they are, and every other target's too.
        for s in &all {
            run_one(name, *body, s, &mut failures);
            total += 1;
        }
        // Mutations, mostly of this target's own seeds.
        for i in 0..MUTATIONS_PER_TARGET * scale {
            let pool = if i % 4 == 3 { &all } else { own };
            let seed = &pool[rng.below(pool.len())];
            let mut m = mutate(seed, &mut rng);
            if text && i % 2 == 0 {
                m = String::from_utf8_lossy(&m).into_owned().into_bytes();
            }
            run_one(name, *body, &m, &mut failures);
            total += 1;
        }
        // Pseudo-random input.
        for i in 0..RANDOM_PER_TARGET * scale {
            let input = if text && i % 2 == 0 {
                random_text(&mut rng)
            } else {
                let n = rng.below(if i % 8 == 0 { 2048 } else { 96 });
                rng.bytes(n)
            };
            run_one(name, *body, &input, &mut failures);
            total += 1;
        }
        // Kept reproducers.
        let dir = root().join("fuzz/regressions").join(name);
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.filter_map(|e| e.ok()) {
                let input = std::fs::read(e.path()).expect("read regression input");
                run_one(name, *body, &input, &mut failures);
                total += 1;
            }
        }
    }
    if !failures.is_empty() {
        let mut msg = format!("{} of {total} inputs made a fuzz target panic:\n", failures.len());
        for f in failures.iter().take(20) {
            msg.push_str(&format!("  {}: {}\n", f.target, hex(&f.input)));
        }
        panic!("{msg}");
    }
    eprintln!("fuzz smoke: {total} inputs over {} targets, no panic", TARGETS.len());
}

/// With `OXTREE_FUZZ_SEED_DIR=DIR`, writes every target's seeds to
/// `DIR/<target>/seed-N` (files already there are kept): `fuzz/run.sh`
/// starts libFuzzer's corpora from them. Without it, checks that every
/// target has seeds.
#[test]
fn seeds_for_libfuzzer() {
    let seeds = seeds();
    let Ok(dir) = std::env::var("OXTREE_FUZZ_SEED_DIR") else {
        assert!(seeds.values().all(|s| !s.is_empty()), "a target without seeds");
        return;
    };
    for (name, inputs) in &seeds {
        let d = Path::new(&dir).join(name);
        std::fs::create_dir_all(&d).expect("create the seed directory");
        for (i, input) in inputs.iter().enumerate() {
            let p = d.join(format!("seed-{i}"));
            if !p.exists() {
                std::fs::write(&p, input).expect("write a seed");
            }
        }
    }
}

//! `oxtree rpm import` against rpm's own tools and the real ostree.
//!
//! Fixtures are made in the set-up (`scripts/rpm-fixtures.sh`): the feature
//! fixture built by rpmbuild once per payload compressor, and Debian
//! packages converted by alien; plus the `rpm` crate's own RPMs (v4 and v6,
//! signed), kept in `rpmimport/tests/fixtures/rpm-rs/`. Each import is
//! checked out by the real ostree and compared entry by entry with what
//! `rpm2cpio | cpio -idm` extracts, with the path rules applied here from
//! their table (not from the importer's code), owners and modes from the
//! header (`rpm -qp --qf`), and capabilities as libcap's `setcap` writes
//! them.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use oxtree_store::repo::read_xattrs;
use oxtree_store::Checksum;

fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rpm-fixtures");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rpm-fixtures.sh");
        let st = Command::new(&script).arg(&dir).status().expect("scripts/rpm-fixtures.sh (needs rpm, alien)");
        assert!(st.success(), "scripts/rpm-fixtures.sh failed");
        dir
    })
    .clone()
}

fn crate_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rpmimport/tests/fixtures/rpm-rs")
}

fn rpms_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// One file as rpm itself reports it.
#[derive(Debug, Clone)]
struct RpmFile {
    path: String,
    user: String,
    group: String,
    caps: String,
    flags: u32,
    mode: u32,
    digest: String,
    linkto: String,
}

const GHOST: u32 = 1 << 6;

fn rpm_query(rpm: &Path, fmt: &str) -> String {
    let o = Command::new("rpm").args(["-qp", "--nosignature", "--nodigest", "--qf", fmt]).arg(rpm).output().unwrap();
    assert!(o.status.success(), "rpm -qp {}: {}", rpm.display(), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn rpm_files(rpm: &Path) -> Vec<RpmFile> {
    let out = rpm_query(
        rpm,
        "[%{FILENAMES}\\t%{FILEUSERNAME}\\t%{FILEGROUPNAME}\\t%{FILECAPS}\\t%{FILEFLAGS}\\t%{FILEMODES}\\t%{FILEDIGESTS}\\t%{FILELINKTOS}\\n]",
    );
    out.lines()
        .filter(|l| !l.is_empty() && *l != "(none)")
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            RpmFile {
                path: f[0].to_string(),
                user: f[1].to_string(),
                group: f[2].to_string(),
                caps: if f[3] == "(none)" { String::new() } else { f[3].to_string() },
                flags: f[4].parse().unwrap(),
                mode: f[5].parse::<i64>().unwrap() as u32 & 0xffff,
                digest: f[6].to_string(),
                linkto: f[7].to_string(),
            }
        })
        .collect()
}

/// The spec's path table, for files in the tree (`None`: under /var or
/// /run, not in the tree).
fn placed(path: &str) -> Option<String> {
    let rel = path.trim_start_matches("./").trim_start_matches('/');
    let sub = |dir: &str| {
        if rel == dir {
            Some("")
        } else {
            rel.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
        }
    };
    let join = |base: &str, rest: &str| if rest.is_empty() { base.to_string() } else { format!("{base}/{rest}") };
    if let Some(r) = sub("etc") {
        return Some(join("usr/etc", r));
    }
    if let Some(r) = sub("boot") {
        return Some(join("usr/lib/ostree-boot", r));
    }
    if let Some(r) = sub("opt") {
        return Some(join("usr/lib/opt", r));
    }
    if rel.starts_with("var/") || rel.starts_with("run/") {
        return None;
    }
    Some(rel.to_string())
}

fn id_table(file: &str) -> BTreeMap<String, u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

/// `security.capability` as libcap writes it for `text`, in hex.
fn libcap(text: &str, scratch: &Path) -> String {
    let f = scratch.join("caps-oracle");
    std::fs::write(&f, b"").unwrap();
    let st = Command::new("setcap").arg(text).arg(&f).status().expect("setcap (libcap2-bin)");
    assert!(st.success(), "setcap {text}");
    let x = read_xattrs(&f).unwrap();
    let v = x.iter().find(|(n, _)| n == b"security.capability").expect("setcap wrote no xattr").1;
    hex(v)
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: char,
    mode: u32,
    uid: u32,
    gid: u32,
    content: String,
    caps: String,
}

/// The tree at `root`: every entry with type, permission bits, owner,
/// content (sha256) or link target, and capabilities.
fn tree(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((p, rel)) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let (kind, content) = if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                let n = e.unwrap().file_name().into_string().unwrap();
                let r = if rel.is_empty() { n.clone() } else { format!("{rel}/{n}") };
                stack.push((p.join(&n), r));
            }
            ('d', String::new())
        } else if ft.is_symlink() {
            ('l', std::fs::read_link(&p).unwrap().to_string_lossy().into_owned())
        } else {
            ('-', Checksum::digest(&std::fs::read(&p).unwrap()).to_hex())
        };
        let caps = if ft.is_symlink() {
            String::new()
        } else {
            read_xattrs(&p)
                .unwrap()
                .iter()
                .find(|(n, _)| n == b"security.capability")
                .map(|(_, v)| hex(v))
                .unwrap_or_default()
        };
        let mode = if ft.is_symlink() { 0o777 } else { md.permissions().mode() & 0o7777 };
        out.insert(rel, Node { kind, mode, uid: md.uid(), gid: md.gid(), content, caps });
    }
    out
}

fn import(repo: &Path, rpm: &Path) -> (String, String) {
    let out = ox(&["rpm", "import", &format!("--repo={}", repo.display()), rpm.to_str().unwrap()]);
    let mut w = out.split_whitespace();
    (w.next().unwrap().to_string(), w.next().unwrap().to_string())
}

/// Imports `rpm`, checks it out with the real ostree, and compares the tree
/// with rpm's view of the package (and with its extraction, when Debian's
/// rpm2cpio can read the payload).
fn check_package(rpm: &Path) {
    let w = TempDir::new("rpm-import");
    let repo = w.join("repo");
    ostree(&["init", &format!("--repo={}", repo.display()), "--mode=bare"]);
    let (branch, commit) = import(&repo, rpm);
    let name = rpm_query(rpm, "%{NAME}");
    let evr = rpm_query(rpm, "%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}");
    // rpm-ostree leaves out an epoch of 0, given or not.
    let evr = evr.strip_prefix("0:").unwrap_or(&evr).to_string();
    let arch = rpm_query(rpm, "%{ARCH}");
    let esc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' => (b as char).to_string(),
                b'_' => "__".into(),
                _ => format!("_{b:02X}"),
            })
            .collect::<String>()
    };
    assert_eq!(branch, format!("rpmostree/pkg/{}/{}.{}", esc(&name), esc(&evr), esc(&arch)), "{}", rpm.display());
    assert_eq!(ostree(&["rev-parse", &format!("--repo={}", repo.display()), &branch]).trim(), commit);
    ostree(&["fsck", &format!("--repo={}", repo.display())]);
    let buildtime: u64 = rpm_query(rpm, "%{BUILDTIME}").parse().unwrap();
    let shown = ostree(&["show", &format!("--repo={}", repo.display()), &commit]);
    let date = String::from_utf8(
        Command::new("date")
            .args(["-u", "-d", &format!("@{buildtime}"), "+%Y-%m-%d %H:%M:%S +0000"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(shown.contains(&format!("Date:  {}", date.trim())), "commit time is not the build time:\n{shown}");

    // The same commit in every repo mode that keeps owners.
    for mode in ["bare-user", "archive"] {
        let r = w.join(mode);
        ostree(&["init", &format!("--repo={}", r.display()), &format!("--mode={mode}")]);
        assert_eq!(import(&r, rpm).1, commit, "{}: {mode} repo gives another commit", rpm.display());
    }

    let co = w.join("co");
    ostree(&["checkout", &format!("--repo={}", repo.display()), &commit, co.to_str().unwrap()]);
    let got = tree(&co);

    let users = id_table("/etc/passwd");
    let groups = id_table("/etc/group");
    let files = rpm_files(rpm);
    let by_path: BTreeMap<&str, &RpmFile> = files.iter().map(|f| (f.path.as_str(), f)).collect();

    // What rpm's header says, for every file in the tree.
    for f in files.iter().filter(|f| f.flags & GHOST == 0) {
        let Some(rel) = placed(&f.path) else { continue };
        let n = got.get(&rel).unwrap_or_else(|| panic!("{}: {} ({rel}) is not in the tree", rpm.display(), f.path));
        let uid = if f.user == "root" { 0 } else { users.get(&f.user).copied().unwrap_or(0) };
        let gid = if f.group == "root" { 0 } else { groups.get(&f.group).copied().unwrap_or(0) };
        assert_eq!((n.uid, n.gid), (uid, gid), "{}: owner of {}", rpm.display(), f.path);
        let perm = f.mode & 0o7777;
        match f.mode & 0o170000 {
            0o040000 => assert_eq!((n.kind, n.mode), ('d', perm | 0o200), "{}: {}", rpm.display(), f.path),
            0o120000 => assert_eq!((n.kind, n.content.as_str()), ('l', f.linkto.as_str()), "{}", f.path),
            _ => {
                assert_eq!((n.kind, n.mode), ('-', perm), "{}: {}", rpm.display(), f.path);
                if f.digest.len() == 64 {
                    assert_eq!(n.content, f.digest, "{}: content of {}", rpm.display(), f.path);
                }
                let want = if f.caps.is_empty() { String::new() } else { libcap(&f.caps, w.path()) };
                assert_eq!(n.caps, want, "{}: capabilities of {}", rpm.display(), f.path);
            }
        }
    }

    // The tmpfiles.d lines for /var and /run, and the /opt links.
    let mut lines: Vec<String> = Vec::new();
    for f in files.iter().filter(|f| f.flags & GHOST == 0) {
        let line = if let Some(top) = f.path.strip_prefix("/opt/").map(|r| r.split('/').next().unwrap()) {
            format!("L /opt/{top} - - - - ../../usr/lib/opt/{top}")
        } else if placed(&f.path).is_none() && !f.path.starts_with("/var/lib/rpm") {
            let p = f.path.strip_prefix("/var/run").map(|r| format!("/run{r}")).unwrap_or(f.path.clone());
            match f.mode & 0o170000 {
                0o040000 => format!("d {p} {:04o} {} {} - -", f.mode & 0o7777, f.user, f.group),
                0o120000 => format!("L {p} - - - - {}", f.linkto),
                _ => continue,
            }
        } else {
            continue;
        };
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    let conf = format!("usr/lib/rpm-ostree/tmpfiles.d/{name}.conf");
    if lines.is_empty() {
        assert!(!got.contains_key(&conf));
    } else {
        let text = std::fs::read_to_string(co.join(&conf)).unwrap();
        assert_eq!(text, lines.join("\n") + "\n", "{}: tmpfiles.d", rpm.display());
    }

    // Against the extraction, entry by entry, both ways.
    let ex = w.join("extract");
    std::fs::create_dir_all(&ex).unwrap();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("rpm2cpio '{}' 2>/dev/null | cpio -idm --quiet 2>/dev/null", rpm.display()))
        .current_dir(&ex)
        .status()
        .unwrap();
    let extracted = tree(&ex);
    if !st.success() || extracted.len() <= 1 {
        // Debian's rpm 4.18 cannot read v6 payloads (the stripped cpio
        // form); the header checks above hold for them.
        assert!(rpm.to_string_lossy().contains("/v6/") || files.is_empty(), "{}: rpm2cpio failed", rpm.display());
        return;
    }
    let mut want: BTreeMap<String, Node> = BTreeMap::new();
    for (p, n) in &extracted {
        let abs = format!("/{p}");
        let Some(rel) = placed(&abs) else { continue };
        if (abs == "/var" || abs == "/run") && !by_path.contains_key(abs.as_str()) {
            continue;
        }
        let mut n = n.clone();
        match by_path.get(abs.as_str()) {
            Some(f) => {
                n.uid = if f.user == "root" { 0 } else { users.get(&f.user).copied().unwrap_or(0) };
                n.gid = if f.group == "root" { 0 } else { groups.get(&f.group).copied().unwrap_or(0) };
                n.caps = if f.caps.is_empty() { String::new() } else { libcap(&f.caps, w.path()) };
                if n.kind == 'd' {
                    n.mode |= 0o200;
                }
            }
            // Directories cpio made for paths the package does not own.
            None => n = Node { kind: 'd', mode: 0o755, uid: 0, gid: 0, content: String::new(), caps: String::new() },
        }
        want.insert(rel, n);
    }
    // Parents the moves create, and the tmpfiles.d file.
    let implicit = Node { kind: 'd', mode: 0o755, uid: 0, gid: 0, content: String::new(), caps: String::new() };
    if !lines.is_empty() {
        want.insert(conf.clone(), got[&conf].clone());
    }
    for k in want.keys().cloned().collect::<Vec<_>>() {
        let mut p = k.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            want.entry(parent.to_string()).or_insert_with(|| implicit.clone());
            p = parent;
        }
        want.entry(String::new()).or_insert_with(|| implicit.clone());
    }
    // A /boot kernel is also where OSTree looks first.
    for (k, n) in want.clone() {
        if let Some(kver) = k.strip_prefix("usr/lib/ostree-boot/vmlinuz-") {
            want.entry(format!("usr/lib/modules/{kver}")).or_insert_with(|| implicit.clone());
            want.entry(format!("usr/lib/modules/{kver}/vmlinuz")).or_insert(n);
        }
    }
    let diffs: Vec<String> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", got.get(k)))
        .chain(got.keys().filter(|k| !want.contains_key(*k)).map(|k| format!("{k}: only in the import")))
        .collect();
    assert!(diffs.is_empty(), "{}: import differs from rpm2cpio | cpio -idm:\n{}", rpm.display(), diffs.join("\n"));
}

#[test]
fn every_payload_compressor_imports_as_rpm2cpio_extracts() {
    if !is_root() {
        eprintln!("skipped: owners and capabilities need root to check out");
        return;
    }
    let rpms = rpms_under(&fixtures().join("rpmbuild"));
    assert_eq!(rpms.len(), 6, "one fixture per compressor");
    for rpm in &rpms {
        check_package(rpm);
    }
}

#[test]
fn debian_packages_converted_by_alien_import_as_extracted() {
    if !is_root() {
        eprintln!("skipped: owners and capabilities need root to check out");
        return;
    }
    let rpms = rpms_under(&fixtures().join("alien"));
    assert_eq!(rpms.len(), 3);
    for rpm in &rpms {
        check_package(rpm);
    }
}

#[test]
fn the_rpm_crates_fixtures_import_v4_v6_and_signed() {
    if !is_root() {
        eprintln!("skipped: owners and capabilities need root to check out");
        return;
    }
    let rpms = rpms_under(&crate_fixtures());
    assert!(rpms.len() >= 20);
    for rpm in rpms.iter().filter(|r| !r.to_string_lossy().contains("special-files")) {
        check_package(rpm);
    }
}

/// Where the payload starts: after the 96-byte lead, the signature header
/// (padded to 8) and the header.
fn payload_offset(b: &[u8]) -> usize {
    let header_len = |o: usize| {
        let n = u32::from_be_bytes(b[o + 8..o + 12].try_into().unwrap()) as usize;
        let dl = u32::from_be_bytes(b[o + 12..o + 16].try_into().unwrap()) as usize;
        16 + 16 * n + dl
    };
    let mut o = 96 + header_len(96);
    o += (8 - o % 8) % 8;
    o + header_len(o)
}

/// Runs an import that must fail; returns its error text, after checking
/// that nothing was written: no ref, and a repo fsck accepts.
fn refused(repo: &Path, rpm: &Path) -> String {
    let o = ox_out(&["rpm", "import", &format!("--repo={}", repo.display()), rpm.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{} was imported", rpm.display());
    assert!(o.stdout.is_empty(), "{}: printed {}", rpm.display(), String::from_utf8_lossy(&o.stdout));
    assert!(err.contains(rpm.to_str().unwrap()), "the error does not name the file: {err}");
    assert_eq!(ostree(&["refs", &format!("--repo={}", repo.display())]), "", "{}: a ref was written", rpm.display());
    ostree(&["fsck", &format!("--repo={}", repo.display())]);
    err
}

fn build_rpm(path: &Path, files: &[(&str, &[u8])]) {
    let mut b = rpm::PackageBuilder::new("hostile", "1.0", "MIT", "noarch", "refused by the importer");
    b.using_config(rpm::BuildConfig::v4().compression(rpm::CompressionType::None));
    for (dest, data) in files {
        b.with_file_contents(data.to_vec(), rpm::FileOptions::new(*dest)).unwrap();
    }
    b.build().unwrap().write_file(path).unwrap();
}

#[test]
fn bad_packages_are_refused_by_name_and_write_nothing() {
    let w = TempDir::new("rpm-bad");
    let repo = w.join("repo");
    ostree(&["init", &format!("--repo={}", repo.display()), "--mode=bare-user"]);
    let plain = std::fs::read(fixtures().join("rpmbuild/w0.ufdio/ostree-fixture-1.2.3-4.x86_64.rpm")).unwrap();
    let xz = std::fs::read(fixtures().join("rpmbuild/w6.xzdio/ostree-fixture-1.2.3-4.x86_64.rpm")).unwrap();
    let start = payload_offset(&plain);
    let write = |name: &str, bytes: &[u8]| {
        let p = w.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let find =
        |hay: &[u8], needle: &[u8]| start + hay[start..].windows(needle.len()).position(|x| x == needle).unwrap();

    // Truncated: in the lead, in the headers, at the payload, in it.
    for (cut, want) in [(50, "truncated"), (start - 100, "truncated"), (start, "truncated"), (start + 700, "truncated")]
    {
        let err = refused(&repo, &write("cut.rpm", &plain[..cut]));
        assert!(err.to_lowercase().contains(want), "cut at {cut}: {err}");
    }
    let xz_start = payload_offset(&xz);
    let err = refused(&repo, &write("cut-xz.rpm", &xz[..xz_start + (xz.len() - xz_start) / 2]));
    assert!(err.contains("payload") || err.contains("truncated"), "{err}");

    // A header byte changed: its digest no longer matches.
    let mut b = plain.clone();
    let i = b[..start].windows(13).position(|x| x == b"fixture-hello").unwrap();
    b[i] = b'F';
    let err = refused(&repo, &write("header.rpm", &b));
    assert!(err.contains("header digest mismatch"), "{err}");

    // A file's content changed: its digest names it.
    let mut b = plain.clone();
    let i = find(&plain, b"1\n2\n3\n4\n");
    b[i] = b'9';
    let err = refused(&repo, &write("content.rpm", &b));
    assert!(err.contains("/usr/bin/fixture-bigblob") && err.contains("does not match"), "{err}");

    // The payload changed where no file's digest looks (the trailer's
    // padding): the payload digest catches it.
    let mut b = plain.clone();
    *b.last_mut().unwrap() ^= 1;
    let err = refused(&repo, &write("payload.rpm", &b));
    assert!(err.contains("payload digest") && err.contains("does not match"), "{err}");

    // A member the header does not list.
    let mut b = plain.clone();
    let i = find(&plain, b"./usr/bin/fixture-empty\0");
    b[i + 22] = b'z';
    let err = refused(&repo, &write("member.rpm", &b));
    assert!(err.contains("'/usr/bin/fixture-emptz' is not in the header"), "{err}");

    // Paths that escape the tree, or that no rule places.
    build_rpm(&w.join("escape.rpm"), &[("/usr/../../etc/evil", b"x")]);
    let err = refused(&repo, &w.join("escape.rpm"));
    assert!(err.contains("'/usr/../../etc/evil' escapes the tree"), "{err}");
    build_rpm(&w.join("home.rpm"), &[("/usr/bin/ok", b"x"), ("/home/user/.bashrc", b"x")]);
    let err = refused(&repo, &w.join("home.rpm"));
    assert!(err.contains("unsupported path '/home/user/.bashrc'"), "{err}");
    let ok = ox(&[
        "rpm",
        "import",
        "--skip-extraneous",
        &format!("--repo={}", repo.display()),
        w.join("home.rpm").to_str().unwrap(),
    ]);
    assert!(ok.starts_with("rpmostree/pkg/hostile/1.0-1.noarch "), "{ok}");
    ostree(&["refs", "--delete", &format!("--repo={}", repo.display()), "rpmostree/pkg/hostile/1.0-1.noarch"]);

    // Device nodes and FIFOs (under /dev, which no rule places).
    let err = refused(&repo, &crate_fixtures().join("v6/rpm-special-files-1.0-1.noarch.rpm"));
    assert!(err.contains("/dev/"), "{err}");

    // Not an RPM at all.
    let err = refused(&repo, &write("text.rpm", b"hello, world\n"));
    assert!(err.contains("not an RPM"), "{err}");
    let err = refused(&repo, &write("empty.rpm", b""));
    assert!(err.contains("not an RPM"), "{err}");
    let err = refused(&repo, &w.join("missing.rpm"));
    assert!(err.contains("No such file"), "{err}");
}

//! OpenPGP signatures against the real `ostree` (GPGME and GnuPG): commits
//! and summaries it signs verify with oxtree, and oxtree's (made in pure
//! Rust, or through the gpg program) verify with it. Attacks: a signature
//! moved to another commit, a summary.sig of another summary, a key the
//! remote does not trust; each refused, and no ref moves. The keys are
//! OSTree's test keys (crates/sign/tests/data/openpgp).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const KEY1: &str = "7FCA23D8472CDAFA";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sign/tests/data/openpgp").join(name)
}

/// A GnuPG home holding OSTree's three test keys (GnuPG 1 keyrings, as
/// OSTree's tests have them), and a directory with only their public keys
/// (for OSTREE_GPG_HOME).
struct GpgHome {
    home: PathBuf,
    trusted: PathBuf,
}

impl GpgHome {
    fn new(w: &TempDir) -> GpgHome {
        let home = w.join("gpghome");
        let trusted = w.join("trusted");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&trusted).unwrap();
        std::fs::copy(fixture("test-secring.gpg"), home.join("secring.gpg")).unwrap();
        std::fs::copy(fixture("test-pubring.gpg"), home.join("pubring.gpg")).unwrap();
        std::fs::copy(fixture("test-pubring.gpg"), trusted.join("pubring.gpg")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        GpgHome { home, trusted }
    }

    fn homedir_arg(&self) -> String {
        format!("--gpg-homedir={}", self.home.display())
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        // GnuPG leaves an agent running for the home it signed from.
        let _ = Command::new("gpgconf").arg("--homedir").arg(&self.home).args(["--kill", "gpg-agent"]).output();
    }
}

/// Runs `bin` with `env` set; returns its output.
fn run(bin: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(bin);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap_or_else(|e| panic!("running {bin}: {e}"))
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn tree(w: &TempDir, name: &str, content: &str) -> String {
    let t = w.join(name);
    std::fs::create_dir_all(t.join("etc")).unwrap();
    std::fs::write(t.join("etc/os-release"), content).unwrap();
    std::fs::write(t.join("file"), format!("{content} and more\n")).unwrap();
    t.to_string_lossy().into_owned()
}

/// A fresh repo with a remote `origin` at `url` and the `add` options.
fn client(w: &TempDir, tag: &str, url: &str, add: &[&str]) -> String {
    let dest = w.join(tag).to_string_lossy().into_owned();
    let d = format!("--repo={dest}");
    ox(&[&d, "init", "--mode=bare-user"]);
    let mut args = vec![d.as_str(), "remote", "add"];
    args.extend_from_slice(add);
    args.extend(["origin", url]);
    ox(&args);
    dest
}

#[test]
fn real_ostree_signatures_verify_with_oxtree() {
    require_ostree();
    let w = TempDir::new("gpg-from-ostree");
    let g = GpgHome::new(&w);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ostree(&[&r, "init", "--mode=archive"]);
    let t = tree(&w, "t1", "one");
    ostree(&[&r, "commit", "-b", "main", "-s", "signed", &t, &format!("--gpg-sign={KEY1}"), &g.homedir_arg()]);
    ostree(&[&r, "summary", "-u", &format!("--gpg-sign={KEY1}"), &g.homedir_arg()]);
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    let key1 = fixture("key1.asc").to_string_lossy().into_owned();
    let key2 = fixture("key2.asc").to_string_lossy().into_owned();

    // Trusting key 1: commit and summary verify.
    let dest = client(&w, "good", &nginx.url, &[&format!("--gpg-import={key1}"), "--set=gpg-verify-summary=true"]);
    ox(&[&format!("--repo={dest}"), "pull", "origin", "main"]);
    let show = ox(&[&format!("--repo={dest}"), "show", "--gpg-verify-remote=origin", "origin:main"]);
    assert!(show.contains("Found 1 signature:\n\n  Signature made "), "{show}");
    assert!(
        show.contains(&format!("key ID {KEY1}\n  Good signature from \"Ostree Tester <test@test.com>\"")),
        "{show}"
    );
    let summary = ox(&[&format!("--repo={dest}"), "remote", "summary", "origin"]);
    assert!(summary.contains("GPG: Verification enabled, found 1 signature:"), "{summary}");

    // Trusting only key 2: refused, nothing stored under the ref.
    let dest = client(&w, "untrusted", &nginx.url, &[&format!("--gpg-import={key2}")]);
    let out = ox_out(&[&format!("--repo={dest}"), "pull", "origin", "main"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pull with an untrusted key succeeded");
    assert!(err.contains(&format!("key ID {KEY1}\nCan't check signature: public key not found")), "{err}");
    assert!(!ox_out(&[&format!("--repo={dest}"), "rev-parse", "origin:main"]).status.success(), "the ref moved");
}

#[test]
fn oxtree_signatures_verify_with_real_ostree() {
    require_ostree();
    let w = TempDir::new("gpg-to-ostree");
    let g = GpgHome::new(&w);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ox(&[&r, "init", "--mode=archive"]);
    // Once in pure Rust (the secret keyring read directly), once through
    // the gpg program.
    let t = tree(&w, "t1", "one");
    let pure = [("OXTREE_GPG", Path::new("none"))];
    let sign = format!("--gpg-sign={KEY1}");
    ok(run(oxtree_bin(), &[&r, "commit", "-b", "pure", "-s", "pure", &t, &sign, &g.homedir_arg()], &pure), "commit");
    ox(&[&r, "commit", "-b", "main", "-s", "via gpg", &t, &sign, &g.homedir_arg()]);
    ok(run(oxtree_bin(), &[&r, "summary", "-u", &sign, &g.homedir_arg()], &pure), "summary");
    let trusted = [("OSTREE_GPG_HOME", g.trusted.as_path())];
    for branch in ["pure", "main"] {
        let show = ok(run("ostree", &[&r, "show", branch], &trusted), "ostree show");
        assert!(show.contains("Good signature from \"Ostree Tester <test@test.com>\""), "{branch}: {show}");
    }
    // The real client pulls it with commit and summary verification on.
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    let dest = w.join("dest").to_string_lossy().into_owned();
    let d = format!("--repo={dest}");
    ostree(&[&d, "init", "--mode=bare-user"]);
    let key1 = fixture("key1.asc").to_string_lossy().into_owned();
    ostree(&[
        &d,
        "remote",
        "add",
        &format!("--gpg-import={key1}"),
        "--set=gpg-verify-summary=true",
        "origin",
        &nginx.url,
    ]);
    ostree(&[&d, "pull", "origin", "main", "pure"]);
    ostree(&[&d, "fsck"]);
    // And oxtree refuses the same key twice, as ostree does.
    let again = ox_out(&[&r, "gpg-sign", "main", KEY1, &g.homedir_arg()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("Commit is already signed with GPG key 7FCA23D8472CDAFA"));
}

#[test]
fn moved_signatures_and_stale_summary_sigs_are_refused() {
    require_ostree();
    let w = TempDir::new("gpg-attacks");
    let g = GpgHome::new(&w);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ox(&[&r, "init", "--mode=archive"]);
    let sign = format!("--gpg-sign={KEY1}");
    let a = ox(&[&r, "commit", "-b", "main", "-s", "a", &tree(&w, "t1", "one"), &sign, &g.homedir_arg()]);
    ox(&[&r, "summary", "-u", &sign, &g.homedir_arg()]);
    let old_sig = std::fs::read(Path::new(&srv).join("summary.sig")).unwrap();
    let b = ox(&[&r, "commit", "-b", "main", "-s", "b", &tree(&w, "t2", "two")]);
    let obj = |c: &str, ext: &str| Path::new(&srv).join(format!("objects/{}/{}.{ext}", &c.trim()[..2], &c.trim()[2..]));
    // B carries A's signature: valid, but over other bytes.
    std::fs::copy(obj(&a, "commitmeta"), obj(&b, "commitmeta")).unwrap();
    ox(&[&r, "summary", "-u"]);
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    let key1 = fixture("key1.asc").to_string_lossy().into_owned();
    let refused = |tag: &str, add: &[&str], want: &str| {
        let mut opts = vec![format!("--gpg-import={key1}")];
        opts.extend(add.iter().map(|s| s.to_string()));
        let dest = client(&w, tag, &nginx.url, &opts.iter().map(String::as_str).collect::<Vec<_>>());
        let out = ox_out(&[&format!("--repo={dest}"), "pull", "origin", "main"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{tag}: pull succeeded");
        assert!(err.contains(want), "{tag}: wanted '{want}' in {err}");
        assert!(!ox_out(&[&format!("--repo={dest}"), "rev-parse", "origin:main"]).status.success(), "{tag}: ref moved");
    };
    refused("moved", &[], &format!("Commit {}: Signature made", b.trim()));
    refused("moved-bad", &[], "BAD signature from \"Ostree Tester <test@test.com>\"");
    // The summary now lists B; the summary.sig is the one made for A's.
    std::fs::write(Path::new(&srv).join("summary.sig"), &old_sig).unwrap();
    refused("stale-sig", &["--set=gpg-verify-summary=true", "--set=gpg-verify=false"], "BAD signature");
    // No summary.sig at all.
    std::fs::remove_file(Path::new(&srv).join("summary.sig")).unwrap();
    refused("no-sig", &["--set=gpg-verify-summary=true", "--set=gpg-verify=false"], "no summary.sig found");
}

#[test]
fn signed_summaries_are_cached_and_asked_for_conditionally() {
    let w = TempDir::new("gpg-summary-cache");
    let g = GpgHome::new(&w);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ox(&[&r, "init", "--mode=archive"]);
    let pure = [("OXTREE_GPG", Path::new("none"))];
    let sign = format!("--gpg-sign={KEY1}");
    let publish = |tag: &str| {
        ox(&[&r, "commit", "-b", "main", "-s", tag, &tree(&w, tag, tag)]);
        ok(run(oxtree_bin(), &[&r, "summary", "-u", &sign, &g.homedir_arg()], &pure), "summary");
    };
    publish("one");
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    let key1 = fixture("key1.asc").to_string_lossy().into_owned();
    let dest = client(
        &w,
        "client",
        &nginx.url,
        &[&format!("--gpg-import={key1}"), "--set=gpg-verify-summary=true", "--set=gpg-verify=false"],
    );
    let d = format!("--repo={dest}");
    let requests = |path: &str| -> Vec<String> {
        nginx
            .log()
            .lines()
            .filter(|l| l.contains(&format!("\"GET /{path} HTTP")))
            .map(|l| l.split('"').nth(2).unwrap_or("").trim().split(' ').next().unwrap_or("").to_string())
            .collect()
    };
    ox(&[&d, "pull", "origin", "main"]);
    let cached_sig = Path::new(&dest).join("tmp/cache/summaries/origin.sig");
    // The cache keeps the server's Last-Modified as its mtime.
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let served = Path::new(&srv).join("summary.sig");
    let secs = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(mtime(&cached_sig)), secs(mtime(&served)));
    ox(&[&d, "pull", "origin", "main"]);
    assert_eq!(requests("summary.sig"), ["200", "304"], "{}", nginx.log());
    assert_eq!(requests("summary"), ["200"], "{}", nginx.log());
    // A new summary and signature are fetched in full, and used.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    publish("two");
    ox(&[&d, "pull", "origin", "main"]);
    assert_eq!(requests("summary.sig"), ["200", "304", "200"], "{}", nginx.log());
    assert_eq!(requests("summary"), ["200", "200"], "{}", nginx.log());
    let head = ox(&[&r, "rev-parse", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]), head);
}

/// `admin status` (which describes the GPG signatures of deployments from
/// remotes with gpg-verify) and `admin status --verify` (which requires
/// them valid) print and fail as ostree's do: trusted key, unknown key,
/// verification off.
#[test]
fn admin_status_describes_signatures_as_ostree_does() {
    require_ostree();
    let w = TempDir::new("gpg-status");
    let g = GpgHome::new(&w);
    let os = w.join("os");
    std::fs::create_dir_all(os.join("usr/lib/modules/6.1.0")).unwrap();
    std::fs::create_dir_all(os.join("usr/etc")).unwrap();
    std::fs::write(os.join("usr/lib/modules/6.1.0/vmlinuz"), "a kernel\n").unwrap();
    std::fs::write(os.join("usr/lib/modules/6.1.0/initramfs.img"), "an initramfs\n").unwrap();
    std::fs::write(os.join("usr/etc/os-release"), "ID=testos\n").unwrap();
    let repo = w.join("repo").display().to_string();
    let sysroot = w.join("sysroot").display().to_string();
    let sys_repo = format!("--repo={sysroot}/ostree/repo");
    let os_dir = os.display().to_string();
    ox(&["init", "--repo", &repo, "--mode=archive"]);
    ox(&[
        "commit",
        "--repo",
        &repo,
        "-b",
        "os/x",
        "--add-metadata-string=version=1.0",
        &format!("--gpg-sign={KEY1}"),
        &g.homedir_arg(),
        &os_dir,
    ]);
    ox(&["admin", "init-fs", &sysroot]);
    ox(&["admin", "os-init", "--sysroot", &sysroot, "testos"]);
    let pubring = g.trusted.join("pubring.gpg").display().to_string();
    let url = format!("file://{repo}");
    ox(&[&sys_repo, "remote", "add", "--set=gpg-verify=true", &format!("--gpg-import={pubring}"), "testos", &url]);
    ox(&[&sys_repo, "pull-local", "--gpg-verify=true", "--remote=testos", &repo, "os/x"]);
    let deployed = Command::new(oxtree_bin())
        .args(["admin", "deploy", &format!("--sysroot={sysroot}"), "--os=testos", "testos:os/x"])
        .env("OSTREE_SYSROOT_DEBUG", "mutable-deployments")
        .output()
        .unwrap();
    ok(deployed, "deploy");
    let both = |what: &str| {
        for args in [&["admin", "status"][..], &["admin", "status", "-V"][..]] {
            let mut a = args.to_vec();
            let s = format!("--sysroot={sysroot}");
            a.push(&s);
            let (theirs, ours) = (run("ostree", &a, &[]), run(oxtree_bin(), &a, &[]));
            let show = |o: &Output| {
                format!(
                    "{}{}rc={:?}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr),
                    o.status.code()
                )
            };
            assert_eq!(show(&ours), show(&theirs), "{what}: {args:?}");
        }
    };
    both("trusted key");
    let out =
        String::from_utf8_lossy(&run(oxtree_bin(), &["admin", "status", &format!("--sysroot={sysroot}")], &[]).stdout)
            .into_owned();
    assert!(out.contains("    GPG: Good signature from"), "{out}");
    std::fs::remove_file(w.join("sysroot/ostree/repo/testos.trustedkeys.gpg")).unwrap();
    both("unknown key");
    ox(&[&sys_repo, "config", "set", "remote \"testos\".gpg-verify", "false"]);
    both("verification off");
}

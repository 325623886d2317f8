//! `oxtree compose tree`: manifests of packages from createrepo
//! repositories (`scripts/rpm-compose-repos.sh` builds them in the set-up)
//! composed into bootable commits, read and deployed by the real ostree as
//! by oxtree, two composes compared with `db diff`; and the manifests,
//! repositories and package sets a compose must refuse, leaving no ref.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn repos() -> PathBuf {
    rpm_compose_repos()
}

const PACKAGES: &str = "[filesystem, setup, testos-release, kernel, app, mailer, tool, hello, tzdata, chain8, docpkg, ownerpkg, scriptpkg]";

fn manifest(w: &TempDir, name: &str, body: &str) -> String {
    let path = w.join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

/// Runs `compose tree`; returns (stdout, stderr) and requires success.
fn compose(repo: &str, manifest: &str) -> (String, String) {
    let o = ox_out(&["compose", "tree", &format!("--repo={repo}"), manifest]);
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "compose tree {manifest}: {err}");
    (out.trim().to_string(), err)
}

fn deploy(w: &TempDir, tool: &str, repo: &str, branch: &str) -> PathBuf {
    let sysroot = w.join(&format!("sysroot-{tool}"));
    let s = sysroot.display().to_string();
    if !sysroot.exists() {
        std::fs::create_dir_all(&sysroot).unwrap();
        ostree(&["admin", "init-fs", &s]);
        ostree(&["admin", "os-init", &format!("--sysroot={s}"), "testos"]);
    }
    ostree(&["pull-local", &format!("--repo={s}/ostree/repo"), repo, branch]);
    let bin = if tool == "oxtree" { oxtree_bin() } else { "ostree" };
    let o = Command::new(bin)
        .args(["admin", "deploy", &format!("--sysroot={s}"), "--os=testos", "--karg=root=LABEL=ROOT", branch])
        .env("OSTREE_SYSROOT_DEBUG", "mutable-deployments")
        .output()
        .unwrap();
    assert!(o.status.success(), "{tool} admin deploy: {}", String::from_utf8_lossy(&o.stderr));
    sysroot
}

fn entries(sysroot: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(sysroot.join("boot/loader/entries"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn a_createrepo_repository_composes_into_a_tree_both_tools_deploy() {
    require_ostree();
    let rp = repos();
    let w = TempDir::new("compose-tree");
    let repo = w.join("repo").display().to_string();
    ostree(&["init", &format!("--repo={repo}"), "--mode=bare-user"]);
    std::fs::write(w.join("motd"), "welcome\n").unwrap();
    let m1 = manifest(
        &w,
        "base.yaml",
        &format!(
            "ref: testos/x86_64/base\nrepos: [{}]\npackages: {PACKAGES}\n\
             add-files: [[motd, /etc/motd]]\nremove-files: [usr/share/chain/1]\n\
             documentation: false\nselinux: false\nboot-location: modules\netc-group-members: [appgroup]\n\
             automatic-version-prefix: \"1\"\n",
            rp.join("repo1").display()
        ),
    );
    let (c1, err) = compose(&repo, &m1);
    assert_eq!(c1.len(), 64, "{c1}");
    assert!(err.contains("scriptlets not run: scriptpkg-1.0-1.noarch: %pre %post"), "{err}");
    assert!(err.contains("user nosuchuser does not exist - using root"), "{err}");
    assert!(!err.contains("appuser does not exist"), "{err}");
    let r = format!("--repo={repo}");
    assert!(ostree(&["fsck", &r]).contains("no errors found"));
    // Composed again: every package comes from its earlier import, and the
    // tree is the same one.
    let o = ox_out(&["compose", "tree", &format!("--repo={repo}"), "--force-nocache", "--timings", &m1]);
    let again_err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{again_err}");
    assert!(again_err.contains("packages (0 imported, ") && again_err.contains("timing: import"), "{again_err}");
    let again = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let content = |c: &str| {
        let out = ostree(&["show", &r, c]);
        out.lines().find(|l| l.starts_with("ContentChecksum")).unwrap_or_default().to_string()
    };
    assert_eq!(content(&again), content(&c1), "the reused imports give the same tree");
    assert!(err.contains("user nosuchuser does not exist") && again_err.contains("user nosuchuser does not exist"));
    ostree(&["reset", &r, "testos/x86_64/base", &c1]);

    // What the tree holds, read by the real ostree.
    let cat = |c: &str, p: &str| ostree(&["cat", &r, c, p]);
    let ls = |c: &str, p: &str| ostree(&["ls", &r, c, p]);
    assert_eq!(cat(&c1, "/usr/lib/libfoo.so.1"), "foo 1.5\n", "the newest libfoo that satisfies app");
    assert_eq!(cat(&c1, "/usr/lib/libbar.so.1"), "bar 2:0.9\n", "the epoch wins over the version");
    assert_eq!(cat(&c1, "/usr/sbin/sendmail"), "postfix\n", "mta from its provider");
    assert_eq!(cat(&c1, "/usr/etc/motd"), "welcome\n");
    assert!(cat(&c1, "/usr/etc/passwd").contains("appuser:x:1001"));
    assert!(ls(&c1, "/usr/bin/sh").contains("-> /bin/busybox"));
    assert!(ls(&c1, "/usr/bin/busybox").contains("/usr/bin/busybox"), "busybox's /bin went through the link");
    assert!(ls(&c1, "/usr/lib/x86_64-linux-gnu/libc.so.6").contains("libc.so.6"));
    assert!(ls(&c1, "/usr/lib64/ld-linux-x86-64.so.2").contains("ld-linux"));
    let top = ls(&c1, "/");
    assert!(top.contains("/bin -> usr/bin") && top.contains("/lib -> usr/lib"), "{top}");
    assert!(!top.contains("/etc") && !top.contains("/boot"), "{top}");
    let chain = ls(&c1, "/usr/share/chain");
    assert!(chain.contains("/usr/share/chain/8") && !chain.contains("/usr/share/chain/1\n"), "{chain}");
    let share = ls(&c1, "/usr/share");
    assert!(!share.contains("unused") && !share.contains("other-arch"), "{share}");
    // %doc files are left out (Debian's, converted, are not %doc).
    assert!(!ls(&c1, "/usr/share/doc").contains("docpkg"), "documentation: false keeps docs out");
    assert_eq!(cat(&c1, "/usr/share/docpkg/data"), "data\n");
    let owned = ls(&c1, "/usr/share/ownerpkg");
    assert!(owned.contains("-00640 1001 1002") && owned.contains("secret"), "{owned}");
    assert!(owned.lines().any(|l| l.contains("-00644 0 0") && l.ends_with("orphan")), "{owned}");
    let modules = ls(&c1, "/usr/lib/modules/6.1.0-1.x86_64");
    assert!(modules.contains("vmlinuz") && modules.contains("initramfs.img"), "{modules}");
    let autovar = cat(&c1, "/usr/lib/tmpfiles.d/rpm-ostree-1-autovar.conf");
    assert!(autovar.contains("d /var/log 0755 root root - -"), "{autovar}");
    let meta = |c: &str, k: &str| ostree(&["show", &r, &format!("--print-metadata-key={k}"), c]).trim().to_string();
    assert_eq!(meta(&c1, "version"), "'1'");
    assert_eq!(meta(&c1, "ostree.linux"), "'6.1.0-1.x86_64'");
    assert_eq!(meta(&c1, "ostree.bootable"), "true");
    assert!(meta(&c1, "rpmostree.inputhash").len() == 66);
    let list = ox(&["db", "list", &r, &c1]);
    let names: Vec<&str> = list.lines().filter(|l| l.starts_with(' ')).map(str::trim).collect();
    assert!(names.len() >= 20, "{list}");
    for nevra in [
        "libfoo-1.5-1.x86_64",
        "libbar-2:0.9-1.x86_64",
        "postfix-3.7-1.x86_64",
        "sh-1.0-1.noarch",
        "chain1-1.0-1.noarch",
    ] {
        assert!(names.contains(&nevra), "{nevra} not in\n{list}");
    }
    for absent in ["libfoo-1.0-1.x86_64", "unused-1.0-1.noarch", "clash-1.0-1.noarch", "other-arch-1.0-1.aarch64"] {
        assert!(!names.contains(&absent), "{absent} in\n{list}");
    }
    // The per-package commits are on rpm-ostree's refs.
    assert!(ostree(&["refs", &r]).lines().any(|l| l == "rpmostree/pkg/libbar/2_3A0.9-1.x86__64"));

    // The same inputs again: nothing new.
    let (again, err) = compose(&repo, &m1);
    assert_eq!(again, c1);
    assert!(err.contains("No apparent changes"), "{err}");

    // Both tools deploy it, with the same boot entry.
    let a = deploy(&w, "oxtree", &repo, "testos/x86_64/base");
    let b = deploy(&w, "ostree", &repo, "testos/x86_64/base");
    assert_eq!(entries(&a), entries(&b));
    for s in [&a, &b] {
        let status = ostree(&["admin", "status", &format!("--sysroot={}", s.display())]);
        assert!(status.contains(&format!("testos {c1}.0")), "{status}");
        let dep = s.join(format!("ostree/deploy/testos/deploy/{c1}.0"));
        assert_eq!(std::fs::read_to_string(dep.join("etc/motd")).unwrap(), "welcome\n");
        assert_eq!(std::fs::read_to_string(dep.join("usr/bin/app")).unwrap(), "app 1.0\n");
    }

    // An update: repo2 brings libfoo 1.10, app 1.1, kernel 6.2 and newpkg;
    // ownerpkg goes.
    let m2 = manifest(
        &w,
        "update.json",
        &format!(
            r#"{{"ref": "testos/x86_64/base", "repos": ["{}", "{}"],
                "packages": ["filesystem", "setup", "testos-release", "kernel", "app", "mailer", "tool", "hello", "tzdata", "chain8", "scriptpkg", "newpkg"],
                "documentation": false, "automatic-version-prefix": "1"}}"#,
            rp.join("repo1").display(),
            rp.join("repo2").display()
        ),
    );
    let (c2, _) = compose(&repo, &m2);
    assert_ne!(c1, c2);
    assert_eq!(meta(&c2, "version"), "'1.1'");
    assert_eq!(meta(&c2, "ostree.linux"), "'6.2.0-1.x86_64'");
    assert_eq!(cat(&c2, "/usr/lib/libfoo.so.1"), "foo 1.10\n", "1.10 is newer than 1.5");
    let parent = ostree(&["rev-parse", &r, &format!("{c2}^")]);
    assert_eq!(parent.trim(), c1);
    let diff = ox(&["db", "diff", &r, &c1, &c2]);
    for want in [
        "Upgraded:",
        "app 1.0-1 -> 1.1-1",
        "kernel 6.1.0-1 -> 6.2.0-1",
        "libfoo 1.5-1 -> 1.10-1",
        "Removed:",
        "docpkg-1.0-1.noarch",
        "ownerpkg-1.0-1.noarch",
        "Added:",
        "newpkg-1.0-1.noarch",
    ] {
        assert!(diff.contains(want), "no '{want}' in\n{diff}");
    }
    assert!(!diff.contains("Downgraded"), "{diff}");
    // The changelog entries newer than the old package's, from the imports.
    let logs = ox(&["db", "diff", &r, "--changelogs", &c1, &c2]);
    assert!(
        logs.contains(
            "  app 1.0-1 -> 1.1-1\n    * Wed Nov 15 2023 Dev <dev@example.org> - 1.1-1\n    - Faster app\n    - Fewer bugs\n\n  kernel"
        ),
        "{logs}"
    );
    assert!(!logs.contains("First app"), "{logs}");
    // Both deploy the update on top.
    let a = deploy(&w, "oxtree", &repo, "testos/x86_64/base");
    let b = deploy(&w, "ostree", &repo, "testos/x86_64/base");
    assert_eq!(entries(&a), entries(&b));
    assert_eq!(entries(&a).len(), 2);
}

/// `--run-scriptlets` runs %pre then %post chrooted in the tree (busybox's
/// shell, with Debian's libc), `postprocess` after them; what they write
/// is in the commit, what they write under /var is not, and the host is
/// untouched.
#[test]
fn scriptlets_and_postprocess_run_inside_the_tree() {
    require_ostree();
    let rp = repos();
    let w = TempDir::new("compose-tree-scripts");
    let repo = w.join("repo").display().to_string();
    let r = format!("--repo={repo}");
    ostree(&["init", &r, "--mode=bare-user"]);
    std::fs::write(
        w.join("pp.sh"),
        "#!/bin/sh\necho \"from the file $(busybox cat /usr/share/pp)\" > /usr/share/pp-script\n",
    )
    .unwrap();
    let m = manifest(
        &w,
        "scripted.yaml",
        &format!(
            "ref: scripted\nrepos: [{}]\npackages: [filesystem, setup, scriptpkg, chain3]\npostprocess-script: pp.sh\n\
             postprocess:\n  - |\n    #!/bin/sh\n    echo pp > /usr/share/pp\n    busybox chmod 600 /usr/share/pp\n    \
             busybox rm /usr/share/chain/2\n    busybox ln -s pp /usr/share/pp-link\n",
            rp.join("repo1").display()
        ),
    );
    let o = ox_out(&["compose", "tree", &r, "--run-scriptlets", &m]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("ran scriptpkg-1.0-1.noarch %pre") && err.contains("ran scriptpkg-1.0-1.noarch %post"),
        "{err}"
    );
    assert!(!err.contains("scriptlets not run: scriptpkg"), "{err}");
    let c = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let cat = |p: &str| ostree(&["cat", &r, &c, p]);
    let ls = |p: &str| ostree(&["ls", &r, &c, p]);
    assert_eq!(cat("/usr/share/scriptpkg-pre"), "pre 1\n");
    assert_eq!(cat("/usr/share/scriptpkg/configured"), "configured 1\n");
    assert!(cat("/usr/etc/passwd").contains("scripted:x:901:901"), "the %post's /etc/passwd edit");
    assert!(ls("/usr/share/pp").starts_with("-00600 0 0"), "{}", ls("/usr/share/pp"));
    assert!(ls("/usr/share/pp-link").contains("-> pp"));
    assert_eq!(cat("/usr/share/pp-script"), "from the file pp\n", "postprocess-script runs after postprocess");
    let chain = ls("/usr/share/chain");
    assert!(chain.contains("/usr/share/chain/1") && !chain.contains("/usr/share/chain/2"), "{chain}");
    let top = ls("/");
    assert!(!top.contains("/etc") && !top.contains("oxtree-postprocess"), "{top}");
    let var = ostree(&["ls", "-R", &r, &c, "/var"]);
    assert_eq!(var.lines().count(), 1, "what scripts write to /var is not committed: {var}");
    assert!(!Path::new("/usr/share/scriptpkg-pre").exists(), "a scriptlet ran on the host");
    assert!(ostree(&["fsck", &r]).contains("no errors found"));
    let scratch: Vec<_> = std::fs::read_dir(w.join("repo/tmp")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!scratch.iter().any(|n| n.to_string_lossy().starts_with("oxtree-compose")), "{scratch:?}");

    // Without the flag the scriptlets are listed, not run; postprocess runs.
    let o = ox_out(&["compose", "tree", &r, "--force-nocache", &m]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("scriptlets not run: scriptpkg-1.0-1.noarch: %pre %post"), "{err}");
    let c2 = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!ostree(&["ls", &r, &c2, "/usr/share"]).contains("scriptpkg-pre"));
    assert!(ostree(&["ls", &r, &c2, "/usr/share/pp"]).starts_with("-00600"));
}

#[test]
fn bad_manifests_and_package_sets_write_no_ref() {
    require_ostree();
    let rp = repos();
    let repo1 = rp.join("repo1").display().to_string();
    let w = TempDir::new("compose-tree-bad");
    let repo = w.join("repo").display().to_string();
    ostree(&["init", &format!("--repo={repo}"), "--mode=archive"]);
    let only_app = w.join("only-app");
    std::fs::create_dir_all(&only_app).unwrap();
    std::fs::copy(rp.join("repo1/app-1.0-1.x86_64.rpm"), only_app.join("app-1.0-1.x86_64.rpm")).unwrap();
    // A header cut short, and a payload cut short.
    let cut = |dir: &str, from: &str, to: &str, keep: fn(usize) -> usize| {
        let d = w.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        // By prefix: the converted Debian packages' versions move.
        let src = std::fs::read_dir(rp.join("repo1"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(from))
            .unwrap_or_else(|| panic!("no {from}* in repo1"));
        let bytes = std::fs::read(src).unwrap();
        std::fs::write(d.join(to), &bytes[..keep(bytes.len())]).unwrap();
        d
    };
    let cut_header = cut("cut-header", "chain1-1.0-1.", "chain1.rpm", |n| n / 4);
    let cut_payload = cut("cut-payload", "tzdata-", "tzdata.rpm", |n| n - 1000);
    let cases: Vec<(String, &str)> = vec![
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\npostprocessing: [\"true\"]\n"), "unknown or unsupported key 'postprocessing'"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\npostprocess: [\"true\"]\n"), "no #! line"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\npostprocess-script: missing.sh\n"), "postprocess-script"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\npostprocess: [\"#!/bin/sh\\ntrue\"]\n"), "not found in the tree"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [filesystem, sh]\npostprocess: [\"#!/bin/sh\\necho broken >&2\\nexit 3\"]\n"), "broken"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\nselinux: true\n"), "selinux"),
        (format!("ref: x\nrepos: [{}]\npackages: [app]\n", only_app.display()), "nothing provides 'libbar >= 1:0' needed by app-1.0-1.x86_64"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\nexclude-packages: [libfoo]\n"), "nothing provides 'libfoo >= 1.2' needed by app-1.0-1.x86_64"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [nosuch]\n"), "package 'nosuch' not found"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [other-arch]\n"), "package 'other-arch' not found"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app, clash]\n"), "file conflict: /usr/bin/app is shipped by both app-1.0-1.x86_64 and clash-1.0-1.noarch"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app, fighter]\n"), "fighter-1.0-1.noarch conflicts with 'app' provided by app-1.0-1.x86_64"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [fighter, app]\n"), "fighter-1.0-1.noarch conflicts with 'app' provided by app-1.0-1.x86_64"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\nremove-files: [usr/share/nothing]\n"), "remove-files: 'usr/share/nothing' is not in the composed tree"),
        (format!("ref: x\nrepos: [{repo1}]\npackages: [app]\nadd-files: [[missing, /usr/share/x]]\n"), "add-files:"),
        (format!("ref: x\nrepos: [{}]\npackages: [chain1]\n", cut_header.display()), "chain1.rpm: truncated"),
        (format!("ref: x\nrepos: [{}]\npackages: [tzdata]\n", cut_payload.display()), "importing tzdata-"),
        (format!("ref: x\nrepos: [{}/nowhere]\npackages: [app]\n", w.path().display()), "not a directory"),
        ("ref: x\nrepos: [a]\npackages: [app\n".to_string(), "not valid YAML"),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let m = manifest(&w, &format!("bad{i}.yaml"), body);
        let o = ox_out(&["compose", "tree", &format!("--repo={repo}"), &m]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{body}: composed");
        assert!(err.contains(want), "{body}: no '{want}' in: {err}");
        assert_eq!(ostree(&["refs", &format!("--repo={repo}")]), "", "{body}: a ref was written");
    }
    assert!(ostree(&["fsck", &format!("--repo={repo}")]).contains("no errors found"));
}

#[test]
fn an_obsoleting_package_replaces_the_one_it_obsoletes() {
    let rp = repos();
    let w = TempDir::new("compose-obsoletes");
    let repo = w.join("repo").display().to_string();
    ox(&["init", &format!("--repo={repo}"), "--mode=bare-user"]);
    let r = format!("--repo={repo}");
    for (i, packages, want) in [
        (0, "[filesystem, oldtool]", ["oldtool-1.0-1.noarch"].as_slice()),
        (1, "[filesystem, oldtool, newtool]", ["newtool-2.0-1.noarch"].as_slice()),
        (2, "[filesystem, newtool, oldtool]", ["newtool-2.0-1.noarch"].as_slice()),
    ] {
        let m = manifest(
            &w,
            &format!("m{i}.yaml"),
            &format!("ref: t{i}\nrepos: [{}]\npackages: {packages}\n", rp.join("repo1").display()),
        );
        let (c, _) = compose(&repo, &m);
        let list = ox(&["db", "list", &r, &c]);
        let tools: Vec<&str> = list.lines().map(str::trim).filter(|l| l.contains("tool-")).collect();
        assert_eq!(tools, want, "{packages}: {list}");
        let bin = ox(&["ls", &r, &c, "/usr/bin"]);
        assert_eq!(bin.contains("/usr/bin/oldtool"), want[0].starts_with("oldtool"), "{packages}: {bin}");
    }
}

/// As a user without privileges (nobody, through `setpriv`), scriptlets
/// run in a user namespace of their own (the overlay with `userxattr`),
/// and what they write is committed root-owned, as when run as root.
#[test]
fn scriptlets_run_unprivileged_in_a_user_namespace() {
    require_ostree();
    let drop_to_nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let probe = Command::new("setpriv").args(drop_to_nobody).args(["unshare", "-U", "-r", "-m", "true"]).status();
    if !is_root() || !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: needs root to become nobody, and unprivileged user namespaces");
        return;
    }
    let rp = repos();
    let w = TempDir::new("compose-tree-nobody");
    std::os::unix::fs::chown(w.path(), Some(65534), Some(65534)).unwrap();
    let repo = w.join("repo").display().to_string();
    let m = manifest(
        &w,
        "scripted.yaml",
        &format!("ref: scripted\nrepos: [{}]\npackages: [filesystem, setup, scriptpkg]\n", rp.join("repo1").display()),
    );
    let as_nobody = |args: &[&str]| {
        let o = Command::new("setpriv").args(drop_to_nobody).arg(oxtree_bin()).args(args).output().unwrap();
        assert!(o.status.success(), "oxtree {args:?} as nobody: {}", String::from_utf8_lossy(&o.stderr));
        (String::from_utf8_lossy(&o.stdout).trim().to_string(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    as_nobody(&["init", &format!("--repo={repo}"), "--mode=bare-user"]);
    let (c, err) = as_nobody(&["compose", "tree", &format!("--repo={repo}"), "--run-scriptlets", &m]);
    assert!(err.contains("ran scriptpkg-1.0-1.noarch %post"), "{err}");
    let r = format!("--repo={repo}");
    assert_eq!(ostree(&["cat", &r, &c, "/usr/share/scriptpkg/configured"]), "configured 1\n");
    assert!(ostree(&["cat", &r, &c, "/usr/etc/passwd"]).contains("scripted:x:901:901"));
    let ls = ostree(&["ls", &r, &c, "/usr/share/scriptpkg-pre"]);
    assert!(ls.starts_with("-00644 0 0"), "{ls}");
    assert!(ostree(&["fsck", &r]).contains("no errors found"));
}

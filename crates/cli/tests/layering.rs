//! Client-side layering (`oxtree install` / `uninstall`): local RPMs over a
//! composed base deployed in a sysroot, the base upgraded from its remote
//! with the packages layered again, packages removed one at a time, and
//! `admin status` (ours and the real ostree's) reading every step; then the
//! packages layering must refuse, leaving the deployments as they were.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const BASE: &str = "[filesystem, setup, testos-release, kernel, app, sh]";

fn manifest(w: &TempDir, name: &str, repos: &[&str]) -> String {
    let dir = rpm_compose_repos();
    let repos: Vec<String> = repos.iter().map(|r| format!("\"{}\"", dir.join(r).display())).collect();
    let text =
        format!("ref: testos/base\nrepos: [{}]\npackages: {BASE}\nautomatic-version-prefix: \"1\"\n", repos.join(", "));
    let path = w.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn sysroot_cmd(args: &[&str], sysroot: &Path) -> Output {
    let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    full.push(format!("--sysroot={}", sysroot.display()));
    // Not booted: the commands that make deployments are told the stateroot.
    if matches!(args, ["install" | "uninstall", ..] | ["admin", "deploy" | "upgrade", ..]) {
        full.push("--os=testos".into());
    }
    Command::new(oxtree_bin()).args(&full).env("OSTREE_SYSROOT_DEBUG", "mutable-deployments").output().unwrap()
}

/// Runs an oxtree sysroot command that must succeed; returns its stdout.
fn run(args: &[&str], sysroot: &Path) -> String {
    let o = sysroot_cmd(args, sysroot);
    assert!(o.status.success(), "oxtree {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs an oxtree sysroot command that must fail; returns its stderr.
fn refused(args: &[&str], sysroot: &Path) -> String {
    let o = sysroot_cmd(args, sysroot);
    assert!(!o.status.success(), "oxtree {args:?} succeeded: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn local(name: &str) -> String {
    let dir = rpm_compose_repos().join("local");
    let f = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{name}-1.0-1.")))
        .unwrap_or_else(|| panic!("no {name} in {}", dir.display()));
    f.display().to_string()
}

/// The first deployment: its directory and its origin file's text.
fn first(sysroot: &Path) -> (PathBuf, String) {
    let dir = run(&["admin", "--print-current-dir"], sysroot);
    let dir = PathBuf::from(dir.trim());
    let origin = std::fs::read_to_string(format!("{}.origin", dir.display())).unwrap();
    (dir, origin)
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn local_packages_layer_survive_an_upgrade_and_come_off_one_by_one() {
    require_ostree();
    let w = TempDir::new("layering");
    let srv = w.join("srv").display().to_string();
    ox(&["init", &format!("--repo={srv}"), "--mode=archive"]);
    let v1 = ox(&["compose", "tree", &format!("--repo={srv}"), &manifest(&w, "v1.yaml", &["repo1"])]);
    let v1 = v1.trim().to_string();

    let sysroot = w.join("sysroot");
    std::fs::create_dir_all(&sysroot).unwrap();
    let s = sysroot.display().to_string();
    ox(&["admin", "init-fs", &s]);
    ox(&["admin", "os-init", &format!("--sysroot={s}"), "testos"]);
    let repo = format!("--repo={s}/ostree/repo");
    ox(&["remote", "add", &repo, "--no-gpg-verify", "origin", &format!("file://{srv}")]);
    ox(&["pull", &repo, "origin", "testos/base"]);
    run(&["admin", "deploy", "--karg=root=LABEL=ROOT", "origin:testos/base"], &sysroot);

    // Two local packages over the base.
    let out = run(&["install", &local("extra"), &local("addon")], &sysroot);
    assert!(out.contains("Layered packages: addon-1.0-1.x86_64 extra-1.0-1.noarch"), "{out}");
    let (dir, origin) = first(&sysroot);
    assert!(origin.contains("baserefspec=origin:testos/base"), "{origin}");
    assert!(!origin.contains("\nrefspec="), "{origin}");
    assert_eq!(origin.matches(":addon-1.0-1.x86_64;").count() + origin.matches(":extra-1.0-1.noarch;").count(), 2);
    assert_eq!(read(&dir, "usr/bin/extra"), "extra 1.0\n");
    assert_eq!(read(&dir, "usr/bin/app"), "app 1.0\n");
    // The package's /etc is the deployment's, its /var a tmpfiles line.
    assert_eq!(read(&dir, "etc/extra.conf"), "setting=1\n");
    assert!(read(&dir, "usr/lib/tmpfiles.d/pkg-extra.conf").contains("/var/lib/extra"));
    // Owners come from the base's passwd and group.
    let md = std::fs::metadata(dir.join("usr/share/addon/data")).unwrap();
    assert_eq!((std::os::unix::fs::MetadataExt::uid(&md), std::os::unix::fs::MetadataExt::gid(&md)), (1001, 1002));
    // %post is not run unless asked; it is listed.
    assert!(!dir.join("usr/share/addon/posted").exists());
    let status = run(&["admin", "status"], &sysroot);
    assert!(status.contains("origin base refspec: origin:testos/base"), "{status}");
    assert!(status.contains(&format!("base commit: {v1}")), "{status}");
    assert!(status.contains("layered packages: addon-1.0-1.x86_64 extra-1.0-1.noarch"), "{status}");
    // The real ostree reads the sysroot and checks the repository.
    let theirs = ostree(&["admin", "status", &format!("--sysroot={s}")]);
    assert!(theirs.contains("origin: <unknown origin type>"), "{theirs}");
    ostree(&["fsck", &repo]);
    let deployed = dir.file_name().unwrap().to_string_lossy().split('.').next().unwrap().to_string();
    let list = ox(&["db", "list", &repo, &deployed]);
    assert!(list.contains(" extra-1.0-1.noarch") && list.contains(" app-1.0-1.x86_64"), "{list}");

    // A new base: the packages are layered again over it.
    let v2 = ox(&["compose", "tree", &format!("--repo={srv}"), &manifest(&w, "v2.yaml", &["repo1", "repo2"])]);
    let v2 = v2.trim().to_string();
    let out = run(&["admin", "upgrade"], &sysroot);
    assert!(out.contains("Layered packages: addon-1.0-1.x86_64 extra-1.0-1.noarch"), "{out}");
    let (dir, origin2) = first(&sysroot);
    assert_eq!(origin2, origin, "the origin carries over");
    assert_eq!(read(&dir, "usr/bin/app"), "app 1.1\n");
    assert_eq!(read(&dir, "usr/lib/libfoo.so.1"), "foo 1.10\n");
    assert_eq!(read(&dir, "usr/bin/extra"), "extra 1.0\n");
    assert_eq!(read(&dir, "usr/share/addon/data"), "addon data\n");
    let status = run(&["admin", "status"], &sysroot);
    assert!(status.contains(&format!("base commit: {v2}")), "{status}");
    let json: serde_json::Value = serde_json::from_str(&run(&["admin", "status", "--json"], &sysroot)).unwrap();
    let d0 = &json["deployments"][0];
    assert_eq!(d0["base-checksum"], v2.as_str());
    assert_eq!(d0["base-refspec"], "origin:testos/base");
    assert_eq!(d0["layered-packages"], serde_json::json!(["addon-1.0-1.x86_64", "extra-1.0-1.noarch"]));
    assert_eq!(run(&["admin", "upgrade"], &sysroot).trim(), "No update available.");
    // db diff with no revisions compares the deployments (not booted: the
    // second with the first), by their base commits with --base.
    let d = run(&["db", "diff"], &sysroot);
    assert!(d.contains("from: deployment 1 (") && d.contains("to:   deployment 0 ("), "{d}");
    assert!(
        d.contains("Upgraded:\n  app 1.0-1 -> 1.1-1\n  kernel 6.1.0-1 -> 6.2.0-1\n  libfoo 1.5-1 -> 1.10-1\n"),
        "{d}"
    );
    assert!(!d.contains("Added:") && !d.contains("Removed:"), "{d}");
    let d = run(&["db", "diff", "--base"], &sysroot);
    assert!(d.contains(&format!("to:   deployment 0 ({v2})")), "{d}");
    // The bases of layered deployments are kept from prune by refs.
    let refs = ox(&["refs", &repo]);
    assert!(refs.contains("rpmostree/base/0") && refs.contains("rpmostree/base/1"), "{refs}");
    let d = run(&["db", "diff", &v1], &sysroot);
    assert!(d.contains("Removed:\n  addon-1.0-1.x86_64\n  extra-1.0-1.noarch\n"), "{d}");

    // The packages that must be refused leave the deployments as they are.
    let before = run(&["admin", "status"], &sysroot);
    let err = refused(&["install", &local("needy")], &sysroot);
    assert!(err.contains("nothing provides 'libnothere >= 2' needed by needy-1.0-1.noarch"), "{err}");
    let err = refused(&["install", &local("clobber")], &sysroot);
    assert!(err.contains("/usr/bin/app is shipped by both the base commit and clobber-1.0-1.noarch"), "{err}");
    let err = refused(&["install", &local("extra")], &sysroot);
    assert!(err.contains("package extra is already layered (extra-1.0-1.noarch)"), "{err}");
    let app = std::fs::read_dir(rpm_compose_repos().join("repo2"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("app-1.1-1."))
        .unwrap();
    let err = refused(&["install", &app.display().to_string()], &sysroot);
    assert!(err.contains("the base commit already has app (app-1.1-1.x86_64)"), "{err}");
    let repo1 = |prefix: &str| {
        std::fs::read_dir(rpm_compose_repos().join("repo1"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap()
            .display()
            .to_string()
    };
    let err = refused(&["install", &repo1("fighter-1.0-1.")], &sysroot);
    assert!(err.contains("fighter-1.0-1.noarch conflicts with 'app' provided by app-1.1-1.x86_64"), "{err}");
    let err = refused(&["uninstall", "nosuch"], &sysroot);
    assert!(err.contains("package 'nosuch' is not layered"), "{err}");
    let err = refused(&["install", "/nonexistent.rpm"], &sysroot);
    assert!(err.contains("/nonexistent.rpm"), "{err}");
    assert_eq!(run(&["admin", "status"], &sysroot), before);
    // --nodeps takes what the check refuses; and it is taken off again.
    run(&["install", "--nodeps", &local("needy")], &sysroot);
    assert_eq!(read(&first(&sysroot).0, "usr/share/needy"), "needy\n");
    run(&["uninstall", "needy"], &sysroot);

    // Off one by one: then the base itself, with a plain refspec.
    run(&["uninstall", "addon"], &sysroot);
    let (dir, origin) = first(&sysroot);
    assert!(!dir.join("usr/share/addon").exists());
    assert_eq!(read(&dir, "usr/bin/extra"), "extra 1.0\n");
    assert!(origin.contains(":extra-1.0-1.noarch;") && !origin.contains("addon"), "{origin}");
    let status = run(&["admin", "status"], &sysroot);
    assert!(status.contains("layered packages: extra-1.0-1.noarch\n"), "{status}");
    run(&["uninstall", "extra"], &sysroot);
    let (dir, origin) = first(&sysroot);
    assert!(dir.file_name().unwrap().to_string_lossy().starts_with(&v2), "{}", dir.display());
    assert!(origin.contains("refspec=origin:testos/base") && !origin.contains("baserefspec"), "{origin}");
    assert!(!origin.contains("[packages]"), "{origin}");
    ostree(&["admin", "status", &format!("--sysroot={s}")]);
    ostree(&["fsck", &repo]);
}

#[test]
fn scriptlets_of_layered_packages_run_in_the_tree_when_asked() {
    if !is_root() {
        eprintln!("skipped: running scriptlets needs namespaces (run as root)");
        return;
    }
    let w = TempDir::new("layering-scripts");
    let repo = w.join("repo").display().to_string();
    ox(&["init", &format!("--repo={repo}"), "--mode=bare-user"]);
    ox(&["compose", "tree", &format!("--repo={repo}"), &manifest(&w, "v1.yaml", &["repo1"])]);
    let sysroot = w.join("sysroot");
    std::fs::create_dir_all(&sysroot).unwrap();
    let s = sysroot.display().to_string();
    ox(&["admin", "init-fs", &s]);
    ox(&["admin", "os-init", &format!("--sysroot={s}"), "testos"]);
    ox(&["pull-local", &format!("--repo={s}/ostree/repo"), &repo, "testos/base"]);
    run(&["admin", "deploy", "testos/base"], &sysroot);
    run(&["install", "--run-scriptlets", &local("addon")], &sysroot);
    let (dir, origin) = first(&sysroot);
    assert_eq!(read(&dir, "usr/share/addon/posted"), "added\n");
    assert!(origin.contains("baserefspec=testos/base"), "{origin}");
}

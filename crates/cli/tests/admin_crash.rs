//! Crash safety of `admin deploy`, `undeploy` and `cleanup`.
//!
//! Each operation is first run with `OXTREE_TEST_FAULT=trace` to count its
//! fault points (every rename, fsync, syncfs, link and removal of the
//! sysroot code). Then, from the same starting sysroot, it is run once per
//! point with that point failing (`N`) and once with the process killed
//! there by SIGKILL (`kill:N`), and once more killed at random times.
//! After each interrupted run:
//! - the live boot entries name only complete deployments (their bootlinks
//!   resolve to checked-out trees with `/etc` and an origin, their kernels
//!   are in `/boot`), and the previous default is among them;
//! - both oxtree and the real ostree read the sysroot (`admin status`);
//! - `admin cleanup` and a second run of the operation complete, and the
//!   real `ostree fsck` accepts the system repo.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::sysroot::{make_os, Fixture};
use common::*;

/// `oxtree admin ARGS` on the fixture's sysroot.
fn admin(f: &Fixture, args: &[&str]) -> Command {
    let mut c = Command::new(oxtree_bin());
    c.arg("admin").arg(args[0]).arg(format!("--sysroot={}", f.sysroot)).args(&args[1..]);
    c.env("OSTREE_SYSROOT_DEBUG", "mutable-deployments");
    c
}

fn admin_with(f: &Fixture, args: &[&str], fault: Option<&str>) -> Output {
    let mut c = admin(f, args);
    if let Some(v) = fault {
        c.env("OXTREE_TEST_FAULT", v);
    }
    c.output().unwrap()
}

fn restore(f: &Fixture, base: &Path) {
    sh(&format!("rm -rf {s} && cp -a {b} {s}", s = f.sysroot, b = base.display()));
}

/// The deployment directory names the live boot entries resolve to; panics
/// on any entry that does not name a complete deployment.
fn live_deployments(sysroot: &Path) -> Vec<String> {
    let loader = std::fs::read_link(sysroot.join("boot/loader")).expect("boot/loader must be a symlink");
    let entries = sysroot.join("boot").join(&loader).join("entries");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&entries).unwrap_or_else(|e| panic!("{}: {e}", entries.display())) {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let key = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
                .unwrap_or_else(|| panic!("{}: no {k}", p.display()))
                .to_string()
        };
        let options = key("options");
        let ostree_arg = options
            .split(' ')
            .find_map(|a| a.strip_prefix("ostree="))
            .unwrap_or_else(|| panic!("{}: no ostree= in {options}", p.display()));
        let dir: PathBuf = std::fs::canonicalize(sysroot.join(&ostree_arg[1..]))
            .unwrap_or_else(|e| panic!("{}: {ostree_arg} does not resolve: {e}", p.display()));
        assert!(dir.join("usr/bin/sh").is_file(), "{}: incomplete tree", dir.display());
        assert!(dir.join("etc/os-release").is_file(), "{}: no /etc", dir.display());
        let mut origin = dir.clone().into_os_string();
        origin.push(".origin");
        assert!(Path::new(&origin).is_file(), "{}: no origin", dir.display());
        for k in ["linux", "initrd"] {
            let f = sysroot.join("boot").join(&key(k)[1..]);
            assert!(f.is_file(), "{}: {k} {} missing", p.display(), f.display());
            assert!(f.metadata().unwrap().len() > 0, "{}: {k} {} is empty", p.display(), f.display());
        }
        no_file_emptied(sysroot, &dir);
        out.push(dir.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(!out.is_empty(), "no boot entries");
    out
}

/// Panics on an empty file in deployment `dir` that is not empty in its
/// commit (`/etc` is checked against the commit's `/usr/etc`): what a power
/// cut leaves of data written and never synced.
fn no_file_emptied(sysroot: &Path, dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy();
    let commit = name.split('.').next().unwrap();
    let sizes = commit_sizes(sysroot, commit);
    for (p, m) in regular_files(dir) {
        if m.len() == 0 {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let in_commit = match rel.strip_prefix("etc/") {
                Some(r) => format!("usr/etc/{r}"),
                None => rel.clone(),
            };
            assert_eq!(sizes.get(&in_commit), Some(&0), "{}: emptied", p.display());
        }
    }
}

/// The size of every file of a commit, by its path.
type Sizes = std::sync::Arc<HashMap<String, u64>>;

/// The size of every file of `commit` by its path (`ls -R`), read once per
/// commit: the checks run at every fault point, on the same few commits.
fn commit_sizes(sysroot: &Path, commit: &str) -> Sizes {
    static SIZES: std::sync::Mutex<Option<HashMap<String, Sizes>>> = std::sync::Mutex::new(None);
    let mut cache = SIZES.lock().unwrap();
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(s) = cache.get(commit) {
        return s.clone();
    }
    let listing = ox(&["ls", "-R", &format!("--repo={}/ostree/repo", sysroot.display()), commit]);
    let sizes: HashMap<String, u64> = listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(4)?.trim_start_matches('/').to_string(), f.get(3)?.parse().ok()?))
        })
        .collect();
    let sizes = std::sync::Arc::new(sizes);
    cache.insert(commit.to_string(), sizes.clone());
    sizes
}

/// The invariants; `keep`, when given, must still boot.
fn check(f: &Fixture, keep: Option<&str>, what: &str) {
    let live = std::panic::catch_unwind(|| live_deployments(Path::new(&f.sysroot)))
        .unwrap_or_else(|_| panic!("{what}: the boot entries are broken (see above)"));
    if let Some(keep) = keep {
        assert!(live.iter().any(|d| d == keep), "{what}: previous default {keep} no longer boots: {live:?}");
    }
    ox(&["admin", "status", &format!("--sysroot={}", f.sysroot)]);
    ostree(&["admin", "status", &format!("--sysroot={}", f.sysroot)]);
}

fn count_points(f: &Fixture, base: &Path, args: &[&str]) -> usize {
    restore(f, base);
    let o = admin_with(f, args, Some("trace"));
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.starts_with("fault point ")).count()
}

/// Runs `args` interrupted at each fault point, both ways, then recovers.
fn interrupt_everywhere(f: &Fixture, base: &Path, args: &[&str], keep: &str, rerun: bool) -> usize {
    let n = count_points(f, base, args);
    assert!(n >= 3, "{args:?}: only {n} fault points");
    let mut emptied = 0;
    for at in 1..=n {
        for mode in ["", "kill:", "cut:"] {
            restore(f, base);
            let fault = format!("{mode}{at}");
            let run = run_faulted(admin(f, args), &fault, Path::new(&f.sysroot), f.w.path(), &f.w.join("durable.log"));
            assert!(!run.output.status.success(), "{args:?} with fault {fault} succeeded");
            let mut what = format!("{args:?} interrupted at {fault}");
            if mode == "cut:" {
                what += &format!(", emptied {:?}", run.emptied);
                emptied += run.emptied.len();
            }
            let after = |args: &[&str]| run.next(admin(f, args)).output().unwrap();
            check(f, Some(keep), &what);
            let o = after(&["cleanup"]);
            assert!(o.status.success(), "{what}: cleanup: {}", String::from_utf8_lossy(&o.stderr));
            if rerun {
                let o = after(args);
                assert!(o.status.success(), "{what}: second run: {}", String::from_utf8_lossy(&o.stderr));
            }
            // A completed second deploy may rotate the old default out.
            check(f, None, &format!("{what}, then completed"));
        }
    }
    ostree(&["fsck", &format!("--repo={}/ostree/repo", f.sysroot)]);
    eprintln!(
        "{args:?}: {n} fault points, each failed, killed and power-cut (emptying {emptied} unsynced files in all)"
    );
    n
}

/// A sysroot with two deployments of two commits of the same kernel, and
/// a third commit with a new kernel; returns it, its saved copy and the
/// default deployment's directory name.
fn setup(tag: &str) -> (Fixture, PathBuf, String) {
    let f = Fixture::new(tag);
    f.commit("v2", &["6.1.0"]);
    std::fs::write(f.w.join("v2/usr/bin/extra"), "v2\n").unwrap();
    ox(&["commit", "--repo", &f.repo, "-b", "os/v2", "--tree", &format!("dir={}", f.w.join("v2").display())]);
    f.pull("os/v2");
    f.admin(&["deploy", "--os=testos", "os/v2"]);
    let v3 = f.w.join("v3");
    make_os(&v3, &["6.2.0"]);
    ox(&["commit", "--repo", &f.repo, "-b", "os/v3", "--tree", &format!("dir={}", v3.display())]);
    f.pull("os/v3");
    let status = f.admin(&["status"]);
    // "  testos CSUM.SERIAL": the default deployment.
    let keep = status.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap().to_string();
    assert!(live_deployments(Path::new(&f.sysroot)).contains(&keep), "{status}");
    let base = f.w.join("base");
    sh(&format!("cp -a {} {}", f.sysroot, base.display()));
    (f, base, keep)
}

#[test]
fn deploy_undeploy_cleanup_survive_a_fault_at_every_point() {
    require_ostree();
    if !is_root() {
        eprintln!("skipped: deployments keep owners, which needs root");
        return;
    }
    let (f, base, keep) = setup("admin-crash");
    // A new kernel: a new boot version, committed by renaming boot/loader.
    let n1 = interrupt_everywhere(&f, &base, &["deploy", "--os=testos", "os/v3"], &keep, true);
    // The same boot menu: only the bootlinks change, committed by renaming ostree/boot.N.
    let n2 = interrupt_everywhere(&f, &base, &["deploy", "--os=testos", "os/v2"], &keep, true);
    // Undeploy the second: whether or not it happened, the default stays.
    let n3 = interrupt_everywhere(&f, &base, &["undeploy", "1"], &keep, false);
    // Clean-up with leftovers to remove: a stray deployment and boot directory.
    sh(&format!(
        "mkdir -p {b}/ostree/deploy/testos/deploy/{h}.0/usr {b}/boot/ostree/testos-{h} && touch {b}/ostree/deploy/testos/deploy/{h}.0.origin",
        b = base.display(),
        h = "ab".repeat(32)
    ));
    let n4 = interrupt_everywhere(&f, &base, &["cleanup"], &keep, true);
    eprintln!("fault points: deploy (new kernel) {n1}, deploy (same menu) {n2}, undeploy {n3}, cleanup {n4}");
}

#[test]
fn deploy_killed_at_random_times_recovers() {
    require_ostree();
    if !is_root() {
        eprintln!("skipped: deployments keep owners, which needs root");
        return;
    }
    let (f, base, keep) = setup("admin-kill");
    let args = ["deploy", "--os=testos", "os/v3"];
    kill_at_random_times(
        25,
        || restore(&f, &base),
        || admin(&f, &args),
        |when| {
            check(&f, Some(&keep), when);
            let o = admin_with(&f, &args, None);
            assert!(o.status.success(), "{when}: second run: {}", String::from_utf8_lossy(&o.stderr));
            check(&f, None, &format!("{when}, then completed"));
        },
    );
    ostree(&["fsck", &format!("--repo={}/ostree/repo", f.sysroot)]);
}

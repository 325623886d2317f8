//! The deployment manager against the real `ostree admin`.
//!
//! - The sysroot experiment recorded from ostree 2022.7 (`tests/golden/sysroot/`) replays
//!   byte for byte with oxtree standing in for `ostree`: layout, bootlinks, BLS entries,
//!   `syslinux.cfg`, deployment refs, `/etc` merge results and `admin status`.
//! - The same experiment with the two tools taking turns, call by call, gives the same
//!   transcript: each reads and continues what the other wrote.
//! - Bad input (no kernel, two kernels, a missing stateroot, a full `/boot`) is refused with
//!   a clear error and leaves the deployments as they were.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sysroot::{make_os, Fixture};
use common::*;

fn experiment_script() -> PathBuf {
    golden_dir().join("sysroot/run-experiment.sh")
}

fn expected_transcript() -> String {
    std::fs::read_to_string(golden_dir().join("sysroot/expected-output-2022.7.txt")).unwrap()
}

/// Runs the experiment with `bin_dir` first on `PATH`; returns stdout+stderr.
fn run_experiment(w: &TempDir, bin_dir: &Path) -> String {
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let o = Command::new("sh")
        .arg(experiment_script())
        .arg(w.join("exp"))
        .env("PATH", path)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "experiment failed ({}):\n{text}", o.status);
    text
}

fn assert_transcript(got: &str, what: &str) {
    let want = expected_transcript();
    if got != want {
        let diff: Vec<String> = got
            .lines()
            .zip(want.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(i, (a, b))| format!("line {}:\n  got:  {a}\n  want: {b}", i + 1))
            .collect();
        panic!(
            "{what}: transcript differs from ostree 2022.7's ({} vs {} lines)\n{}",
            got.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn golden_experiment_replays_exactly() {
    if !is_root() {
        eprintln!("skipped: the experiment needs root (a bare system repo keeps owners)");
        return;
    }
    let w = TempDir::new("admin-golden");
    let bin = w.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(oxtree_bin(), bin.join("ostree")).unwrap();
    let got = run_experiment(&w, &bin);
    assert_transcript(&got, "oxtree alone");
}

#[test]
fn tools_taking_turns_continue_each_others_sysroot() {
    require_ostree();
    if !is_root() {
        eprintln!("skipped: the experiment needs root");
        return;
    }
    let w = TempDir::new("admin-mixed");
    let bin = w.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(Command::new("sh").arg("-c").arg("command -v ostree").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    // Every call alternates: deploys, status, refs and commits each go to
    // one tool, then the other, so every step reads the other's work.
    let shim = format!(
        "#!/bin/sh\nc={counter}\nn=$(cat \"$c\" 2>/dev/null || echo 0)\necho $((n + 1)) > \"$c\"\n\
         if [ $((n % 2)) = 0 ]; then exec {real} \"$@\"; else exec {ox} \"$@\"; fi\n",
        counter = w.join("counter").display(),
        ox = oxtree_bin(),
    );
    std::fs::write(bin.join("ostree"), shim).unwrap();
    sh(&format!("chmod +x {}", bin.join("ostree").display()));
    let got = run_experiment(&w, &bin);
    assert_transcript(&got, "ostree and oxtree taking turns");
    // And the other phase: oxtree first.
    std::fs::write(w.join("counter"), "1").unwrap();
    let got = run_experiment(&w, &bin);
    assert_transcript(&got, "oxtree and ostree taking turns");
}

#[test]
fn bad_input_leaves_the_deployments_as_they_were() {
    if !is_root() {
        eprintln!("skipped: deployments keep owners, which needs root");
        return;
    }
    let f = Fixture::new("admin-bad");
    let before = f.state();

    f.commit("nokernel", &[]);
    let e = f.admin_err(&["deploy", "--os=testos", "os/nokernel"]);
    assert!(e.contains("Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot"), "{e}");
    assert_eq!(f.state(), before);

    f.commit("twokernels", &["6.1.0", "6.2.0"]);
    let e = f.admin_err(&["deploy", "--os=testos", "os/twokernels"]);
    assert!(e.contains("more than one kernel") && e.contains("6.1.0,6.2.0"), "{e}");
    assert_eq!(f.state(), before);

    let e = f.admin_err(&["deploy", "--os=nosuchos", "os/good"]);
    assert!(e.contains("Stateroot 'nosuchos' does not exist"), "{e}");
    assert_eq!(f.state(), before);

    let e = f.admin_err(&["deploy", "--os=testos", "os/missing-ref"]);
    assert!(e.contains("os/missing-ref"), "{e}");
    assert_eq!(f.state(), before);

    let e = f.admin_err(&["deploy", "--os=testos", "--karg-delete=nosuch", "os/good"]);
    assert!(e.contains("No key 'nosuch' found"), "{e}");
    assert_eq!(f.state(), before);

    let e = f.admin_err(&["undeploy", "7"]);
    assert!(e.contains("Out of range deployment index 7, expected < 1"), "{e}");
    let e = f.admin_err(&["pin", "x1"]);
    assert!(e.contains("Invalid index: x1"), "{e}");
    assert_eq!(f.state(), before);
}

#[test]
fn full_boot_partition_fails_cleanly() {
    if !is_root() {
        eprintln!("skipped: mounting a small /boot needs root");
        return;
    }
    let f = Fixture::new("admin-fullboot");
    // A new kernel that cannot fit: /boot becomes a 1 MiB tmpfs holding
    // the current boot files, and the new kernel is 4 MiB.
    let big = f.w.join("big");
    make_os(&big, &["6.9.0"]);
    let mut kernel = vec![0u8; 4 << 20];
    for (i, b) in kernel.iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(big.join("usr/lib/modules/6.9.0/vmlinuz"), &kernel).unwrap();
    ox(&["commit", "--repo", &f.repo, "-b", "os/big", "--tree", &format!("dir={}", big.display())]);
    f.pull("os/big");
    let boot = Path::new(&f.sysroot).join("boot");
    let saved = f.w.join("boot-saved");
    sh(&format!("cp -a {b} {s}", b = boot.display(), s = saved.display()));
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&boot)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let guard = Unmount(boot.clone());
    sh(&format!("cp -a {s}/. {b}/", b = boot.display(), s = saved.display()));
    let before = f.state();
    let e = f.admin_err(&["deploy", "--os=testos", "os/big"]);
    assert!(e.contains("No space left on device") && e.contains("boot/ostree/testos-"), "{e}");
    assert_eq!(f.state(), before, "the old deployment still boots, and nothing half-made is listed");
    // Once there is room again, the deploy goes through.
    drop(guard);
    sh(&format!("cp -a {s}/. {b}/", b = boot.display(), s = saved.display()));
    f.admin(&["deploy", "--os=testos", "os/big"]);
    assert!(f.admin(&["status"]).lines().count() >= 4);
}

#[test]
fn deployment_roots_are_immutable_until_removed() {
    if !is_root() {
        eprintln!("skipped: chattr +i needs root");
        return;
    }
    let f = Fixture::new("admin-immutable");
    f.commit("v2", &["6.1.0"]);
    // Without OSTREE_SYSROOT_DEBUG=mutable-deployments, as in production.
    let o = Command::new(oxtree_bin())
        .args(["admin", "deploy", &format!("--sysroot={}", f.sysroot), "--os=testos", "os/v2"])
        .env_remove("OSTREE_SYSROOT_DEBUG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = ox(&["admin", &format!("--sysroot={}", f.sysroot), "--print-current-dir"]);
    let dir = dir.trim();
    let flags = Command::new("lsattr").args(["-d", dir]).output().unwrap();
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    if !flags.split_whitespace().next().unwrap_or("").contains('i') {
        eprintln!("skipped: this file system does not keep the immutable flag ({flags})");
        return;
    }
    assert!(std::fs::write(Path::new(dir).join("new-file"), "x").is_err(), "an immutable root takes no new files");
    // Undeploying clears the flag and removes the directory.
    f.admin(&["undeploy", "0"]);
    assert!(!Path::new(dir).exists(), "{dir} should be gone");
}

#[test]
fn status_json_agrees_with_the_text() {
    let f = Fixture::new("admin-json");
    f.commit("next", &["6.2.0"]);
    f.admin(&["deploy", "--os=testos", "os/next"]);
    f.admin(&["pin", "1"]);
    let v: serde_json::Value = serde_json::from_str(&f.admin(&["status", "--json"])).unwrap();
    let ds = v["deployments"].as_array().unwrap();
    assert_eq!(ds.len(), 2);
    // Boot order and names as the text lists them.
    let text = f.admin(&["status"]);
    let names: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("    "))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    let from_json: Vec<String> =
        ds.iter().map(|d| format!("{}.{}", d["checksum"].as_str().unwrap(), d["serial"].as_u64().unwrap())).collect();
    assert_eq!(names, from_json);
    let rev = |r: &str| ox(&["rev-parse", &format!("--repo={}", f.repo), r]).trim().to_string();
    assert_eq!(ds[0]["checksum"], rev("os/next").as_str());
    assert_eq!(ds[1]["checksum"], rev("os/good").as_str());
    assert_eq!(ds[0]["refspec"], "os/next");
    assert_eq!(ds[0]["index"], 0);
    assert_eq!((ds[0]["pinned"].as_bool(), ds[1]["pinned"].as_bool()), (Some(false), Some(true)));
    // Not booted: no marks.
    for d in ds {
        assert_eq!((&d["booted"], &d["pending"], &d["rollback"]), (&false.into(), &false.into(), &false.into()));
        assert_eq!(d["stateroot"], "testos");
        assert_eq!(d["kernel-args"], "root=LABEL=ROOT");
        assert!(Path::new(d["path"].as_str().unwrap()).is_dir());
    }
    assert_ne!(ds[0]["bootcsum"], ds[1]["bootcsum"], "different kernels, different boot checksums");
}

/// `deploy --overlay-initrd`: the same `/boot` from both tools (the
/// overlays installed by checksum, the extra `initrd` lines, their removal
/// once no entry names them), and each tool reads the other's.
#[test]
fn overlay_initrds_match_ostree() {
    require_ostree();
    if !is_root() {
        eprintln!("skipped: overlays are staged in /run/ostree, as ostree stages them");
        return;
    }
    let w = TempDir::new("admin-overlay");
    let repo = w.join("repo").display().to_string();
    ox(&["init", "--repo", &repo, "--mode=archive"]);
    for (name, k) in [("one", "6.1.0"), ("two", "6.1.0"), ("three", "6.2.0")] {
        make_os(&w.join(name), &[k]);
        std::fs::write(w.join(name).join("usr/etc/release"), name).unwrap();
        let dir = format!("dir={}", w.join(name).display());
        ox(&[
            "commit",
            "--repo",
            &repo,
            "-b",
            &format!("os/{name}"),
            "--timestamp=2026-01-01T00:00:00Z",
            "--tree",
            &dir,
        ]);
    }
    let (o1, o2) = (w.join("keys.img"), w.join("drivers.img"));
    std::fs::write(&o1, "keys\n").unwrap();
    std::fs::write(&o2, "drivers\n").unwrap();
    let (o1, o2) = (format!("--overlay-initrd={}", o1.display()), format!("--overlay-initrd={}", o2.display()));
    let run_with = |bin: &str, sysroot: &str, args: &[&str]| {
        let o = Command::new(bin)
            .args(args)
            .arg(format!("--sysroot={sysroot}"))
            .env("OSTREE_SYSROOT_DEBUG", "mutable-deployments")
            .output()
            .unwrap();
        assert!(o.status.success(), "{bin} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let real = "ostree";
    let mut sysroots = Vec::new();
    for tool in [real, oxtree_bin()] {
        let s = w.join(if tool == real { "sysroot-ostree" } else { "sysroot-oxtree" }).display().to_string();
        ox(&["admin", "init-fs", &s]);
        ox(&["admin", "os-init", "--sysroot", &s, "testos"]);
        ox(&["pull-local", &format!("--repo={s}/ostree/repo"), &repo, "os/one", "os/two", "os/three"]);
        sysroots.push((tool, s));
    }
    let boot_of = |s: &str| snapshot(&Path::new(s).join("boot"), false);
    let overlays = |s: &str| {
        let mut v: Vec<String> = std::fs::read_dir(Path::new(s).join("boot/ostree/initramfs-overlays"))
            .map(|rd| rd.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let steps: [&[&str]; 4] = [
        &["admin", "deploy", "--os=testos", "--karg=root=LABEL=ROOT", &o1, &o2, "os/one"],
        // Not inherited: the new deployment has only what its deploy names.
        &["admin", "deploy", "--os=testos", &o2, "os/two"],
        &["admin", "deploy", "--os=testos", "os/three"],
        &["admin", "deploy", "--os=testos", "os/three"],
    ];
    let want_overlays = [2, 2, 1, 0];
    for (i, step) in steps.iter().enumerate() {
        for (tool, s) in &sysroots {
            run_with(tool, s, step);
        }
        let (a, b) = (&sysroots[0].1, &sysroots[1].1);
        assert_same_tree(&boot_of(a), &boot_of(b), &format!("step {i}: /boot of ostree vs oxtree"));
        assert_eq!(overlays(b).len(), want_overlays[i], "step {i}: {:?}", overlays(b));
        assert_eq!(run_with(real, b, &["admin", "status"]), run_with(oxtree_bin(), a, &["admin", "status"]));
        if i == 0 {
            let entry = std::fs::read_dir(Path::new(b).join("boot/loader/entries")).unwrap().next().unwrap().unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let initrds: Vec<&str> = text.lines().filter(|l| l.starts_with("initrd ")).collect();
            assert_eq!(initrds.len(), 3, "{text}");
            assert!(initrds[1].starts_with("initrd /ostree/initramfs-overlays/") && initrds[1].ends_with(".img"));
        }
    }
    // Each tool deploys on top of the other's overlays.
    run_with(real, &sysroots[1].1, &["admin", "deploy", "--os=testos", &o1, "os/one"]);
    run_with(oxtree_bin(), &sysroots[0].1, &["admin", "deploy", "--os=testos", &o1, "os/one"]);
    assert_same_tree(&boot_of(&sysroots[0].1), &boot_of(&sysroots[1].1), "after swapping tools");
}

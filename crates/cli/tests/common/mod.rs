//! Shared helpers for the CLI's integration tests: temporary directories,
//! running `oxtree` and the real `ostree`, building test trees, and
//! snapshots of directory trees for bit-for-bit comparison.
#![allow(dead_code)]

pub mod booted;
pub mod sysroot;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use oxtree_store::repo::read_xattrs;
use oxtree_store::Checksum;

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Under target/ so that it is on the same (xattr-capable) file system.
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let d = base.join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DIRS").is_none() && std::fs::remove_dir_all(&self.0).is_err() {
            // Deployment roots a test left immutable (chattr +i).
            let _ = Command::new("chattr").arg("-R").arg("-i").arg(&self.0).output();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn oxtree_bin() -> &'static str {
    env!("CARGO_BIN_EXE_oxtree")
}

fn run_tool(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap_or_else(|e| panic!("running {bin}: {e}"))
}

/// Runs oxtree; returns the output whatever the exit status.
pub fn ox_out(args: &[&str]) -> Output {
    run_tool(oxtree_bin(), args)
}

/// Runs the real ostree; returns the output whatever the exit status.
pub fn ostree_out(args: &[&str]) -> Output {
    require_ostree();
    run_tool("ostree", args)
}

fn check(tool: &str, args: &[&str], o: Output) -> String {
    assert!(
        o.status.success(),
        "{tool} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs oxtree and requires success; returns stdout.
pub fn ox(args: &[&str]) -> String {
    check("oxtree", args, ox_out(args))
}

/// Runs the real ostree and requires success; returns stdout.
pub fn ostree(args: &[&str]) -> String {
    check("ostree", args, ostree_out(args))
}

/// The real ostree is the oracle: its absence is a failure, not a skip
/// (CI installs it; see .ci/run).
pub fn require_ostree() {
    let ok = Command::new("ostree").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "the real `ostree` is needed (apt-get install ostree ostree-tests attr)");
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

pub fn sh(script: &str) {
    let st = Command::new("sh").arg("-c").arg(script).status().unwrap();
    assert!(st.success(), "sh -c {script:?} failed");
}

pub fn setfattr(path: &Path, name: &str, value: &str) {
    let st =
        Command::new("setfattr").args(["-n", name, "-v", value]).arg(path).status().expect("setfattr (package attr)");
    assert!(st.success(), "setfattr {name} on {}", path.display());
}

/// The interop tree: regular and empty files, symlinks (relative, absolute,
/// dangling), nested and empty dirs, odd modes, non-zero owners, user
/// xattrs, names with spaces and UTF-8, and (when `big`) a file over 64 MiB.
pub fn make_rich_tree(dest: &Path, big: bool) {
    let w = |p: &str, data: &[u8], mode: u32| {
        let path = dest.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    std::fs::create_dir_all(dest).unwrap();
    w("hello.txt", b"hello world\n", 0o644);
    w("empty", b"", 0o644);
    w("bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
    w("bin/setuid", b"setuid\n", 0o4755);
    w("secret", b"nobody reads me\n", 0o000);
    w("group-writable", b"gw\n", 0o664);
    w("with space/file name with spaces", b"spaces\n", 0o644);
    w("unicode/caf\u{e9}-\u{65e5}\u{672c}.txt", "caf\u{e9} \u{65e5}\u{672c}\n".as_bytes(), 0o600);
    w("deep/a/b/c/d/e/leaf", b"leaf\n", 0o640);
    w("owned/by-1000", b"owned\n", 0o644);
    w("xattrs/f", b"xattrs\n", 0o644);
    std::fs::create_dir_all(dest.join("emptydir")).unwrap();
    std::fs::create_dir_all(dest.join("sticky")).unwrap();
    std::fs::set_permissions(dest.join("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::create_dir_all(dest.join("private")).unwrap();
    std::fs::set_permissions(dest.join("private"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("hello.txt", dest.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dest.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", dest.join("dangling")).unwrap();
    std::os::unix::fs::symlink("../hello.txt", dest.join("bin/up-link")).unwrap();
    if is_root() {
        let chown = |p: &str, u: u32, g: u32| {
            std::os::unix::fs::lchown(dest.join(p), Some(u), Some(g)).unwrap();
        };
        chown("owned/by-1000", 1000, 1000);
        chown("owned", 1000, 100);
        chown("rel-link", 12, 34);
        chown("bin/setuid", 0, 50);
        std::fs::set_permissions(dest.join("bin/setuid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    }
    setfattr(&dest.join("xattrs/f"), "user.zeta", "zz");
    setfattr(&dest.join("xattrs/f"), "user.alpha", "0x0001ff");
    setfattr(&dest.join("xattrs"), "user.dir", "d");
    if big {
        // 65 MiB + 3 bytes of varied but compressible data.
        let mut data = Vec::with_capacity(65 * 1024 * 1024 + 3);
        let mut x: u32 = 12345;
        while data.len() < 65 * 1024 * 1024 + 3 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let line = format!("line {} value {:08x}\n", data.len() / 27, x >> 8);
            data.extend_from_slice(line.as_bytes());
        }
        data.truncate(65 * 1024 * 1024 + 3);
        w("big/large.bin", &data, 0o644);
        // Incompressible, compressible, incompressible again: archive
        // commits store the random stretches (see `Adaptive` in the store)
        // and must still write one valid deflate stream.
        let mut mixed = Vec::with_capacity(3_700_000);
        let mut rng = XorShift::new();
        rng.fill(1_500_000, &mut mixed);
        while mixed.len() < 2_700_000 {
            mixed.extend_from_slice(format!("text line {}\n", mixed.len()).as_bytes());
        }
        rng.fill(1_000_001, &mut mixed);
        w("big/mixed.bin", &mixed, 0o644);
    }
}

/// Incompressible test data, the same on every run (xorshift64).
pub struct XorShift(u64);

impl XorShift {
    pub fn new() -> Self {
        XorShift(0x9e37_79b9_7f4a_7c15)
    }

    /// The next pseudo-random number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Appends `n` pseudo-random bytes to `v`.
    pub fn fill(&mut self, n: usize, v: &mut Vec<u8>) {
        for _ in 0..n {
            let b = self.next() as u8;
            v.push(b);
        }
    }
}

/// One entry of a tree snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub content: String,
    pub xattrs: Vec<(String, String)>,
}

/// Everything OSTree preserves about a tree: type, permission bits, owner,
/// content (sha256) or link target, xattrs. Not timestamps.
pub fn snapshot(root: &Path, with_xattrs: bool) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::from("/"))];
    while let Some((p, rel)) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let xattrs = if with_xattrs {
            read_xattrs(&p)
                .unwrap()
                .iter()
                .filter(|(n, _)| n.starts_with(b"user."))
                .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), format!("{v:02x?}")))
                .collect()
        } else {
            Vec::new()
        };
        let (kind, content) = if ft.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().file_name()).collect();
            names.sort();
            for n in names {
                let n = n.into_string().unwrap();
                let child_rel = if rel == "/" { format!("/{n}") } else { format!("{rel}/{n}") };
                stack.push((p.join(&n), child_rel));
            }
            ('d', String::new())
        } else if ft.is_symlink() {
            ('l', std::fs::read_link(&p).unwrap().to_string_lossy().into_owned())
        } else {
            ('-', Checksum::digest(&std::fs::read(&p).unwrap()).to_hex())
        };
        let mode = if ft.is_symlink() { 0o777 } else { md.mode() & 0o7777 };
        out.insert(rel, Entry { kind, mode, uid: md.uid(), gid: md.gid(), content, xattrs });
    }
    out
}

/// What bare-user-only (or `--canonical-permissions`) keeps of a tree.
pub fn canonical(mut snap: BTreeMap<String, Entry>) -> BTreeMap<String, Entry> {
    for e in snap.values_mut() {
        e.uid = 0;
        e.gid = 0;
        e.xattrs.clear();
        if e.kind != 'l' {
            e.mode &= 0o755;
        }
    }
    snap
}

/// Asserts two snapshots are equal, printing the first differences.
pub fn assert_same_tree(a: &BTreeMap<String, Entry>, b: &BTreeMap<String, Entry>, what: &str) {
    if a == b {
        return;
    }
    let mut diffs = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => diffs.push(format!("only in first: {k}")),
            Some(w) if w != v => diffs.push(format!("{k}: {v:?} != {w:?}")),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            diffs.push(format!("only in second: {k}"));
        }
    }
    panic!("{what}: trees differ:\n{}", diffs.into_iter().take(20).collect::<Vec<_>>().join("\n"));
}

/// The URL path (`/objects/XX/REST.filez`) of the largest content object
/// of the archive repo at `repo`.
pub fn largest_filez(repo: &Path) -> String {
    let mut best = (0u64, String::new());
    for d in std::fs::read_dir(repo.join("objects")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let f = f.unwrap();
            let len = f.metadata().unwrap().len();
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".filez") && len > best.0 {
                let dir = f.path().parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
                best = (len, format!("/objects/{dir}/{name}"));
            }
        }
    }
    best.1
}

/// nginx serving a directory, stopped on drop.
pub struct Nginx {
    pub state: PathBuf,
    pub url: String,
}

fn serve_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/serve-nginx.sh")
}

impl Nginx {
    /// Serves `dir`; `limit_rate` slows each response to that many bytes
    /// per second.
    pub fn start(dir: &str, state: PathBuf, limit_rate: Option<&str>) -> Nginx {
        let env: Vec<(&str, &str)> = limit_rate.map(|r| ("NGINX_LIMIT_RATE", r)).into_iter().collect();
        Nginx::start_with(dir, state, &env)
    }

    /// Serves `dir` with the serve script's `env` (NGINX_LIMIT_RATE,
    /// NGINX_TLS).
    pub fn start_with(dir: &str, state: PathBuf, env: &[(&str, &str)]) -> Nginx {
        let mut cmd = Command::new(serve_script());
        cmd.arg("start").arg(dir).arg(&state);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running scripts/serve-nginx.sh");
        assert!(
            out.status.success(),
            "nginx is needed (apt-get install nginx-light): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"), "{url}");
        Nginx { state, url }
    }

    /// The access log: `ADDR "REQUEST" STATUS BYTES "RANGE"` per line.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new(serve_script()).arg("stop").arg(&self.state).status();
    }
}

/// Runs the shell `script` in a new mount namespace (`unshare -m`, as
/// root); its stdout and stderr, or None if namespaces are not available.
pub fn in_mount_namespace(script: &str) -> Option<String> {
    let o = Command::new("unshare").args(["-m", "sh", "-ec", script]).output().ok()?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    if !o.status.success() && err.contains("unshare failed") {
        return None;
    }
    Some(format!("{out}{err}"))
}

/// The package repositories `scripts/rpm-compose-repos.sh` builds (once per
/// test run; concurrent callers wait for the first): `repo1`, `repo2` and
/// `local` under the returned directory.
pub fn rpm_compose_repos() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rpm-compose");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rpm-compose-repos.sh");
        let st = Command::new(&script).arg(&dir).status().expect("scripts/rpm-compose-repos.sh");
        assert!(st.success(), "scripts/rpm-compose-repos.sh failed");
        dir
    })
    .clone()
}

/// Writes `bytes` as object `c` of type `ty` into the repository at `repo`
/// (archive naming), as they are: no checksum or format check, so that a
/// test can plant what no writer would.
pub fn plant_object(repo: &Path, c: &Checksum, ty: oxtree_store::object::ObjectType, bytes: &[u8]) {
    let p = repo.join(oxtree_store::object::loose_path(c, ty, true));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A commit with no parent and no metadata, subject "hostile", of the
/// root dirtree and dirmeta given.
pub fn hostile_commit(root_tree: Checksum, root_meta: Checksum, timestamp: u64) -> oxtree_store::object::Commit {
    oxtree_store::object::Commit {
        metadata: Default::default(),
        parent: None,
        related: vec![],
        subject: "hostile".into(),
        body: String::new(),
        timestamp,
        root_tree,
        root_meta,
    }
}

/// Kills `command` at random times: it runs once to completion (from
/// `reset()`) to learn how long it takes, then `rounds` times from
/// `reset()` again with SIGKILL after a delay drawn (the same on every run)
/// within that time, and `after(what)` checks what the kill left, `what`
/// saying when the kill came. Random times land between the crash points
/// too: in the middle of a write, a download or a decompression.
pub fn kill_at_random_times(
    rounds: usize,
    mut reset: impl FnMut(),
    mut command: impl FnMut() -> Command,
    mut after: impl FnMut(&str),
) {
    reset();
    let t = std::time::Instant::now();
    let o = command().output().unwrap();
    assert!(o.status.success(), "a clean run failed: {}", String::from_utf8_lossy(&o.stderr));
    let full = t.elapsed().as_micros().max(1000) as u64;
    let mut rng = XorShift::new();
    for round in 0..rounds {
        reset();
        let delay = rng.next() % full;
        let mut child =
            command().stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_micros(delay));
        let _ = child.kill();
        let status = child.wait().unwrap();
        after(&format!("killed after {delay} us of {full} ({status}, round {round})"));
    }
}

/// Every regular file under `root`, with its metadata (symlinks not
/// followed).
pub fn regular_files(root: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            if m.is_dir() {
                todo.push(p);
            } else if m.is_file() {
                found.push((p, m));
            }
        }
    }
    found
}

/// The files under `root`, as (device, inode): taken before a run, what
/// a power cut during it cannot take away.
pub fn file_inodes(root: &Path) -> std::collections::HashSet<(u64, u64)> {
    regular_files(root).iter().map(|(_, m)| (m.dev(), m.ino())).collect()
}

/// What a power cut leaves of a run under `OXTREE_TEST_FAULT=cut:N` (see
/// `oxtree_store::fault`): every file under `root` whose inode did not
/// exist before the run (`before`, from [`file_inodes`] of every tree the
/// run may link from) and that no sync made durable (the run's `log`) is
/// emptied. Returns the files emptied.
pub fn power_cut(root: &Path, before: &std::collections::HashSet<(u64, u64)>, log: &Path) -> Vec<PathBuf> {
    let mut durable = before.clone();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let (dev, ino) = line.split_once(' ').expect("a DEV INO line");
        durable.insert((dev.parse().unwrap(), ino.parse().unwrap()));
    }
    let mut emptied = Vec::new();
    for (p, m) in regular_files(root) {
        if m.len() > 0 && !durable.contains(&(m.dev(), m.ino())) {
            // Objects are read-only: open it writable for a moment.
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(0).unwrap();
            std::fs::set_permissions(&p, m.permissions()).unwrap();
            emptied.push(p);
        }
    }
    emptied
}

/// The boot ID of the machine after a power cut. A staging directory of
/// the boot that was cut is never resumed, so the next command must run as
/// another boot (`OSTREE_BOOTID`).
pub const BOOT_AFTER_THE_CUT: &str = "00000000-0000-4000-8000-0000000000c7";

/// A run of a command stopped by `OXTREE_TEST_FAULT` (see [`run_faulted`]).
pub struct Faulted {
    /// How the stopped command ended.
    pub output: Output,
    /// The files a power cut emptied (none unless the fault was `cut:N`).
    pub emptied: Vec<PathBuf>,
    cut: bool,
}

impl Faulted {
    /// `cmd` made to run as the command after this one: after a power cut,
    /// on another boot.
    pub fn next(&self, mut cmd: Command) -> Command {
        if self.cut {
            cmd.env("OSTREE_BOOTID", BOOT_AFTER_THE_CUT);
        }
        cmd
    }
}

/// Runs `cmd` with `OXTREE_TEST_FAULT=fault` (`N`, `kill:N` or `cut:N`);
/// after a `cut:N`, applies the [`power_cut`] to the files under `root`.
/// `scope` holds every tree the run may link from (the files under it
/// before the run count as durable); `log` is where the run records what it
/// synced.
pub fn run_faulted(mut cmd: Command, fault: &str, root: &Path, scope: &Path, log: &Path) -> Faulted {
    let before = file_inodes(scope);
    let _ = std::fs::remove_file(log);
    let output = cmd.env("OXTREE_TEST_FAULT", fault).env("OXTREE_TEST_FAULT_LOG", log).output().unwrap();
    let cut = fault.starts_with("cut:");
    let emptied = if cut { power_cut(root, &before, log) } else { Vec::new() };
    Faulted { output, emptied, cut }
}

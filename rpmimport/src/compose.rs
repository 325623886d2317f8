//! `compose tree`: a manifest's packages, chosen from local repositories,
//! imported, unioned and committed as one bootable tree.
//!
//! Steps, as rpm-ostree's compose takes them:
//! 1. choose the packages ([`crate::depsolve`]);
//! 2. hash the inputs (manifest, added files, each package's headers): when
//!    the branch's commit has the same `rpmostree.inputhash`, nothing is
//!    done;
//! 3. import every package into its own commit on its
//!    `rpmostree/pkg/NAME/EVR.ARCH` ref. Owner names are looked up in the
//!    `/etc/passwd` and `/etc/group` the chosen packages ship (those
//!    packages are imported first); names found nowhere become root, with
//!    a warning, as with `rpm -i`;
//! 4. union the package trees in install order (`filesystem`, `setup`,
//!    then by name): a path two packages ship with different contents is
//!    an error; a directory takes the metadata a package states for it;
//! 5. collect every package's `/var` and `/run` lines into
//!    `usr/lib/tmpfiles.d/rpm-ostree-1-autovar.conf`, apply `add-files`
//!    and `remove-files`, add `/sysroot` and the `ostree` link;
//! 6. commit, in the same transaction as the package refs, with
//!    rpm-ostree's metadata: `rpmostree.rpmdb.pkglist` (`a(sssss)`,
//!    sorted), `rpmostree.inputhash`, `version`, and `ostree.bootable` and
//!    `ostree.linux` when the tree has one kernel.
//!
//! 7. with `run_scriptlets`, run every `%pre`, each package's `%post`, then
//!    every `%posttrans`; then the manifest's `postprocess` scripts; all
//!    chrooted in the tree in a sandbox ([`crate::postprocess`]), their
//!    changes folded into the tree before `remove-files`.
//!
//! Scriptlets not run are reported.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use oxtree_store::build::{CommitInfo, MutableTree};
use oxtree_store::gvariant::Value;
use oxtree_store::object::CommitMetadata;
use oxtree_store::repo::{FileContent, Repo, Transaction};
use oxtree_store::Checksum;
use sha2::{Digest, Sha256};

use crate::depsolve::{arches, resolve, DepError, Universe};
use crate::import::{import_payload, Imported, Options};
use crate::owners::Owners;
use crate::package::{hex, Package, Script};
use crate::pkglist::{self, Pkg};
use crate::postprocess::{scriptlet_argv, Workspace};
use crate::tree::own_file_header;
use crate::treefile::Treefile;
use crate::ImportError;

const S_IFREG: u32 = 0o100000;

/// Who shipped a path [`union`] has no owner for, in a compose.
const ANOTHER: &str = "another package";

/// Why a compose failed. Nothing is committed and no ref moves.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Choosing the packages.
    #[error(transparent)]
    Deps(#[from] DepError),
    /// Importing one package.
    #[error("importing {nevra} ({path}): {source}")]
    Import {
        /// The package.
        nevra: String,
        /// Its file.
        path: PathBuf,
        /// Why.
        source: Box<ImportError>,
    },
    /// Two packages ship one path differently.
    #[error("file conflict: {path} is shipped by both {first} and {second}, differently")]
    Conflict {
        /// The path in the tree.
        path: String,
        /// The package unioned first.
        first: String,
        /// The other.
        second: String,
    },
    /// An `add-files` entry.
    #[error("add-files: {0}")]
    AddFile(String),
    /// A `remove-files` entry that is not in the tree.
    #[error("remove-files: '{0}' is not in the composed tree")]
    RemoveFile(String),
    /// More than one kernel in the tree.
    #[error("the composed tree has more than one kernel: {0}")]
    Kernels(String),
    /// A script that failed.
    #[error("{what} failed ({status}):\n{output}")]
    Script {
        /// Which script.
        what: String,
        /// How it ended.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// A scriptlet that cannot be run.
    #[error("{nevra}: cannot run its {name}: {why}")]
    Scriptlet {
        /// The package.
        nevra: String,
        /// `%pre`, `%post`, …
        name: &'static str,
        /// Why.
        why: String,
    },
    /// The sandbox scripts run in.
    #[error(transparent)]
    Sandbox(#[from] oxtree_sandbox::SandboxError),
    /// The repository.
    #[error(transparent)]
    Store(#[from] oxtree_store::Error),
}

/// How to compose.
#[derive(Debug, Clone, Default)]
pub struct ComposeOptions {
    /// The architecture composed for (`x86_64`, …); `noarch` goes too.
    pub basearch: String,
    /// The commit's timestamp.
    pub timestamp: u64,
    /// Commit even when the inputs are those of the branch's commit.
    pub force: bool,
    /// Extra `s` metadata (`--add-metadata-string`); `version` here wins
    /// over `automatic-version-prefix`.
    pub metadata: Vec<(String, String)>,
    /// Run the packages' `%pre`, `%post` and `%posttrans` in the tree.
    pub run_scriptlets: bool,
}

/// What a compose did.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The new commit, or the branch's when nothing changed.
    pub commit: Checksum,
    /// False when the inputs were unchanged and nothing was committed.
    pub changed: bool,
    /// The packages, sorted as in `rpmostree.rpmdb.pkglist`.
    pub packages: Vec<Pkg>,
    /// The `version` metadata, if any.
    pub version: Option<String>,
    /// The kernel version, when the tree has a kernel.
    pub kver: Option<String>,
    /// Scriptlets not run: (NEVRA, scriptlet names).
    pub skipped_scriptlets: Vec<(String, Vec<&'static str>)>,
    /// Scriptlets run: (NEVRA, scriptlet name).
    pub ran_scriptlets: Vec<(String, &'static str)>,
    /// Paths the scripts changed.
    pub script_changes: usize,
    /// Warnings from the imports (owners given to root).
    pub warnings: Vec<String>,
    /// Packages taken from an earlier import of the same headers and
    /// options rather than imported again.
    pub reused: usize,
    /// Where the time went: (phase, duration), in order.
    pub phases: Vec<(&'static str, std::time::Duration)>,
}

/// Times the phases of a compose.
struct Phases {
    done: Vec<(&'static str, std::time::Duration)>,
    since: std::time::Instant,
}

impl Phases {
    fn new() -> Self {
        Phases { done: Vec::new(), since: std::time::Instant::now() }
    }

    /// Ends phase `name` now.
    fn end(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.done.push((name, now - self.since));
        self.since = now;
    }
}

/// A scratch directory removed when dropped, whatever happened.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Install order: `filesystem` lays out the directories, `setup` brings
/// passwd and group; the rest by name.
pub(crate) fn rank(name: &str) -> u8 {
    match name {
        "filesystem" => 0,
        "setup" => 1,
        _ => 2,
    }
}

/// The next `version` for `prefix` after `previous` (rpm-ostree's
/// `automatic-version-prefix`: PREFIX, then PREFIX.1, PREFIX.2, …).
pub fn next_version(prefix: &str, previous: Option<&str>) -> String {
    let Some(prev) = previous else { return prefix.to_string() };
    if prev == prefix {
        return format!("{prefix}.1");
    }
    match prev.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')).and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => format!("{prefix}.{}", n + 1),
        None => prefix.to_string(),
    }
}

/// The manifest's `postprocess-script`, named for errors, and its bytes.
fn postprocess_script(tf: &Treefile) -> Result<Option<(String, Vec<u8>)>, ComposeError> {
    let Some(p) = &tf.postprocess_script else { return Ok(None) };
    let what = format!("postprocess-script {}", p.display());
    match std::fs::read(p) {
        Ok(data) => Ok(Some((what, data))),
        Err(e) => Err(ComposeError::Script { what, status: "not run".into(), output: e.to_string() }),
    }
}

fn input_hash(tf: &Treefile, u: &Universe, order: &[usize], scriptlets: bool) -> Result<String, ComposeError> {
    let mut h = Sha256::new();
    h.update(tf.canonical.as_bytes());
    h.update([u8::from(scriptlets)]);
    if let Some((_, data)) = postprocess_script(tf)? {
        h.update(Sha256::digest(&data));
    }
    for (src, dest) in &tf.add_files {
        let data = std::fs::read(src).map_err(|e| ComposeError::AddFile(format!("{}: {e}", src.display())))?;
        h.update(dest.as_bytes());
        h.update(Sha256::digest(&data));
    }
    for &i in order {
        let p = &u.packages[i].package;
        h.update(p.nevra().as_bytes());
        h.update(Sha256::digest(&p.raw_headers));
    }
    Ok(hex(&h.finalize()))
}

fn store_err(e: oxtree_store::Error) -> ComposeError {
    ComposeError::Store(e)
}

/// Bytes of a regular file in `tree` at `rel` (components), if there.
pub(crate) fn read_tree_file(
    tx: &Transaction<'_>,
    tree: &MutableTree,
    rel: &[&str],
) -> Result<Option<Vec<u8>>, ComposeError> {
    let Some((name, dirs)) = rel.split_last() else { return Ok(None) };
    let mut cur = tree;
    for d in dirs {
        match cur.dirs.get(*d) {
            Some(next) => cur = next,
            None => return Ok(None),
        }
    }
    let Some(csum) = cur.files.get(*name) else { return Ok(None) };
    let obj = tx.open_file(csum)?;
    match obj.content {
        FileContent::Regular(mut r) => {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut r, &mut v).map_err(|e| {
                ComposeError::Store(oxtree_store::Error::Io { path: PathBuf::from(rel.join("/")), source: e })
            })?;
            Ok(Some(v))
        }
        FileContent::Symlink => Ok(None),
    }
}

/// Unions `from` (package `who`) into `into`; `owner` maps each file path
/// to the package that brought it.
pub(crate) fn union(
    into: &mut MutableTree,
    from: MutableTree,
    prefix: &str,
    who: &str,
    default_meta: Checksum,
    owner: &mut HashMap<String, String>,
    unowned: &str,
) -> Result<(), ComposeError> {
    // A directory a package states metadata for wins over the default
    // that packages get for directories they only have files in.
    if into.meta.is_none() || (into.meta == Some(default_meta) && from.meta.is_some()) {
        into.meta = from.meta;
    }
    for (name, csum) in from.files {
        let path = format!("{prefix}/{name}");
        let conflict = |first: &str| ComposeError::Conflict {
            path: path.clone(),
            first: first.to_string(),
            second: who.to_string(),
        };
        if into.dirs.contains_key(&name) {
            let first = owner.get(&path).cloned().unwrap_or_else(|| format!("a directory of {unowned}"));
            return Err(conflict(&first));
        }
        match into.files.get(&name) {
            Some(old) if *old != csum => {
                return Err(conflict(owner.get(&path).map_or(unowned, String::as_str)));
            }
            Some(_) => {}
            None => {
                into.files.insert(name, csum);
                owner.insert(path, who.to_string());
            }
        }
    }
    for (name, dir) in from.dirs {
        let path = format!("{prefix}/{name}");
        if into.files.contains_key(&name) {
            let first = owner.get(&path).cloned().unwrap_or_else(|| unowned.to_string());
            return Err(ComposeError::Conflict { path, first, second: who.to_string() });
        }
        let sub = into.dirs.entry(name).or_default();
        union(sub, dir, &path, who, default_meta, owner, unowned)?;
    }
    Ok(())
}

/// Moves the top-level directories of package tree `pkg` that are
/// symlinks in `tree` (`/bin -> usr/bin`, `/lib -> usr/lib`: the merged
/// `/usr` layout `filesystem` lays out) to where the links point, as rpm
/// installs them through the links. Packages built before the merge (and
/// Debian ones) ship `/bin/x` and `/lib/…`.
pub(crate) fn through_links(
    tx: &Transaction<'_>,
    tree: &MutableTree,
    pkg: &mut MutableTree,
) -> Result<(), ComposeError> {
    let names: Vec<String> = pkg.dirs.keys().filter(|n| tree.files.contains_key(n.as_str())).cloned().collect();
    for name in names {
        let obj = tx.open_file(&tree.files[&name])?;
        let target = obj.header.symlink_target;
        let parts: Vec<&str> = target.trim_start_matches('/').split('/').filter(|c| !c.is_empty()).collect();
        let mut cur = tree;
        let resolves = !parts.is_empty()
            && parts.iter().all(|c| match cur.dirs.get(*c) {
                Some(d) if *c != "." && *c != ".." => {
                    cur = d;
                    true
                }
                _ => false,
            });
        if !resolves {
            continue;
        }
        let Some(sub) = pkg.dirs.remove(&name) else { continue };
        let mut dest = MutableTree { meta: None, ..sub };
        for p in parts.iter().rev() {
            let mut parent = MutableTree::new();
            parent.dirs.insert(p.to_string(), dest);
            dest = parent;
        }
        merge_into(pkg, dest);
    }
    Ok(())
}

/// `MutableTree::merge` without taking over directory metadata that the
/// merged-in side does not state.
fn merge_into(into: &mut MutableTree, other: MutableTree) {
    if other.meta.is_some() {
        into.meta = other.meta;
    }
    into.files.extend(other.files);
    for (n, d) in other.dirs {
        merge_into(into.dirs.entry(n).or_default(), d);
    }
}

/// Where an `add-files` destination goes in the tree (components).
fn add_files_dest(dest: &str) -> Result<Vec<String>, ComposeError> {
    let rel = dest.trim_start_matches('/');
    let parts: Vec<&str> = rel.split('/').collect();
    if rel.is_empty() || parts.iter().any(|c| c.is_empty() || *c == "." || *c == "..") {
        return Err(ComposeError::AddFile(format!("'{dest}' is not a file path within the tree")));
    }
    let mut out: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    match parts[0] {
        "etc" => out.insert(0, "usr".into()),
        "var" | "run" | "tmp" | "boot" | "proc" | "sys" | "dev" => {
            return Err(ComposeError::AddFile(format!("'{dest}': /{} is not part of an OSTree commit", parts[0])))
        }
        _ => {}
    }
    Ok(out)
}

fn remove_path(tree: &mut MutableTree, parts: &[&str]) -> bool {
    let Some((name, dirs)) = parts.split_last() else { return false };
    let mut cur = tree;
    for d in dirs {
        match cur.dirs.get_mut(*d) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    cur.files.remove(*name).is_some() || cur.dirs.remove(*name).is_some()
}

/// The kernel versions of `usr/lib/modules/*/vmlinuz` in `tree`.
pub(crate) fn kernels(tree: &MutableTree) -> Vec<String> {
    let modules = tree.dirs.get("usr").and_then(|d| d.dirs.get("lib")).and_then(|d| d.dirs.get("modules"));
    modules
        .map(|m| m.dirs.iter().filter(|(_, d)| d.files.contains_key("vmlinuz")).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default()
}

/// The scriptlets of `pkgs` (in install order) in the order rpm-ostree
/// runs them: every `%pre`, then each package's `%post`, then every
/// `%posttrans`.
pub(crate) fn scriptlet_order<'p>(pkgs: &[&'p Package]) -> Vec<(String, &'p Script)> {
    ["%pre", "%post", "%posttrans"]
        .iter()
        .flat_map(|phase| {
            pkgs.iter()
                .flat_map(move |p| p.scripts.iter().filter(move |s| s.name == *phase).map(move |s| (p.nevra(), s)))
        })
        .collect()
}

/// The scriptlets run, (NEVRA, name), and the number of paths changed.
pub(crate) type ScriptsRun = (Vec<(String, &'static str)>, usize);

/// Runs `scriptlets` and then the `post` scripts (name, text) chrooted in
/// `tree`, in a sandbox whose `/var` is made from the `autovar` tmpfiles
/// lines, and folds what they changed into `tree`. Returns the scriptlets
/// run and the number of paths changed.
pub(crate) fn run_scripts(
    repo: &Repo,
    tx: &Transaction<'_>,
    tree: &mut MutableTree,
    autovar: &[String],
    scriptlets: &[(String, &Script)],
    post: &[(String, Vec<u8>)],
) -> Result<ScriptsRun, ComposeError> {
    if scriptlets.is_empty() && post.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let scratch = ScratchDir(crate::postprocess::scratch_dir(repo.path()));
    let _ = std::fs::remove_dir_all(&scratch.0);
    let ws = Workspace::new(tx, tree, &scratch.0, autovar)?;
    let mut ran = Vec::new();
    for (nevra, s) in scriptlets {
        let argv = scriptlet_argv(&s.program).map_err(|why| ComposeError::Scriptlet {
            nevra: nevra.clone(),
            name: s.name,
            why,
        })?;
        ws.run(&format!("{nevra} {}", s.name), &argv, s.body.as_bytes())?;
        ran.push((nevra.clone(), s.name));
    }
    for (i, (what, text)) in post.iter().enumerate() {
        ws.run_file(what, text, &format!(".oxtree-postprocess-{i}"))?;
    }
    let changes = ws.fold(tx, tree)?;
    Ok((ran, changes))
}

/// Composes `tf` into `repo` (see the module documentation).
pub fn compose(repo: &Repo, tf: &Treefile, opts: &ComposeOptions) -> Result<Composed, ComposeError> {
    let mut phases = Phases::new();
    let universe = Universe::scan(&tf.repos, &arches(&opts.basearch), &tf.exclude_packages)?;
    phases.end("read headers");
    let mut order = resolve(&universe, &tf.packages)?;
    order.sort_by(|&a, &b| {
        let (pa, pb) = (&universe.packages[a].package, &universe.packages[b].package);
        rank(&pa.name).cmp(&rank(&pb.name)).then_with(|| pa.name.cmp(&pb.name))
    });
    let mut packages: Vec<Pkg> = order.iter().map(|&i| Pkg::of(&universe.packages[i].package)).collect();
    pkglist::sort(&mut packages);
    let runs = |name: &str| opts.run_scriptlets && matches!(name, "%pre" | "%post" | "%posttrans");
    let skipped_scriptlets: Vec<(String, Vec<&'static str>)> = order
        .iter()
        .map(|&i| &universe.packages[i].package)
        .map(|p| (p.nevra(), p.scriptlets.iter().copied().filter(|n| !runs(n)).collect::<Vec<_>>()))
        .filter(|(_, v)| !v.is_empty())
        .collect();

    phases.end("resolve");
    let inputhash = input_hash(tf, &universe, &order, opts.run_scriptlets)?;
    let parent = repo.resolve_rev(&tf.branch, true)?;
    let parent_meta = match parent {
        Some(p) => Some(repo.load_commit(&p)?.metadata),
        None => None,
    };
    let meta_str = |m: &CommitMetadata, k: &str| match m.get(k) {
        Some(Value::Str(s)) => Some(s.to_string()),
        _ => None,
    };
    if let (Some(p), Some(m), false) = (parent, &parent_meta, opts.force) {
        if meta_str(m, "rpmostree.inputhash").as_deref() == Some(inputhash.as_str()) {
            return Ok(Composed {
                commit: p,
                changed: false,
                version: meta_str(m, "version"),
                kver: meta_str(m, "ostree.linux"),
                packages,
                skipped_scriptlets,
                ran_scriptlets: Vec::new(),
                script_changes: 0,
                warnings: Vec::new(),
                reused: 0,
                phases: phases.done,
            });
        }
    }

    let mut tx = repo.transaction()?;
    let default_meta = crate::tree::default_dirmeta(&tx)?;
    let base_opts = Options {
        owners: Owners::root_only(),
        nodocs: !tf.documentation,
        langs: tf.install_langs.clone(),
        ..Default::default()
    };
    // Packages imported before with the same headers and options are
    // taken from their refs, as rpm-ostree's package cache is.
    let reused = std::cell::Cell::new(0usize);
    let import = |tx: &Transaction<'_>, i: usize, opts: &Options| -> Result<Imported, ComposeError> {
        let c = &universe.packages[i];
        let err =
            |source| ComposeError::Import { nevra: c.package.nevra(), path: c.path.clone(), source: Box::new(source) };
        if let Some(imp) = crate::import::cached(tx.repo(), &c.package, opts).map_err(err)? {
            reused.set(reused.get() + 1);
            return Ok(imp);
        }
        let (pkg, reader) = Package::open(&c.path).map_err(err)?;
        import_payload(tx, pkg, reader, opts).map_err(err)
    };

    // Packages that ship the user and group databases come first: the
    // others' owner names are looked up in them.
    let ships_db = |i: usize| {
        universe.packages[i]
            .package
            .files
            .iter()
            .any(|f| !f.ghost && (f.path == "/etc/passwd" || f.path == "/etc/group"))
    };
    let mut imported: HashMap<usize, Imported> = HashMap::new();
    let mut db_tree = MutableTree::new();
    for &i in order.iter().filter(|&&i| ships_db(i)) {
        let imp = import(&tx, i, &base_opts)?;
        let t = MutableTree::from_transaction(&tx, &imp.root.0, &imp.root.1)?;
        union(&mut db_tree, t, "", &imp.package.nevra(), default_meta, &mut HashMap::new(), ANOTHER)?;
        imported.insert(i, imp);
    }
    let text = |rel: &[&str]| -> Result<String, ComposeError> {
        Ok(String::from_utf8_lossy(&read_tree_file(&tx, &db_tree, rel)?.unwrap_or_default()).into_owned())
    };
    let owners = Owners::from_texts(&text(&["usr", "etc", "passwd"])?, &text(&["usr", "etc", "group"])?);
    drop(db_tree);
    let opts_owned = Options { owners, ..base_opts };
    for &i in &order {
        if let std::collections::hash_map::Entry::Vacant(slot) = imported.entry(i) {
            slot.insert(import(&tx, i, &opts_owned)?);
        }
    }

    phases.end("import");
    let mut tree = MutableTree { meta: Some(default_meta), ..Default::default() };
    let mut owner = HashMap::new();
    let mut warnings = Vec::new();
    let mut autovar = Vec::new();
    let mut autovar_seen = BTreeSet::new();
    for &i in &order {
        let imp = &imported[&i];
        tx.set_ref(&imp.branch, Some(imp.commit))?;
        let nevra = imp.package.nevra();
        warnings.extend(imp.warnings.iter().map(|w| format!("{nevra}: {w}")));
        for line in &imp.tmpfiles {
            if autovar_seen.insert(line.clone()) {
                autovar.push(line.clone());
            }
        }
        let mut t = MutableTree::from_transaction(&tx, &imp.root.0, &imp.root.1)?;
        through_links(&tx, &tree, &mut t)?;
        union(&mut tree, t, "", &nevra, default_meta, &mut owner, ANOTHER)?;
    }
    drop(imported);

    let file_header = |mode: u32| own_file_header(repo.mode(), mode);
    if !autovar.is_empty() {
        let mut text = autovar.join("\n");
        text.push('\n');
        let csum = tx.write_file_bytes(&file_header(S_IFREG | 0o644), text.as_bytes())?;
        tree.ensure_dir(&["usr", "lib", "tmpfiles.d"], default_meta)?.put_file("rpm-ostree-1-autovar.conf", csum)?;
    }
    for (src, dest) in &tf.add_files {
        let parts = add_files_dest(dest)?;
        let fail = |e: std::io::Error| ComposeError::AddFile(format!("{}: {e}", src.display()));
        let md = std::fs::metadata(src).map_err(fail)?;
        if !md.is_file() {
            return Err(ComposeError::AddFile(format!("{}: not a regular file", src.display())));
        }
        let data = std::fs::read(src).map_err(fail)?;
        let mode = S_IFREG | (std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777);
        let csum = tx.write_file_bytes(&file_header(mode), &data)?;
        let Some((name, dirs)) = parts.split_last() else { continue };
        let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
        let dir = tree.ensure_dir(&dirs, default_meta)?;
        if dir.dirs.contains_key(name) {
            return Err(ComposeError::AddFile(format!("'{dest}' is a directory in the tree")));
        }
        dir.put_file(name, csum)?;
    }
    phases.end("union");
    let scriptlets = if opts.run_scriptlets {
        let pkgs: Vec<&Package> = order.iter().map(|&i| &universe.packages[i].package).collect();
        scriptlet_order(&pkgs)
    } else {
        Vec::new()
    };
    let mut post: Vec<(String, Vec<u8>)> =
        tf.postprocess.iter().enumerate().map(|(i, t)| (format!("postprocess[{i}]"), t.clone().into_bytes())).collect();
    post.extend(postprocess_script(tf)?);
    let (ran_scriptlets, script_changes) = run_scripts(repo, &tx, &mut tree, &autovar, &scriptlets, &post)?;
    phases.end("scripts");
    for path in &tf.remove_files {
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let moved: Vec<&str> = if parts.first() == Some(&"etc") {
            std::iter::once("usr").chain(parts.iter().copied()).collect()
        } else {
            parts.clone()
        };
        if !remove_path(&mut tree, &moved) {
            return Err(ComposeError::RemoveFile(path.clone()));
        }
    }

    crate::rootfs::sysroot_links(&tx, &mut tree, default_meta)?;
    let kvers = kernels(&tree);
    if kvers.len() > 1 {
        return Err(ComposeError::Kernels(kvers.join(", ")));
    }
    let kver = kvers.into_iter().next();
    let previous_version = parent_meta.as_ref().and_then(|m| meta_str(m, "version"));
    let mut version = tf.automatic_version_prefix.as_deref().map(|p| next_version(p, previous_version.as_deref()));
    let mut metadata = CommitMetadata::default();
    for (k, v) in &opts.metadata {
        if k == "version" {
            version = Some(v.clone());
        }
        metadata.set(k, Value::Str(Cow::Owned(v.clone())));
    }
    if let Some(v) = &version {
        metadata.set("version", Value::Str(Cow::Owned(v.clone())));
    }
    metadata.set(pkglist::METADATA_KEY, pkglist::to_value(&packages));
    metadata.set("rpmostree.inputhash", Value::Str(Cow::Owned(inputhash)));
    if let Some(k) = &kver {
        metadata.set("ostree.bootable", Value::Bool(true));
        metadata.set("ostree.linux", Value::Str(Cow::Owned(k.clone())));
    }
    let root = tree.write(&tx)?;
    drop(tree);
    let info = CommitInfo { subject: String::new(), body: String::new(), parent, timestamp: opts.timestamp, metadata };
    let commit = oxtree_store::build::write_commit(&tx, &info, root)?;
    tx.set_ref(&tf.branch, Some(commit))?;
    tx.commit().map_err(store_err)?;
    phases.end("commit");
    Ok(Composed {
        commit,
        changed: true,
        packages,
        version,
        kver,
        skipped_scriptlets,
        ran_scriptlets,
        script_changes,
        warnings,
        reused: reused.get(),
        phases: phases.done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(next_version("40", None), "40");
        assert_eq!(next_version("40", Some("40")), "40.1");
        assert_eq!(next_version("40", Some("40.9")), "40.10");
        assert_eq!(next_version("41", Some("40.2")), "41");
        assert_eq!(next_version("40", Some("40.x")), "40");
    }

    #[test]
    fn add_files_places() {
        assert_eq!(add_files_dest("/etc/motd").unwrap(), ["usr", "etc", "motd"]);
        assert_eq!(add_files_dest("/usr/share/x").unwrap(), ["usr", "share", "x"]);
        for bad in ["/var/x", "/", "/usr/../x", "/run/a", "/usr//x"] {
            assert!(add_files_dest(bad).is_err(), "{bad}");
        }
    }
}

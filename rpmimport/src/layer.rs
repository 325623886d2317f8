//! Client-side layering: a base commit plus local RPMs, as one derived
//! commit to deploy (rpm-ostree's `install ./pkg.rpm`).
//!
//! Each package is imported once into its own commit on its
//! `rpmostree/pkg/NAME/EVR.ARCH` ref (the same import a compose does) and
//! is afterwards known by the SHA-256 of its headers
//! (`rpmostree.metadata_sha256`), which is what a deployment's origin
//! records (`[packages] requested-local=SHA256:NEVRA;…`). Re-layering
//! onto a new base (an upgrade) takes the packages from those commits, so
//! the RPM files need not be kept.
//!
//! The derived commit:
//! - is the base tree with the packages' trees unioned over it, in install
//!   order; a path a package ships differently from the base (or from
//!   another layered package) is an error naming both;
//! - gets each package's `/var` and `/run` entries as
//!   `usr/lib/tmpfiles.d/pkg-NAME.conf`;
//! - has the base as its parent and the base's timestamp (so an upgrade's
//!   "not older" check compares bases), the base's `version`,
//!   `ostree.bootable` and `ostree.linux`, `rpmostree.clientlayer` true,
//!   `rpmostree.clientlayer_version` 6, and the base's package list plus
//!   the layered packages in `rpmostree.rpmdb.pkglist`.
//!
//! Requirements of the layered packages are checked against the other
//! layered packages, the base's packages (by name and version, from its
//! package list) and the paths in the derived tree. The base carries no
//! rpmdb, so a capability only a base package provides under another name
//! (a soname, a virtual provide) cannot be checked: it is reported as
//! unsatisfied unless [`LayerOptions::nodeps`] is set.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use oxtree_store::build::{CommitInfo, MutableTree};
use oxtree_store::gvariant::Value;
use oxtree_store::object::CommitMetadata;
use oxtree_store::repo::{Repo, Transaction};
use oxtree_store::Checksum;
use sha2::{Digest, Sha256};

use crate::compose::{kernels, rank, read_tree_file, run_scripts, scriptlet_order, through_links, union, ComposeError};
use crate::depsolve::dep_matches;
use crate::import::{import_payload, Options};
use crate::owners::Owners;
use crate::package::{hex, Dep, Package};
use crate::pkglist::{self, Pkg};
use crate::ImportError;

const S_IFREG: u32 = 0o100000;

/// Where a layered package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An RPM file, imported now.
    File(PathBuf),
    /// A package imported earlier, by the SHA-256 of its headers and its
    /// NEVRA (an origin's `requested-local` entry).
    Cached {
        /// `rpmostree.metadata_sha256` of its commit.
        sha256: String,
        /// `NAME-[E:]V-R.ARCH`.
        nevra: String,
    },
}

/// How to layer.
#[derive(Debug, Clone, Default)]
pub struct LayerOptions {
    /// The machine's architecture; packages must be of it or `noarch`.
    pub basearch: String,
    /// Skip the requirement check.
    pub nodeps: bool,
    /// Run the packages' `%pre`, `%post` and `%posttrans` in the tree.
    pub run_scriptlets: bool,
}

/// One layered package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayeredPackage {
    /// Its name.
    pub name: String,
    /// `NAME-[E:]V-R.ARCH`.
    pub nevra: String,
    /// SHA-256 of its headers: with the NEVRA, what an origin records.
    pub sha256: String,
    /// Its commit, on its `rpmostree/pkg/…` ref.
    pub commit: Checksum,
}

impl LayeredPackage {
    /// The origin's `requested-local` entry: `SHA256:NEVRA`.
    pub fn origin_entry(&self) -> String {
        format!("{}:{}", self.sha256, self.nevra)
    }
}

/// What a layering made.
#[derive(Debug, Clone)]
pub struct Layered {
    /// The derived commit.
    pub commit: Checksum,
    /// The base it was made on.
    pub base: Checksum,
    /// The layered packages, in install order.
    pub packages: Vec<LayeredPackage>,
    /// Scriptlets not run: (NEVRA, scriptlet names).
    pub skipped_scriptlets: Vec<(String, Vec<&'static str>)>,
    /// Warnings from the imports (owners given to root).
    pub warnings: Vec<String>,
}

/// Why layering failed. Nothing is committed and no ref moves.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// An RPM file that cannot be read or imported.
    #[error("{path}: {source}")]
    Package {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<ImportError>,
    },
    /// A package the base already has.
    #[error("package {nevra} cannot be layered: the base commit already has {name} ({base})")]
    InBase {
        /// The layered package.
        nevra: String,
        /// Its name.
        name: String,
        /// The base's version of it.
        base: String,
    },
    /// Two layered packages of one name.
    #[error("package {name} is given twice: {first} and {second}")]
    Twice {
        /// The name.
        name: String,
        /// One NEVRA.
        first: String,
        /// The other.
        second: String,
    },
    /// A new package of the name of one already layered.
    #[error("package {name} is already layered ({nevra}); uninstall it first")]
    AlreadyLayered {
        /// The name.
        name: String,
        /// The layered one.
        nevra: String,
    },
    /// A package for another machine.
    #[error("package {nevra} is for {arch}, not {basearch} or noarch")]
    Arch {
        /// The package.
        nevra: String,
        /// Its architecture.
        arch: String,
        /// The machine's.
        basearch: String,
    },
    /// A requirement neither the base nor the layered packages meet.
    #[error(
        "nothing provides '{req}' needed by {nevra} (checked against the layered packages, the base's package names and versions, and its files; --nodeps skips this check)"
    )]
    Unsatisfied {
        /// The requirement as rpm prints it.
        req: String,
        /// The package.
        nevra: String,
    },
    /// A layered package that conflicts with the base or another one.
    #[error("{nevra} conflicts with '{conflict}' provided by {with}")]
    Conflicts {
        /// The package stating the conflict.
        nevra: String,
        /// The conflict, as rpm prints it.
        conflict: String,
        /// The package that provides it.
        with: String,
    },
    /// A layered package that would replace a base package.
    #[error("{nevra} obsoletes {base} of the base commit; removing or replacing base packages is not supported")]
    ObsoletesBase {
        /// The layered package.
        nevra: String,
        /// The base's package.
        base: String,
    },
    /// An origin's package not found among the imported packages.
    #[error("layered package {nevra} (sha256 {sha256}) is not in the repository: install it again from its RPM file")]
    NotCached {
        /// Its NEVRA.
        nevra: String,
        /// The SHA-256 of its headers.
        sha256: String,
    },
    /// A cached package commit whose recorded headers do not parse.
    #[error("cached package commit {commit} ({nevra}): {why}")]
    BadCache {
        /// The commit.
        commit: Checksum,
        /// Its NEVRA.
        nevra: String,
        /// What is wrong.
        why: String,
    },
    /// The base commit's package list.
    #[error("base commit {0}: {1}")]
    Base(Checksum, String),
    /// Unioning, scripts, kernels, the repository.
    #[error(transparent)]
    Compose(#[from] ComposeError),
}

impl From<oxtree_store::Error> for LayerError {
    fn from(e: oxtree_store::Error) -> Self {
        LayerError::Compose(ComposeError::Store(e))
    }
}

/// The base of a commit: its parent when it is a layered commit
/// (`rpmostree.clientlayer`), else the commit itself (`csum`).
pub fn base_of(csum: &Checksum, commit: &oxtree_store::object::Commit) -> Option<Checksum> {
    match commit.metadata.get("rpmostree.clientlayer") {
        Some(Value::Bool(true)) => commit.parent,
        _ => Some(*csum),
    }
}

/// The commit of every imported package, by the SHA-256 of its headers.
fn cached_packages(repo: &Repo) -> Result<HashMap<String, Checksum>, LayerError> {
    let mut out = HashMap::new();
    for (name, csum) in repo.list_refs(None)? {
        if !name.starts_with("rpmostree/pkg/") {
            continue;
        }
        let commit = repo.load_commit(&csum)?;
        if let Some(Value::Str(sha)) = commit.metadata.get("rpmostree.metadata_sha256") {
            out.insert(sha.to_string(), csum);
        }
    }
    Ok(out)
}

/// A package to layer, its headers read.
struct Layer {
    package: Package,
    from: LayerFrom,
}

/// Where a [`Layer`]'s tree comes from.
enum LayerFrom {
    /// An RPM file, open at its payload.
    File(PathBuf, std::io::BufReader<std::fs::File>),
    /// An earlier import.
    Stored(Checksum),
}

fn load_layers(repo: &Repo, sources: &[Source], opts: &LayerOptions) -> Result<Vec<Layer>, LayerError> {
    let cache = if sources.iter().any(|s| matches!(s, Source::Cached { .. })) {
        cached_packages(repo)?
    } else {
        HashMap::new()
    };
    let mut layers: Vec<Layer> = Vec::new();
    for source in sources {
        let (package, commit) = match source {
            Source::File(path) => {
                let (p, reader) =
                    Package::open(path).map_err(|e| LayerError::Package { path: path.clone(), source: Box::new(e) })?;
                (p, LayerFrom::File(path.clone(), reader))
            }
            Source::Cached { sha256, nevra } => {
                let not_cached = || LayerError::NotCached { nevra: nevra.clone(), sha256: sha256.clone() };
                let commit = *cache.get(sha256).ok_or_else(not_cached)?;
                let bad = |why: String| LayerError::BadCache { commit, nevra: nevra.clone(), why };
                let meta = repo.load_commit(&commit)?.metadata;
                let Some(Value::Bytes(raw)) = meta.get("rpmostree.metadata") else {
                    return Err(bad("no rpmostree.metadata".into()));
                };
                let (p, _) = Package::read(std::io::Cursor::new(raw.to_vec())).map_err(|e| bad(e.to_string()))?;
                if p.nevra() != *nevra {
                    return Err(bad(format!("its headers are of {}", p.nevra())));
                }
                (p, LayerFrom::Stored(commit))
            }
        };
        if package.arch != opts.basearch && package.arch != "noarch" {
            return Err(LayerError::Arch {
                nevra: package.nevra(),
                arch: package.arch.clone(),
                basearch: opts.basearch.clone(),
            });
        }
        if let Some(other) = layers.iter().find(|l| l.package.name == package.name) {
            let (name, first) = (package.name.clone(), other.package.nevra());
            return Err(match other.from {
                LayerFrom::Stored(_) => LayerError::AlreadyLayered { name, nevra: first },
                LayerFrom::File(..) => LayerError::Twice { name, first, second: package.nevra() },
            });
        }
        layers.push(Layer { package, from: commit });
    }
    layers.sort_by(|a, b| rank(&a.package.name).cmp(&rank(&b.package.name)).then(a.package.name.cmp(&b.package.name)));
    Ok(layers)
}

/// Whether `path` (absolute) is in `tree`, following a symbolic link in
/// its first component (`/bin -> usr/bin`) and `/etc` to `usr/etc`.
fn tree_has_path(tx: &Transaction<'_>, tree: &MutableTree, path: &str) -> Result<bool, LayerError> {
    let mut parts: Vec<String> = path.split('/').filter(|c| !c.is_empty()).map(str::to_string).collect();
    if parts.first().map(String::as_str) == Some("etc") {
        parts.insert(0, "usr".into());
    }
    if let Some(first) = parts.first().cloned() {
        if let Some(csum) = tree.files.get(&first) {
            let target = tx.open_file(csum)?.header.symlink_target;
            if !target.is_empty() && parts.len() > 1 {
                let mut t: Vec<String> =
                    target.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_string).collect();
                t.extend(parts.drain(1..));
                parts = t;
            }
        }
    }
    let Some((name, dirs)) = parts.split_last() else { return Ok(true) };
    let mut cur = tree;
    for d in dirs {
        match cur.dirs.get(d) {
            Some(next) => cur = next,
            None => return Ok(false),
        }
    }
    Ok(cur.files.contains_key(name) || cur.dirs.contains_key(name))
}

/// Checks every requirement, conflict and obsolete of `layers` (see the
/// module documentation).
fn check_deps(tx: &Transaction<'_>, tree: &MutableTree, layers: &[Package], base: &[Pkg]) -> Result<(), LayerError> {
    let base_provides: Vec<Dep> =
        base.iter().map(|p| Dep { name: p.name.clone(), flags: Dep::EQUAL, version: p.evr() }).collect();
    for l in layers {
        for req in &l.requires {
            if req.flags & Dep::RPMLIB != 0 || req.name.starts_with("rpmlib(") {
                continue;
            }
            let met = layers.iter().any(|o| {
                o.provides.iter().any(|p| dep_matches(p, req))
                    || (req.name.starts_with('/') && o.files.iter().any(|f| !f.ghost && f.path == req.name))
            }) || base_provides.iter().any(|p| dep_matches(p, req))
                || (req.name.starts_with('/') && tree_has_path(tx, tree, &req.name)?);
            if !met {
                return Err(LayerError::Unsatisfied { req: req.display(), nevra: l.nevra() });
            }
        }
        for c in &l.conflicts {
            let other = layers
                .iter()
                .filter(|o| o.name != l.name)
                .find(|o| o.provides.iter().any(|p| dep_matches(p, c)))
                .map(|o| o.nevra())
                .or_else(|| base.iter().zip(&base_provides).find(|(_, p)| dep_matches(p, c)).map(|(b, _)| b.nevra()));
            if let Some(with) = other {
                return Err(LayerError::Conflicts { nevra: l.nevra(), conflict: c.display(), with });
            }
        }
        for o in &l.obsoletes {
            if let Some((b, _)) = base.iter().zip(&base_provides).find(|(_, p)| dep_matches(p, o)) {
                return Err(LayerError::ObsoletesBase { nevra: l.nevra(), base: b.nevra() });
            }
        }
    }
    Ok(())
}

/// The lines of a package tree's `usr/lib/rpm-ostree/tmpfiles.d/NAME.conf`
/// (its `/var` and `/run` entries, written by the import).
fn package_tmpfiles(tx: &Transaction<'_>, pkg: &MutableTree, name: &str) -> Result<Vec<u8>, LayerError> {
    let file = format!("{name}.conf");
    Ok(read_tree_file(tx, pkg, &["usr", "lib", "rpm-ostree", "tmpfiles.d", &file])?.unwrap_or_default())
}

/// Layers `sources` over `base` in `repo` (see the module documentation).
pub fn layer(repo: &Repo, base: &Checksum, sources: &[Source], opts: &LayerOptions) -> Result<Layered, LayerError> {
    let base_commit = repo.load_commit(base)?;
    let base_pkgs =
        pkglist::from_metadata(&base_commit.metadata).map_err(|e| LayerError::Base(*base, e))?.unwrap_or_default();
    let layers = load_layers(repo, sources, opts)?;
    for l in &layers {
        if let Some(b) = base_pkgs.iter().find(|b| b.name == l.package.name) {
            return Err(LayerError::InBase { nevra: l.package.nevra(), name: b.name.clone(), base: b.nevra() });
        }
    }

    let mut tx = repo.transaction()?;
    let mut tree = MutableTree::from_transaction(&tx, &base_commit.root_tree, &base_commit.root_meta)?;
    let default_meta = crate::tree::default_dirmeta(&tx)?;
    let text = |rel: &[&str]| -> Result<String, LayerError> {
        Ok(String::from_utf8_lossy(&read_tree_file(&tx, &tree, rel)?.unwrap_or_default()).into_owned())
    };
    let owners = Owners::from_texts(&text(&["usr", "etc", "passwd"])?, &text(&["usr", "etc", "group"])?);
    let import_opts = Options { owners, ..Default::default() };

    let mut packages = Vec::new();
    let mut warnings = Vec::new();
    let mut owner = HashMap::new();
    let (mut autovar, mut autovar_seen) = (Vec::new(), BTreeSet::new());
    // The packages, in install order, once their trees are in.
    let mut pkgs: Vec<Package> = Vec::with_capacity(layers.len());
    for Layer { package, from } in layers {
        let nevra = package.nevra();
        let (commit, root) = match from {
            LayerFrom::Stored(c) => {
                let c_obj = repo.load_commit(&c)?;
                (c, (c_obj.root_tree, c_obj.root_meta))
            }
            LayerFrom::File(path, reader) => {
                let err = |e| LayerError::Package { path: path.clone(), source: Box::new(e) };
                let imp = match crate::import::cached(repo, &package, &import_opts).map_err(err)? {
                    Some(imp) => imp,
                    // The import takes the headers; the checks below need them too.
                    None => import_payload(&tx, package.clone(), reader, &import_opts).map_err(err)?,
                };
                tx.set_ref(&imp.branch, Some(imp.commit))?;
                warnings.extend(imp.warnings.iter().map(|w| format!("{nevra}: {w}")));
                (imp.commit, imp.root)
            }
        };
        let mut t = MutableTree::from_transaction(&tx, &root.0, &root.1)?;
        through_links(&tx, &tree, &mut t)?;
        let tmpfiles = package_tmpfiles(&tx, &t, &package.name)?;
        for line in String::from_utf8_lossy(&tmpfiles).lines() {
            if autovar_seen.insert(line.to_string()) {
                autovar.push(line.to_string());
            }
        }
        union(&mut tree, t, "", &nevra, default_meta, &mut owner, "the base commit")?;
        if !tmpfiles.is_empty() {
            let csum = tx.write_file_bytes(&crate::tree::own_file_header(repo.mode(), S_IFREG | 0o644), &tmpfiles)?;
            tree.ensure_dir(&["usr", "lib", "tmpfiles.d"], default_meta)?
                .put_file(&format!("pkg-{}.conf", package.name), csum)?;
        }
        packages.push(LayeredPackage {
            name: package.name.clone(),
            nevra,
            sha256: hex(&Sha256::digest(&package.raw_headers)),
            commit,
        });
        pkgs.push(package);
    }
    if !opts.nodeps {
        check_deps(&tx, &tree, &pkgs, &base_pkgs)?;
    }

    let runs = |name: &str| opts.run_scriptlets && matches!(name, "%pre" | "%post" | "%posttrans");
    let skipped_scriptlets: Vec<(String, Vec<&'static str>)> = pkgs
        .iter()
        .map(|p| (p.nevra(), p.scriptlets.iter().copied().filter(|n| !runs(n)).collect::<Vec<_>>()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if opts.run_scriptlets {
        let order: Vec<&Package> = pkgs.iter().collect();
        run_scripts(repo, &tx, &mut tree, &autovar, &scriptlet_order(&order), &[])?;
    }

    let kvers = kernels(&tree);
    if kvers.len() > 1 {
        return Err(ComposeError::Kernels(kvers.join(", ")).into());
    }
    let mut metadata = CommitMetadata::default();
    for key in ["version", "ostree.bootable", "ostree.linux"] {
        if let Some(v) = base_commit.metadata.get(key) {
            metadata.set(key, v.clone());
        }
    }
    metadata.set("rpmostree.clientlayer", Value::Bool(true));
    metadata.set("rpmostree.clientlayer_version", Value::Uint32(6));
    let mut all = base_pkgs;
    all.extend(pkgs.iter().map(Pkg::of));
    pkglist::sort(&mut all);
    metadata.set(pkglist::METADATA_KEY, pkglist::to_value(&all));
    let layered_as = oxtree_store::gvariant::Type::parse("s").expect("a valid type");
    metadata.set(
        "rpmostree.packages",
        Value::Array(layered_as, packages.iter().map(|p| Value::Str(Cow::Owned(p.name.clone()))).collect()),
    );
    let root = tree.write(&tx)?;
    drop(tree);
    let info = CommitInfo {
        subject: String::new(),
        body: String::new(),
        parent: Some(*base),
        timestamp: base_commit.timestamp,
        metadata,
    };
    let commit = oxtree_store::build::write_commit(&tx, &info, root)?;
    tx.commit()?;
    Ok(Layered { commit, base: *base, packages, skipped_scriptlets, warnings })
}

/// The base refspec and layered packages an origin records: `[origin]
/// baserefspec` (or `refspec`) and `[packages] requested-local`.
pub fn origin_layers(origin: &oxtree_store::repo::KeyFile) -> (Option<String>, Vec<Source>) {
    let refspec = origin.get("origin", "baserefspec").or_else(|| origin.get("origin", "refspec")).map(str::to_string);
    let layers = origin
        .get("packages", "requested-local")
        .unwrap_or("")
        .split(';')
        .filter_map(|e| e.split_once(':'))
        .map(|(sha, nevra)| Source::Cached { sha256: sha.to_string(), nevra: nevra.to_string() })
        .collect();
    (refspec, layers)
}

/// Records `base_refspec` and `packages` in `origin` as rpm-ostree does:
/// `baserefspec` and `requested-local` when there are packages, a plain
/// `refspec` when there are none.
pub fn set_origin_layers(origin: &mut oxtree_store::repo::KeyFile, base_refspec: &str, packages: &[LayeredPackage]) {
    origin.unset("origin", "refspec");
    origin.unset("origin", "baserefspec");
    origin.unset("packages", "requested-local");
    if packages.is_empty() {
        origin.set("origin", "refspec", base_refspec);
        if origin.keys("packages").is_empty() {
            origin.remove_group("packages");
        }
        return;
    }
    origin.set("origin", "baserefspec", base_refspec);
    let mut list: String = packages.iter().map(|p| p.origin_entry() + ";").collect();
    if list.is_empty() {
        list.push(';');
    }
    origin.set("packages", "requested-local", &list);
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxtree_store::repo::KeyFile;

    #[test]
    fn origin_round_trip() {
        let p = |n: &str| LayeredPackage {
            name: n.into(),
            nevra: format!("{n}-1.0-1.x86_64"),
            sha256: "ab".repeat(32),
            commit: Checksum::from_hex(&"00".repeat(32)).unwrap(),
        };
        let mut o = KeyFile::new();
        o.set("origin", "refspec", "os:os/x86_64");
        set_origin_layers(&mut o, "os:os/x86_64", &[p("a"), p("b")]);
        assert_eq!(o.get("origin", "refspec"), None);
        assert_eq!(o.get("origin", "baserefspec"), Some("os:os/x86_64"));
        let (r, layers) = origin_layers(&o);
        assert_eq!(r.as_deref(), Some("os:os/x86_64"));
        assert_eq!(
            layers,
            vec![
                Source::Cached { sha256: "ab".repeat(32), nevra: "a-1.0-1.x86_64".into() },
                Source::Cached { sha256: "ab".repeat(32), nevra: "b-1.0-1.x86_64".into() },
            ]
        );
        set_origin_layers(&mut o, "os:os/x86_64", &[]);
        assert_eq!(o.get("origin", "refspec"), Some("os:os/x86_64"));
        assert!(!o.has_group("packages"));
        assert_eq!(origin_layers(&o).1, vec![]);
    }
}

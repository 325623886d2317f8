//! Choosing a compose's packages: the RPMs of local repositories, and the
//! set that satisfies the requested names and everything they require.
//!
//! A requirement is met by a package that provides its name at a version
//! in range (RPM's rules: unversioned on either side always matches; a
//! missing epoch is 0; a release left out of the requirement matches any
//! release), or, for a path, by a package that ships that file. A
//! requirement no chosen package meets brings in the newest package that
//! does, preferring one whose name is the requirement's. Requirements on
//! rpm itself (`rpmlib(…)`) are met by definition.
//!
//! Obsoletes are matched, as rpm matches them, against package names and
//! versions: a package obsoleted by a chosen one is not chosen (and is
//! dropped if it was, its requirements then met by the rest or an error).
//! A chosen package that conflicts with what another chosen package
//! provides is an error naming both.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::package::{Dep, Package};
use crate::vercmp::rpmvercmp;
use crate::ImportError;

/// Why no package set could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum DepError {
    /// A repository directory cannot be read.
    #[error("repository {path}: {msg}")]
    Repo {
        /// The directory.
        path: PathBuf,
        /// What failed.
        msg: String,
    },
    /// An RPM in a repository does not parse.
    #[error("{path}: {source}")]
    Package {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ImportError,
    },
    /// A requested package that no repository has.
    #[error("package '{0}' not found in the repositories (nothing provides it)")]
    NotFound(String),
    /// A requirement nothing meets.
    #[error("nothing provides '{req}' needed by {by}")]
    Unsatisfiable {
        /// The requirement, as rpm prints it.
        req: String,
        /// The NEVRA of the package that requires it.
        by: String,
    },
    /// Two chosen packages that cannot be installed together.
    #[error("{by} conflicts with '{conflict}' provided by {with}")]
    Conflicts {
        /// The package stating the conflict.
        by: String,
        /// The conflict, as rpm prints it.
        conflict: String,
        /// The package that provides it.
        with: String,
    },
    /// A requirement only another version of a chosen package meets.
    #[error("'{req}' needed by {by} is provided only by {other}, but {chosen} is chosen")]
    Conflict {
        /// The requirement.
        req: String,
        /// Who requires it.
        by: String,
        /// The version that would meet it.
        other: String,
        /// The version already chosen.
        chosen: String,
    },
}

/// A package found in a repository.
#[derive(Debug)]
pub struct Candidate {
    /// The RPM file.
    pub path: PathBuf,
    /// Its headers.
    pub package: Package,
}

/// Every package of the repositories, indexed by what they provide.
#[derive(Debug, Default)]
pub struct Universe {
    /// The packages, in the order found.
    pub packages: Vec<Candidate>,
    provides: HashMap<String, Vec<usize>>,
    files: HashMap<String, Vec<usize>>,
}

/// The architectures a compose for `basearch` installs: its own and
/// `noarch`.
pub fn arches(basearch: &str) -> Vec<String> {
    vec![basearch.to_string(), "noarch".to_string()]
}

fn rpms_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DepError> {
    let err = |e: std::io::Error| DepError::Repo { path: dir.to_path_buf(), msg: e.to_string() };
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(err)?.collect::<Result<_, _>>().map_err(err)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type().map_err(err)?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if ft.is_dir() && name != "repodata" {
            rpms_under(&e.path(), out)?;
        } else if ft.is_file() && name.ends_with(".rpm") && !name.ends_with(".src.rpm") {
            out.push(e.path());
        }
    }
    Ok(())
}

impl Universe {
    /// Reads the headers of every binary RPM under each directory (a
    /// createrepo repository's packages are found where its `repodata/`
    /// points, under the same directory), keeping those of `arches` whose
    /// names are not in `exclude`.
    pub fn scan(dirs: &[PathBuf], arches: &[String], exclude: &[String]) -> Result<Universe, DepError> {
        let mut u = Universe::default();
        for dir in dirs {
            if !dir.is_dir() {
                return Err(DepError::Repo { path: dir.clone(), msg: "not a directory".into() });
            }
            let mut files = Vec::new();
            rpms_under(dir, &mut files)?;
            for path in files {
                let (package, _) =
                    Package::open(&path).map_err(|source| DepError::Package { path: path.clone(), source })?;
                if !arches.contains(&package.arch) || exclude.contains(&package.name) {
                    continue;
                }
                u.add(Candidate { path, package });
            }
        }
        Ok(u)
    }

    /// Adds a package to the index.
    pub fn add(&mut self, c: Candidate) {
        let i = self.packages.len();
        for p in &c.package.provides {
            self.provides.entry(p.name.clone()).or_default().push(i);
        }
        for f in &c.package.files {
            self.files.entry(f.path.clone()).or_default().push(i);
        }
        self.packages.push(c);
    }

    /// Whether package `i` meets `req`.
    pub fn meets(&self, i: usize, req: &Dep) -> bool {
        let pkg = &self.packages[i].package;
        pkg.provides.iter().any(|p| dep_matches(p, req))
            || (req.name.starts_with('/') && pkg.files.iter().any(|f| f.path == req.name))
    }

    /// The packages that meet `req`, in the order found.
    pub fn providers(&self, req: &Dep) -> Vec<usize> {
        let mut v: Vec<usize> = self.provides.get(&req.name).into_iter().flatten().copied().collect();
        if req.name.starts_with('/') {
            v.extend(self.files.get(&req.name).into_iter().flatten().copied());
        }
        v.sort_unstable();
        v.dedup();
        v.retain(|&i| self.meets(i, req));
        v
    }

    fn nevra(&self, i: usize) -> String {
        self.packages[i].package.nevra()
    }

    /// Of `cands`, the one to install for `req`: a package named as the
    /// requirement first, then the newest, then by name.
    fn best(&self, cands: &[usize], req: &str) -> Option<usize> {
        cands.iter().copied().max_by(|&a, &b| {
            let (pa, pb) = (&self.packages[a].package, &self.packages[b].package);
            (pa.name == req)
                .cmp(&(pb.name == req))
                .then_with(|| pkg_evr_cmp(pa, pb))
                .then_with(|| pb.name.cmp(&pa.name))
                .then_with(|| b.cmp(&a))
        })
    }
}

fn pkg_evr_cmp(a: &Package, b: &Package) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(&a.version, &b.version))
        .then_with(|| rpmvercmp(&a.release, &b.release))
}

/// `[E:]V[-R]` split; the epoch defaults to 0, the release may be absent.
fn split_evr(s: &str) -> (u64, &str, Option<&str>) {
    let (epoch, rest) = match s.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(u64::MAX), r),
        _ => (0, s),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v, Some(r)),
        None => (epoch, rest, None),
    }
}

/// Whether provide `p` meets requirement `r` (RPM's `rpmdsCompare`).
pub fn dep_matches(p: &Dep, r: &Dep) -> bool {
    if p.name != r.name {
        return false;
    }
    let sense = Dep::LESS | Dep::GREATER | Dep::EQUAL;
    let (pf, rf) = (p.flags & sense, r.flags & sense);
    if pf == 0 || rf == 0 || p.version.is_empty() || r.version.is_empty() {
        return true;
    }
    let (pe, pv, pr) = split_evr(&p.version);
    let (re, rv, rr) = split_evr(&r.version);
    let mut ord = pe.cmp(&re).then_with(|| rpmvercmp(pv, rv));
    if ord == Ordering::Equal {
        if let (Some(pr), Some(rr)) = (pr, rr) {
            ord = rpmvercmp(pr, rr);
        }
    }
    match ord {
        Ordering::Less => pf & Dep::GREATER != 0 || rf & Dep::LESS != 0,
        Ordering::Greater => pf & Dep::LESS != 0 || rf & Dep::GREATER != 0,
        Ordering::Equal => {
            (pf & Dep::EQUAL != 0 && rf & Dep::EQUAL != 0)
                || (pf & Dep::LESS != 0 && rf & Dep::LESS != 0)
                || (pf & Dep::GREATER != 0 && rf & Dep::GREATER != 0)
        }
    }
}

/// Whether package `q` is obsoleted by package `p` (rpm matches
/// obsoletes against the name and version of the package itself).
fn obsoletes(p: &Package, q: &Package) -> bool {
    if p.name == q.name {
        return false;
    }
    let own = Dep { name: q.name.clone(), flags: Dep::EQUAL, version: q.evr() };
    p.obsoletes.iter().any(|o| dep_matches(&own, o))
}

/// Chooses the packages for `goal` (names or other capabilities) and all
/// they require, transitively. Returns indexes into `u.packages`, sorted
/// by package name.
pub fn resolve(u: &Universe, goal: &[String]) -> Result<Vec<usize>, DepError> {
    let mut chosen: Vec<usize> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for g in goal {
        let want = Dep { name: g.clone(), flags: 0, version: String::new() };
        if chosen.iter().any(|&i| u.meets(i, &want)) {
            continue;
        }
        let cands: Vec<usize> = u
            .providers(&want)
            .into_iter()
            .filter(|i| !by_name.contains_key(u.packages[*i].package.name.as_str()))
            .filter(|&i| !chosen.iter().any(|&c| obsoletes(&u.packages[c].package, &u.packages[i].package)))
            .collect();
        let i = u.best(&cands, g).ok_or_else(|| DepError::NotFound(g.clone()))?;
        by_name.insert(&u.packages[i].package.name, i);
        chosen.push(i);
    }
    let mut next = 0;
    while next < chosen.len() {
        let i = chosen[next];
        next += 1;
        let mut seen = HashSet::new();
        for req in &u.packages[i].package.requires {
            if req.flags & Dep::RPMLIB != 0 || req.name.starts_with("rpmlib(") || !seen.insert(req) {
                continue;
            }
            if chosen.iter().any(|&c| u.meets(c, req)) {
                continue;
            }
            let all = u.providers(req);
            let free: Vec<usize> = all
                .iter()
                .copied()
                .filter(|c| !by_name.contains_key(u.packages[*c].package.name.as_str()))
                .filter(|&c| !chosen.iter().any(|&o| obsoletes(&u.packages[o].package, &u.packages[c].package)))
                .collect();
            let Some(c) = u.best(&free, &req.name) else {
                return Err(match all.first() {
                    Some(&other) => DepError::Conflict {
                        req: req.display(),
                        by: u.nevra(i),
                        other: u.nevra(other),
                        chosen: u.nevra(by_name[u.packages[other].package.name.as_str()]),
                    },
                    None => DepError::Unsatisfiable { req: req.display(), by: u.nevra(i) },
                });
            };
            by_name.insert(&u.packages[c].package.name, c);
            chosen.push(c);
        }
    }
    // Packages chosen before the one that obsoletes them go; what they
    // met must still be met.
    let gone: Vec<usize> = chosen
        .iter()
        .copied()
        .filter(|&q| chosen.iter().any(|&p| obsoletes(&u.packages[p].package, &u.packages[q].package)))
        .collect();
    if !gone.is_empty() {
        chosen.retain(|c| !gone.contains(c));
        by_name.retain(|_, c| !gone.contains(c));
        for &i in &chosen {
            for req in &u.packages[i].package.requires {
                if req.flags & Dep::RPMLIB != 0 || req.name.starts_with("rpmlib(") {
                    continue;
                }
                if !chosen.iter().any(|&c| u.meets(c, req)) {
                    return Err(DepError::Unsatisfiable { req: req.display(), by: u.nevra(i) });
                }
            }
        }
    }
    for &i in &chosen {
        for c in &u.packages[i].package.conflicts {
            let hit = chosen
                .iter()
                .copied()
                .find(|&o| o != i && u.packages[o].package.provides.iter().any(|p| dep_matches(p, c)));
            if let Some(o) = hit {
                return Err(DepError::Conflicts { by: u.nevra(i), conflict: c.display(), with: u.nevra(o) });
            }
        }
    }
    let sorted: BTreeMap<&str, usize> = by_name.into_iter().collect();
    Ok(sorted.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, flags: u32, version: &str) -> Dep {
        Dep { name: name.into(), flags, version: version.into() }
    }

    #[test]
    fn ranges_as_rpm_compares_them() {
        let (lt, gt, eq) = (Dep::LESS, Dep::GREATER, Dep::EQUAL);
        let cases = [
            (dep("a", eq, "1.0-1"), dep("a", gt | eq, "1.0"), true),
            (dep("a", eq, "1.0-1"), dep("a", gt, "1.0"), false),
            (dep("a", eq, "1.0-1"), dep("a", gt, "1.0-0"), true),
            (dep("a", eq, "1:0.5-1"), dep("a", gt | eq, "2.0"), true),
            (dep("a", eq, "0.5-1"), dep("a", gt | eq, "2.0"), false),
            (dep("a", eq, "2.0-1"), dep("a", lt, "2.0-2"), true),
            (dep("a", 0, ""), dep("a", gt | eq, "9"), true),
            (dep("a", eq, "1"), dep("a", 0, ""), true),
            (dep("a", gt | eq, "1"), dep("a", lt, "3"), true),
            (dep("a", lt, "1"), dep("a", gt, "3"), false),
            (dep("a", eq, "1.10"), dep("a", gt, "1.9"), true),
            (dep("b", eq, "1"), dep("a", 0, ""), false),
        ];
        for (p, r, want) in cases {
            assert_eq!(dep_matches(&p, &r), want, "{} meets {}", p.display(), r.display());
        }
    }

    #[test]
    fn evr_parts() {
        assert_eq!(split_evr("2:1.0-3.fc40"), (2, "1.0", Some("3.fc40")));
        assert_eq!(split_evr("1.0"), (0, "1.0", None));
        assert_eq!(split_evr("a:1"), (0, "a:1", None));
    }
}

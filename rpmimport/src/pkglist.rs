//! Package lists of composed commits (`rpmostree.rpmdb.pkglist`, `a(sssss)`:
//! name, epoch, version, release, arch) and the difference between two,
//! as rpm-ostree's `db diff` computes it. See `rpmimport/DB-FORMATS.md`.

use std::borrow::Cow;
use std::cmp::Ordering;

use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::CommitMetadata;

use crate::vercmp::{evr_cmp, rpmvercmp};

/// One package of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkg {
    /// Name.
    pub name: String,
    /// Epoch as stored ("0" when none).
    pub epoch: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Architecture.
    pub arch: String,
}

impl Pkg {
    /// `[E:]V-R`, the epoch shown only when it is not 0.
    pub fn evr(&self) -> String {
        if self.epoch.is_empty() || self.epoch == "0" {
            format!("{}-{}", self.version, self.release)
        } else {
            format!("{}:{}-{}", self.epoch, self.version, self.release)
        }
    }

    /// `NAME-[E:]V-R.ARCH`.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }

    /// The list entry of a package.
    pub fn of(p: &crate::Package) -> Pkg {
        Pkg {
            name: p.name.clone(),
            epoch: p.epoch.to_string(),
            version: p.version.clone(),
            release: p.release.clone(),
            arch: p.arch.clone(),
        }
    }

    /// The ref its import is on (`rpmostree/pkg/NAME/EVR.ARCH`, as
    /// [`crate::Package::branch`] names it).
    pub fn branch(&self) -> String {
        use crate::package::escape_ref_part as esc;
        format!("rpmostree/pkg/{}/{}.{}", esc(&self.name), esc(&self.evr()), esc(&self.arch))
    }

    /// rpm-ostree's package order: name (bytewise), then EVR, then arch.
    pub fn order(&self, other: &Pkg) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| {
                evr_cmp((&self.epoch, &self.version, &self.release), (&other.epoch, &other.version, &other.release))
            })
            .then_with(|| self.arch.cmp(&other.arch))
    }
}

/// Sorts a list in the order rpm-ostree stores it.
pub fn sort(list: &mut [Pkg]) {
    list.sort_by(Pkg::order);
}

/// The key composed and layered commits carry their package list under.
pub const METADATA_KEY: &str = "rpmostree.rpmdb.pkglist";

/// The package list in commit metadata `m`: `Ok(None)` when there is none,
/// an error (saying what is wrong) when it is not an `a(sssss)`.
pub fn from_metadata(m: &CommitMetadata) -> Result<Option<Vec<Pkg>>, String> {
    let Some(v) = m.get(METADATA_KEY) else { return Ok(None) };
    let bad = || format!("{METADATA_KEY} is not an a(sssss)");
    let Value::Array(_, items) = v else { return Err(bad()) };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Tuple(f) = item else { return Err(bad()) };
        let s = |k: usize| match f.get(k) {
            Some(Value::Str(s)) => Ok(s.to_string()),
            _ => Err(bad()),
        };
        if f.len() != 5 {
            return Err(bad());
        }
        out.push(Pkg { name: s(0)?, epoch: s(1)?, version: s(2)?, release: s(3)?, arch: s(4)? });
    }
    Ok(Some(out))
}

/// `list` as the `a(sssss)` value stored under [`METADATA_KEY`] (the
/// caller sorts it with [`sort`]).
pub fn to_value(list: &[Pkg]) -> Value<'static> {
    let pkg_type = Type::parse("(sssss)").expect("a valid type");
    let items = list
        .iter()
        .map(|p| {
            Value::Tuple(
                [&p.name, &p.epoch, &p.version, &p.release, &p.arch]
                    .into_iter()
                    .map(|s| Value::Str(Cow::Owned(s.clone())))
                    .collect(),
            )
        })
        .collect();
    Value::Array(pkg_type, items)
}

/// What changed between two lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// (old, new) pairs whose EVR or arch changed.
    pub modified: Vec<(Pkg, Pkg)>,
    /// Only in the first list.
    pub removed: Vec<Pkg>,
    /// Only in the second.
    pub added: Vec<Pkg>,
}

impl Diff {
    /// Modified pairs that are upgrades (old sorts before or as new).
    pub fn upgraded(&self) -> impl Iterator<Item = &(Pkg, Pkg)> {
        self.modified.iter().filter(|(a, b)| a.order(b) != Ordering::Greater)
    }

    /// Modified pairs that are downgrades.
    pub fn downgraded(&self) -> impl Iterator<Item = &(Pkg, Pkg)> {
        self.modified.iter().filter(|(a, b)| a.order(b) == Ordering::Greater)
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.modified.is_empty() && self.removed.is_empty() && self.added.is_empty()
    }
}

/// The difference of two lists in stored (sorted) order: packages are
/// matched by name and arch; a name whose only package changed arch on
/// both sides is a modification (noarch to x86_64), while multilib
/// packages are matched arch by arch.
pub fn diff(from: &[Pkg], to: &[Pkg]) -> Diff {
    let mut d = Diff::default();
    let (mut i, mut j) = (0, 0);
    while i < from.len() && j < to.len() {
        let (a, b) = (&from[i], &to[j]);
        match a.name.cmp(&b.name) {
            Ordering::Less => {
                d.removed.push(a.clone());
                i += 1;
            }
            Ordering::Greater => {
                d.added.push(b.clone());
                j += 1;
            }
            Ordering::Equal if a.arch == b.arch => {
                let same = rpmvercmp(&a.evr(), &b.evr()) == Ordering::Equal;
                if !same {
                    d.modified.push((a.clone(), b.clone()));
                }
                i += 1;
                j += 1;
            }
            Ordering::Equal => {
                let next_differs = |l: &[Pkg], k: usize, name: &str| l.get(k + 1).is_none_or(|n| n.name != name);
                if next_differs(from, i, &a.name) && next_differs(to, j, &b.name) {
                    d.modified.push((a.clone(), b.clone()));
                    i += 1;
                    j += 1;
                } else if a.arch < b.arch {
                    d.removed.push(a.clone());
                    i += 1;
                } else {
                    d.added.push(b.clone());
                    j += 1;
                }
            }
        }
    }
    d.removed.extend(from[i..].iter().cloned());
    d.added.extend(to[j..].iter().cloned());
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pkg {
        let f: Vec<&str> = s.split(' ').collect();
        Pkg { name: f[0].into(), epoch: f[1].into(), version: f[2].into(), release: f[3].into(), arch: f[4].into() }
    }

    #[test]
    fn diffs() {
        let mut from = vec![
            p("bash 0 5.1 1 x86_64"),
            p("glibc 0 2.36 1 x86_64"),
            p("gone 0 1 1 noarch"),
            p("kernel 0 6.1 1 x86_64"),
            p("tool 0 1.0 1 noarch"),
            p("vim 2 9.0 1 x86_64"),
        ];
        let mut to = vec![
            p("bash 0 5.1 1 x86_64"),
            p("glibc 0 2.36 1 i686"),
            p("glibc 0 2.36 1 x86_64"),
            p("kernel 0 6.1.1 1 x86_64"),
            p("new 0 1 1 noarch"),
            p("tool 0 2.0 1 x86_64"),
            p("vim 1 9.1 1 x86_64"),
        ];
        sort(&mut from);
        sort(&mut to);
        let d = diff(&from, &to);
        let names = |v: &[Pkg]| v.iter().map(Pkg::nevra).collect::<Vec<_>>();
        assert_eq!(names(&d.removed), ["gone-1-1.noarch"]);
        assert_eq!(names(&d.added), ["glibc-2.36-1.i686", "new-1-1.noarch"]);
        let up: Vec<String> = d.upgraded().map(|(a, b)| format!("{} {}", a.nevra(), b.nevra())).collect();
        assert_eq!(up, ["kernel-6.1-1.x86_64 kernel-6.1.1-1.x86_64", "tool-1.0-1.noarch tool-2.0-1.x86_64"]);
        let down: Vec<String> = d.downgraded().map(|(a, b)| format!("{} {}", a.evr(), b.evr())).collect();
        assert_eq!(down, ["2:9.0-1 1:9.1-1"]);
        assert!(diff(&from, &from).is_empty());
    }
}

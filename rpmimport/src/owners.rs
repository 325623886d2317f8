//! User and group names, as an RPM header gives owners, to numeric ids.
//!
//! RPM records owners by name. Like `rpm -i`, a name is looked up in a
//! root's `passwd` and `group` files; a name that is not there becomes
//! root (0), with a warning, which is what rpm does ("user X does not
//! exist - using root").

use std::collections::HashMap;
use std::path::Path;

/// Name-to-id tables.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

/// Which table a name was missing from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A user name.
    User,
    /// A group name.
    Group,
}

fn parse_db(text: &str) -> HashMap<String, u32> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else { continue };
        if name.is_empty() || name.starts_with('#') || name.starts_with('+') || name.starts_with('-') {
            continue;
        }
        if let Ok(id) = id.trim().parse::<u32>() {
            m.entry(name.to_string()).or_insert(id);
        }
    }
    m
}

impl Owners {
    /// Only `root`.
    pub fn root_only() -> Self {
        Owners::default()
    }

    /// The `etc/passwd` and `etc/group` of `root` (missing files give
    /// empty tables).
    pub fn from_root(root: &Path) -> Self {
        Owners::from_files(&[root.join("etc/passwd")], &[root.join("etc/group")])
    }

    /// Tables from `passwd(5)` and `group(5)` files; the first file that
    /// names an entry wins.
    pub fn from_files(passwd: &[impl AsRef<Path>], group: &[impl AsRef<Path>]) -> Self {
        let mut o = Owners::default();
        for p in passwd {
            for (k, v) in parse_db(&std::fs::read_to_string(p).unwrap_or_default()) {
                o.users.entry(k).or_insert(v);
            }
        }
        for p in group {
            for (k, v) in parse_db(&std::fs::read_to_string(p).unwrap_or_default()) {
                o.groups.entry(k).or_insert(v);
            }
        }
        o
    }

    /// Tables from the text of a `passwd(5)` and a `group(5)` file.
    pub fn from_texts(passwd: &str, group: &str) -> Self {
        Owners { users: parse_db(passwd), groups: parse_db(group) }
    }

    /// The id of `name`; `None` when the table does not have it (`root`
    /// is always 0).
    pub fn id(&self, kind: Kind, name: &str) -> Option<u32> {
        if name == "root" {
            return Some(0);
        }
        match kind {
            Kind::User => self.users.get(name).copied(),
            Kind::Group => self.groups.get(name).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        let dir = std::env::temp_dir().join(format!("oxtree-owners-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n+nis\nbad\n",
        )
        .unwrap();
        std::fs::write(dir.join("etc/group"), "root:x:0:\nadm:x:4:syslog\n").unwrap();
        let o = Owners::from_root(&dir);
        assert_eq!(o.id(Kind::User, "nobody"), Some(65534));
        assert_eq!(o.id(Kind::Group, "adm"), Some(4));
        assert_eq!(o.id(Kind::User, "adm"), None);
        assert_eq!(o.id(Kind::Group, "root"), Some(0));
        assert_eq!(Owners::root_only().id(Kind::User, "root"), Some(0));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

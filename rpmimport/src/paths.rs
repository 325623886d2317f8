//! Where each file of a package goes in an OSTree tree: rpm-ostree's path
//! rules, so that a commit we import lays out like one rpm-ostree imports.
//!
//! | RPM path | stored as |
//! |---|---|
//! | `/etc/…` | `usr/etc/…` (OSTree's home for default configuration) |
//! | `/boot/…` | `usr/lib/ostree-boot/…` |
//! | `/var/lib/selinux/targeted/…` | `usr/etc/selinux/targeted/…` |
//! | `/opt/X/…` | `usr/lib/opt/X/…`, plus `L /opt/X - - - - ../../usr/lib/opt/X` |
//! | `/var/lib/alternatives/…`, `/var/lib/vagrant/…` | `usr/lib/…`, plus an `L /var/lib/…` line |
//! | other `/var/…` and `/run/…` | not in the tree: directories and symlinks become `tmpfiles.d` lines (`/var/run` is `/run`), regular files are dropped, `/var/lib/rpm*` and `/var/lib/selinux*` are skipped |
//! | `/usr/etc/selinux/*.LOCK` | skipped |
//! | `/`, `/usr/…`, `/bin…`, `/sbin…`, `/lib…`, `/var`, `/run` | as they are |
//! | anything else (`/home`, `/srv`, `/media`, …) | an error ("unsupported path"), or skipped when asked |
//!
//! A path with an empty, `.` or `..` component is refused before any rule:
//! nothing a package names can land outside the tree.

/// What becomes of one header path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Into the tree at this path (relative, `/`-separated; empty for the root).
    Tree(String),
    /// Into the tree, plus a `tmpfiles.d` line that links the old location
    /// to it.
    TreeLinked(String, String),
    /// Out of the tree: a directory or symlink here becomes a `tmpfiles.d`
    /// line for this absolute path; anything else is dropped.
    Tmpfiles(String),
    /// Left out, for this reason.
    Skip(&'static str),
}

/// A path no rule places.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not relative to the root once `/` and `./` are stripped, or with an
    /// empty, `.` or `..` component.
    #[error("path '{0}' escapes the tree (empty, '.' or '..' component)")]
    Escapes(String),
    /// Outside the directories an OSTree tree may hold.
    #[error("unsupported path '{0}': an OSTree commit holds only /usr, /etc, /boot, /opt, /bin, /sbin, /lib*, and /var and /run as tmpfiles.d lines")]
    Unsupported(String),
}

/// The components of `path` (`/usr/bin/x`, `./usr/bin/x`, `/` for the
/// root), refusing escapes.
pub fn components(path: &str) -> Result<Vec<&str>, PathError> {
    let p = path.strip_prefix('.').filter(|_| path.starts_with("./") || path == ".").unwrap_or(path);
    let p = p.trim_start_matches('/');
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = p.split('/').collect();
    if parts.iter().any(|c| c.is_empty() || *c == "." || *c == ".." || c.contains('\0')) {
        return Err(PathError::Escapes(path.to_string()));
    }
    Ok(parts)
}

/// Options of the rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    /// Skip paths no rule places instead of failing (rpm-ostree's
    /// `SKIP_EXTRANEOUS`).
    pub skip_extraneous: bool,
}

fn under<'a>(rel: &'a str, dir: &str) -> Option<&'a str> {
    if rel == dir {
        Some("")
    } else {
        rel.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
    }
}

fn join(base: &str, rest: &str) -> String {
    if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{rest}")
    }
}

impl Rules {
    /// Where the file at `path` (absolute, as the header names it) goes.
    pub fn place(&self, path: &str) -> Result<Placement, PathError> {
        let parts = components(path)?;
        let rel = parts.join("/");
        // Translations first, as rpm-ostree does them on the relative name.
        if let Some(rest) = under(&rel, "etc") {
            return self.filter(join("usr/etc", rest));
        }
        if let Some(rest) = under(&rel, "boot") {
            return Ok(Placement::Tree(join("usr/lib/ostree-boot", rest)));
        }
        if let Some(rest) = under(&rel, "var/lib/selinux/targeted") {
            return self.filter(join("usr/etc/selinux/targeted", rest));
        }
        if let Some(rest) = under(&rel, "opt") {
            let to = join("usr/lib/opt", rest);
            return Ok(match rest.split('/').next().filter(|x| !x.is_empty()) {
                Some(top) => Placement::TreeLinked(to, format!("L /opt/{top} - - - - ../../usr/lib/opt/{top}")),
                None => Placement::Tree(to),
            });
        }
        for dir in ["alternatives", "vagrant"] {
            if let Some(rest) = under(&rel, &format!("var/lib/{dir}")) {
                return Ok(Placement::TreeLinked(
                    join(&format!("usr/lib/{dir}"), rest),
                    format!("L /var/lib/{dir} - - - - ../../usr/lib/{dir}"),
                ));
            }
        }
        self.filter(rel)
    }

    fn filter(&self, rel: String) -> Result<Placement, PathError> {
        let first = rel.split('/').next().unwrap_or("");
        if rel == "var" || rel == "run" {
            return Ok(Placement::Tree(rel));
        }
        if let Some(rest) = rel.strip_prefix("var/") {
            if rest.starts_with("lib/rpm") || rest.starts_with("lib/selinux") {
                return Ok(Placement::Skip("rpm and SELinux state under /var/lib"));
            }
            if let Some(r) = under(rest, "run") {
                return Ok(Placement::Tmpfiles(format!("/run/{r}").trim_end_matches('/').to_string()));
            }
            return Ok(Placement::Tmpfiles(format!("/{rel}")));
        }
        if rel.starts_with("run/") {
            return Ok(Placement::Tmpfiles(format!("/{rel}")));
        }
        if let Some(name) = rel.strip_prefix("usr/etc/selinux/") {
            if !name.contains('/') && name.ends_with(".LOCK") {
                return Ok(Placement::Skip("SELinux lock file"));
            }
        }
        let allowed =
            rel.is_empty() || first == "usr" || matches!(first, "bin" | "sbin" | "lib" | "lib32" | "lib64" | "libx32");
        if allowed {
            Ok(Placement::Tree(rel))
        } else if self.skip_extraneous {
            Ok(Placement::Skip("outside the directories an OSTree tree holds"))
        } else {
            Err(PathError::Unsupported(format!("/{rel}")))
        }
    }
}

/// A path as a `tmpfiles.d` field: as it is when it has only plain
/// characters, else double-quoted with C escapes (which systemd-tmpfiles
/// reads back).
pub fn tmpfiles_path(path: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+@:,=~%".contains(c);
    if path.chars().all(plain) && !path.is_empty() {
        return path.to_string();
    }
    let mut s = String::from("\"");
    for b in path.bytes() {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x21..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// The `tmpfiles.d` line that makes directory `path` (`d PATH MODE USER
/// GROUP - -`).
pub fn tmpfiles_dir(path: &str, mode: u32, user: &str, group: &str) -> String {
    format!("d {} {:04o} {} {} - -", tmpfiles_path(path), mode & 0o7777, user, group)
}

/// The `tmpfiles.d` line that makes symlink `path` (`L PATH - - - - TARGET`).
pub fn tmpfiles_symlink(path: &str, target: &str) -> String {
    format!("L {} - - - - {}", tmpfiles_path(path), target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(p: &str) -> Result<Placement, PathError> {
        Rules::default().place(p)
    }

    #[test]
    fn rules() {
        use Placement::*;
        let t = |s: &str| Ok(Tree(s.to_string()));
        assert_eq!(place("/"), t(""));
        assert_eq!(place("/usr/bin/x"), t("usr/bin/x"));
        assert_eq!(place("./usr/bin/x"), t("usr/bin/x"));
        assert_eq!(place("/etc"), t("usr/etc"));
        assert_eq!(place("/etc/fixture/a.conf"), t("usr/etc/fixture/a.conf"));
        assert_eq!(place("/boot/vmlinuz-6.1"), t("usr/lib/ostree-boot/vmlinuz-6.1"));
        assert_eq!(place("/var/lib/selinux/targeted/x"), t("usr/etc/selinux/targeted/x"));
        assert_eq!(place("/var/lib/selinux/other"), Ok(Skip("rpm and SELinux state under /var/lib")));
        assert_eq!(place("/var/lib/rpm/Packages"), Ok(Skip("rpm and SELinux state under /var/lib")));
        assert_eq!(place("/usr/etc/selinux/semanage.LOCK"), Ok(Skip("SELinux lock file")));
        assert_eq!(place("/opt"), t("usr/lib/opt"));
        assert_eq!(
            place("/opt/fixture/bin/tool"),
            Ok(TreeLinked(
                "usr/lib/opt/fixture/bin/tool".into(),
                "L /opt/fixture - - - - ../../usr/lib/opt/fixture".into()
            ))
        );
        assert_eq!(
            place("/var/lib/alternatives/x"),
            Ok(TreeLinked(
                "usr/lib/alternatives/x".into(),
                "L /var/lib/alternatives - - - - ../../usr/lib/alternatives".into()
            ))
        );
        assert_eq!(place("/var"), t("var"));
        assert_eq!(place("/var/lib/fixture"), Ok(Tmpfiles("/var/lib/fixture".into())));
        assert_eq!(place("/var/run/fixture"), Ok(Tmpfiles("/run/fixture".into())));
        assert_eq!(place("/run/fixture"), Ok(Tmpfiles("/run/fixture".into())));
        assert_eq!(place("/lib64/ld.so"), t("lib64/ld.so"));
        assert_eq!(place("/home/user"), Err(PathError::Unsupported("/home/user".into())));
        let skip = Rules { skip_extraneous: true };
        assert!(matches!(skip.place("/srv/www"), Ok(Skip(_))));
    }

    #[test]
    fn escapes_refused() {
        for p in ["/usr/../etc/passwd", "../x", "./../x", "/usr//bin", "/usr/./bin", "/etc/..", "/opt/../../x"] {
            assert_eq!(place(p), Err(PathError::Escapes(p.into())), "{p}");
        }
    }

    #[test]
    fn tmpfiles_lines() {
        assert_eq!(tmpfiles_dir("/var/lib/x", 0o40750, "nobody", "nogroup"), "d /var/lib/x 0750 nobody nogroup - -");
        assert_eq!(tmpfiles_symlink("/var/lib/y", "../x"), "L /var/lib/y - - - - ../x");
        assert_eq!(tmpfiles_path("/var/a b"), "\"/var/a\\x20b\"");
    }
}

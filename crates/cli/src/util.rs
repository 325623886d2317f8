//! Helpers shared by commands: time formatting and parsing, path lookup in
//! a commit.

use anyhow::{anyhow, bail, Result};
use oxtree_store::calendar::{civil_from_days, days_from_civil};
use oxtree_store::object::DirTree;
use oxtree_store::{Checksum, Repo};

/// `YYYY-MM-DD HH:MM:SS +0000`, as `ostree log` prints dates (UTC).
pub fn format_time(secs: u64) -> String {
    let secs = secs as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86400));
    let r = secs.rem_euclid(86400);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} +0000", r / 3600, (r / 60) % 60, r % 60)
}

/// Parses an ISO 8601 timestamp (`2020-01-01T00:00:00Z`, with an optional
/// offset or fraction, or a space instead of `T`) or `@SECONDS`.
pub fn parse_time(s: &str) -> Result<u64> {
    let bad = || anyhow!("Could not parse '{s}'");
    if let Some(n) = s.strip_prefix('@') {
        return n.parse().map_err(|_| bad());
    }
    let (date, time) = s.split_once(['T', ' ']).ok_or_else(bad)?;
    let dp: Vec<&str> = date.split('-').collect();
    if dp.len() != 3 {
        return Err(bad());
    }
    let y: i64 = dp[0].parse().map_err(|_| bad())?;
    let mo: u32 = dp[1].parse().map_err(|_| bad())?;
    let d: u32 = dp[2].parse().map_err(|_| bad())?;
    let (clock, offset) = if let Some(t) = time.strip_suffix('Z') {
        (t, 0i64)
    } else if let Some(pos) = time.rfind(['+', '-']) {
        let (t, off) = time.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off[1..].chars().filter(|c| c.is_ascii_digit()).collect();
        if digits.len() != 4 && digits.len() != 2 {
            return Err(bad());
        }
        let h: i64 = digits[..2].parse().map_err(|_| bad())?;
        let m: i64 = if digits.len() == 4 { digits[2..].parse().map_err(|_| bad())? } else { 0 };
        (t, sign * (h * 3600 + m * 60))
    } else {
        (time, 0)
    };
    let cp: Vec<&str> = clock.trim().split(':').collect();
    if cp.len() < 2 || cp.len() > 3 || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let h: i64 = cp[0].parse().map_err(|_| bad())?;
    let mi: i64 = cp[1].parse().map_err(|_| bad())?;
    let sec: f64 = cp.get(2).map(|s| s.parse()).transpose().map_err(|_| bad())?.unwrap_or(0.0);
    let total = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec as i64 - offset;
    u64::try_from(total).map_err(|_| bad())
}

/// What a path inside a commit names.
pub enum Node {
    /// A directory: (dirtree, dirmeta).
    Dir(Checksum, Checksum),
    /// A file or symlink: its content checksum.
    File(Checksum),
}

/// Like [`lookup`], but follows symlinks inside the tree (at most 40), as
/// `ostree cat` does.
pub fn lookup_follow(repo: &Repo, root: (Checksum, Checksum), path: &str) -> Result<Node> {
    let mut path = path.to_string();
    for _ in 0..40 {
        match lookup(repo, root, &path)? {
            Node::File(c) => {
                let obj = repo.open_file(&c)?;
                if !obj.header.is_symlink() {
                    return Ok(Node::File(c));
                }
                let target = obj.header.symlink_target;
                path = if target.starts_with('/') {
                    target
                } else {
                    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    normalize(&format!("{parent}/{target}"))
                };
            }
            dir => return Ok(dir),
        }
    }
    bail!("Too many levels of symbolic links: {path}")
}

fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// Looks up `path` (absolute or relative to the root) in a commit's tree.
pub fn lookup(repo: &Repo, root: (Checksum, Checksum), path: &str) -> Result<Node> {
    let mut cur = Node::Dir(root.0, root.1);
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    for (i, c) in comps.iter().enumerate() {
        let Node::Dir(tree, _) = cur else {
            bail!("No such file or directory: {path}");
        };
        let dt: DirTree = repo.load_dirtree(&tree)?;
        if let Some(d) = dt.dir(c) {
            cur = Node::Dir(d.tree, d.meta);
        } else if let Some(f) = dt.file(c) {
            if i + 1 != comps.len() {
                bail!("Not a directory: {path}");
            }
            cur = Node::File(f.checksum);
        } else {
            bail!("No such file or directory: {path}");
        }
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("2020-01-01T00:00:00Z").unwrap(), 1577836800);
        assert_eq!(parse_time("2020-01-02T00:00:00Z").unwrap(), 1577923200);
        assert_eq!(parse_time("2020-01-01T02:00:00+02:00").unwrap(), 1577836800);
        assert_eq!(format_time(1577836800), "2020-01-01 00:00:00 +0000");
        assert_eq!(parse_time("2005-10-29 12:43:29 +0000").unwrap(), 1130589809);
        assert!(parse_time("yesterday").is_err());
    }
}

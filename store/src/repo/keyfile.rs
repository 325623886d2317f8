//! GLib key files (the repo `config`), edited in place: comments, blank
//! lines, unknown groups and keys are kept as they were.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Group(String),
    Entry(String, String),
    Other(String),
}

/// A parsed key file that writes back what it read, plus changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFile {
    lines: Vec<Line>,
}

/// A line that is neither a group, an entry, a comment nor blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {text:?} is not a group, a key=value entry or a comment")]
pub struct KeyFileError {
    /// 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

impl KeyFile {
    /// An empty key file.
    pub fn new() -> Self {
        KeyFile::default()
    }

    /// Parses key-file text.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut lines = Vec::new();
        // Split on '\n' only, so that a CR stays part of its line.
        let body = text.strip_suffix('\n').unwrap_or(text);
        let raw_lines: Vec<&str> = if text.is_empty() { Vec::new() } else { body.split('\n').collect() };
        for (i, raw) in raw_lines.into_iter().enumerate() {
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                lines.push(Line::Other(raw.to_string()));
            } else if t.starts_with('[') {
                if !t.ends_with(']') || t.len() < 2 {
                    return Err(KeyFileError { line: i + 1, text: raw.to_string() });
                }
                lines.push(Line::Group(t[1..t.len() - 1].to_string()));
            } else if let Some((k, v)) = raw.split_once('=') {
                lines.push(Line::Entry(k.trim().to_string(), unescape(v.trim_start())));
            } else {
                return Err(KeyFileError { line: i + 1, text: raw.to_string() });
            }
        }
        Ok(KeyFile { lines })
    }

    /// The value of `key` in `group` (the last one, if repeated).
    pub fn get(&self, group: &str, key: &str) -> Option<&str> {
        let mut cur: Option<&str> = None;
        let mut found = None;
        for l in &self.lines {
            match l {
                Line::Group(g) => cur = Some(g),
                Line::Entry(k, v) if cur == Some(group) && k == key => found = Some(v.as_str()),
                _ => {}
            }
        }
        found
    }

    /// A boolean value (`true`/`false`/`1`/`0`); `None` if absent.
    pub fn get_bool(&self, group: &str, key: &str) -> Option<Result<bool, String>> {
        self.get(group, key)
            .map(|v| Self::parse_bool(v).ok_or_else(|| format!("[{group}] {key}={} is not a boolean", v.trim())))
    }

    /// A keyfile boolean as GLib reads one (`true`/`false`/`1`/`0`,
    /// surrounding blanks ignored), for values that come from elsewhere
    /// (a remote's options may live in `remotes.d/`).
    pub fn parse_bool(value: &str) -> Option<bool> {
        match value.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// True when the group exists.
    pub fn has_group(&self, group: &str) -> bool {
        self.lines.iter().any(|l| matches!(l, Line::Group(g) if g == group))
    }

    /// The groups, in file order.
    pub fn groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in &self.lines {
            if let Line::Group(g) = l {
                if !out.contains(&g.as_str()) {
                    out.push(g);
                }
            }
        }
        out
    }

    /// The keys of a group, in file order.
    pub fn keys(&self, group: &str) -> Vec<(&str, &str)> {
        let mut cur: Option<&str> = None;
        let mut out = Vec::new();
        for l in &self.lines {
            match l {
                Line::Group(g) => cur = Some(g),
                Line::Entry(k, v) if cur == Some(group) => out.push((k.as_str(), v.as_str())),
                _ => {}
            }
        }
        out
    }

    /// Sets `key` in `group`, creating either as needed. When the key is
    /// repeated, the last one (the one [`KeyFile::get`] reads) changes.
    pub fn set(&mut self, group: &str, key: &str, value: &str) {
        let mut cur: Option<String> = None;
        let mut last_in_group = None;
        let mut existing = None;
        for (i, l) in self.lines.iter().enumerate() {
            match l {
                Line::Group(g) => cur = Some(g.clone()),
                Line::Entry(k, _) if cur.as_deref() == Some(group) => {
                    if k == key {
                        existing = Some(i);
                    }
                    last_in_group = Some(i);
                }
                _ if cur.as_deref() == Some(group) && last_in_group.is_none() => last_in_group = Some(i),
                _ => {}
            }
        }
        if let Some(i) = existing {
            self.lines[i] = Line::Entry(key.to_string(), value.to_string());
            return;
        }
        let entry = Line::Entry(key.to_string(), value.to_string());
        if let Some(i) = last_in_group {
            self.lines.insert(i + 1, entry);
        } else if let Some(i) = self.lines.iter().position(|l| matches!(l, Line::Group(g) if g == group)) {
            self.lines.insert(i + 1, entry);
        } else {
            self.lines.push(Line::Group(group.to_string()));
            self.lines.push(entry);
        }
    }

    /// Removes `key` from `group`; returns whether it was there.
    pub fn unset(&mut self, group: &str, key: &str) -> bool {
        let mut cur: Option<String> = None;
        let before = self.lines.len();
        self.lines.retain(|l| match l {
            Line::Group(g) => {
                cur = Some(g.clone());
                true
            }
            Line::Entry(k, _) => !(cur.as_deref() == Some(group) && k == key),
            Line::Other(_) => true,
        });
        before != self.lines.len()
    }

    /// Removes a whole group; returns whether it was there.
    pub fn remove_group(&mut self, group: &str) -> bool {
        let mut inside = false;
        let before = self.lines.len();
        self.lines.retain(|l| {
            if let Line::Group(g) = l {
                inside = g == group;
            }
            !inside
        });
        before != self.lines.len()
    }

    /// The text to write back.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            match l {
                Line::Group(g) => {
                    let _ = writeln!(s, "[{g}]");
                }
                Line::Entry(k, v) => {
                    let _ = writeln!(s, "{k}={}", escape(v));
                }
                Line::Other(o) => {
                    let _ = writeln!(s, "{o}");
                }
            }
        }
        s
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            ' ' if i == 0 => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_unknown_content() {
        let text = "# hello\n[core]\nrepo_version=1\nmode=bare\nfoo.bar=x y\n\n[remote \"o\"]\nurl=http://127.0.0.1/\n";
        let mut kf = KeyFile::parse(text).unwrap();
        assert_eq!(kf.to_text(), text);
        assert_eq!(kf.get("core", "mode"), Some("bare"));
        assert_eq!(kf.get("remote \"o\"", "url"), Some("http://127.0.0.1/"));
        kf.set("core", "fsync", "false");
        kf.set("archive", "zlib-level", "3");
        assert!(kf.unset("core", "foo.bar"));
        let out = kf.to_text();
        assert!(out.starts_with("# hello\n[core]\nrepo_version=1\nmode=bare\nfsync=false\n"));
        assert!(out.ends_with("[archive]\nzlib-level=3\n"));
        assert!(KeyFile::parse("junk\n").is_err());
        assert!(KeyFile::parse("[a=b]\\s\n").is_err());
        let cr = KeyFile::parse("\r\n# c\r\n[g]\nk=v\n").unwrap();
        assert_eq!(cr.to_text(), "\r\n# c\r\n[g]\nk=v\n");
        let mut dup = KeyFile::parse("[core]\nfsync=a\nfsync=b\n").unwrap();
        dup.set("core", "fsync", "c");
        assert_eq!(dup.get("core", "fsync"), Some("c"));
    }
}

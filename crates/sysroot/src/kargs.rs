//! Kernel command lines as OSTree edits them.
//!
//! Arguments are split on spaces outside double quotes; each is `key`,
//! `key=` or `key=value`. A key may repeat (`console=tty0 console=ttyS0`)
//! and order is kept. [`KernelArgs::replace`] (`--karg`) sets a key to one
//! value at the place of its first occurrence, [`KernelArgs::append`]
//! (`--karg-append`) always adds, [`KernelArgs::delete`] (`--karg-delete`)
//! removes one `key=value`, or a key that has a single value.

use std::fmt;

/// An ordered kernel command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelArgs {
    args: Vec<(String, Option<String>)>,
}

/// A `--karg-delete` that matches nothing, or is ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KargError(pub String);

fn split(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (arg.to_string(), None),
    }
}

impl KernelArgs {
    /// An empty command line.
    pub fn new() -> Self {
        KernelArgs::default()
    }

    /// Parses a command line.
    pub fn parse(line: &str) -> Self {
        let mut k = KernelArgs::new();
        for a in split_words(line) {
            k.append(&a);
        }
        k
    }

    /// The arguments of `/proc/cmdline` a new deployment should inherit:
    /// all but `BOOT_IMAGE=` and `initrd=` (the running boot's own) and
    /// `ostree=` (set per deployment).
    pub fn from_proc_cmdline() -> std::io::Result<Self> {
        let line = std::fs::read_to_string("/proc/cmdline")?;
        let mut k = KernelArgs::new();
        for a in split_words(line.trim_end_matches('\n')) {
            if a.starts_with("BOOT_IMAGE=") || a.starts_with("initrd=") || a.starts_with("ostree=") {
                continue;
            }
            k.append(&a);
        }
        Ok(k)
    }

    /// Adds `arg` at the end.
    pub fn append(&mut self, arg: &str) {
        if !arg.is_empty() {
            self.args.push(split(arg));
        }
    }

    /// Adds `arg` unless its key is present.
    pub fn append_if_missing(&mut self, arg: &str) {
        let (k, _) = split(arg);
        if !self.contains_key(&k) {
            self.append(arg);
        }
    }

    /// Whether `key` is present (with any value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.args.iter().any(|(k, _)| k == key)
    }

    /// The values of `key`, in order (`None` for a bare `key`).
    pub fn values(&self, key: &str) -> Vec<Option<&str>> {
        self.args.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_deref()).collect()
    }

    /// Sets `key` to the value of `arg`: at the first occurrence if the key
    /// is present (dropping its other values), else at the end.
    pub fn replace(&mut self, arg: &str) {
        let (key, value) = split(arg);
        match self.args.iter().position(|(k, _)| *k == key) {
            Some(first) => {
                self.args[first].1 = value;
                let mut i = 0;
                self.args.retain(|(k, _)| {
                    let keep = *k != key || i == first;
                    i += 1;
                    keep
                });
            }
            None => self.args.push((key, value)),
        }
    }

    /// Removes `key=value` (one occurrence), or `key` when it has one value.
    pub fn delete(&mut self, arg: &str) -> Result<(), KargError> {
        let (key, value) = split(arg);
        let positions: Vec<usize> =
            self.args.iter().enumerate().filter(|(_, (k, _))| *k == key).map(|(i, _)| i).collect();
        if positions.is_empty() {
            return Err(KargError(format!("No key '{key}' found")));
        }
        if positions.len() == 1 {
            let i = positions[0];
            if value.is_some() && self.args[i].1 != value {
                return Err(KargError(format!("No karg '{arg}' found")));
            }
            self.args.remove(i);
            return Ok(());
        }
        match positions.into_iter().find(|&i| self.args[i].1 == value) {
            Some(i) => {
                self.args.remove(i);
                Ok(())
            }
            None if value.is_none() => Err(KargError(format!(
                "Multiple values for key '{key}' found. Use 'key=value' format to say which one to delete"
            ))),
            None => Err(KargError(format!("No karg '{arg}' found"))),
        }
    }

    /// Removes every occurrence of `key`.
    pub fn remove_key(&mut self, key: &str) {
        self.args.retain(|(k, _)| k != key);
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// The arguments as words.
    pub fn to_words(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect()
    }
}

impl fmt::Display for KernelArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_words().join(" "))
    }
}

/// Splits a command line into arguments at spaces outside double quotes.
pub fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_first_position_and_drops_other_values() {
        let mut k = KernelArgs::parse("root=LABEL=MOO console=a quiet console=b");
        k.replace("console=c");
        assert_eq!(k.to_string(), "root=LABEL=MOO console=c quiet");
        k.replace("new=1");
        k.replace("ostree=/ostree/boot.1/os/c/0");
        assert_eq!(k.to_string(), "root=LABEL=MOO console=c quiet new=1 ostree=/ostree/boot.1/os/c/0");
    }

    #[test]
    fn append_and_delete() {
        let mut k = KernelArgs::parse("quiet APPENDARG=VALAPPEND x=1");
        k.append("APPENDARG=2NDAPPEND");
        assert_eq!(k.to_string(), "quiet APPENDARG=VALAPPEND x=1 APPENDARG=2NDAPPEND");
        assert!(k.delete("APPENDARG").is_err());
        k.delete("APPENDARG=VALAPPEND").unwrap();
        k.delete("quiet").unwrap();
        assert!(k.delete("x=2").is_err());
        assert!(k.delete("nope").is_err());
        assert_eq!(k.to_string(), "x=1 APPENDARG=2NDAPPEND");
        k.append_if_missing("x=3");
        k.append_if_missing("EMPTY=");
        assert_eq!(k.to_string(), "x=1 APPENDARG=2NDAPPEND EMPTY=");
    }

    #[test]
    fn quotes_keep_spaces() {
        let k = KernelArgs::parse(r#"a="b c" d  e="#);
        assert_eq!(k.to_words(), [r#"a="b c""#, "d", "e="]);
    }
}

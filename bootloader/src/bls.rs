//! Boot Loader Specification entries as OSTree reads and writes them.
//!
//! An entry is one `key value` pair per line (split at the first space or
//! tab). OSTree reads only lines that start with an ASCII letter and have a
//! value; a key given twice keeps its last value, except `initrd`, whose
//! further values are extra ("overlay") initramfs images. It writes
//! `title`, `version`, `options`, `devicetree`, `linux`, `initrd` in that
//! order, then the extra `initrd` lines, then every other key.
//!
//! OSTree names its entries `ostree-K-STATEROOT.conf` (2022.7; newer
//! versions `ostree-K.conf`), where `K` is also the `version` key and the
//! first entry has the highest; readers sort by `version` with glibc's
//! `strverscmp`, highest first ([`read_entries`]).

use std::cmp::Ordering;
use std::path::Path;

use crate::Error;

/// The keys written first, in this order (the BLS specification's example).
const ORDERED_KEYS: [&str; 6] = ["title", "version", "options", "devicetree", "linux", "initrd"];

/// One boot entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootEntry {
    keys: Vec<(String, String)>,
    overlay_initrds: Vec<String>,
}

impl BootEntry {
    /// An empty entry.
    pub fn new() -> Self {
        BootEntry::default()
    }

    /// Parses entry text leniently, as OSTree does: lines that do not start
    /// with a letter, or have no value, are ignored.
    pub fn parse(text: &str) -> Self {
        let mut e = BootEntry::new();
        for line in text.split('\n') {
            if !line.starts_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let Some(sep) = line.find([' ', '\t']) else { continue };
            let (k, v) = (&line[..sep], &line[sep + 1..]);
            if k == "initrd" && e.get("initrd").is_some() {
                e.overlay_initrds.push(v.to_string());
            } else {
                e.set(k, v);
            }
        }
        e
    }

    /// Reads and parses an entry file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io(path.display().to_string(), e))?;
        let text = String::from_utf8(bytes).map_err(|_| Error::NotText(path.display().to_string()))?;
        Ok(BootEntry::parse(&text))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Sets `key` (in place if it is already there).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.keys.push((key.to_string(), value.to_string())),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.keys.retain(|(k, _)| k != key);
    }

    /// The extra `initrd` values after the first.
    pub fn overlay_initrds(&self) -> &[String] {
        &self.overlay_initrds
    }

    /// Replaces the extra `initrd` values.
    pub fn set_overlay_initrds(&mut self, initrds: Vec<String>) {
        self.overlay_initrds = initrds;
    }

    /// The entry as OSTree writes it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| {
            out.push_str(k);
            out.push(' ');
            out.push_str(v);
            out.push('\n');
        };
        for key in ORDERED_KEYS {
            if let Some(v) = self.get(key) {
                line(key, v);
            }
        }
        if self.get("initrd").is_some() {
            for v in &self.overlay_initrds {
                line("initrd", v);
            }
        }
        for (k, v) in &self.keys {
            if !ORDERED_KEYS.contains(&k.as_str()) {
                line(k, v);
            }
        }
        out
    }

    /// Writes the entry to `path` (atomically, durably).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        crate::write_file_atomic(path, self.to_text().as_bytes())
    }
}

/// Reads the `ostree-*.conf` entries of an `entries` directory, in boot
/// order: by `version`, highest first (`strverscmp`), entries without one
/// last, then by file name. A missing directory has no entries.
pub fn read_entries(dir: &Path) -> Result<Vec<(String, BootEntry)>, Error> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Io(dir.display().to_string(), e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::Io(dir.display().to_string(), e))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("ostree-") && name.ends_with(".conf")) {
            continue;
        }
        if !ent.file_type().map_err(|e| Error::Io(dir.join(&name).display().to_string(), e))?.is_file() {
            continue;
        }
        let entry = BootEntry::read(&ent.path())?;
        out.push((name, entry));
    }
    out.sort_by(|(na, a), (nb, b)| compare_entries(a, b).then_with(|| na.cmp(nb)));
    Ok(out)
}

/// Boot order of two entries: higher `version` first.
pub fn compare_entries(a: &BootEntry, b: &BootEntry) -> Ordering {
    match (a.get("version"), b.get("version")) {
        (Some(va), Some(vb)) => strverscmp(va, vb).reverse(),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// glibc's `strverscmp`: compares strings with digit runs ordered as
/// numbers (and runs with leading zeros as fractional parts).
pub fn strverscmp(a: &str, b: &str) -> Ordering {
    const S_N: usize = 0;
    const S_I: usize = 3;
    const S_F: usize = 6;
    const S_Z: usize = 9;
    const CMP: i8 = 2;
    const LEN: i8 = 3;
    const NEXT: [usize; 12] = [S_N, S_I, S_Z, S_N, S_I, S_I, S_N, S_F, S_F, S_N, S_F, S_Z];
    #[rustfmt::skip]
    const RESULT: [i8; 36] = [
        CMP, CMP, CMP, CMP, LEN, CMP, CMP, CMP, CMP,
        CMP, -1, -1, 1, LEN, LEN, 1, LEN, LEN,
        CMP, CMP, CMP, CMP, CMP, CMP, CMP, CMP, CMP,
        CMP, 1, 1, -1, CMP, CMP, -1, CMP, CMP,
    ];
    let (p1, p2) = (a.as_bytes(), b.as_bytes());
    let at = |p: &[u8], i: usize| p.get(i).copied().unwrap_or(0);
    let class = |c: u8| usize::from(c == b'0') + usize::from(c.is_ascii_digit());
    let (mut i, mut j) = (0usize, 0usize);
    let (mut c1, mut c2) = (at(p1, i), at(p2, j));
    i += 1;
    j += 1;
    let mut state = S_N + class(c1);
    loop {
        let diff = i32::from(c1) - i32::from(c2);
        if diff != 0 {
            let r = RESULT[state * 3 + class(c2)];
            let out = match r {
                CMP => diff,
                LEN => {
                    loop {
                        let d1 = at(p1, i);
                        i += 1;
                        if !d1.is_ascii_digit() {
                            break;
                        }
                        let d2 = at(p2, j);
                        j += 1;
                        if !d2.is_ascii_digit() {
                            return Ordering::Greater;
                        }
                    }
                    if at(p2, j).is_ascii_digit() {
                        -1
                    } else {
                        diff
                    }
                }
                r => i32::from(r),
            };
            return out.cmp(&0);
        }
        if c1 == 0 {
            return Ordering::Equal;
        }
        state = NEXT[state];
        c1 = at(p1, i);
        c2 = at(p2, j);
        i += 1;
        j += 1;
        state += class(c1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strverscmp_matches_glibc() {
        use Ordering::*;
        // The examples of glibc's manual and test suite.
        let cases = [
            ("no digit", "no digit", Equal),
            ("item#99", "item#100", Less),
            ("alpha1", "alpha001", Greater),
            ("part1_f012", "part1_f01", Greater),
            ("foo.009", "foo.0", Less),
            ("000", "00", Less),
            ("00", "01", Less),
            ("01", "010", Less),
            ("010", "09", Less),
            ("09", "0", Less),
            ("0", "1", Less),
            ("1", "9", Less),
            ("9", "10", Less),
            ("2", "10", Less),
            ("10", "2", Greater),
            ("", "1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(strverscmp(a, b), want, "{a} vs {b}");
            assert_eq!(strverscmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn entry_round_trip_in_ostree_order() {
        let text = "linux /ostree/os-c/vmlinuz-6.1.0\nfoo bar\n# comment\noptions root=LABEL=ROOT quiet\n\
                    initrd /ostree/os-c/initramfs-6.1.0.img\ninitrd /ostree/initramfs-overlays/x.img\n\
                    title TestOS 42 1.0 (ostree:0)\nversion 1\nnovalue\n";
        let e = BootEntry::parse(text);
        assert_eq!(e.get("options"), Some("root=LABEL=ROOT quiet"));
        assert_eq!(e.overlay_initrds(), ["/ostree/initramfs-overlays/x.img"]);
        assert_eq!(
            e.to_text(),
            "title TestOS 42 1.0 (ostree:0)\nversion 1\noptions root=LABEL=ROOT quiet\n\
             linux /ostree/os-c/vmlinuz-6.1.0\ninitrd /ostree/os-c/initramfs-6.1.0.img\n\
             initrd /ostree/initramfs-overlays/x.img\nfoo bar\n"
        );
        assert_eq!(BootEntry::parse(&e.to_text()).to_text(), e.to_text());
    }

    #[test]
    fn entries_sort_by_version_descending() {
        let d = std::env::temp_dir().join(format!("oxtree-bls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for k in [1, 2, 10] {
            std::fs::write(d.join(format!("ostree-{k}-os.conf")), format!("title t{k}\nversion {k}\n")).unwrap();
        }
        std::fs::write(d.join("other.conf"), "version 99\n").unwrap();
        let names: Vec<String> = read_entries(&d).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["ostree-10-os.conf", "ostree-2-os.conf", "ostree-1-os.conf"]);
        std::fs::remove_dir_all(&d).unwrap();
        assert!(read_entries(&d).unwrap().is_empty());
    }
}

//! The repository summary (spec §12): `(a(s(taya{sv}))a{sv})`, the refs a
//! repo serves with their commit sizes and timestamps, plus repo-wide
//! metadata (mode, last-modified, static deltas, …).
//!
//! [`update_summary`] writes `summary` (atomically), deletes a stale
//! `summary.sig`, and rewrites the delta indexes. [`Summary::from_bytes`]
//! reads one from untrusted bytes without panicking, and
//! [`Summary::view_text`] renders it as `ostree summary --view` does.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::deltas::{deltas_dict, reindex_static_deltas};
use crate::fsck::list_mirror_refs;
use crate::gvariant::{Type, Value};
use crate::object::{ObjectError, ObjectType};
use crate::repo::{write_atomic, Error, LockKind, Repo};
use crate::traverse::format_size;
use crate::Checksum;

/// One ref in a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRef {
    /// The collection it belongs to, when the summary has collection IDs.
    pub collection: Option<String>,
    /// The ref name.
    pub name: String,
    /// Size of the `.commit` object in bytes.
    pub commit_size: u64,
    /// The commit.
    pub checksum: Checksum,
    /// Per-ref metadata (`ostree.commit.timestamp`, `ostree.commit.version`).
    pub metadata: Vec<(String, Value<'static>)>,
}

impl SummaryRef {
    /// The commit timestamp, if recorded.
    pub fn timestamp(&self) -> Option<u64> {
        lookup(&self.metadata, "ostree.commit.timestamp").and_then(Value::as_u64).map(u64::from_be)
    }

    /// The commit's version string, if recorded.
    pub fn version(&self) -> Option<&str> {
        lookup(&self.metadata, "ostree.commit.version").and_then(Value::as_str)
    }

    fn to_value(&self) -> Value<'_> {
        Value::Tuple(vec![
            Value::Str(Cow::Borrowed(&self.name)),
            Value::Tuple(vec![
                Value::Uint64(self.commit_size),
                Value::Bytes(Cow::Borrowed(self.checksum.as_bytes())),
                vardict(&self.metadata),
            ]),
        ])
    }
}

/// A parsed summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// The refs (of the repo's own collection, if it has one), sorted.
    pub refs: Vec<SummaryRef>,
    /// Additional metadata, in stored order.
    pub metadata: Vec<(String, Value<'static>)>,
}

fn lookup<'a>(m: &'a [(String, Value<'static>)], key: &str) -> Option<&'a Value<'static>> {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn vardict(m: &[(String, Value<'static>)]) -> Value<'static> {
    Value::vardict(m.iter().map(|(k, v)| (Cow::Owned(k.clone()), v.clone())))
}

fn ref_list_type() -> Type {
    Type::parse("a(s(taya{sv}))").unwrap_or(Type::Variant)
}

fn ref_elem_type() -> Type {
    Type::parse("(s(taya{sv}))").unwrap_or(Type::Variant)
}

fn bad(what: &str) -> ObjectError {
    ObjectError::Invalid(format!("malformed summary: {what}"))
}

fn parse_vardict(v: &Value<'_>) -> Result<Vec<(String, Value<'static>)>, ObjectError> {
    let mut out = Vec::new();
    for e in v.as_array().ok_or_else(|| bad("metadata is not a dictionary"))? {
        let Value::DictEntry(k, val) = e else { return Err(bad("metadata entry")) };
        let k = k.as_str().ok_or_else(|| bad("metadata key"))?;
        let inner = val.as_variant().ok_or_else(|| bad("metadata value"))?;
        out.push((k.to_string(), inner.clone().into_owned()));
    }
    Ok(out)
}

fn parse_refs(v: &Value<'_>, collection: Option<&str>) -> Result<Vec<SummaryRef>, ObjectError> {
    let mut out = Vec::new();
    for e in v.as_array().ok_or_else(|| bad("ref list"))? {
        let t = e.as_tuple().ok_or_else(|| bad("ref entry"))?;
        let name = t.first().and_then(Value::as_str).ok_or_else(|| bad("ref name"))?;
        let inner = t.get(1).and_then(Value::as_tuple).ok_or_else(|| bad("ref data"))?;
        let size = inner.first().and_then(Value::as_u64).ok_or_else(|| bad("commit size"))?;
        let csum = inner.get(1).and_then(Value::as_bytes).ok_or_else(|| bad("commit checksum"))?;
        let checksum = Checksum::from_slice(csum)
            .map_err(|_| ObjectError::Invalid(format!("Invalid checksum of length {} expected 32", csum.len())))?;
        let metadata = parse_vardict(inner.get(2).ok_or_else(|| bad("ref metadata"))?)?;
        out.push(SummaryRef {
            collection: collection.map(str::to_string),
            name: name.to_string(),
            commit_size: size,
            checksum,
            metadata,
        });
    }
    Ok(out)
}

impl Summary {
    /// The GVariant type of a summary.
    pub const TYPE: &'static str = "(a(s(taya{sv}))a{sv})";

    /// Parses and validates summary bytes (any byte string is safe to pass).
    pub fn from_bytes(data: &[u8]) -> Result<Summary, ObjectError> {
        let v = Value::from_bytes(&Type::parse(Self::TYPE)?, data)?;
        let t = v.as_tuple().ok_or_else(|| bad("not a tuple"))?;
        let metadata = parse_vardict(t.get(1).ok_or_else(|| bad("no metadata"))?)?;
        let cid = lookup(&metadata, "ostree.summary.collection-id").and_then(Value::as_str).map(str::to_string);
        let refs = parse_refs(t.first().ok_or_else(|| bad("no refs"))?, cid.as_deref())?;
        let s = Summary { refs, metadata };
        s.collection_map()?;
        Ok(s)
    }

    /// Serialises to normal form.
    pub fn to_bytes(&self) -> Vec<u8> {
        Value::Tuple(vec![
            Value::Array(ref_elem_type(), self.refs.iter().map(SummaryRef::to_value).collect()),
            vardict(&self.metadata),
        ])
        .to_bytes()
    }

    /// An additional-metadata value.
    pub fn get(&self, key: &str) -> Option<&Value<'static>> {
        lookup(&self.metadata, key)
    }

    /// `ostree.summary.collection-id`.
    pub fn collection_id(&self) -> Option<&str> {
        self.get("ostree.summary.collection-id").and_then(Value::as_str)
    }

    /// The refs of other collections (`ostree.summary.collection-map`).
    pub fn collection_map(&self) -> Result<Vec<SummaryRef>, ObjectError> {
        let Some(map) = self.get("ostree.summary.collection-map") else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for e in map.as_array().ok_or_else(|| bad("collection map"))? {
            let Value::DictEntry(k, v) = e else { return Err(bad("collection map entry")) };
            let cid = k.as_str().ok_or_else(|| bad("collection ID"))?;
            out.extend(parse_refs(v, Some(cid))?);
        }
        Ok(out)
    }

    /// Static deltas listed in the summary: name → superblock digest.
    pub fn static_deltas(&self) -> Vec<(String, Vec<u8>)> {
        let Some(d) = self.get("ostree.static-deltas") else { return Vec::new() };
        parse_vardict(d)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.as_bytes().map(|b| (k, b.to_vec())))
            .collect()
    }

    /// The text `ostree summary --view` prints.
    pub fn view_text(&self) -> String {
        let mut s = String::new();
        let map = self.collection_map().unwrap_or_default();
        for r in self.refs.iter().chain(map.iter()) {
            match &r.collection {
                Some(c) => {
                    let _ = writeln!(s, "* ({c}, {})", r.name);
                }
                None => {
                    let _ = writeln!(s, "* {}", r.name);
                }
            }
            let _ = writeln!(s, "    Latest Commit ({}):", format_size(r.commit_size));
            let _ = writeln!(s, "      {}", r.checksum);
            for (k, v) in &r.metadata {
                match (k.as_str(), v) {
                    ("ostree.commit.version", Value::Str(ver)) => {
                        let _ = writeln!(s, "    Version ({k}): {ver}");
                    }
                    ("ostree.commit.timestamp", Value::Uint64(t)) => {
                        let _ = writeln!(s, "    Timestamp ({k}): {}", iso8601(u64::from_be(*t)));
                    }
                    _ => {
                        let _ = writeln!(s, "    {k}: {}", plain_text(v));
                    }
                }
            }
            s.push('\n');
        }
        for (k, v) in &self.metadata {
            let line = match (k.as_str(), v) {
                ("ostree.summary.mode", Value::Str(m)) => format!("Repository Mode ({k}): {m}"),
                ("ostree.summary.last-modified", Value::Uint64(t)) => {
                    format!("Last-Modified ({k}): {}", iso8601(u64::from_be(*t)))
                }
                ("ostree.summary.expires", Value::Uint64(t)) => format!("Expires ({k}): {}", iso8601(u64::from_be(*t))),
                ("ostree.summary.tombstone-commits", Value::Bool(b)) => {
                    format!("Has Tombstone Commits ({k}): {}", if *b { "Yes" } else { "No" })
                }
                ("ostree.static-deltas", _) => format!("Static Deltas ({k}): {}", plain_text(v)),
                ("ostree.summary.collection-map", _) => format!("Collection Map ({k}): (printed above)"),
                ("ostree.summary.collection-id", Value::Str(c)) => format!("Collection ID ({k}): {c}"),
                _ => format!("{k}: {}", plain_text(v)),
            };
            s.push_str(&line);
            s.push('\n');
        }
        s
    }
}

/// `ostree summary --raw`: the whole variant printed with type annotations
/// after a byte swap (on little-endian hosts), as GLib's byteswap-and-print
/// shows it.
pub fn raw_text(data: &[u8]) -> Result<String, ObjectError> {
    let v = Value::from_bytes(&Type::parse(Summary::TYPE)?, data)?;
    Ok(if cfg!(target_endian = "little") { v.byteswap().to_text() } else { v.to_text() })
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SS+00`.
pub fn iso8601(secs: u64) -> String {
    let secs = secs as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Days to civil date (proleptic Gregorian).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// GLib's `g_variant_print (v, FALSE)`: no type annotations at this level;
/// the contents of variants are printed annotated.
pub fn plain_text(v: &Value<'_>) -> String {
    let mut s = String::new();
    plain(v, &mut s);
    s
}

fn plain(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Byte(b) => {
            let _ = write!(out, "0x{b:02x}");
        }
        Value::Int16(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint16(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Int32(n) | Value::Handle(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Int64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Double(_) | Value::Str(_) => out.push_str(&v.to_text()),
        Value::ObjectPath(s) | Value::Signature(s) => out.push_str(&Value::Str(s.clone()).to_text()),
        Value::Variant(c) => {
            out.push('<');
            out.push_str(&c.to_text());
            out.push('>');
        }
        Value::Maybe(_, None) => out.push_str("nothing"),
        Value::Maybe(_, Some(x)) => plain(x, out),
        Value::Bytes(_) => {
            let t = v.to_text();
            if let Some(rest) = t.strip_prefix("[byte ") {
                out.push('[');
                out.push_str(rest);
            } else if let Some(rest) = t.strip_prefix("@ay ") {
                out.push_str(rest);
            } else {
                out.push_str(&t);
            }
        }
        Value::Array(elem, items) => {
            let dict = matches!(elem, Type::DictEntry(..));
            out.push(if dict { '{' } else { '[' });
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match (dict, it) {
                    (true, Value::DictEntry(k, val)) => {
                        plain(k, out);
                        out.push_str(": ");
                        plain(val, out);
                    }
                    _ => plain(it, out),
                }
            }
            out.push(if dict { '}' } else { ']' });
        }
        Value::Tuple(items) => {
            out.push('(');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                plain(it, out);
            }
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::DictEntry(k, val) => {
            out.push('{');
            plain(k, out);
            out.push_str(", ");
            plain(val, out);
            out.push('}');
        }
    }
}

fn ref_entry(repo: &Repo, collection: Option<&str>, name: &str, csum: &Checksum) -> Result<SummaryRef, Error> {
    let p = repo.object_path(csum, ObjectType::Commit);
    let size = match std::fs::metadata(&p) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingObject { checksum: *csum, ty: ObjectType::Commit })
        }
        Err(source) => return Err(Error::Io { path: p, source }),
    };
    let commit = repo.load_commit(csum)?;
    let mut metadata = Vec::new();
    if let Some(Value::Str(v)) = commit.metadata.get("version") {
        metadata.push(("ostree.commit.version".to_string(), Value::Str(Cow::Owned(v.to_string()))));
    }
    metadata.push(("ostree.commit.timestamp".to_string(), Value::Uint64(commit.timestamp.to_be())));
    Ok(SummaryRef {
        collection: collection.map(str::to_string),
        name: name.to_string(),
        commit_size: size,
        checksum: *csum,
        metadata,
    })
}

/// Builds the summary of the repo as it is now (`now`: seconds since the
/// epoch for `last-modified`), rewriting the delta indexes on the way.
/// `extra` keys are added after OSTree's own keys, which they cannot
/// replace.
pub fn generate_summary(repo: &Repo, extra: &[(String, Value<'static>)], now: u64) -> Result<Summary, Error> {
    let cid = repo.collection_id().map(str::to_string);
    let mut refs = Vec::new();
    for (name, c) in repo.list_refs(None)? {
        refs.push(ref_entry(repo, cid.as_deref(), &name, &c)?);
    }
    let mut md: Vec<(String, Value<'static>)> = vec![
        ("ostree.summary.mode".into(), Value::Str(Cow::Owned(repo.mode().as_config_str().into()))),
        ("ostree.summary.last-modified".into(), Value::Uint64(now.to_be())),
        ("ostree.summary.tombstone-commits".into(), Value::Bool(repo.tombstone_commits())),
    ];
    if let Some(own) = &cid {
        let mut map: Vec<(String, Vec<SummaryRef>)> = Vec::new();
        for (c, name, csum) in list_mirror_refs(repo)? {
            if &c == own {
                continue;
            }
            let e = ref_entry(repo, Some(&c), &name, &csum)?;
            match map.last_mut() {
                Some((last, v)) if *last == c => v.push(e),
                _ => map.push((c, vec![e])),
            }
        }
        if !map.is_empty() {
            let entries = map
                .iter()
                .map(|(c, rs)| {
                    Value::DictEntry(
                        Box::new(Value::Str(Cow::Owned(c.clone()))),
                        Box::new(Value::Array(ref_elem_type(), rs.iter().map(|r| r.to_value().into_owned()).collect())),
                    )
                })
                .collect();
            let map_ty = Type::DictEntry(Box::new(Type::Str), Box::new(ref_list_type()));
            md.push(("ostree.summary.collection-map".into(), Value::Array(map_ty, entries)));
        }
    }
    let deltas = reindex_static_deltas(repo)?;
    let no_deltas = repo.config().get_bool("core", "no-deltas-in-summary") == Some(Ok(true));
    if !deltas.is_empty() && !no_deltas {
        let mut sorted = deltas.clone();
        sorted.sort_by_key(|(d, _)| d.name());
        md.push(("ostree.static-deltas".into(), deltas_dict(&sorted)));
    }
    md.push(("ostree.summary.indexed-deltas".into(), Value::Bool(true)));
    if let Some(own) = &cid {
        md.push(("ostree.summary.collection-id".into(), Value::Str(Cow::Owned(own.clone()))));
    }
    for (k, v) in extra {
        if !md.iter().any(|(mk, _)| mk == k) {
            md.push((k.clone(), v.clone()));
        }
    }
    Ok(Summary { refs, metadata: md })
}

/// Regenerates `summary` (atomically), removes a stale `summary.sig`, and
/// rewrites the delta indexes (setting `core.indexed-deltas=true`).
pub fn update_summary(repo: &Repo, extra: &[(String, Value<'static>)]) -> Result<Summary, Error> {
    let _lock = repo.lock(LockKind::Shared)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let summary = generate_summary(repo, extra, now)?;
    write_atomic(&repo.path().join("summary"), &summary.to_bytes(), 0o644, repo.fsync_enabled())?;
    let sig = repo.path().join("summary.sig");
    match std::fs::remove_file(&sig) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(Error::Io { path: sig, source }),
    }
    Ok(summary)
}

/// Reads and parses the repo's `summary` file.
pub fn read_summary(repo: &Repo) -> Result<(Vec<u8>, Summary), Error> {
    let p = repo.path().join("summary");
    let bytes = std::fs::read(&p).map_err(|source| Error::Io { path: p, source })?;
    let s = Summary::from_bytes(&bytes).map_err(|e| Error::Invalid(format!("summary: {e}")))?;
    Ok((bytes, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn golden() -> Vec<u8> {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/extras.json")).unwrap();
        let i = text.find("\"summary_hex\": \"").unwrap() + 16;
        let j = text[i..].find('"').unwrap();
        unhex(&text[i..i + j])
    }

    #[test]
    fn golden_summary_round_trips() {
        let g = golden();
        assert_eq!(g.len(), 624);
        let s = Summary::from_bytes(&g).unwrap();
        assert_eq!(s.refs.len(), 1);
        let r = &s.refs[0];
        assert_eq!(r.name, "main");
        assert_eq!(r.commit_size, 206);
        assert_eq!(r.checksum.to_hex(), "a2953ea888b3a2fa279327a881602d96cce9607d112c8e8f7795687a09148c04");
        assert_eq!(r.version(), Some("1.0"));
        assert_eq!(r.timestamp(), Some(1577923200));
        let keys: Vec<&str> = s.metadata.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ostree.summary.mode",
                "ostree.summary.last-modified",
                "ostree.summary.tombstone-commits",
                "ostree.static-deltas",
                "ostree.summary.indexed-deltas"
            ]
        );
        assert_eq!(s.static_deltas().len(), 2);
        // Byte-identical re-serialisation.
        assert_eq!(s.to_bytes(), g);
        let view = s.view_text();
        assert!(view.starts_with(
            "* main\n    Latest Commit (206 bytes):\n      a2953ea888b3a2fa279327a881602d96cce9607d112c8e8f7795687a09148c04\n    Version (ostree.commit.version): 1.0\n    Timestamp (ostree.commit.timestamp): 2020-01-02T00:00:00+00\n\nRepository Mode (ostree.summary.mode): archive-z2\n"
        ));
        assert!(view.contains("\nHas Tombstone Commits (ostree.summary.tombstone-commits): No\n"));
        assert!(view.contains("\nStatic Deltas (ostree.static-deltas): {'"));
        assert!(view.ends_with("ostree.summary.indexed-deltas: true\n"));
        assert!(raw_text(&g).unwrap().starts_with("([('main', (uint64 "));
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        let g = golden();
        for len in 0..g.len() {
            let _ = Summary::from_bytes(&g[..len]);
        }
        let mut state = 0x1234_5678u32;
        for i in 0..4000 {
            let mut b = g.clone();
            for _ in 0..(1 + i % 4) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let pos = state as usize % b.len();
                b[pos] ^= (state >> 8) as u8 | 1;
            }
            let _ = Summary::from_bytes(&b);
            let _ = raw_text(&b);
        }
    }

    #[test]
    fn plain_printing() {
        assert_eq!(plain_text(&Value::Uint32(7)), "7");
        assert_eq!(plain_text(&Value::str("bar")), "'bar'");
        assert_eq!(plain_text(&Value::Variant(Box::new(Value::str("x")))), "<'x'>");
        assert_eq!(iso8601(1795757293), "2026-11-27T05:28:13+00");
    }
}

//! The bodies of oxtree's fuzz targets: one function per parser of untrusted
//! bytes in `oxtree-store`, [`filez`], which reads a whole `.filez` object
//! through the repository, and [`checkout_escape`], which checks out
//! hostile trees and checks that nothing lands outside the destination.
//!
//! Each function takes arbitrary bytes, feeds them to the parser, and checks
//! what must hold for any input: no panic, and for input the parser accepts,
//! that serialising the result and parsing it again gives the same thing
//! (and, for input accepted as normal form, the very same bytes). A broken
//! property is a panic, which libFuzzer reports as a crash.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` are one-liners calling these
//! functions on nightly; `tests/smoke.rs` runs the same functions on stable
//! over mutated golden objects and pseudo-random input, so CI exercises them
//! without libFuzzer. See `fuzz/README.md`.
#![forbid(unsafe_code)]

mod boot;
mod checkout;
mod delta;
mod differential;
mod filez;
mod http;
mod oracle;
mod rpm;
mod sign;
mod tar;
pub use boot::{boot_config, origin, staged_record};
pub use checkout::checkout_escape;
pub use delta::{bspatch_target as bspatch, delta_part, delta_superblock};
pub use differential::{gvariant_crate, TYPES as COMPARED_TYPES};
pub use filez::filez;
pub use http::http_response;
pub use oracle::python_oracle;
pub use rpm::{cpio, rpm_import, treefile};
pub use sign::{fixed_key, openpgp_keyring, openpgp_signatures, sign_keyfile, sign_signatures, SIGNED};
pub use tar::tar_import;

use oxtree_store::deltas::StaticDelta;
use oxtree_store::gvariant::{parse_text, Type, Value};
use oxtree_store::object::{Commit, CommitMetadata, DirMeta, DirTree, FileHeader};
use oxtree_store::repo::KeyFile;
use oxtree_store::summary::{raw_text, Summary};
use oxtree_store::Checksum;

/// A fuzz target body.
pub type Body = fn(&[u8]);

/// Every target, by its cargo-fuzz name.
pub const TARGETS: &[(&str, Body)] = &[
    ("gvariant_value", gvariant_value),
    ("gvariant_crate", gvariant_crate),
    ("python_oracle", python_oracle),
    ("dirtree", dirtree),
    ("dirmeta", dirmeta),
    ("commit", commit),
    ("commitmeta", commitmeta),
    ("file_header", file_header),
    ("filez", filez),
    ("gvariant_text", gvariant_text),
    ("checksum", checksum),
    ("keyfile", keyfile),
    ("summary", summary),
    ("remote_text", remote_text),
    ("delta_superblock", delta_superblock),
    ("delta_part", delta_part),
    ("bspatch", bspatch),
    ("sign_signatures", sign_signatures),
    ("sign_keyfile", sign_keyfile),
    ("openpgp_keyring", openpgp_keyring),
    ("openpgp_signatures", openpgp_signatures),
    ("boot_config", boot_config),
    ("staged_record", staged_record),
    ("origin", origin),
    ("cpio", cpio),
    ("rpm_import", rpm_import),
    ("treefile", treefile),
    ("tar_import", tar_import),
    ("http_response", http_response),
];

/// The GVariant types OSTree reads from disk or the network. The first byte
/// of a `gvariant_value` input picks one of these (modulo `len + 1`); the
/// value `len` means "a type string of its own follows, ended by a NUL".
pub const OSTREE_TYPES: &[&str] = &[
    DirTree::TYPE,
    DirMeta::TYPE,
    Commit::TYPE,
    "a{sv}",
    FileHeader::TYPE,
    FileHeader::ARCHIVE_TYPE,
    FileHeader::OSTREEMETA_TYPE,
    // summary
    "(a(s(taya{sv}))a{sv})",
    // static delta superblock
    "(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))",
    // static delta part payload
    "(a(uuu)aa(ayay)ayay)",
    // tombstone commit, commitpartial-style markers, misc
    "a(ayay)",
    "ay",
    "as",
    "v",
    "av",
    "mv",
];

/// Splits a `gvariant_value` input into the type it selects and the data.
pub fn select_type(data: &[u8]) -> Option<(Type, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    let idx = sel as usize % (OSTREE_TYPES.len() + 1);
    if let Some(t) = OSTREE_TYPES.get(idx) {
        return Some((Type::parse(t).expect("OSTREE_TYPES holds valid types"), rest));
    }
    let nul = rest.iter().position(|&b| b == 0)?;
    let ty = Type::parse(std::str::from_utf8(&rest[..nul]).ok()?).ok()?;
    Some((ty, &rest[nul + 1..]))
}

/// `gvariant_value`: [`Value::from_bytes`] and [`Value::from_bytes_normal`]
/// on a type chosen by the first byte (see [`select_type`]).
pub fn gvariant_value(data: &[u8]) {
    let Some((ty, body)) = select_type(data) else { return };
    check_value_bytes(&ty, body);
}

/// Checks both readers on `body` as a `ty`, and the round trips.
pub fn check_value_bytes(ty: &Type, body: &[u8]) {
    let loose = Value::from_bytes(ty, body);
    if let Ok(n) = Value::from_bytes_normal(ty, body) {
        assert_eq!(n.to_bytes(), body, "from_bytes_normal accepted bytes it does not re-serialise to");
        let l = loose.as_ref().expect("from_bytes_normal accepted what from_bytes rejects");
        assert_eq!(l.to_bytes(), body);
    }
    if let Ok(v) = loose {
        assert_eq!(&v.type_of(), ty, "value read has another type than asked");
        let bytes = v.to_bytes();
        let again = Value::from_bytes_normal(ty, &bytes)
            .unwrap_or_else(|e| panic!("serialised value is not read back as normal form: {e}"));
        assert_eq!(again.to_bytes(), bytes);
        // Printing and byte-swapping must not panic either.
        let _ = v.to_text();
        let swapped = v.byteswap().to_bytes();
        assert_eq!(swapped.len(), bytes.len(), "byteswap changed the serialised size");
        let _ = v.into_owned();
    }
}

/// `dirtree`: [`DirTree::from_bytes`] and [`DirTree::from_bytes_normal`].
pub fn dirtree(data: &[u8]) {
    let loose = DirTree::from_bytes(data);
    if let Ok(t) = DirTree::from_bytes_normal(data) {
        assert_eq!(t.to_bytes(), data, "normal dirtree does not re-serialise to its bytes");
        assert_eq!(loose.as_ref().ok(), Some(&t), "from_bytes and from_bytes_normal disagree");
    }
    if let Ok(t) = loose {
        let bytes = t.to_bytes();
        let back = DirTree::from_bytes(&bytes).unwrap_or_else(|e| panic!("serialised dirtree is not read back: {e}"));
        assert_eq!(back, t);
        // Entries stay in the order read: the bytes are normal exactly
        // when the names were sorted (a remote's dirtree must be).
        let in_order = |names: Vec<&str>| names.windows(2).all(|w| w[0] < w[1]);
        let sorted_names = in_order(t.files.iter().map(|f| f.name.as_str()).collect())
            && in_order(t.dirs.iter().map(|d| d.name.as_str()).collect());
        assert_eq!(DirTree::from_bytes_normal(&bytes).is_ok(), sorted_names, "normal form and sorted names disagree");
        for f in &t.files {
            assert!(t.file(&f.name).is_some(), "file {:?} not found by name", f.name);
        }
        for d in &t.dirs {
            assert!(t.dir(&d.name).is_some(), "dir {:?} not found by name", d.name);
        }
        let mut sorted = t.clone();
        sorted.sort();
        let sbytes = sorted.to_bytes();
        assert_eq!(sbytes.len(), bytes.len(), "sorting changed the serialised size");
        assert_eq!(DirTree::from_bytes_normal(&sbytes).ok().as_ref(), Some(&sorted));
    }
}

/// `dirmeta`: [`DirMeta::from_bytes`].
pub fn dirmeta(data: &[u8]) {
    let Ok(m) = DirMeta::from_bytes(data) else { return };
    let bytes = m.to_bytes();
    let back = DirMeta::from_bytes(&bytes).unwrap_or_else(|e| panic!("serialised dirmeta is not read back: {e}"));
    assert_eq!(back, m);
    let ty = Type::parse(DirMeta::TYPE).expect("valid type");
    assert!(Value::from_bytes_normal(&ty, &bytes).is_ok(), "serialised dirmeta is not in normal form");
    // Input in normal form with sorted xattrs is exactly what we write.
    if Value::from_bytes_normal(&ty, data).is_ok() && xattrs_sorted(&ty, data, 3) {
        assert_eq!(bytes, data, "normal dirmeta does not re-serialise to its bytes");
    }
}

/// True when member `idx` of the tuple in `data` is an `a(ayay)` sorted by
/// name (what OSTree writes, and what [`oxtree_store::object::Xattrs`] keeps).
fn xattrs_sorted(ty: &Type, data: &[u8], idx: usize) -> bool {
    let Ok(v) = Value::from_bytes(ty, data) else { return false };
    let Some(items) = v.as_tuple().and_then(|t| t.get(idx)).and_then(Value::as_array) else { return false };
    let pairs: Vec<(&[u8], &[u8])> = items
        .iter()
        .filter_map(|e| {
            let t = e.as_tuple()?;
            Some((t.first()?.as_bytes()?, t.get(1)?.as_bytes()?))
        })
        .collect();
    pairs.windows(2).all(|w| w[0] <= w[1])
}

/// `commit`: [`Commit::from_bytes`] and [`Commit::from_bytes_normal`].
pub fn commit(data: &[u8]) {
    let loose = Commit::from_bytes(data);
    if let Ok(c) = Commit::from_bytes_normal(data) {
        assert_eq!(c.to_bytes(), data, "normal commit does not re-serialise to its bytes");
        assert!(loose.is_ok(), "from_bytes_normal accepted what from_bytes rejects");
    }
    if let Ok(c) = loose {
        let bytes = c.to_bytes();
        let back =
            Commit::from_bytes_normal(&bytes).unwrap_or_else(|e| panic!("serialised commit is not read back: {e}"));
        // Compared as bytes: metadata may hold NaN doubles, which are != themselves.
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.content_checksum(), c.content_checksum());
        let _ = c.metadata.to_value().to_text();
    }
}

/// `commitmeta`: [`CommitMetadata::from_bytes`] (detached metadata).
pub fn commitmeta(data: &[u8]) {
    let Ok(m) = CommitMetadata::from_bytes(data) else { return };
    let bytes = m.to_bytes();
    let back =
        CommitMetadata::from_bytes(&bytes).unwrap_or_else(|e| panic!("serialised commitmeta is not read back: {e}"));
    assert_eq!(back.to_bytes(), bytes);
    let ty = Type::parse("a{sv}").expect("valid type");
    if Value::from_bytes_normal(&ty, data).is_ok() {
        assert_eq!(bytes, data, "normal commitmeta does not re-serialise to its bytes");
    }
    for (k, _) in &m.0 {
        assert!(m.get(k).is_some());
    }
}

/// `file_header`: [`FileHeader::parse_archive`], [`FileHeader::parse_header`]
/// (on the whole input, and on the header of a content-stream prefix) and
/// [`FileHeader::parse_ostreemeta`].
pub fn file_header(data: &[u8]) {
    if let Ok((h, size, off)) = FileHeader::parse_archive(data) {
        assert!(off >= 8 && off <= data.len(), "deflate offset {off} out of range");
        let _ = h.validate();
        let prefix = h.archive_prefix(size);
        let (h2, size2, off2) = FileHeader::parse_archive(&prefix)
            .unwrap_or_else(|e| panic!("serialised archive header is not read back: {e}"));
        assert_eq!((&h2, size2, off2), (&h, size, prefix.len()));
        let _ = h.checksum(&data[off..]);
    }
    check_plain_header(data);
    if data.len() >= 8 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if let Some(hdr) = data.get(8..8usize.saturating_add(len)) {
            check_plain_header(hdr);
        }
    }
    if let Ok(h) = FileHeader::parse_ostreemeta(data) {
        let meta = h.ostreemeta();
        let back = FileHeader::parse_ostreemeta(&meta)
            .unwrap_or_else(|e| panic!("serialised user.ostreemeta is not read back: {e}"));
        assert_eq!(back, h);
        let _ = h.validate();
    }
}

fn check_plain_header(data: &[u8]) {
    let Ok(h) = FileHeader::parse_header(data) else { return };
    let prefix = h.stream_prefix();
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    assert_eq!(len + 8, prefix.len(), "stream prefix length field is wrong");
    let back = FileHeader::parse_header(&prefix[8..])
        .unwrap_or_else(|e| panic!("serialised file header is not read back: {e}"));
    assert_eq!(back, h);
    let _ = h.validate();
}

/// Types the `gvariant_text` target also tries as the expected type.
pub const TEXT_TYPES: &[&str] = &["a{sv}", "s", "as", "ay", "t", "v", "(sv)", "mi", "a(say)"];

/// `gvariant_text`: [`parse_text`] on UTF-8 input, with no expected type and
/// with each of [`TEXT_TYPES`]; accepted values must serialise to bytes that
/// read back, and print to text that parses back to the same value.
pub fn gvariant_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_text(text, None);
    for t in TEXT_TYPES {
        check_text(text, Some(&Type::parse(t).expect("TEXT_TYPES holds valid types")));
    }
}

fn check_text(text: &str, expected: Option<&Type>) {
    let Ok(v) = parse_text(text, expected) else { return };
    let ty = v.type_of();
    if let Some(t) = expected {
        assert_eq!(&ty, t, "parse_text returned another type than asked");
    }
    let bytes = v.to_bytes();
    let back = Value::from_bytes_normal(&ty, &bytes)
        .unwrap_or_else(|e| panic!("value parsed from {text:?} does not survive serialisation: {e}"));
    assert_eq!(back.to_bytes(), bytes);
    let printed = v.to_text();
    let again = parse_text(&printed, Some(&ty))
        .unwrap_or_else(|e| panic!("printed text {printed:?} (from {text:?}) does not parse back: {e}"));
    assert_eq!(again.to_bytes(), bytes, "text {printed:?} (from {text:?}) parses back to another value");
}

/// `checksum`: [`Checksum::from_hex`] and [`Checksum::from_modified_base64`]
/// on UTF-8 input, and both spellings of the first 32 bytes round-tripped.
pub fn checksum(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        match Checksum::from_hex(s) {
            Ok(c) => {
                assert_eq!(c.to_hex(), s, "hex checksum does not print back the same");
                assert!(Checksum::is_hex(s));
                assert_eq!(s.parse::<Checksum>().ok(), Some(c));
            }
            Err(_) => assert!(!Checksum::is_hex(s), "is_hex accepts what from_hex rejects"),
        }
        if let Ok(c) = Checksum::from_modified_base64(s) {
            assert_eq!(c.to_modified_base64(), s, "modified base64 does not print back the same");
        }
    }
    assert_eq!(Checksum::from_slice(data).is_ok(), data.len() == 32);
    if let Some(raw) = data.get(..32) {
        let c = Checksum::from_slice(raw).expect("32 bytes");
        let hex = c.to_hex();
        assert_eq!(Checksum::from_hex(&hex).ok(), Some(c));
        let b64 = c.to_modified_base64();
        assert_eq!(b64.len(), 43);
        assert_eq!(Checksum::from_modified_base64(&b64).ok(), Some(c));
        assert_eq!(Checksum::digest(raw), Checksum::digest(raw));
    }
}

/// `keyfile`: [`KeyFile::parse`] on UTF-8 input, then `to_text`/`parse`
/// round trips and a few edits.
pub fn keyfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(k) = KeyFile::parse(text) else { return };
    let out = k.to_text();
    let k2 = KeyFile::parse(&out).unwrap_or_else(|e| panic!("to_text output {out:?} does not parse: {e}"));
    assert_eq!(k2, k, "key file {text:?} changes through to_text {out:?} and parse");
    assert_eq!(k2.to_text(), out);
    for g in k.groups() {
        assert!(k.has_group(g));
        for (key, _) in k.keys(g) {
            assert!(k.get(g, key).is_some(), "[{g}] {key} listed but not found");
            let _ = k.get_bool(g, key);
        }
    }
    if k.keys("core").iter().filter(|(key, _)| *key == "fsync").count() > 1 {
        // Known issue: with a key repeated in a group, set() changes the
        // first occurrence while get() returns the last, so a set is not
        // seen. (GLib keeps one value per key: the last one read.)
        return;
    }
    let mut edited = k.clone();
    edited.set("core", "fsync", "fal se\n");
    assert_eq!(edited.get("core", "fsync"), Some("fal se\n"), "set then get disagree for {text:?}");
    let reparsed = KeyFile::parse(&edited.to_text()).expect("edited key file parses");
    assert_eq!(reparsed.get("core", "fsync"), Some("fal se\n"));
    edited.unset("core", "fsync");
    assert_eq!(edited.get("core", "fsync"), None);
    edited.remove_group("core");
    assert!(!edited.has_group("core"));
}

/// `summary`: [`Summary::from_bytes`] (a summary fetched from a remote), its
/// round trip, the `summary --view` and `--raw` renderings, and the static
/// delta names it lists ([`StaticDelta::parse_name`]).
pub fn summary(data: &[u8]) {
    let raw = raw_text(data);
    let Ok(s) = Summary::from_bytes(data) else { return };
    assert!(raw.is_ok(), "summary parses but raw_text fails");
    let bytes = s.to_bytes();
    let back = Summary::from_bytes(&bytes).unwrap_or_else(|e| panic!("serialised summary is not read back: {e}"));
    assert_eq!(back.to_bytes(), bytes);
    let ty = Type::parse(Summary::TYPE).expect("valid type");
    if Value::from_bytes_normal(&ty, data).is_ok() {
        assert_eq!(bytes, data, "normal summary does not re-serialise to its bytes");
    }
    let _ = s.view_text();
    let _ = (s.collection_id(), s.collection_map());
    for r in &s.refs {
        let _ = (r.timestamp(), r.version());
    }
    for (name, _) in s.static_deltas() {
        if let Some(d) = StaticDelta::parse_name(&name) {
            assert_eq!(d.name(), name, "static delta name does not print back the same");
            let _ = d.rel_path();
        }
    }
}

/// `remote_text`: what a server or a user's file gives the fetch crate as
/// text. As a mirrorlist: only http(s) URLs without spaces or controls
/// come out. As a cookie jar: what is parsed survives writing and reading
/// back unchanged, and carries no control characters into a header. As a
/// metalink: parsed or refused, and no URL it yields is empty.
pub fn remote_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(link) = oxtree_fetch::metalink::parse(&text) {
        assert!(link.urls.iter().all(|(_, u)| !u.is_empty()));
    }
    for url in oxtree_fetch::parse_mirrorlist(&text) {
        assert!(url.starts_with("http://") || url.starts_with("https://"), "{url:?}");
        assert!(!url.chars().any(|c| c.is_whitespace() || c.is_control()), "{url:?}");
    }
    let jar = oxtree_fetch::cookies::parse(&text);
    assert_eq!(oxtree_fetch::cookies::parse(&oxtree_fetch::cookies::to_text(&jar)), jar);
    if let Some(h) = oxtree_fetch::cookies::header_for(&jar, "https://example.org/repo/objects/x") {
        assert!(!h.chars().any(char::is_control), "{h:?}");
    }
}

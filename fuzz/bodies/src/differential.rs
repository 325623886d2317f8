//! `gvariant_crate`: our GVariant reader against a second implementation,
//! the `gvariant` crate (which follows GLib, the reader OSTree uses).
//!
//! The first byte picks one of the object types OSTree reads from untrusted
//! sources ([`TYPES`]); both readers read the rest. The `gvariant` crate
//! never fails: where framing is broken it substitutes default values, as
//! GLib does. We refuse such input instead, so the two are compared only on
//! input we accept, and there they must read the very same value. A
//! difference is a value that oxtree and OSTree would see differently in the
//! same object.
//!
//! A `v` is compared by its type string and, for the types OSTree keeps in
//! commit metadata and summaries, by value; a variant of another type is
//! compared by its type and the bytes the two readers found it in.

use std::borrow::Cow;

use gvariant::aligned_bytes::{copy_to_align, AlignedSlice, AsAligned, A8};
use gvariant::{gv, Marker, NonFixedWidthArray, Str, Structure, Variant};
use oxtree_store::gvariant::{Type, Value};

/// The types compared, selected by the input's first byte (modulo the
/// count): dirtree, dirmeta, commit, `a{sv}` (detached and commit
/// metadata), the two file headers, the summary, and a static delta part's
/// payload (modes, xattr sets, data and operations).
pub const TYPES: &[&str] = &[
    "(a(say)a(sayay))",
    "(uuua(ayay))",
    "(a{sv}aya(say)sstayay)",
    "a{sv}",
    "(uuuusa(ayay))",
    "(tuuuusa(ayay))",
    "(a(s(taya{sv}))a{sv})",
    "(a(uuu)aa(ayay)ayay)",
];

/// The fuzz target body.
pub fn gvariant_crate(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let idx = sel as usize % TYPES.len();
    let ty = Type::parse(TYPES[idx]).expect("TYPES holds valid types");
    let Ok(ours) = Value::from_bytes(&ty, body) else { return };
    let theirs = read_theirs(idx, body);
    assert!(
        same(&ours, &theirs),
        "oxtree and the gvariant crate read {} differently:\n ours:   {ours:?}\n theirs: {theirs:?}",
        TYPES[idx]
    );
}

/// `TYPES[idx]` read by the `gvariant` crate, as one of our values.
fn read_theirs(idx: usize, body: &[u8]) -> Value<'static> {
    let buf = copy_to_align::<A8>(body);
    let data: &AlignedSlice<A8> = buf.as_ref();
    match idx {
        0 => {
            let (files, dirs) = gv!("(a(say)a(sayay))").cast(data.as_aligned()).to_tuple();
            Value::Tuple(vec![
                array(
                    "(say)",
                    files.iter().map(|f| {
                        let (name, sum) = f.to_tuple();
                        Value::Tuple(vec![s(name), ay(sum)])
                    }),
                ),
                array(
                    "(sayay)",
                    dirs.iter().map(|d| {
                        let (name, tree, meta) = d.to_tuple();
                        Value::Tuple(vec![s(name), ay(tree), ay(meta)])
                    }),
                ),
            ])
        }
        1 => {
            let (uid, gid, mode, xattrs) = gv!("(uuua(ayay))").cast(data.as_aligned()).to_tuple();
            Value::Tuple(vec![Value::Uint32(*uid), Value::Uint32(*gid), Value::Uint32(*mode), pairs(xattrs)])
        }
        2 => {
            let (meta, parent, related, subject, body, time, tree, dirmeta) =
                gv!("(a{sv}aya(say)sstayay)").cast(data.as_aligned()).to_tuple();
            Value::Tuple(vec![
                vardict(meta),
                ay(parent),
                array(
                    "(say)",
                    related.iter().map(|r| {
                        let (name, sum) = r.to_tuple();
                        Value::Tuple(vec![s(name), ay(sum)])
                    }),
                ),
                s(subject),
                s(body),
                Value::Uint64(*time),
                ay(tree),
                ay(dirmeta),
            ])
        }
        3 => vardict(gv!("a{sv}").cast(data.as_aligned())),
        4 => {
            let (uid, gid, mode, rdev, target, xattrs) = gv!("(uuuusa(ayay))").cast(data.as_aligned()).to_tuple();
            Value::Tuple(vec![
                Value::Uint32(*uid),
                Value::Uint32(*gid),
                Value::Uint32(*mode),
                Value::Uint32(*rdev),
                s(target),
                pairs(xattrs),
            ])
        }
        5 => {
            let (size, uid, gid, mode, rdev, target, xattrs) =
                gv!("(tuuuusa(ayay))").cast(data.as_aligned()).to_tuple();
            Value::Tuple(vec![
                Value::Uint64(*size),
                Value::Uint32(*uid),
                Value::Uint32(*gid),
                Value::Uint32(*mode),
                Value::Uint32(*rdev),
                s(target),
                pairs(xattrs),
            ])
        }
        6 => {
            let (refs, meta) = gv!("(a(s(taya{sv}))a{sv})").cast(data.as_aligned()).to_tuple();
            Value::Tuple(vec![
                array(
                    "(s(taya{sv}))",
                    refs.iter().map(|r| {
                        let (name, target) = r.to_tuple();
                        let (size, sum, meta) = target.to_tuple();
                        Value::Tuple(vec![s(name), Value::Tuple(vec![Value::Uint64(*size), ay(sum), vardict(meta)])])
                    }),
                ),
                vardict(meta),
            ])
        }
        _ => {
            let (modes, xattrs, payload, ops) = gv!("(a(uuu)aa(ayay)ayay)").cast(data.as_aligned()).to_tuple();
            Value::Tuple(vec![
                array(
                    "(uuu)",
                    modes.iter().map(|m| {
                        let (uid, gid, mode) = m.to_tuple();
                        Value::Tuple(vec![Value::Uint32(*uid), Value::Uint32(*gid), Value::Uint32(*mode)])
                    }),
                ),
                array("a(ayay)", xattrs.iter().map(pairs)),
                ay(payload),
                ay(ops),
            ])
        }
    }
}

/// Equality, with doubles compared by their bits (metadata may hold NaN).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Variant(x), Value::Variant(y)) => same(x, y),
        (Value::Maybe(tx, x), Value::Maybe(ty, y)) => {
            tx == ty
                && match (x, y) {
                    (Some(x), Some(y)) => same(x, y),
                    (None, None) => true,
                    _ => false,
                }
        }
        (Value::Array(tx, x), Value::Array(ty, y)) => tx == ty && all_same(x, y),
        (Value::Tuple(x), Value::Tuple(y)) => all_same(x, y),
        (Value::DictEntry(kx, vx), Value::DictEntry(ky, vy)) => same(kx, ky) && same(vx, vy),
        _ => a == b,
    }
}

fn all_same(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

fn array(elem: &str, items: impl Iterator<Item = Value<'static>>) -> Value<'static> {
    Value::Array(Type::parse(elem).expect("a valid element type"), items.collect())
}

fn s(x: &Str) -> Value<'static> {
    Value::Str(Cow::Owned(x.to_str().to_owned()))
}

fn ay(x: &[u8]) -> Value<'static> {
    Value::Bytes(Cow::Owned(x.to_vec()))
}

/// An `a(ayay)`: xattrs, or a delta part's xattr sets.
fn pairs<'a, T>(x: &'a NonFixedWidthArray<T>) -> Value<'static>
where
    T: Structure<'a, RefTuple = (&'a [u8], &'a [u8])> + ?Sized + 'static,
{
    array(
        "(ayay)",
        x.iter().map(|p| {
            let (k, v) = p.to_tuple();
            Value::Tuple(vec![ay(k), ay(v)])
        }),
    )
}

/// An `a{sv}`: commit, detached and summary metadata.
fn vardict<'a, T>(x: &'a NonFixedWidthArray<T>) -> Value<'static>
where
    T: Structure<'a, RefTuple = (&'a Str, &'a Variant)> + ?Sized + 'static,
{
    array(
        "{sv}",
        x.iter().map(|e| {
            let (k, v) = e.to_tuple();
            Value::DictEntry(Box::new(s(k)), Box::new(variant(v)))
        }),
    )
}

/// A `v`: by value for the types OSTree keeps in metadata; otherwise by its
/// type and bytes (read by our reader, so that only the framing around it
/// is compared).
fn variant(v: &Variant) -> Value<'static> {
    let (tstr, data) = v.split();
    let Some(ty) = std::str::from_utf8(tstr).ok().and_then(|t| Type::parse(t).ok()) else {
        // Not a type we accept: cannot equal anything we read.
        return Value::Str(Cow::Owned(format!("<variant of type {:?}>", String::from_utf8_lossy(tstr))));
    };
    let inner = match tstr {
        b"s" => s(v.get(gv!("s")).expect("type checked")),
        b"b" => Value::Bool(v.get(gv!("b")).expect("type checked").to_bool()),
        b"y" => Value::Byte(*v.get(gv!("y")).expect("type checked")),
        b"u" => Value::Uint32(*v.get(gv!("u")).expect("type checked")),
        b"t" => Value::Uint64(*v.get(gv!("t")).expect("type checked")),
        b"x" => Value::Int64(*v.get(gv!("x")).expect("type checked")),
        b"ay" => ay(v.get(gv!("ay")).expect("type checked")),
        b"as" => array("s", v.get(gv!("as")).expect("type checked").iter().map(s)),
        b"a{sv}" => vardict(v.get(gv!("a{sv}")).expect("type checked")),
        _ => match Value::from_bytes(&ty, data) {
            Ok(inner) => inner.into_owned(),
            Err(e) => Value::Str(Cow::Owned(format!("<unreadable {ty}: {e}>"))),
        },
    };
    Value::Variant(Box::new(inner))
}

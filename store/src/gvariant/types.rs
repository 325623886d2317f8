//! GVariant type strings.

use std::fmt;

use super::{align_up, Error, MAX_DEPTH};

/// A GVariant type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// `b`
    Bool,
    /// `y`
    Byte,
    /// `n`
    Int16,
    /// `q`
    Uint16,
    /// `i`
    Int32,
    /// `u`
    Uint32,
    /// `x`
    Int64,
    /// `t`
    Uint64,
    /// `h`
    Handle,
    /// `d`
    Double,
    /// `s`
    Str,
    /// `o`
    ObjectPath,
    /// `g`
    Signature,
    /// `v`
    Variant,
    /// `mT`
    Maybe(Box<Type>),
    /// `aT`
    Array(Box<Type>),
    /// `(T…)`
    Tuple(Vec<Type>),
    /// `{KV}`
    DictEntry(Box<Type>, Box<Type>),
}

impl Type {
    /// Parses a type string holding exactly one complete type.
    pub fn parse(s: &str) -> Result<Type, Error> {
        let bytes = s.as_bytes();
        let mut pos = 0;
        let ty = parse_one(bytes, &mut pos, 0).ok_or_else(|| Error::BadType(s.to_string()))?;
        if pos != bytes.len() {
            return Err(Error::BadType(s.to_string()));
        }
        Ok(ty)
    }

    /// Parses the longest type at the start of `s`, returning it and the rest.
    pub(crate) fn parse_prefix(s: &str) -> Option<(Type, &str)> {
        let mut pos = 0;
        let ty = parse_one(s.as_bytes(), &mut pos, 0)?;
        Some((ty, &s[pos..]))
    }

    /// `aT` for this element type.
    pub fn array_of(elem: Type) -> Type {
        Type::Array(Box::new(elem))
    }

    /// Byte alignment of values of this type.
    pub fn alignment(&self) -> usize {
        match self {
            Type::Bool | Type::Byte | Type::Str | Type::ObjectPath | Type::Signature => 1,
            Type::Int16 | Type::Uint16 => 2,
            Type::Int32 | Type::Uint32 | Type::Handle => 4,
            Type::Int64 | Type::Uint64 | Type::Double | Type::Variant => 8,
            Type::Maybe(t) | Type::Array(t) => t.alignment(),
            Type::Tuple(ts) => ts.iter().map(Type::alignment).max().unwrap_or(1),
            Type::DictEntry(k, v) => k.alignment().max(v.alignment()),
        }
    }

    /// The serialised size of every value of this type, if it is fixed.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Type::Bool | Type::Byte => Some(1),
            Type::Int16 | Type::Uint16 => Some(2),
            Type::Int32 | Type::Uint32 | Type::Handle => Some(4),
            Type::Int64 | Type::Uint64 | Type::Double => Some(8),
            Type::Str | Type::ObjectPath | Type::Signature | Type::Variant | Type::Maybe(_) | Type::Array(_) => None,
            Type::Tuple(ts) => tuple_fixed_size(ts.iter()),
            Type::DictEntry(k, v) => tuple_fixed_size([k.as_ref(), v.as_ref()].into_iter()),
        }
    }

    /// True for the types a dictionary key may have.
    pub fn is_basic(&self) -> bool {
        !matches!(self, Type::Variant | Type::Maybe(_) | Type::Array(_) | Type::Tuple(_) | Type::DictEntry(..))
    }
}

fn tuple_fixed_size<'a>(members: impl Iterator<Item = &'a Type>) -> Option<usize> {
    let mut offset = 0;
    let mut align = 1;
    let mut any = false;
    for m in members {
        any = true;
        let size = m.fixed_size()?;
        let a = m.alignment();
        align = align.max(a);
        offset = align_up(offset, a) + size;
    }
    if !any {
        return Some(1);
    }
    Some(align_up(offset, align))
}

fn parse_one(s: &[u8], pos: &mut usize, depth: usize) -> Option<Type> {
    if depth > MAX_DEPTH {
        return None;
    }
    let c = *s.get(*pos)?;
    *pos += 1;
    Some(match c {
        b'b' => Type::Bool,
        b'y' => Type::Byte,
        b'n' => Type::Int16,
        b'q' => Type::Uint16,
        b'i' => Type::Int32,
        b'u' => Type::Uint32,
        b'x' => Type::Int64,
        b't' => Type::Uint64,
        b'h' => Type::Handle,
        b'd' => Type::Double,
        b's' => Type::Str,
        b'o' => Type::ObjectPath,
        b'g' => Type::Signature,
        b'v' => Type::Variant,
        b'm' => Type::Maybe(Box::new(parse_one(s, pos, depth + 1)?)),
        b'a' => Type::Array(Box::new(parse_one(s, pos, depth + 1)?)),
        b'(' => {
            let mut members = Vec::new();
            loop {
                if *s.get(*pos)? == b')' {
                    *pos += 1;
                    break;
                }
                members.push(parse_one(s, pos, depth + 1)?);
            }
            Type::Tuple(members)
        }
        b'{' => {
            let k = parse_one(s, pos, depth + 1)?;
            if !k.is_basic() {
                return None;
            }
            let v = parse_one(s, pos, depth + 1)?;
            if *s.get(*pos)? != b'}' {
                return None;
            }
            *pos += 1;
            Type::DictEntry(Box::new(k), Box::new(v))
        }
        _ => return None,
    })
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("b"),
            Type::Byte => f.write_str("y"),
            Type::Int16 => f.write_str("n"),
            Type::Uint16 => f.write_str("q"),
            Type::Int32 => f.write_str("i"),
            Type::Uint32 => f.write_str("u"),
            Type::Int64 => f.write_str("x"),
            Type::Uint64 => f.write_str("t"),
            Type::Handle => f.write_str("h"),
            Type::Double => f.write_str("d"),
            Type::Str => f.write_str("s"),
            Type::ObjectPath => f.write_str("o"),
            Type::Signature => f.write_str("g"),
            Type::Variant => f.write_str("v"),
            Type::Maybe(t) => write!(f, "m{t}"),
            Type::Array(t) => write!(f, "a{t}"),
            Type::Tuple(ts) => {
                f.write_str("(")?;
                for t in ts {
                    write!(f, "{t}")?;
                }
                f.write_str(")")
            }
            Type::DictEntry(k, v) => write!(f, "{{{k}{v}}}"),
        }
    }
}

//! GVariant values: serialisation and validated, borrowing deserialisation.

use std::borrow::Cow;

use super::{align_up, offset_size_for_body, offset_size_for_len, read_offset, write_offset, Error, Type, MAX_DEPTH};

/// A GVariant value. Strings and byte arrays borrow from the input when read.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `b`
    Bool(bool),
    /// `y`
    Byte(u8),
    /// `n`
    Int16(i16),
    /// `q`
    Uint16(u16),
    /// `i`
    Int32(i32),
    /// `u`
    Uint32(u32),
    /// `x`
    Int64(i64),
    /// `t`
    Uint64(u64),
    /// `h`
    Handle(i32),
    /// `d`
    Double(f64),
    /// `s`
    Str(Cow<'a, str>),
    /// `o`
    ObjectPath(Cow<'a, str>),
    /// `g`
    Signature(Cow<'a, str>),
    /// `v`
    Variant(Box<Value<'a>>),
    /// `mT`: the element type and maybe a value.
    Maybe(Type, Option<Box<Value<'a>>>),
    /// `ay`
    Bytes(Cow<'a, [u8]>),
    /// `aT` for any `T` but `y`: the element type and the elements.
    Array(Type, Vec<Value<'a>>),
    /// `(T…)`
    Tuple(Vec<Value<'a>>),
    /// `{KV}`
    DictEntry(Box<Value<'a>>, Box<Value<'a>>),
}

impl<'a> Value<'a> {
    /// A `s` value.
    pub fn str(s: impl Into<Cow<'a, str>>) -> Self {
        Value::Str(s.into())
    }

    /// An `ay` value.
    pub fn bytes(b: impl Into<Cow<'a, [u8]>>) -> Self {
        Value::Bytes(b.into())
    }

    /// An `a{sv}` dictionary from (key, value) pairs, in the given order.
    pub fn vardict(entries: impl IntoIterator<Item = (Cow<'a, str>, Value<'a>)>) -> Self {
        let elem = Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant));
        Value::Array(
            elem,
            entries
                .into_iter()
                .map(|(k, v)| Value::DictEntry(Box::new(Value::Str(k)), Box::new(Value::Variant(Box::new(v)))))
                .collect(),
        )
    }

    /// The same value borrowing this one's strings and bytes: a clone that
    /// copies no data (serialising large metadata without doubling it).
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Bool(b) => Value::Bool(*b),
            Value::Byte(b) => Value::Byte(*b),
            Value::Int16(n) => Value::Int16(*n),
            Value::Uint16(n) => Value::Uint16(*n),
            Value::Int32(n) => Value::Int32(*n),
            Value::Uint32(n) => Value::Uint32(*n),
            Value::Int64(n) => Value::Int64(*n),
            Value::Uint64(n) => Value::Uint64(*n),
            Value::Handle(n) => Value::Handle(*n),
            Value::Double(n) => Value::Double(*n),
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            Value::ObjectPath(s) => Value::ObjectPath(Cow::Borrowed(s)),
            Value::Signature(s) => Value::Signature(Cow::Borrowed(s)),
            Value::Variant(v) => Value::Variant(Box::new(v.reborrow())),
            Value::Maybe(t, v) => Value::Maybe(t.clone(), v.as_ref().map(|v| Box::new(v.reborrow()))),
            Value::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            Value::Array(t, items) => Value::Array(t.clone(), items.iter().map(Value::reborrow).collect()),
            Value::Tuple(items) => Value::Tuple(items.iter().map(Value::reborrow).collect()),
            Value::DictEntry(k, v) => Value::DictEntry(Box::new(k.reborrow()), Box::new(v.reborrow())),
        }
    }

    /// The type of this value.
    pub fn type_of(&self) -> Type {
        match self {
            Value::Bool(_) => Type::Bool,
            Value::Byte(_) => Type::Byte,
            Value::Int16(_) => Type::Int16,
            Value::Uint16(_) => Type::Uint16,
            Value::Int32(_) => Type::Int32,
            Value::Uint32(_) => Type::Uint32,
            Value::Int64(_) => Type::Int64,
            Value::Uint64(_) => Type::Uint64,
            Value::Handle(_) => Type::Handle,
            Value::Double(_) => Type::Double,
            Value::Str(_) => Type::Str,
            Value::ObjectPath(_) => Type::ObjectPath,
            Value::Signature(_) => Type::Signature,
            Value::Variant(_) => Type::Variant,
            Value::Maybe(t, _) => Type::Maybe(Box::new(t.clone())),
            Value::Bytes(_) => Type::Array(Box::new(Type::Byte)),
            Value::Array(t, _) => Type::Array(Box::new(t.clone())),
            Value::Tuple(vs) => Type::Tuple(vs.iter().map(Value::type_of).collect()),
            Value::DictEntry(k, v) => Type::DictEntry(Box::new(k.type_of()), Box::new(v.type_of())),
        }
    }

    /// Copies every borrowed part, so the value outlives its input.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Bool(b) => Value::Bool(b),
            Value::Byte(b) => Value::Byte(b),
            Value::Int16(n) => Value::Int16(n),
            Value::Uint16(n) => Value::Uint16(n),
            Value::Int32(n) => Value::Int32(n),
            Value::Uint32(n) => Value::Uint32(n),
            Value::Int64(n) => Value::Int64(n),
            Value::Uint64(n) => Value::Uint64(n),
            Value::Handle(n) => Value::Handle(n),
            Value::Double(n) => Value::Double(n),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::ObjectPath(s) => Value::ObjectPath(Cow::Owned(s.into_owned())),
            Value::Signature(s) => Value::Signature(Cow::Owned(s.into_owned())),
            Value::Variant(v) => Value::Variant(Box::new(v.into_owned())),
            Value::Maybe(t, v) => Value::Maybe(t, v.map(|v| Box::new(v.into_owned()))),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::Array(t, vs) => Value::Array(t, vs.into_iter().map(Value::into_owned).collect()),
            Value::Tuple(vs) => Value::Tuple(vs.into_iter().map(Value::into_owned).collect()),
            Value::DictEntry(k, v) => Value::DictEntry(Box::new(k.into_owned()), Box::new(v.into_owned())),
        }
    }

    /// Byte-swaps every number, as `g_variant_byteswap` does. `ostree show`
    /// prints metadata this way on little-endian hosts, so that the fields
    /// OSTree stores big-endian read correctly.
    pub fn byteswap(&self) -> Value<'a> {
        match self {
            Value::Int16(n) => Value::Int16(n.swap_bytes()),
            Value::Uint16(n) => Value::Uint16(n.swap_bytes()),
            Value::Int32(n) => Value::Int32(n.swap_bytes()),
            Value::Uint32(n) => Value::Uint32(n.swap_bytes()),
            Value::Int64(n) => Value::Int64(n.swap_bytes()),
            Value::Uint64(n) => Value::Uint64(n.swap_bytes()),
            Value::Handle(n) => Value::Handle(n.swap_bytes()),
            Value::Double(d) => Value::Double(f64::from_bits(d.to_bits().swap_bytes())),
            Value::Variant(v) => Value::Variant(Box::new(v.byteswap())),
            Value::Maybe(t, v) => Value::Maybe(t.clone(), v.as_ref().map(|v| Box::new(v.byteswap()))),
            Value::Array(t, vs) => Value::Array(t.clone(), vs.iter().map(Value::byteswap).collect()),
            Value::Tuple(vs) => Value::Tuple(vs.iter().map(Value::byteswap).collect()),
            Value::DictEntry(k, v) => Value::DictEntry(Box::new(k.byteswap()), Box::new(v.byteswap())),
            other => other.clone(),
        }
    }

    // ----- accessors used by the object layer -----

    /// The string of an `s`, `o` or `g` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of an `ay` value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The members of a tuple.
    pub fn as_tuple(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The elements of an array other than `ay`.
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array(_, v) => Some(v),
            _ => None,
        }
    }

    /// The `u32` of a `u` value.
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::Uint32(n) => Some(*n),
            _ => None,
        }
    }

    /// The `u64` of a `t` value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Uint64(n) => Some(*n),
            _ => None,
        }
    }

    /// The child of a variant.
    pub fn as_variant(&self) -> Option<&Value<'a>> {
        match self {
            Value::Variant(v) => Some(v),
            _ => None,
        }
    }

    // ----- serialisation -----

    /// Serialises to normal form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Appends the normal-form serialisation to `out`. `out.len()` must be a
    /// multiple of this value's alignment (true at the start of a buffer).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Value::Bool(b) => out.push(u8::from(*b)),
            Value::Byte(b) => out.push(*b),
            Value::Int16(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Value::Uint16(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Value::Int32(n) | Value::Handle(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Value::Uint32(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Value::Int64(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Value::Uint64(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Value::Double(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            Value::Variant(child) => {
                child.write_to(out);
                out.push(0);
                out.extend_from_slice(child.type_of().to_string().as_bytes());
            }
            Value::Maybe(t, v) => {
                if let Some(v) = v {
                    v.write_to(out);
                    if t.fixed_size().is_none() {
                        out.push(0);
                    }
                }
            }
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Array(elem, items) => {
                let start = out.len();
                if elem.fixed_size().is_some() {
                    for it in items {
                        it.write_to(out);
                    }
                } else {
                    let align = elem.alignment();
                    let mut ends = Vec::with_capacity(items.len());
                    for it in items {
                        pad_to(out, start, align);
                        it.write_to(out);
                        ends.push(out.len() - start);
                    }
                    let k = offset_size_for_body(out.len() - start, ends.len());
                    for e in ends {
                        write_offset(out, e, k);
                    }
                }
            }
            Value::Tuple(members) => write_tuple(out, members.iter()),
            Value::DictEntry(k, v) => write_tuple(out, [k.as_ref(), v.as_ref()].into_iter()),
        }
    }

    // ----- deserialisation -----

    /// Decodes `data` as a value of type `ty`, checking all framing.
    ///
    /// Accepts some non-normal encodings (as GLib does for trusted data);
    /// use [`Value::from_bytes_normal`] for untrusted input.
    pub fn from_bytes(ty: &Type, data: &'a [u8]) -> Result<Value<'a>, Error> {
        read(ty, data, 0)
    }

    /// Decodes `data` and requires it to be in normal form.
    pub fn from_bytes_normal(ty: &Type, data: &'a [u8]) -> Result<Value<'a>, Error> {
        let v = read(ty, data, 0)?;
        if v.to_bytes() != data {
            return Err(Error::NotNormal(ty.to_string()));
        }
        Ok(v)
    }
}

fn pad_to(out: &mut Vec<u8>, start: usize, align: usize) {
    let rel = out.len() - start;
    let target = align_up(rel, align);
    out.resize(start + target, 0);
}

fn write_tuple<'v, 'a: 'v>(out: &mut Vec<u8>, members: impl ExactSizeIterator<Item = &'v Value<'a>>) {
    let start = out.len();
    let n = members.len();
    let mut ends = Vec::new();
    let mut align = 1;
    let mut fixed = true;
    if n == 0 {
        out.push(0);
        return;
    }
    for (i, m) in members.enumerate() {
        let t = m.type_of();
        let a = t.alignment();
        align = align.max(a);
        pad_to(out, start, a);
        m.write_to(out);
        if t.fixed_size().is_none() {
            fixed = false;
            if i + 1 != n {
                ends.push(out.len() - start);
            }
        }
    }
    if fixed {
        pad_to(out, start, align);
    } else {
        let k = offset_size_for_body(out.len() - start, ends.len());
        for e in ends.into_iter().rev() {
            write_offset(out, e, k);
        }
    }
}

fn malformed(ty: &Type, why: &'static str) -> Error {
    Error::Malformed { ty: ty.to_string(), why }
}

fn fixed<const N: usize>(ty: &Type, data: &[u8]) -> Result<[u8; N], Error> {
    data.try_into().map_err(|_| malformed(ty, "wrong size for a fixed-size value"))
}

fn read_string<'a>(ty: &Type, data: &'a [u8]) -> Result<&'a str, Error> {
    let (last, body) = data.split_last().ok_or_else(|| malformed(ty, "empty string data"))?;
    if *last != 0 {
        return Err(malformed(ty, "string is not NUL-terminated"));
    }
    if body.contains(&0) {
        return Err(malformed(ty, "string contains a NUL"));
    }
    std::str::from_utf8(body).map_err(|_| malformed(ty, "string is not UTF-8"))
}

fn read<'a>(ty: &Type, data: &'a [u8], depth: usize) -> Result<Value<'a>, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    Ok(match ty {
        Type::Bool => match fixed::<1>(ty, data)?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            _ => return Err(malformed(ty, "boolean is neither 0 nor 1")),
        },
        Type::Byte => Value::Byte(fixed::<1>(ty, data)?[0]),
        Type::Int16 => Value::Int16(i16::from_ne_bytes(fixed(ty, data)?)),
        Type::Uint16 => Value::Uint16(u16::from_ne_bytes(fixed(ty, data)?)),
        Type::Int32 => Value::Int32(i32::from_ne_bytes(fixed(ty, data)?)),
        Type::Handle => Value::Handle(i32::from_ne_bytes(fixed(ty, data)?)),
        Type::Uint32 => Value::Uint32(u32::from_ne_bytes(fixed(ty, data)?)),
        Type::Int64 => Value::Int64(i64::from_ne_bytes(fixed(ty, data)?)),
        Type::Uint64 => Value::Uint64(u64::from_ne_bytes(fixed(ty, data)?)),
        Type::Double => Value::Double(f64::from_ne_bytes(fixed(ty, data)?)),
        Type::Str => Value::Str(Cow::Borrowed(read_string(ty, data)?)),
        Type::ObjectPath => Value::ObjectPath(Cow::Borrowed(read_string(ty, data)?)),
        Type::Signature => {
            let s = read_string(ty, data)?;
            // A signature is a sequence of complete types.
            let mut rest = s;
            while !rest.is_empty() {
                let (_, r) = Type::parse_prefix(rest).ok_or_else(|| malformed(ty, "bad signature"))?;
                rest = r;
            }
            Value::Signature(Cow::Borrowed(s))
        }
        Type::Variant => {
            let sep =
                data.iter().rposition(|&b| b == 0).ok_or_else(|| malformed(ty, "variant has no type separator"))?;
            let tstr = std::str::from_utf8(&data[sep + 1..]).map_err(|_| malformed(ty, "variant type is not ASCII"))?;
            let child_ty = Type::parse(tstr).map_err(|_| malformed(ty, "variant type is invalid"))?;
            Value::Variant(Box::new(read(&child_ty, &data[..sep], depth + 1)?))
        }
        Type::Maybe(elem) => {
            if data.is_empty() {
                Value::Maybe((**elem).clone(), None)
            } else if elem.fixed_size().is_some() {
                Value::Maybe((**elem).clone(), Some(Box::new(read(elem, data, depth + 1)?)))
            } else {
                let (last, body) = data.split_last().ok_or_else(|| malformed(ty, "empty maybe"))?;
                if *last != 0 {
                    return Err(malformed(ty, "maybe lacks its trailing NUL"));
                }
                Value::Maybe((**elem).clone(), Some(Box::new(read(elem, body, depth + 1)?)))
            }
        }
        Type::Array(elem) => read_array(ty, elem, data, depth)?,
        Type::Tuple(members) => Value::Tuple(read_tuple(ty, members.iter(), data, depth)?),
        Type::DictEntry(k, v) => {
            let mut vs = read_tuple(ty, [k.as_ref(), v.as_ref()].into_iter(), data, depth)?;
            let v = vs.pop().ok_or_else(|| malformed(ty, "dict entry"))?;
            let k = vs.pop().ok_or_else(|| malformed(ty, "dict entry"))?;
            Value::DictEntry(Box::new(k), Box::new(v))
        }
    })
}

fn read_array<'a>(ty: &Type, elem: &Type, data: &'a [u8], depth: usize) -> Result<Value<'a>, Error> {
    if *elem == Type::Byte {
        return Ok(Value::Bytes(Cow::Borrowed(data)));
    }
    let mut items = Vec::new();
    if let Some(size) = elem.fixed_size() {
        if !data.len().is_multiple_of(size) {
            return Err(malformed(ty, "array size is not a multiple of its element size"));
        }
        for chunk in data.chunks_exact(size) {
            items.push(read(elem, chunk, depth + 1)?);
        }
        return Ok(Value::Array(elem.clone(), items));
    }
    if data.is_empty() {
        return Ok(Value::Array(elem.clone(), items));
    }
    let k = offset_size_for_len(data.len());
    if data.len() < k {
        return Err(malformed(ty, "array too short for its offset table"));
    }
    let table_start = read_offset(data, data.len() - k, k);
    if table_start > data.len() - k || !(data.len() - table_start).is_multiple_of(k) {
        return Err(malformed(ty, "array offset table out of range"));
    }
    let n = (data.len() - table_start) / k;
    let align = elem.alignment();
    let mut prev_end = 0;
    for i in 0..n {
        let start = align_up(prev_end, align);
        let end = read_offset(data, table_start + i * k, k);
        if start > end || end > table_start {
            return Err(malformed(ty, "array element offset out of range"));
        }
        items.push(read(elem, &data[start..end], depth + 1)?);
        prev_end = end;
    }
    Ok(Value::Array(elem.clone(), items))
}

fn read_tuple<'a, 't>(
    ty: &Type,
    members: impl ExactSizeIterator<Item = &'t Type> + Clone,
    data: &'a [u8],
    depth: usize,
) -> Result<Vec<Value<'a>>, Error> {
    let n = members.len();
    if let Some(size) = ty.fixed_size() {
        if data.len() != size {
            return Err(malformed(ty, "fixed-size tuple has the wrong size"));
        }
    }
    let n_offsets = members.clone().enumerate().filter(|(i, t)| t.fixed_size().is_none() && i + 1 != n).count();
    let k = if n_offsets > 0 { offset_size_for_len(data.len()) } else { 0 };
    let framing_start = data
        .len()
        .checked_sub(n_offsets * k)
        .ok_or_else(|| malformed(ty, "tuple too short for its framing offsets"))?;
    let mut offset_ptr = data.len();
    let mut pos = 0;
    let mut out = Vec::with_capacity(n);
    for (i, t) in members.enumerate() {
        let start = align_up(pos, t.alignment());
        let end = if let Some(size) = t.fixed_size() {
            start + size
        } else if i + 1 == n {
            framing_start
        } else {
            offset_ptr -= k;
            read_offset(data, offset_ptr, k)
        };
        if start > end || end > framing_start {
            return Err(malformed(ty, "tuple member out of range"));
        }
        out.push(read(t, &data[start..end], depth + 1)?);
        pos = end;
    }
    Ok(out)
}

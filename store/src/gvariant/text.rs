//! GVariant's text format: printing (as `g_variant_print` with type
//! annotations, which `ostree show` uses) and parsing (for
//! `commit --add-metadata=KEY=VALUE`).

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{Type, Value};

/// Text that does not parse as a GVariant value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse GVariant text {text:?}: {why}")]
pub struct TextError {
    /// The text.
    pub text: String,
    /// What went wrong.
    pub why: String,
}

impl Value<'_> {
    /// Prints the value the way `g_variant_print(v, TRUE)` does.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        print(self, true, &mut s);
        s
    }
}

fn quote(s: &str, out: &mut String) {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
}

fn quote_bytes(b: &[u8], out: &mut String) {
    let q = if b.contains(&b'\'') && !b.contains(&b'"') { b'"' } else { b'\'' };
    out.push('b');
    out.push(q as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            12 => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            11 => out.push_str("\\v"),
            c if c == q => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => {
                let _ = write!(out, "\\{c:03o}");
            }
        }
    }
    out.push(q as char);
}

fn print(v: &Value<'_>, annotate: bool, out: &mut String) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Byte(b) => {
            if annotate {
                out.push_str("byte ");
            }
            let _ = write!(out, "0x{b:02x}");
        }
        Value::Int16(n) => num(annotate, "int16", n, out),
        Value::Uint16(n) => num(annotate, "uint16", n, out),
        Value::Int32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint32(n) => num(annotate, "uint32", n, out),
        Value::Int64(n) => num(annotate, "int64", n, out),
        Value::Uint64(n) => num(annotate, "uint64", n, out),
        Value::Handle(n) => num(annotate, "handle", n, out),
        Value::Double(d) => {
            if d.is_nan() {
                out.push_str("nan");
            } else if d.is_infinite() {
                out.push_str(if *d > 0.0 { "inf" } else { "-inf" });
            } else {
                let mut s = format!("{d}");
                if !s.contains(['.', 'e']) {
                    s.push_str(".0");
                }
                out.push_str(&s);
            }
        }
        Value::Str(s) => quote(s, out),
        Value::ObjectPath(s) => {
            if annotate {
                out.push_str("objectpath ");
            }
            quote(s, out);
        }
        Value::Signature(s) => {
            if annotate {
                out.push_str("signature ");
            }
            quote(s, out);
        }
        Value::Variant(child) => {
            out.push('<');
            print(child, true, out);
            out.push('>');
        }
        Value::Maybe(t, child) => {
            if annotate {
                let _ = write!(out, "@m{t} ");
            }
            match child {
                None => out.push_str("nothing"),
                Some(c) => {
                    // Nested maybes need "just" to be unambiguous.
                    if matches!(**c, Value::Maybe(..)) {
                        out.push_str("just ");
                    }
                    print(c, false, out);
                }
            }
        }
        Value::Bytes(b) => {
            // GLib prints an `ay` that ends in its only NUL as a bytestring,
            // escaping what is not printable ASCII (octal).
            let bytestring = b.split_last().is_some_and(|(last, body)| *last == 0 && !body.contains(&0));
            if bytestring {
                quote_bytes(&b[..b.len() - 1], out);
            } else if b.is_empty() {
                if annotate {
                    out.push_str("@ay ");
                }
                out.push_str("[]");
            } else {
                out.push('[');
                for (i, c) in b.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    print(&Value::Byte(*c), annotate && i == 0, out);
                }
                out.push(']');
            }
        }
        Value::Array(t, items) => {
            let is_dict = matches!(t, Type::DictEntry(..));
            if items.is_empty() {
                if annotate {
                    let _ = write!(out, "@a{t} ");
                }
                out.push_str(if is_dict { "{}" } else { "[]" });
                return;
            }
            out.push(if is_dict { '{' } else { '[' });
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let ann = annotate && i == 0;
                match (is_dict, it) {
                    (true, Value::DictEntry(k, v)) => {
                        print(k, ann, out);
                        out.push_str(": ");
                        print(v, ann, out);
                    }
                    _ => print(it, ann, out),
                }
            }
            out.push(if is_dict { '}' } else { ']' });
        }
        Value::Tuple(items) => {
            out.push('(');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print(it, annotate, out);
            }
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::DictEntry(k, v) => {
            out.push('{');
            print(k, annotate, out);
            out.push_str(", ");
            print(v, annotate, out);
            out.push('}');
        }
    }
}

fn num(annotate: bool, name: &str, n: &dyn std::fmt::Display, out: &mut String) {
    if annotate {
        out.push_str(name);
        out.push(' ');
    }
    let _ = write!(out, "{n}");
}

/// Parses GVariant text. With `expected`, the value must have that type;
/// without, types are inferred as GLib does (plain integers are `i`).
pub fn parse_text(text: &str, expected: Option<&Type>) -> Result<Value<'static>, TextError> {
    let mut p = Parser { s: text.as_bytes(), pos: 0, text, depth: 0 };
    let v = p.value(expected)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

/// D-Bus object path syntax: `/` or `/seg/seg` with `[A-Za-z0-9_]` segments.
fn valid_object_path(s: &str) -> bool {
    if s == "/" {
        return true;
    }
    s.starts_with('/')
        && s[1..].split('/').all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

struct Parser<'t> {
    s: &'t [u8],
    pos: usize,
    text: &'t str,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, why: &str) -> TextError {
        TextError { text: self.text.to_string(), why: format!("{why} at offset {}", self.pos) }
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len() && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_') {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn value(&mut self, expected: Option<&Type>) -> Result<Value<'static>, TextError> {
        self.depth += 1;
        if self.depth > super::MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let r = self.value_inner(expected);
        self.depth -= 1;
        let v = r?;
        if let Some(t) = expected {
            if v.type_of() != *t {
                return Err(self.err(&format!("expected type {t}, got {}", v.type_of())));
            }
        }
        Ok(v)
    }

    fn value_inner(&mut self, expected: Option<&Type>) -> Result<Value<'static>, TextError> {
        let c = self.peek().ok_or_else(|| self.err("unexpected end"))?;
        // Where a maybe is expected, a bare value is `just` that value.
        if let Some(Type::Maybe(inner)) = expected {
            let save = self.pos;
            let w = self.word().to_string();
            self.pos = save;
            if w != "nothing" && w != "just" && c != b'@' {
                let v = self.value(Some(inner))?;
                return Ok(Value::Maybe((**inner).clone(), Some(Box::new(v))));
            }
        }
        match c {
            b'@' => {
                self.pos += 1;
                let rest = std::str::from_utf8(&self.s[self.pos..]).map_err(|_| self.err("bad UTF-8"))?;
                let (t, tail) = Type::parse_prefix(rest).ok_or_else(|| self.err("bad type annotation"))?;
                self.pos = self.s.len() - tail.len();
                self.value(Some(&t))
            }
            b'\'' | b'"' => {
                let s = self.string()?;
                if s.contains('\0') {
                    return Err(self.err("strings cannot contain NUL"));
                }
                Ok(match expected {
                    Some(Type::ObjectPath) => {
                        if !valid_object_path(&s) {
                            return Err(self.err("invalid object path"));
                        }
                        Value::ObjectPath(Cow::Owned(s))
                    }
                    Some(Type::Signature) => {
                        let mut rest = s.as_str();
                        while !rest.is_empty() {
                            rest = Type::parse_prefix(rest).ok_or_else(|| self.err("invalid signature"))?.1;
                        }
                        Value::Signature(Cow::Owned(s))
                    }
                    _ => Value::Str(Cow::Owned(s)),
                })
            }
            b'b' if matches!(self.s.get(self.pos + 1), Some(b'\'') | Some(b'"')) => {
                self.pos += 1;
                let mut s = self.bytestring()?;
                if s.contains(&0) {
                    return Err(self.err("bytestrings cannot contain NUL"));
                }
                s.push(0);
                Ok(Value::Bytes(Cow::Owned(s)))
            }
            b'<' => {
                self.pos += 1;
                let child = self.value(None)?;
                if !self.eat(b'>') {
                    return Err(self.err("expected '>'"));
                }
                Ok(Value::Variant(Box::new(child)))
            }
            b'[' => {
                self.pos += 1;
                let elem = match expected {
                    Some(Type::Array(e)) => Some((**e).clone()),
                    _ => None,
                };
                self.array(elem, b']')
            }
            b'{' => {
                self.pos += 1;
                let elem = match expected {
                    Some(Type::Array(e)) => Some((**e).clone()),
                    _ => None,
                };
                self.dict(elem)
            }
            b'(' => {
                self.pos += 1;
                let members: Option<Vec<Type>> = match expected {
                    Some(Type::Tuple(ms)) => Some(ms.clone()),
                    _ => None,
                };
                let mut items = Vec::new();
                loop {
                    if self.eat(b')') {
                        break;
                    }
                    let t = members.as_ref().and_then(|m| m.get(items.len()));
                    items.push(self.value(t)?);
                    if !self.eat(b',') {
                        if !self.eat(b')') {
                            return Err(self.err("expected ',' or ')'"));
                        }
                        break;
                    }
                }
                Ok(Value::Tuple(items))
            }
            b'-' | b'+' | b'0'..=b'9' | b'.' => self.number(expected),
            _ => {
                let save = self.pos;
                let w = self.word().to_string();
                let typed = match w.as_str() {
                    "nan" | "inf" | "infinity" if matches!(expected, None | Some(Type::Double)) => {
                        return Ok(Value::Double(if w == "nan" { f64::NAN } else { f64::INFINITY }))
                    }
                    "true" => return Ok(Value::Bool(true)),
                    "false" => return Ok(Value::Bool(false)),
                    "nothing" => {
                        return match expected {
                            Some(Type::Maybe(t)) => Ok(Value::Maybe((**t).clone(), None)),
                            _ => Err(self.err("cannot infer the type of 'nothing'")),
                        }
                    }
                    "just" => {
                        let inner = match expected {
                            Some(Type::Maybe(t)) => Some((**t).clone()),
                            _ => None,
                        };
                        let v = self.value(inner.as_ref())?;
                        return Ok(Value::Maybe(v.type_of(), Some(Box::new(v))));
                    }
                    "boolean" => Type::Bool,
                    "byte" => Type::Byte,
                    "int16" => Type::Int16,
                    "uint16" => Type::Uint16,
                    "int32" => Type::Int32,
                    "uint32" => Type::Uint32,
                    "int64" => Type::Int64,
                    "uint64" => Type::Uint64,
                    "handle" => Type::Handle,
                    "double" => Type::Double,
                    "string" => Type::Str,
                    "objectpath" => Type::ObjectPath,
                    "signature" => Type::Signature,
                    _ => {
                        self.pos = save;
                        return Err(self.err("unknown keyword"));
                    }
                };
                self.value(Some(&typed))
            }
        }
    }

    fn array(&mut self, mut elem: Option<Type>, close: u8) -> Result<Value<'static>, TextError> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                break;
            }
            let v = self.value(elem.as_ref())?;
            if elem.is_none() {
                elem = Some(v.type_of());
            }
            items.push(v);
            if !self.eat(b',') {
                if !self.eat(close) {
                    return Err(self.err("expected ',' or end of array"));
                }
                break;
            }
        }
        let elem = elem.ok_or_else(|| self.err("cannot infer the type of an empty array"))?;
        if elem == Type::Byte {
            let bytes = items
                .iter()
                .map(|v| match v {
                    Value::Byte(b) => *b,
                    _ => 0,
                })
                .collect::<Vec<u8>>();
            return Ok(Value::Bytes(Cow::Owned(bytes)));
        }
        Ok(Value::Array(elem, items))
    }

    fn dict(&mut self, elem: Option<Type>) -> Result<Value<'static>, TextError> {
        let (mut kt, mut vt) = match elem {
            Some(Type::DictEntry(k, v)) => (Some(*k), Some(*v)),
            _ => (None, None),
        };
        let mut items = Vec::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let k = self.value(kt.as_ref())?;
            if !self.eat(b':') {
                return Err(self.err("expected ':'"));
            }
            let v = self.value(vt.as_ref())?;
            kt.get_or_insert_with(|| k.type_of());
            vt.get_or_insert_with(|| v.type_of());
            items.push(Value::DictEntry(Box::new(k), Box::new(v)));
            if !self.eat(b',') {
                if !self.eat(b'}') {
                    return Err(self.err("expected ',' or '}'"));
                }
                break;
            }
        }
        match (kt, vt) {
            (Some(k), _) if !k.is_basic() => Err(self.err("dictionary keys must have a basic type")),
            (Some(k), Some(v)) => Ok(Value::Array(Type::DictEntry(Box::new(k), Box::new(v)), items)),
            _ => Err(self.err("cannot infer the type of an empty dictionary")),
        }
    }

    /// `b'…'`: bytes, with C escapes including octal `\ooo`.
    fn bytestring(&mut self) -> Result<Vec<u8>, TextError> {
        let q = self.s[self.pos];
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.pos).ok_or_else(|| self.err("unterminated bytestring"))?;
            self.pos += 1;
            if c == q {
                return Ok(out);
            }
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let e = *self.s.get(self.pos).ok_or_else(|| self.err("unterminated escape"))?;
            self.pos += 1;
            match e {
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut v = u32::from(e - b'0');
                    for _ in 0..2 {
                        match self.s.get(self.pos) {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                self.pos += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push(u8::try_from(v).map_err(|_| self.err("octal escape out of range"))?);
                }
                other => out.push(other),
            }
        }
    }

    fn string(&mut self) -> Result<String, TextError> {
        let q = self.s[self.pos];
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.pos).ok_or_else(|| self.err("unterminated string"))?;
            self.pos += 1;
            if c == q {
                break;
            }
            if c == b'\\' {
                let e = *self.s.get(self.pos).ok_or_else(|| self.err("unterminated escape"))?;
                self.pos += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let hex = self.s.get(self.pos..self.pos + n).ok_or_else(|| self.err("short \\u escape"))?;
                        let code = u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
                            .map_err(|_| self.err("bad \\u escape"))?;
                        let ch = char::from_u32(code).ok_or_else(|| self.err("bad code point"))?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        self.pos += n;
                    }
                    other => out.push(other),
                }
            } else {
                out.push(c);
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }

    fn number(&mut self, expected: Option<&Type>) -> Result<Value<'static>, TextError> {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || matches!(self.s[self.pos], b'-' | b'+' | b'.'))
        {
            self.pos += 1;
        }
        let tok = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        let is_float = !tok.starts_with("0x") && tok.contains(['.', 'e', 'E']);
        let int = || -> Option<i128> {
            let (neg, body) = match tok.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, tok.strip_prefix('+').unwrap_or(tok)),
            };
            let v = if let Some(h) = body.strip_prefix("0x") {
                i128::from_str_radix(h, 16).ok()?
            } else {
                body.parse::<i128>().ok()?
            };
            Some(if neg { -v } else { v })
        };
        let bad = || self.err("number out of range or malformed");
        let t = expected.cloned().unwrap_or(if is_float { Type::Double } else { Type::Int32 });
        Ok(match t {
            Type::Double => Value::Double(tok.parse().map_err(|_| bad())?),
            Type::Byte => Value::Byte(int().and_then(|v| u8::try_from(v).ok()).ok_or_else(bad)?),
            Type::Int16 => Value::Int16(int().and_then(|v| i16::try_from(v).ok()).ok_or_else(bad)?),
            Type::Uint16 => Value::Uint16(int().and_then(|v| u16::try_from(v).ok()).ok_or_else(bad)?),
            Type::Int32 => Value::Int32(int().and_then(|v| i32::try_from(v).ok()).ok_or_else(bad)?),
            Type::Handle => Value::Handle(int().and_then(|v| i32::try_from(v).ok()).ok_or_else(bad)?),
            Type::Uint32 => Value::Uint32(int().and_then(|v| u32::try_from(v).ok()).ok_or_else(bad)?),
            Type::Int64 => Value::Int64(int().and_then(|v| i64::try_from(v).ok()).ok_or_else(bad)?),
            Type::Uint64 => Value::Uint64(int().and_then(|v| u64::try_from(v).ok()).ok_or_else(bad)?),
            other => return Err(self.err(&format!("a number cannot have type {other}"))),
        })
    }
}

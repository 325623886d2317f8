use std::borrow::Cow;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn detached_metadata_golden_bytes() {
    // spec §8.1: {'note': <'hi'>}
    let v = Value::vardict([(Cow::Borrowed("note"), Value::str("hi"))]);
    let bytes = v.to_bytes();
    assert_eq!(bytes, hex("6e6f746500000000 686900 00 73 05 0e"));
    let ty = Type::parse("a{sv}").unwrap();
    assert_eq!(Value::from_bytes_normal(&ty, &bytes).unwrap(), v);
}

#[test]
fn empty_dirtree_is_one_byte() {
    let ty = Type::parse("(a(say)a(sayay))").unwrap();
    let say = Type::parse("(say)").unwrap();
    let sayay = Type::parse("(sayay)").unwrap();
    let v = Value::Tuple(vec![Value::Array(say, vec![]), Value::Array(sayay, vec![])]);
    assert_eq!(v.to_bytes(), vec![0]);
    assert_eq!(Value::from_bytes_normal(&ty, &[0]).unwrap(), v);
}

#[test]
fn xattr_array_golden_bytes() {
    // spec §4: user.alpha=00 01 ff, user.zeta=zz
    let elem = Type::parse("(ayay)").unwrap();
    let v = Value::Array(
        elem,
        vec![
            Value::Tuple(vec![Value::bytes(&b"user.alpha\0"[..]), Value::bytes(&[0u8, 1, 0xff][..])]),
            Value::Tuple(vec![Value::bytes(&b"user.zeta\0"[..]), Value::bytes(&b"zz"[..])]),
        ],
    );
    assert_eq!(v.to_bytes(), hex("757365722e616c70686100 0001ff 0b 757365722e7a65746100 7a7a 0a 0f1c"));
}

#[test]
fn offset_width_grows_at_255() {
    // A string array whose body crosses 255 bytes needs 2-byte offsets.
    let items: Vec<Value> = (0..30).map(|i| Value::str(format!("item-{i:04}"))).collect();
    let v = Value::Array(Type::Str, items);
    let b = v.to_bytes();
    assert_eq!(b.len(), 30 * 10 + 30 * 2);
    let back = Value::from_bytes_normal(&Type::parse("as").unwrap(), &b).unwrap();
    assert_eq!(back, v);
}

#[test]
fn non_normal_input_is_rejected() {
    let ty = Type::parse("a{sv}").unwrap();
    let mut bytes = hex("6e6f746500000000 686900 00 73 05 0e");
    bytes[5] = 1; // a padding byte that must be zero
    assert!(Value::from_bytes(&ty, &bytes).is_ok());
    assert!(matches!(Value::from_bytes_normal(&ty, &bytes), Err(Error::NotNormal(_))));
}

#[test]
fn hostile_offsets_error_without_panicking() {
    let ty = Type::parse("(a{sv}aya(say)sstayay)").unwrap();
    for len in 0..64usize {
        for fill in [0u8, 0xff, 0x7f, 0x10] {
            let data = vec![fill; len];
            let _ = Value::from_bytes(&ty, &data);
        }
    }
    // Deeply nested variants are refused, not recursed into without bound.
    let mut data = vec![b'y' ^ b'y']; // start with a byte value 0
    data.extend_from_slice(b"\0y");
    for _ in 0..200 {
        data.extend_from_slice(b"\0v");
    }
    assert!(Value::from_bytes(&Type::Variant, &data).is_err());
}

#[test]
fn types_parse_and_print() {
    for t in ["(a{sv}aya(say)sstayay)", "(uuuusa(ayay))", "a{sa(s(taya{sv}))}", "mas", "()"] {
        assert_eq!(Type::parse(t).unwrap().to_string(), t);
    }
    for bad in ["", "a", "(s", "{vs}", "z", "ss"] {
        assert!(Type::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(Type::parse("()").unwrap().fixed_size(), Some(1));
    assert_eq!(Type::parse("(uuu)").unwrap().fixed_size(), Some(12));
    assert_eq!(Type::parse("(yt)").unwrap().fixed_size(), Some(16));
}

#[test]
fn text_round_trip() {
    for (text, printed) in [
        ("uint32 7", "uint32 7"),
        ("'1.0'", "'1.0'"),
        ("['a', 'b']", "['a', 'b']"),
        ("<'x'>", "<'x'>"),
        ("{'k': <uint64 3>}", "{'k': <uint64 3>}"),
        ("true", "true"),
        ("(1, 'x')", "(1, 'x')"),
        ("@as []", "@as []"),
        ("b'hi'", "b'hi'"),
        ("[byte 0x01, 0x02]", "[byte 0x01, 0x02]"),
    ] {
        let v = parse_text(text, None).unwrap();
        assert_eq!(v.to_text(), printed, "{text}");
    }
    for (text, ty) in
        [("@mai [1, 2]", "mai"), ("[double nan, inf, -1.5]", "ad"), ("@ms 'x'", "ms"), ("@ms nothing", "ms")]
    {
        let v = parse_text(text, None).unwrap();
        assert_eq!(v.type_of().to_string(), ty, "{text}");
        let again = parse_text(&v.to_text(), Some(&v.type_of())).unwrap();
        assert_eq!(again.to_bytes(), v.to_bytes(), "{text}");
    }
    assert!(parse_text("'a\\u0000b'", None).is_err());
    // A checksum ending in 00 prints as a bytestring with octal escapes, as GLib does.
    let b = Value::bytes(vec![0x1d, b'T', 0xf0, b'#', b'\'', b'\\', 0]);
    assert_eq!(b.to_text(), "b\"\\035T\\360#'\\\\\"");
    assert_eq!(parse_text(&b.to_text(), None).unwrap(), b);
    assert!(parse_text("@g '4U'", None).is_err());
    assert!(parse_text("{[1]: 2}", None).is_err());
    assert!(parse_text("uint32 -1", None).is_err());
    assert!(parse_text("[", None).is_err());
    assert!(parse_text("[]", None).is_err());
}

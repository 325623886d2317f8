//! `python_oracle`: our object writers against the Python oracle
//! (`tests/golden/ostree_ref.py`, a GVariant writer and OSTree's checksum
//! rules written from the specification and checked against the real
//! `ostree` by the golden vectors).
//!
//! The first byte picks what to build from the rest of the input: a
//! GVariant value (read by our reader from a type and bytes, as in
//! `gvariant_value`: the writer is what is compared), a file object's
//! headers and checksum, a dirmeta, a dirtree, a commit, or a static
//! delta's path. Both sides build it from the same fields and must produce
//! the very same bytes. The Python side runs as one child process
//! (`bodies/oracle.py`) fed one JSON line per input.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use oxtree_store::deltas::StaticDelta;
use oxtree_store::gvariant::Value;
use oxtree_store::object::{Commit, CommitMetadata, DirEntry, DirMeta, DirTree, FileEntry, FileHeader, Xattrs};
use oxtree_store::Checksum;
use serde_json::{json, Value as Json};

use crate::select_type;

/// The fuzz target body.
pub fn python_oracle(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let mut input = Input(rest);
    match sel % 6 {
        0 => value(rest),
        1 => file(&mut input),
        2 => dirmeta(&mut input),
        3 => dirtree(&mut input),
        4 => commit(&mut input),
        _ => delta(&mut input),
    }
}

/// Our writer on a value our reader took from the input.
fn value(data: &[u8]) {
    let Some((ty, body)) = select_type(data) else { return };
    let Ok(v) = Value::from_bytes(&ty, body) else { return };
    // The oracle has no maybe types.
    let Some(j) = to_json(&v) else { return };
    let theirs = ask(json!({"kind": "value", "type": ty.to_string(), "value": j}));
    assert_eq!(hex(&v.to_bytes()), theirs["bytes"], "the serialisation of {ty} value {v:?} differs");
}

fn file(input: &mut Input) {
    let (uid, gid) = (input.u32(), input.u32());
    let symlink = input.u8() & 1 == 1;
    let perms = u32::from(input.u16()) & 0o7777;
    let mode = if symlink { 0o120000 | 0o777 } else { 0o100000 | perms };
    let target = if symlink { input.string() } else { String::new() };
    let pairs = input.xattrs();
    let content = if symlink { Vec::new() } else { input.0.to_vec() };
    let h = FileHeader { uid, gid, mode, symlink_target: target.clone(), xattrs: Xattrs::from_pairs(pairs.clone()) };
    let theirs = ask(json!({
        "kind": "file", "uid": uid, "gid": gid, "mode": mode, "target": target,
        "xattrs": xattrs_json(&pairs), "content": hex(&content),
    }));
    assert_eq!(hex(&h.stream_prefix()), theirs["header"], "file header of {h:?}");
    assert_eq!(hex(&h.archive_prefix(content.len() as u64)), theirs["archive_header"], "archive header of {h:?}");
    assert_eq!(h.checksum(&content).to_hex(), theirs["checksum"], "checksum of {h:?} with {} bytes", content.len());
}

fn dirmeta(input: &mut Input) {
    let (uid, gid, mode) = (input.u32(), input.u32(), input.u32());
    let pairs = input.xattrs();
    let m = DirMeta { uid, gid, mode, xattrs: Xattrs::from_pairs(pairs.clone()) };
    let theirs = ask(json!({"kind": "dirmeta", "uid": uid, "gid": gid, "mode": mode, "xattrs": xattrs_json(&pairs)}));
    assert_eq!(hex(&m.to_bytes()), theirs["bytes"], "dirmeta {m:?}");
}

fn dirtree(input: &mut Input) {
    let mut t = DirTree::default();
    let (mut files, mut dirs) = (serde_json::Map::new(), serde_json::Map::new());
    for _ in 0..input.u8() % 16 {
        let (name, checksum) = (input.string(), input.checksum());
        // Names are unique within each list (the oracle takes a map).
        if !files.contains_key(&name) {
            files.insert(name.clone(), json!(checksum.to_hex()));
            t.files.push(FileEntry { name, checksum });
        }
    }
    for _ in 0..input.u8() % 16 {
        let (name, tree, meta) = (input.string(), input.checksum(), input.checksum());
        if !dirs.contains_key(&name) {
            dirs.insert(name.clone(), json!([tree.to_hex(), meta.to_hex()]));
            t.dirs.push(DirEntry { name, tree, meta });
        }
    }
    t.sort();
    let theirs = ask(json!({"kind": "dirtree", "files": files, "dirs": dirs}));
    assert_eq!(hex(&t.to_bytes()), theirs["bytes"], "dirtree {t:?}");
}

fn commit(input: &mut Input) {
    let parent = (input.u8() & 1 == 1).then(|| input.checksum());
    let related: Vec<(String, Checksum)> = (0..input.u8() % 4).map(|_| (input.string(), input.checksum())).collect();
    let (subject, body, timestamp) = (input.string(), input.string(), input.u64());
    let (root_tree, root_meta) = (input.checksum(), input.checksum());
    // The rest is the metadata, read by our reader.
    let Ok(meta) = CommitMetadata::from_bytes(input.0) else { return };
    let mut meta_json = Vec::new();
    for (k, v) in &meta.0 {
        let Some(j) = to_json(v) else { return };
        meta_json.push(json!([k, [v.type_of().to_string(), j]]));
    }
    let c = Commit { metadata: meta, parent, related, subject, body, timestamp, root_tree, root_meta };
    let theirs = ask(json!({
        "kind": "commit", "metadata": meta_json, "parent": c.parent.map(|p| p.to_hex()).unwrap_or_default(),
        "related": c.related.iter().map(|(n, s)| json!([n, s.to_hex()])).collect::<Vec<_>>(),
        "subject": c.subject, "body": c.body, "timestamp": c.timestamp,
        "tree": c.root_tree.to_hex(), "meta": c.root_meta.to_hex(),
    }));
    assert_eq!(hex(&c.to_bytes()), theirs["bytes"], "commit {c:?}");
}

fn delta(input: &mut Input) {
    let from = (input.u8() & 1 == 1).then(|| input.checksum());
    let d = StaticDelta { from, to: input.checksum() };
    let theirs =
        ask(json!({"kind": "delta", "from": from.map(|f| f.to_hex()).unwrap_or_default(), "to": d.to.to_hex()}));
    assert_eq!(d.to.to_modified_base64(), theirs["to_b64"], "modified base64 of {}", d.to);
    if let Some(f) = from {
        assert_eq!(f.to_modified_base64(), theirs["from_b64"], "modified base64 of {f}");
    }
    assert_eq!(d.rel_path(), theirs["relpath"], "path of delta {}", d.name());
}

/// A value as the oracle reads it (see `oracle.py`); `None` for a maybe,
/// which the oracle does not write.
fn to_json(v: &Value) -> Option<Json> {
    Some(match v {
        Value::Bool(b) => json!(u8::from(*b)),
        Value::Byte(x) => json!(x),
        Value::Int16(x) => json!(x),
        Value::Uint16(x) => json!(x),
        Value::Int32(x) | Value::Handle(x) => json!(x),
        Value::Uint32(x) => json!(x),
        Value::Int64(x) => json!(x),
        Value::Uint64(x) => json!(x),
        Value::Double(x) => json!(x.to_bits()),
        Value::Str(s) | Value::ObjectPath(s) | Value::Signature(s) => json!(s),
        Value::Variant(inner) => json!([inner.type_of().to_string(), to_json(inner)?]),
        Value::Maybe(..) => return None,
        Value::Bytes(b) => json!(hex(b)),
        Value::Array(_, items) | Value::Tuple(items) => Json::Array(items.iter().map(to_json).collect::<Option<_>>()?),
        Value::DictEntry(k, v) => json!([to_json(k)?, to_json(v)?]),
    })
}

fn xattrs_json(pairs: &[(Vec<u8>, Vec<u8>)]) -> Json {
    pairs.iter().map(|(n, v)| json!([hex(n), hex(v)])).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// Fields taken from the front of the input; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let got = self.take(N);
        out[..got.len()].copy_from_slice(got);
        out
    }
    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
    fn checksum(&mut self) -> Checksum {
        Checksum::from_slice(&self.array::<32>()).expect("32 bytes")
    }
    /// A length byte, then that many bytes (as UTF-8, lossily).
    fn bytes(&mut self) -> Vec<u8> {
        let n = self.u8() as usize;
        self.take(n).to_vec()
    }
    fn string(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    /// Xattrs as a file system gives them: distinct names without NUL, and
    /// values that are not empty, in the order read.
    fn xattrs(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for _ in 0..self.u8() % 8 {
            let name: Vec<u8> = self.bytes().into_iter().filter(|&b| b != 0).collect();
            let value = self.bytes();
            if !name.is_empty() && !value.is_empty() && !out.iter().any(|(n, _)| *n == name) {
                out.push((name, value));
            }
        }
        out
    }
}

/// The oracle process, started on first use.
struct Oracle {
    _child: Child,
    to: BufWriter<ChildStdin>,
    from: BufReader<ChildStdout>,
}

/// Sends one request to the oracle and returns its answer.
fn ask(request: Json) -> Json {
    static ORACLE: Mutex<Option<Oracle>> = Mutex::new(None);
    let mut guard = ORACLE.lock().unwrap_or_else(|e| e.into_inner());
    let o = guard.get_or_insert_with(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/oracle.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the oracle (python3 {script}): {e}"));
        let to = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let from = BufReader::new(child.stdout.take().expect("piped stdout"));
        Oracle { _child: child, to, from }
    });
    let line = request.to_string();
    writeln!(o.to, "{line}").and_then(|()| o.to.flush()).unwrap_or_else(|e| panic!("the oracle went away: {e}"));
    let mut answer = String::new();
    match o.from.read_line(&mut answer) {
        Ok(n) if n > 0 => {}
        r => {
            // Start afresh next time; this input is the one it failed on.
            *guard = None;
            panic!("the oracle gave no answer ({r:?}) to {line}");
        }
    }
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("the oracle answered {answer:?}: {e}"))
}

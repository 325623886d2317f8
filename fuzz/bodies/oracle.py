#!/usr/bin/env python3
"""The Python side of the `python_oracle` fuzz target: reads one JSON request
per line on stdin and answers each with one JSON line on stdout, computed by
tests/golden/ostree_ref.py (a GVariant writer and the OSTree object rules,
written from the specification; the golden vectors check it against the real
ostree).

Requests ("kind" and its fields; byte strings are hex):
  value   type, value  -> bytes: serialize(type, value)
  file    uid gid mode target xattrs content -> header, archive_header, checksum
  dirmeta uid gid mode xattrs                -> bytes
  dirtree files {name: hex} dirs {name: [tree, meta]} -> bytes
  commit  metadata [[key, [type, value]]] parent related subject body
          timestamp tree meta                -> bytes
  delta   from to                            -> from_b64, to_b64, relpath

A value is JSON shaped by its type: numbers, strings, lists for arrays,
tuples and dict entries, [type, value] for a variant, hex for "ay", and a
double as the integer of its IEEE 754 bits.
"""
import json, os, struct, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'tests', 'golden'))
from ostree_ref import (_split_types, b64_modified, commit_bytes, delta_relpath, dirmeta_bytes,
                        dirtree_bytes, file_checksum, file_header, serialize, zlib_file_header)


def conv(t, j):
    """The JSON form of a value of type t, as ostree_ref.serialize takes it."""
    c = t[0]
    if c == 'd':
        return struct.unpack('<d', struct.pack('<Q', j))[0]
    if t == 'ay':
        return bytes.fromhex(j)
    if c == 'a':
        return [conv(t[1:], e) for e in j]
    if c in '({':
        return [conv(m, e) for m, e in zip(_split_types(t[1:-1]), j)]
    if c == 'v':
        return (j[0], conv(j[0], j[1]))
    return j


def xattrs(j):
    return [(bytes.fromhex(n), bytes.fromhex(v)) for n, v in j]


def answer(r):
    k = r['kind']
    if k == 'value':
        return {'bytes': serialize(r['type'], conv(r['type'], r['value'])).hex()}
    if k == 'file':
        x = xattrs(r['xattrs'])
        content = bytes.fromhex(r['content'])
        return {
            'header': file_header(r['uid'], r['gid'], r['mode'], r['target'], x).hex(),
            'archive_header': zlib_file_header(len(content), r['uid'], r['gid'], r['mode'], r['target'], x).hex(),
            'checksum': file_checksum(r['uid'], r['gid'], r['mode'], content, r['target'], x),
        }
    if k == 'dirmeta':
        return {'bytes': dirmeta_bytes(r['uid'], r['gid'], r['mode'], xattrs(r['xattrs'])).hex()}
    if k == 'dirtree':
        return {'bytes': dirtree_bytes(r['files'], {n: tuple(d) for n, d in r['dirs'].items()}).hex()}
    if k == 'commit':
        meta = [(key, (t, conv(t, v))) for key, (t, v) in r['metadata']]
        related = [(n, bytes.fromhex(c)) for n, c in r['related']]
        return {'bytes': commit_bytes(meta, r['parent'], r['subject'], r['body'], r['timestamp'],
                                      r['tree'], r['meta'], related).hex()}
    if k == 'delta':
        return {'from_b64': b64_modified(r['from']) if r['from'] else None, 'to_b64': b64_modified(r['to']),
                'relpath': delta_relpath(r['from'], r['to'])}
    raise ValueError('unknown request kind %r' % k)


for line in sys.stdin:
    sys.stdout.write(json.dumps(answer(json.loads(line))) + '\n')
    sys.stdout.flush()

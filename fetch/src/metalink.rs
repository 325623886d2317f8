//! Metalinks (`url=metalink=URL`, spec A.12): a Metalink 3.0 XML document
//! that describes the remote's `summary` (its size and SHA-256 or SHA-512
//! digest) and lists URLs to fetch it from. The summary is taken from the
//! first URL (by `preference`, highest first) whose file has that size and
//! digest, and that URL's directory becomes the remote's base URL.
//!
//! Only what OSTree reads of the format is read: `metalink/files/file`
//! named `summary`, its `size`, `verification/hash` (`sha256`, `sha512`)
//! and `resources/url` elements; other elements, anywhere, are skipped.

use sha2::{Digest, Sha256, Sha512};

use crate::http::Client;
use crate::PullError;

/// The largest metalink document read.
const MAX_METALINK_SIZE: u64 = 1 << 20;

/// What a metalink says of the summary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SummaryLink {
    /// Its size in bytes.
    pub size: Option<u64>,
    /// `(algorithm, hex digest)` for each `hash` element.
    pub hashes: Vec<(String, String)>,
    /// `(preference, URL)` for each `url` element.
    pub urls: Vec<(i64, String)>,
}

/// An element's name and attributes, from the text between `<` and `>`.
fn tag(inner: &str) -> (&str, Vec<(&str, String)>) {
    let inner = inner.trim_end_matches('/').trim();
    let (name, mut rest) = inner.split_once(char::is_whitespace).unwrap_or((inner, ""));
    let mut attrs = Vec::new();
    while let Some((k, v)) = rest.split_once('=') {
        let v = v.trim_start();
        let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') else { break };
        let Some(end) = v[1..].find(q) else { break };
        attrs.push((k.trim(), unescape(&v[1..1 + end])));
        rest = &v[end + 2..];
    }
    (name, attrs)
}

/// Text with XML's predefined entities replaced.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Parses a metalink document.
pub fn parse(text: &str) -> Result<SummaryLink, String> {
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if !body.starts_with('<') {
        return Err("Document must begin with an element (e.g. <book>)".into());
    }
    let mut out = SummaryLink::default();
    let mut stack: Vec<String> = Vec::new();
    // Inside `metalink/files/file` named "summary".
    let mut in_summary = None::<usize>;
    let mut attrs_of_open: Vec<(String, String)> = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        let text_before = &rest[..lt];
        rest = &rest[lt..];
        if let Some(depth) = in_summary {
            let path: Vec<&str> = stack[depth..].iter().map(String::as_str).collect();
            let t = unescape(text_before.trim());
            match path.as_slice() {
                [_, "size"] if !t.is_empty() => {
                    out.size = Some(t.parse().map_err(|_| format!("Invalid <size> '{t}' in metalink"))?)
                }
                [_, "verification", "hash"] => {
                    if let Some((_, ty)) = attrs_of_open.iter().find(|(k, _)| k == "type") {
                        out.hashes.push((ty.clone(), t));
                    }
                }
                [_, "resources", "url"] if !t.is_empty() => {
                    let pref = attrs_of_open
                        .iter()
                        .find(|(k, _)| k == "preference")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let proto = attrs_of_open.iter().find(|(k, _)| k == "protocol").map(|(_, v)| v.as_str());
                    if matches!(proto, None | Some("http" | "https")) {
                        out.urls.push((pref, t));
                    }
                }
                _ => {}
            }
        }
        for (open, close) in [("<?", "?>"), ("<!--", "-->"), ("<![CDATA[", "]]>"), ("<!", ">")] {
            if rest.starts_with(open) {
                let end = rest.find(close).ok_or("Document ended unexpectedly inside a markup declaration")?;
                rest = &rest[end + close.len()..];
                break;
            }
        }
        if !rest.starts_with('<') || rest.starts_with("<!") || rest.starts_with("<?") {
            continue;
        }
        let gt = rest.find('>').ok_or("Document ended unexpectedly inside an element")?;
        let inner = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = inner.strip_prefix('/') {
            let name = name.trim();
            match stack.pop() {
                Some(open) if open == name => {}
                _ => return Err(format!("Element '{name}' was closed, but it is not the element open")),
            }
            if in_summary.is_some_and(|d| stack.len() < d + 1) {
                in_summary = None;
            }
            attrs_of_open.clear();
            continue;
        }
        let self_closing = inner.ends_with('/');
        let (name, attrs) = tag(inner);
        if name.is_empty() {
            return Err("Empty element name in metalink".into());
        }
        let path: Vec<&str> = stack.iter().map(String::as_str).collect();
        if path.as_slice() == ["metalink", "files"]
            && name == "file"
            && attrs.iter().any(|(k, v)| *k == "name" && v == "summary")
            && !self_closing
        {
            in_summary = Some(stack.len());
        }
        attrs_of_open = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("Document ended unexpectedly with element '{open}' open"));
    }
    Ok(out)
}

/// Fetches the metalink at `url` and the summary it describes: returns
/// the summary and the base URL it came from.
pub fn fetch_summary(client: &Client, url: &str) -> Result<(Vec<u8>, String), PullError> {
    let bytes = client
        .get_bytes(url, MAX_METALINK_SIZE)?
        .ok_or_else(|| PullError::Invalid(format!("{url}: metalink not found on the server (HTTP 404)")))?;
    let text = String::from_utf8(bytes).map_err(|_| PullError::Invalid(format!("{url}: metalink is not UTF-8")))?;
    let link = parse(&text).map_err(|e| PullError::Invalid(format!("{url}: {e}")))?;
    // SHA-512 when given, else SHA-256 (OSTree's order).
    let (algo, want) = ["sha512", "sha256"]
        .iter()
        .find_map(|a| link.hashes.iter().find(|(t, _)| t == a))
        .ok_or_else(|| PullError::Invalid(format!("{url}: No <verification> with known <hash type=> found")))?;
    let want_len = if algo == "sha512" { 128 } else { 64 };
    if want.len() != want_len || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PullError::Invalid(format!("{url}: Invalid hash digest for {algo}")));
    }
    let mut urls = link.urls.clone();
    if urls.is_empty() {
        return Err(PullError::Invalid(format!("{url}: No <url method='http'> elements found")));
    }
    // Highest preference first; ties keep document order.
    urls.sort_by_key(|(pref, _)| std::cmp::Reverse(*pref));
    let limit = link.size.unwrap_or(crate::remote::MAX_METADATA_SIZE).min(crate::remote::MAX_METADATA_SIZE);
    let mut last = None;
    for (_, u) in &urls {
        // One byte over the declared size shows a wrong size without
        // reading an endless body.
        let got = match client.get_bytes(u, limit + 1) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(crate::http::HttpError::TooLarge { .. }) => {
                last = Some(format!("{u}: Expected size is {limit} bytes but content is larger"));
                continue;
            }
            Err(e) => {
                last = Some(e.to_string());
                continue;
            }
        };
        if let Some(size) = link.size {
            if got.len() as u64 != size {
                last = Some(format!("{u}: Expected size is {size} bytes but content is {} bytes", got.len()));
                continue;
            }
        }
        let actual = if algo == "sha512" { hex(&Sha512::digest(&got)) } else { hex(&Sha256::digest(&got)) };
        if !actual.eq_ignore_ascii_case(want) {
            last = Some(format!("{u}: Expected checksum is {} but actual is {actual}", want.to_ascii_lowercase()));
            continue;
        }
        let base = u.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or_else(|| u.clone());
        return Ok((got, base));
    }
    Err(PullError::Invalid(last.unwrap_or_else(|| format!("{url}: no URL of the metalink has the summary"))))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_entry_and_skips_the_rest() {
        let doc = r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/">
  <deeply><nested><files><file name="summary"><size>1</size></file></files></nested></deeply>
  <files>
    <file name="other"><size>9</size></file>
    <file name="summary">
      <size>42</size>
      <verification>
        <hash type="md5">abc</hash>
        <hash type="sha256">00ff</hash>
      </verification>
      <resources maxconnections="1">
        <url protocol="http" preference="98">http://a/x/summary</url>
        <url protocol="ftp" preference="99">ftp://b/summary</url>
        <url protocol="https" preference="100">https://c/y/summary?a=1&amp;b=2</url>
      </resources>
    </file>
  </files>
</metalink>"#;
        let l = parse(doc).unwrap();
        assert_eq!(l.size, Some(42));
        assert_eq!(l.hashes, vec![("md5".into(), "abc".into()), ("sha256".into(), "00ff".into())]);
        assert_eq!(l.urls, vec![(98, "http://a/x/summary".into()), (100, "https://c/y/summary?a=1&b=2".into())]);
    }

    #[test]
    fn malformed_documents_are_errors() {
        assert!(parse("bacon\n").unwrap_err().contains("Document must begin with an element"));
        assert!(parse("<metalink><files>").is_err());
        assert!(parse("<metalink></files>").is_err());
        assert!(parse("<metalink><!-- never closed").is_err());
    }
}

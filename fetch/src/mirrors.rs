//! Where a remote's files are: one base URL, or the mirrors a mirrorlist
//! names (`url=mirrorlist=URL`, `contenturl=mirrorlist=URL`, spec A.3).
//!
//! A mirrorlist is a text file with one base URL per line; blank lines
//! and `#` comments are skipped. Each file is asked of the mirrors in
//! order, starting with the one that answered last: a mirror that lacks
//! a file (404) or fails passes the request on to the next, and the
//! request fails only when every mirror did.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::http::{Client, HttpError};
use crate::PullError;

/// The largest mirrorlist read.
const MAX_MIRRORLIST_SIZE: u64 = 1 << 20;

/// `base` + `/` + `rel`, without doubling the slash.
pub(crate) fn join(base: &str, rel: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), rel.trim_start_matches('/'))
}

/// One base URL, or a mirrorlist's mirrors.
#[derive(Debug)]
pub(crate) struct Bases {
    urls: Vec<String>,
    /// The mirror that answered last: asked first.
    current: AtomicUsize,
}

impl Bases {
    /// `spec` as a remote option gives it: a URL, or `mirrorlist=URL`,
    /// whose list is fetched now.
    pub fn resolve(client: &Client, spec: &str, option: &str) -> Result<Bases, PullError> {
        let Some(list_url) = spec.strip_prefix("mirrorlist=") else {
            check_http(spec, option)?;
            return Ok(Bases { urls: vec![spec.to_string()], current: AtomicUsize::new(0) });
        };
        check_http(list_url, option)?;
        let bytes = client
            .get_bytes(list_url, MAX_MIRRORLIST_SIZE)?
            .ok_or_else(|| PullError::Invalid(format!("{list_url}: mirrorlist not found on the server (HTTP 404)")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| PullError::Invalid(format!("{list_url}: mirrorlist is not UTF-8 text")))?;
        let urls = parse_mirrorlist(&text);
        if urls.is_empty() {
            return Err(PullError::Invalid(format!("No valid mirrors were found in mirrorlist '{list_url}'")));
        }
        Ok(Bases { urls, current: AtomicUsize::new(0) })
    }

    /// The URL of `rel` on the first mirror (for messages).
    pub fn url(&self, rel: &str) -> String {
        join(&self.urls[self.current.load(Ordering::Relaxed) % self.urls.len()], rel)
    }

    /// Runs `fetch` on the URL of `rel` at each mirror in turn until one
    /// has it: `None` if none has it, the last error if none answered.
    pub fn each<T>(
        &self,
        rel: &str,
        mut fetch: impl FnMut(&str) -> Result<Option<T>, HttpError>,
    ) -> Result<Option<T>, HttpError> {
        let n = self.urls.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut failed = None;
        for i in 0..n {
            let k = (start + i) % n;
            match fetch(&join(&self.urls[k], rel)) {
                Ok(Some(v)) => {
                    self.current.store(k, Ordering::Relaxed);
                    return Ok(Some(v));
                }
                Ok(None) => {}
                // Size limits are about the file, not the mirror.
                Err(e @ HttpError::TooLarge { .. }) => return Err(e),
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

/// The mirrors a mirrorlist names: one base URL per line, blank lines and
/// `#` comments skipped, and anything but `http://` and `https://` URLs
/// without spaces or control characters dropped.
pub fn parse_mirrorlist(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
        .filter(|l| !l.chars().any(|c| c.is_whitespace() || c.is_control()))
        .map(str::to_string)
        .collect()
}

/// Only `http://` and `https://` URLs here (`file://` remotes are pulled
/// as local repositories).
fn check_http(url: &str, option: &str) -> Result<(), PullError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(());
    }
    Err(PullError::Invalid(format!("{option}: {url} is not an http:// or https:// URL")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases(urls: &[&str]) -> Bases {
        Bases { urls: urls.iter().map(|s| s.to_string()).collect(), current: AtomicUsize::new(0) }
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(join("http://h/repo", "config"), "http://h/repo/config");
        assert_eq!(join("http://h/repo/", "/objects/ab/c.commit"), "http://h/repo/objects/ab/c.commit");
    }

    #[test]
    fn mirrors_are_tried_in_order_and_the_one_that_answered_goes_first() {
        let b = bases(&["http://a", "http://b", "http://c"]);
        let mut asked = Vec::new();
        let got = b.each("f", |u| {
            asked.push(u.to_string());
            Ok(u.starts_with("http://c").then(|| u.to_string()))
        });
        assert_eq!(got.unwrap().as_deref(), Some("http://c/f"));
        assert_eq!(asked, ["http://a/f", "http://b/f", "http://c/f"]);
        asked.clear();
        let got = b.each("g", |u| {
            asked.push(u.to_string());
            Ok(Some(u.to_string()))
        });
        assert_eq!(got.unwrap().as_deref(), Some("http://c/g"));
        assert_eq!(asked, ["http://c/g"]);
    }

    #[test]
    fn absent_everywhere_is_none_and_failures_are_reported() {
        let b = bases(&["http://a", "http://b"]);
        assert!(b.each::<()>("f", |_| Ok(None)).unwrap().is_none());
        let e = b
            .each::<()>("f", |u| {
                if u.starts_with("http://a") {
                    Err(HttpError::Status { url: u.into(), status: 503 })
                } else {
                    Ok(None)
                }
            })
            .unwrap_err();
        assert!(e.to_string().contains("503"), "{e}");
    }
}

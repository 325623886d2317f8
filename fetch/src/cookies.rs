//! A remote's cookie jar, `REPO/REMOTE.cookies.txt`, in the Netscape
//! format OSTree (through curl) reads and writes: one cookie per line,
//! seven tab-separated fields (domain, include-subdomains `TRUE`/`FALSE`,
//! path, secure `TRUE`/`FALSE`, expiry in seconds since the epoch, name,
//! value); `#` lines are comments, except that `#HttpOnly_` prefixes the
//! domain of an HTTP-only cookie. Pulls send the cookies whose domain, path
//! and scheme match each request.

use std::path::{Path, PathBuf};

/// How long a cookie added by hand lives, as OSTree sets it: about 25 years.
const LIFETIME_SECS: u64 = 25 * 31_557_600;

/// One cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// The host it belongs to.
    pub domain: String,
    /// Also sent to subdomains of `domain`.
    pub include_subdomains: bool,
    /// Sent for paths below this one.
    pub path: String,
    /// Sent over https only.
    pub secure: bool,
    /// Seconds since the epoch; 0 = a session cookie.
    pub expires: u64,
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// The cookie jar file of `remote` in the repository at `repo`.
pub fn jar_path(repo: &Path, remote: &str) -> PathBuf {
    repo.join(format!("{remote}.cookies.txt"))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Reads a jar; a missing file is an empty jar, lines that are not
/// cookies are skipped.
pub fn load(path: &Path) -> std::io::Result<Vec<Cookie>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(parse(&text))
}

/// The cookies of a jar's text; lines that are not cookies (comments,
/// wrong field counts, control characters, which a header could not
/// carry) are skipped.
pub fn parse(text: &str) -> Vec<Cookie> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Cookie> {
    let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 7 || f.iter().any(|x| x.chars().any(char::is_control)) {
        return None;
    }
    Some(Cookie {
        domain: f[0].to_string(),
        include_subdomains: f[1] == "TRUE",
        path: f[2].to_string(),
        secure: f[3] == "TRUE",
        expires: f[4].parse().ok()?,
        name: f[5].to_string(),
        value: f[6].to_string(),
    })
}

fn bool_field(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// Writes `cookies` to the jar at `path` (atomically).
pub fn save(path: &Path, cookies: &[Cookie]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, to_text(cookies))?;
    std::fs::rename(&tmp, path)
}

/// The jar's text for `cookies`.
pub fn to_text(cookies: &[Cookie]) -> String {
    let mut text = String::new();
    for c in cookies {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.domain,
            bool_field(c.include_subdomains),
            c.path,
            bool_field(c.secure),
            c.expires,
            c.name,
            c.value
        ));
    }
    text
}

/// A cookie for `domain` and `path`, as `remote add-cookie` makes it.
pub fn new_cookie(domain: &str, path: &str, name: &str, value: &str) -> Cookie {
    Cookie {
        domain: domain.to_string(),
        include_subdomains: false,
        path: path.to_string(),
        secure: false,
        expires: now() + LIFETIME_SECS,
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// The `Cookie:` header value for `url` (`None` when no cookie applies).
pub fn header_for(cookies: &[Cookie], url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport = authority.rsplit('@').next()?;
    let host =
        if let Some(v6) = hostport.strip_prefix('[') { v6.split(']').next()? } else { hostport.split(':').next()? };
    let t = now();
    let pairs: Vec<String> = cookies
        .iter()
        .filter(|c| {
            let domain = c.domain.trim_start_matches('.');
            let host_ok = host.eq_ignore_ascii_case(domain)
                || (c.include_subdomains
                    && host.len() > domain.len()
                    && host.to_ascii_lowercase().ends_with(&format!(".{}", domain.to_ascii_lowercase())));
            let path_ok = path.starts_with(&c.path)
                && (c.path.ends_with('/') || path.len() == c.path.len() || path[c.path.len()..].starts_with('/'));
            host_ok && path_ok && (!c.secure || scheme == "https") && (c.expires == 0 || c.expires > t)
        })
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jars_round_trip_and_skip_what_is_not_a_cookie() {
        let p = std::env::temp_dir().join(format!("oxtree-cookies-{}.txt", std::process::id()));
        let a = new_cookie("127.0.0.1", "/", "foo", "bar");
        let b = Cookie { include_subdomains: true, secure: true, ..new_cookie("example.org", "/repo", "k", "v") };
        save(&p, &[a.clone(), b.clone()]).unwrap();
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.insert_str(0, "# Netscape HTTP Cookie File\n\nnot a cookie\n");
        text.push_str("#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\thttponly\t1\n");
        std::fs::write(&p, text).unwrap();
        let got = load(&p).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!((&got[0], &got[1]), (&a, &b));
        assert_eq!(got[2].name, "httponly");
        std::fs::remove_file(&p).unwrap();
        assert!(load(&p).unwrap().is_empty(), "a missing jar is empty");
    }

    #[test]
    fn cookies_go_where_domain_path_and_scheme_match() {
        let jar = vec![
            new_cookie("127.0.0.1", "/", "foo", "bar"),
            new_cookie("127.0.0.1", "/ostree", "deep", "1"),
            Cookie { secure: true, ..new_cookie("127.0.0.1", "/", "sec", "2") },
            Cookie { expires: 1, ..new_cookie("127.0.0.1", "/", "old", "3") },
            Cookie { include_subdomains: true, ..new_cookie("example.org", "/", "sub", "4") },
        ];
        assert_eq!(header_for(&jar, "http://127.0.0.1:8080/ostree/repo/config").as_deref(), Some("foo=bar; deep=1"));
        assert_eq!(header_for(&jar, "http://127.0.0.1/ostreeX").as_deref(), Some("foo=bar"));
        assert_eq!(header_for(&jar, "https://u:p@127.0.0.1/x").as_deref(), Some("foo=bar; sec=2"));
        assert_eq!(header_for(&jar, "http://cdn.example.org/x").as_deref(), Some("sub=4"));
        assert_eq!(header_for(&jar, "http://notexample.org/x"), None);
        assert_eq!(header_for(&jar, "http://10.0.0.1/"), None);
    }
}

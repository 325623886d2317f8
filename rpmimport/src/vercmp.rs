//! RPM's version ordering: `rpmvercmp` on one version string, and the
//! epoch-version-release comparison built on it.
//!
//! A version is compared segment by segment: runs of digits or of letters,
//! everything else a separator. Digit runs compare as numbers (leading
//! zeros ignored, longer wins), letter runs bytewise, and a digit run
//! beats a letter run. `~` sorts before anything, even the end (`1.0~rc1`
//! before `1.0`); `^` sorts after the end but before any further segment
//! (`1.0^git1` after `1.0`, before `1.0.1`). When one string runs out, the
//! one with segments left is newer.

use std::cmp::Ordering;

fn is_sep(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

/// `rpmvercmp(a, b)`.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let run = |s: &[u8], mut k: usize| {
            let start = k;
            while k < s.len() && (if numeric { s[k].is_ascii_digit() } else { s[k].is_ascii_alphabetic() }) {
                k += 1;
            }
            (start, k)
        };
        let (sa, ea) = run(a, i);
        let (sb, eb) = run(b, j);
        i = ea;
        j = eb;
        if sb == eb {
            // Segments of different kinds: the number is newer.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let (mut x, mut y) = (&a[sa..ea], &b[sb..eb]);
        if numeric {
            while x.first() == Some(&b'0') {
                x = &x[1..];
            }
            while y.first() == Some(&b'0') {
                y = &y[1..];
            }
            match x.len().cmp(&y.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match x.cmp(y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Compares (epoch, version, release) as rpm's `rpmverCmp` does: the
/// epochs (an empty one is "0"), then the versions, then the releases
/// when both have one.
pub fn evr_cmp(a: (&str, &str, &str), b: (&str, &str, &str)) -> Ordering {
    let e = |s: &str| if s.is_empty() { "0".to_string() } else { s.to_string() };
    rpmvercmp(&e(a.0), &e(b.0)).then_with(|| rpmvercmp(a.1, b.1)).then_with(|| {
        if a.2.is_empty() || b.2.is_empty() {
            Ordering::Equal
        } else {
            rpmvercmp(a.2, b.2)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn rpm_orders() {
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("1.10", "1.9", Greater),
            ("1.001", "1.1", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0a", Less),
            ("a", "1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^", "1.0", Greater),
            ("1_0", "1.0", Equal),
            ("86.0.1", "86.0", Greater),
            ("fc9", "fc10", Less),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
        assert_eq!(evr_cmp(("1", "1.0", "1"), ("0", "2.0", "1")), Greater);
        assert_eq!(evr_cmp(("", "86.0", "7"), ("0", "86.0.1", "1")), Less);
        assert_eq!(evr_cmp(("0", "1.0", ""), ("0", "1.0", "3")), Equal);
    }
}

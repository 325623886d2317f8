//! Dates as GnuPG tools print them: C's `%c` (`Thu Jan  1 00:00:00 1970`)
//! in the local time zone, which `TZ` or `/etc/localtime` names. OSTree's
//! signature descriptions and key listings use this form, and its tests
//! set `TZ=UTC` to compare them.

use oxtree_store::calendar::civil_from_days;

/// `secs` (seconds since the epoch) as `%c` in the local time zone.
pub fn format_c(secs: i64) -> String {
    let local = secs.saturating_add(utc_offset(secs));
    let days = local.div_euclid(86400);
    let r = local.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wday = (days + 4).rem_euclid(7) as usize;
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {} {d:>2} {:02}:{:02}:{:02} {y}", DAYS[wday], MONTHS[(m - 1) as usize], r / 3600, (r / 60) % 60, r % 60)
}

/// The local zone's offset from UTC at `secs`, in seconds: from the TZif
/// file `TZ` names (or `/etc/localtime`); 0 for `UTC`, for a zone that
/// cannot be read, and for POSIX rule strings other than `UTC`/`UTC0`.
fn utc_offset(secs: i64) -> i64 {
    let path = match std::env::var("TZ") {
        Err(_) => std::path::PathBuf::from("/etc/localtime"),
        Ok(tz) => {
            let tz = tz.strip_prefix(':').unwrap_or(&tz);
            if tz.is_empty() || tz.starts_with("UTC") || tz.starts_with("GMT") {
                return 0;
            }
            if tz.starts_with('/') {
                std::path::PathBuf::from(tz)
            } else if tz.contains("..") {
                return 0;
            } else {
                std::path::Path::new("/usr/share/zoneinfo").join(tz)
            }
        }
    };
    std::fs::read(path).ok().and_then(|b| tzif_offset(&b, secs)).unwrap_or(0)
}

fn be32(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?)))
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The offset a TZif file (RFC 8536) gives at `secs`: that of the last
/// transition at or before it, else of the first local time type. The
/// 64-bit (version 2+) block is read when present.
fn tzif_offset(b: &[u8], secs: i64) -> Option<i64> {
    let header = |at: usize| -> Option<[usize; 6]> {
        if b.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let mut c = [0usize; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = usize::try_from(be32(b, at + 20 + 4 * i)?).ok()?;
        }
        Some(c)
    };
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let c = header(0)?;
    let v1_len = c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    let (start, c, tsize) = match b.get(4) {
        Some(b'2'..=b'9') => {
            let at = 44 + v1_len;
            (at + 44, header(at)?, 8)
        }
        _ => (44, c, 4),
    };
    let times = start;
    let idxs = times + c[3] * tsize;
    let types = idxs + c[3];
    let mut ty = 0usize;
    for i in 0..c[3] {
        let t = if tsize == 8 { be64(b, times + 8 * i)? } else { be32(b, times + 4 * i)? };
        if t > secs {
            break;
        }
        ty = usize::from(*b.get(idxs + i)?);
    }
    if ty >= c[4] {
        return None;
    }
    be32(b, types + 6 * ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_c_locale() {
        std::env::set_var("TZ", "UTC");
        assert_eq!(format_c(0), "Thu Jan  1 00:00:00 1970");
        // The creation time of OSTree's test key 1.
        assert_eq!(format_c(1378780182), "Tue Sep 10 02:29:42 2013");
    }

    #[test]
    fn reads_tzif() {
        let Ok(b) = std::fs::read("/usr/share/zoneinfo/America/New_York") else { return };
        // 2013-09-10 is in daylight time: UTC-4.
        assert_eq!(tzif_offset(&b, 1378780182), Some(-4 * 3600));
        assert_eq!(tzif_offset(&b, 1_700_000_000), Some(-5 * 3600));
    }
}

//! `prune`: delete unreachable objects.

use anyhow::{anyhow, bail, Result};
use oxtree_store::prune::{prune, PruneOptions};
use oxtree_store::Checksum;

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "prune",
    usage: "",
    summary: "Search for unreachable objects",
    opts: &[
        flag!("no-prune", "Only display unreachable objects; don't delete"),
        flag!("refs-only", "Only compute reachability via refs"),
        opt!("depth", "DEPTH", "Only traverse DEPTH parents for each commit (default: -1=infinite)"),
        opt!("delete-commit", "COMMIT", "Specify a commit to delete"),
        opt!("keep-younger-than", "DATE", "Prune all commits older than the specified date"),
        flag!(
            "static-deltas-only",
            "Change the behavior of delete-commit and keep-younger-than to prune only static deltas"
        ),
        opt!("retain-branch-depth", "BRANCH=DEPTH", "Additionally retain BRANCH=DEPTH commits"),
        opt!("only-branch", "BRANCH", "Only prune BRANCH (may be specified multiple times)"),
        flag!("commit-only", "Only traverse and delete commit objects."),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Month names as GNU date reads them (full or three letters).
fn month(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let l = s.to_ascii_lowercase();
    let l = l.trim_end_matches('.');
    M.iter().position(|m| *m == l || (l.len() >= 3 && m.starts_with(l))).map(|i| i as u32 + 1)
}

/// The dates `--keep-younger-than` takes, a subset of GNU `date -d`:
/// ISO 8601 (`2015-10-29 12:43:29 +0000`, `2020-01-01T00:00:00Z`, a bare
/// date), `@SECONDS`, `now`, `today`, `yesterday`, `N UNIT[s] ago` (second,
/// minute, hour, day, week, fortnight, month, year) and `MONTH DAY YEAR`
/// (`October 25 1985`) or `DAY MONTH YEAR`. Times are UTC.
pub fn parse_date(s: &str, now: u64) -> Option<u64> {
    let t = s.trim();
    if let Ok(v) = crate::util::parse_time(t) {
        return Some(v);
    }
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "now" => return Some(now),
        "today" => return Some(now - now % 86400),
        "yesterday" => return Some(now.saturating_sub(86400)),
        _ => {}
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    if words.last() == Some(&"ago") && (words.len() == 3 || words.len() == 2) {
        let (n, unit) = if words.len() == 3 { (words[0].parse::<u64>().ok()?, words[1]) } else { (1, words[0]) };
        let unit = unit.trim_end_matches('s');
        let secs: u64 = match unit {
            "sec" | "second" => 1,
            "min" | "minute" => 60,
            "hour" => 3600,
            "day" => 86400,
            "week" => 7 * 86400,
            "fortnight" => 14 * 86400,
            "month" => 30 * 86400,
            "year" => 365 * 86400,
            _ => return None,
        };
        return Some(now.saturating_sub(n.checked_mul(secs)?));
    }
    // A bare ISO date.
    let parts: Vec<&str> = t.split('-').collect();
    if parts.len() == 3 && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())) {
        let (y, m, d) = (parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?);
        if (1..=12).contains(&m) && (1..=31).contains(&d) {
            return u64::try_from(oxtree_store::calendar::days_from_civil(y, m, d) * 86400).ok();
        }
        return None;
    }
    let w: Vec<&str> = t.split(|c: char| c.is_whitespace() || c == ',').filter(|x| !x.is_empty()).collect();
    if w.len() == 3 {
        let (m, d) = match (month(w[0]), month(w[1])) {
            (Some(m), None) => (m, w[1].parse::<u32>().ok()?),
            (None, Some(m)) => (m, w[0].parse::<u32>().ok()?),
            _ => return None,
        };
        let y: i64 = w[2].parse().ok()?;
        if !(1..=31).contains(&d) {
            return None;
        }
        return u64::try_from(oxtree_store::calendar::days_from_civil(y, m, d) * 86400).ok();
    }
    None
}

fn parse_int(opt: &str, v: &str) -> Result<i64> {
    v.trim().parse::<i64>().map_err(|_| anyhow!("Cannot parse integer value “{v}” for --{opt}"))
}

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let mut opts = PruneOptions {
        refs_only: a.flag("refs-only"),
        no_prune: a.flag("no-prune"),
        commit_only: a.flag("commit-only"),
        static_deltas_only: a.flag("static-deltas-only"),
        only_branch: a.all("only-branch").into_iter().map(str::to_string).collect(),
        ..Default::default()
    };
    if let Some(d) = a.get("depth") {
        opts.depth = parse_int("depth", d)?;
    }
    if let Some(c) = a.get("delete-commit") {
        let csum =
            Checksum::from_hex(c).map_err(|_| anyhow!("Deleting object {c}.commit: not a full commit checksum"))?;
        opts.delete_commit = Some(csum);
    }
    if let Some(d) = a.get("keep-younger-than") {
        opts.keep_younger_than = Some(parse_date(d, now()).ok_or_else(|| anyhow!("Could not parse '{d}'"))?);
    }
    for spec in a.all("retain-branch-depth") {
        let Some((branch, depth)) = spec.split_once('=') else {
            bail!("Invalid value {spec}, must specify BRANCH=DEPTH");
        };
        let depth: i64 = depth.parse().map_err(|_| anyhow!("Invalid depth {depth}"))?;
        opts.retain_branch_depth.push((branch.to_string(), depth));
    }
    let repo = ctx.repo()?;
    let report = prune(&repo, &opts)?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_date;

    #[test]
    fn dates() {
        let now = 1_700_000_000;
        assert_eq!(parse_date("2015-10-29 12:43:29 +0000", now), Some(1446122609));
        assert_eq!(parse_date("@42", now), Some(42));
        assert_eq!(parse_date("1 week ago", now), Some(now - 604800));
        assert_eq!(parse_date("October 25 1985", now), Some(499046400));
        assert_eq!(parse_date("25 Oct 1985", now), Some(499046400));
        assert_eq!(parse_date("1985-10-25", now), Some(499046400));
        assert_eq!(parse_date("garbage", now), None);
    }
}

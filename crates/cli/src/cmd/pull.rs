//! `pull`: fetch refs from a remote. Remotes with `file://` URLs are pulled
//! directly from the repository on disk, `http://` and `https://` remotes
//! over HTTP (`oxtree_fetch::remote`).

use std::io::Write as _;

use anyhow::{anyhow, Result};
use oxtree_fetch::http::HttpOptions;
use oxtree_fetch::{pull_local, PullLocalOptions, PullOptions, PullStats};
use oxtree_store::traverse::format_size;
use oxtree_store::Repo;

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "pull",
    usage: "REMOTE [BRANCH...]",
    summary: "Download data from remote repository",
    opts: &[
        flag!("commit-metadata-only", "Fetch only the commit metadata"),
        flag!("mirror", "Write refs suitable for a mirror and fetches all refs if none provided"),
        flag!("disable-fsync", "Do not invoke fsync()"),
        flag!("per-object-fsync", "Perform writes in such a way that avoids stalling concurrent processes"),
        flag!("untrusted", "Verify checksums of local sources (always enabled for HTTP pulls)"),
        flag!("bareuseronly-files", "Reject regular files with mode outside of 0775 (world writable, suid, etc.)"),
        opt!("cache-dir", "FILENAME", "Use custom cache dir"),
        opt!("depth", "DEPTH", "Traverse DEPTH parents (-1=infinite) (default: 0)"),
        opt!("url", "URL", "Pull objects from this URL instead of the one from the remote config"),
        opt!("http-header", "NAME=VALUE", "Add NAME=VALUE as HTTP header to all requests"),
        opt!("append-user-agent", "NAME/VERSION", "Additional string to append to the user agent"),
        opt!(
            "network-retries",
            "N",
            "Specifies how many times each download should be retried upon error (default: 5)"
        ),
        opt!("subpath", "PATH", "Only pull the provided subpath(s)"),
        opt!("update-frequency", "FREQUENCY", "Sets the update frequency, in milliseconds (0=1000ms) (default: 0)"),
        opt!("localcache-repo", 'L', "REPO", "Add REPO as local cache source for objects during this pull"),
        flag!("timestamp-check", 'T', "Require fetched commits to have newer timestamps"),
        opt!("timestamp-check-from-rev", "REV", "Require fetched commits to have newer timestamps than given rev"),
        flag!("disable-verify-bindings", "Do not verify commit bindings"),
        flag!("disable-static-deltas", "Do not use static deltas"),
        flag!("require-static-deltas", "Require static deltas"),
        flag!("dry-run", "Only print information on what will be downloaded (requires static deltas)"),
        flag!("http-trusted", "Do not verify checksums of content mirrored into an archive repo"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    // `pull REMOTE:REF` names the remote and one ref in one argument.
    let first = ctx.arg(0, "REMOTE")?;
    let (remote, mut refs): (&str, Vec<String>) = match first.split_once(':') {
        Some((r, name)) if !r.is_empty() && !name.is_empty() => (r, vec![name.to_string()]),
        _ => (first, Vec::new()),
    };
    refs.extend(a.args[1..].iter().cloned());
    if a.flag("dry-run") && !a.flag("require-static-deltas") {
        anyhow::bail!("--dry-run requires --require-static-deltas");
    }
    let mut dest = ctx.repo()?;
    if a.flag("disable-fsync") {
        dest.set_fsync(false);
    }
    pull_into(&dest, remote, refs, a, false)
}

/// Pulls `refs` (all the remote's, or its `branches`, when empty) from
/// `remote` into `dest` with the pull options in `a`; prints OSTree's
/// closing line unless `quiet`. `admin upgrade` pulls through here too.
pub fn pull_into(dest: &Repo, remote: &str, mut refs: Vec<String>, a: &crate::opts::Parsed, quiet: bool) -> Result<()> {
    let depth = match a.get("depth") {
        Some(d) => d.parse::<i64>().map_err(|_| anyhow!("Invalid --depth '{d}'"))?,
        None => 0,
    };
    if let Some(state) = dest.remote_option(remote, "unconfigured-state")? {
        anyhow::bail!("{state}");
    }
    if let Some(backend) = dest.remote_option(remote, "custom-backend")? {
        anyhow::bail!("Cannot pull via ostree: remote '{remote}' uses custom backend '{backend}'");
    }
    let url = match a.get("url") {
        Some(u) => u.to_string(),
        None => {
            dest.remote_option(remote, "url")?.ok_or_else(|| anyhow!("No \"url\" option in remote \"{remote}\""))?
        }
    };
    let Some(path) = url.strip_prefix("file://") else {
        return pull_http(dest, remote, &refs, depth, a, quiet);
    };
    for o in ["localcache-repo", "timestamp-check", "timestamp-check-from-rev"] {
        if a.flag(o) {
            anyhow::bail!("--{o} is not supported for file:// remotes yet (pull them over http:// instead)");
        }
    }
    let src = Repo::open(std::path::Path::new(path))?;
    if refs.is_empty() {
        let branches = dest.remote_option(remote, "branches")?.unwrap_or_default();
        refs = branches.split(';').filter(|b| !b.is_empty()).map(str::to_string).collect();
        if refs.is_empty() {
            refs = src.list_refs(None)?.into_keys().collect();
        }
    }
    let opts = PullLocalOptions {
        untrusted: true,
        depth,
        commit_metadata_only: a.flag("commit-metadata-only"),
        remote: Some(remote.to_string()),
        bareuseronly_files: a.flag("bareuseronly-files"),
        subpaths: a.all("subpath").into_iter().map(str::to_string).collect(),
        require_static_deltas: a.flag("require-static-deltas"),
        dry_run: a.flag("dry-run"),
        verify_commits: true,
        verify_summary: match dest.remote_option(remote, "gpg-verify-summary")? {
            Some(v) => oxtree_store::repo::KeyFile::parse_bool(&v)
                .ok_or_else(|| anyhow!("remote \"{remote}\": gpg-verify-summary={v} is not a boolean"))?,
            None => false,
        },
    };
    let stats = pull_local(&src, dest, &refs, &opts)?;
    if a.flag("dry-run") {
        println!("{}", dry_run_line(&stats.deltas));
        return Ok(());
    }
    if !quiet {
        println!("{}", closing_line(&stats, None));
    }
    Ok(())
}

fn pull_http(
    dest: &Repo,
    remote: &str,
    refs: &[String],
    depth: i64,
    a: &crate::opts::Parsed,
    quiet: bool,
) -> Result<()> {
    let mut http = HttpOptions::default();
    for h in a.all("http-header") {
        let (k, v) = h.split_once('=').ok_or_else(|| anyhow!("--http-header must be of the form NAME=VALUE: {h}"))?;
        http.headers.push((k.to_string(), v.to_string()));
    }
    if let Some(n) = a.get("network-retries") {
        http.retries = n.parse().map_err(|_| anyhow!("Invalid --network-retries '{n}'"))?;
    }
    http.user_agent_suffix = a.get("append-user-agent").map(str::to_string);
    let mut opts = PullOptions {
        cache_dir: a.get("cache-dir").map(std::path::PathBuf::from),
        depth,
        commit_metadata_only: a.flag("commit-metadata-only"),
        bareuseronly_files: a.flag("bareuseronly-files"),
        url: a.get("url").map(str::to_string),
        mirror: a.flag("mirror"),
        http,
        localcache_repos: a.all("localcache-repo").into_iter().map(std::path::PathBuf::from).collect(),
        subpaths: a.all("subpath").into_iter().map(str::to_string).collect(),
        timestamp_check: a.flag("timestamp-check"),
        timestamp_check_from_rev: a.get("timestamp-check-from-rev").map(str::to_string),
        disable_verify_bindings: a.flag("disable-verify-bindings"),
        progress: None,
        gpg_report: None,
        disable_static_deltas: a.flag("disable-static-deltas"),
        require_static_deltas: a.flag("require-static-deltas"),
        http_trusted: a.flag("http-trusted"),
        dry_run: a.flag("dry-run"),
    };
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if on_terminal {
        let ms = match a.get("update-frequency") {
            Some(f) => f.parse::<u64>().map_err(|_| anyhow!("Invalid --update-frequency '{f}'"))?,
            None => 0,
        };
        opts.progress = Some(progress_line(std::time::Duration::from_millis(if ms == 0 { 1000 } else { ms })));
        // As ostree on a terminal: each commit's signatures, good or not.
        opts.gpg_report = Some(oxtree_fetch::verify::GpgReport(std::sync::Arc::new(|_, r| {
            print!("\r\x1b[K\n{}", r.describe_all("GPG: Verification enabled, found"));
        })));
    }
    let start = std::time::Instant::now();
    let result = oxtree_fetch::pull(dest, remote, refs, &opts);
    if on_terminal {
        // The progress line goes; the closing line or the error takes its place.
        print!("\r\x1b[K");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
    let stats = result?;
    if a.flag("dry-run") {
        println!("{}", dry_run_line(&stats.deltas));
        return Ok(());
    }
    let mut fetched = stats.objects;
    fetched.metadata -= stats.local_metadata.min(fetched.metadata);
    fetched.metadata += stats.meta_files;
    fetched.content -= stats.local_content.min(fetched.content);
    let mut line = closing_line(&fetched, Some((stats.bytes_received, start.elapsed().as_secs())));
    let d = &stats.deltas;
    if d.deltas > 0 {
        // OSTree's line after a delta pull: parts, then the objects fetched
        // one by one (fallbacks and what the deltas did not bring).
        fetched.content_bytes += d.content_bytes;
        let rest = closing_line(&fetched, Some((stats.bytes_received, start.elapsed().as_secs())));
        let rest = rest.split_once("; ").map_or(rest.as_str(), |(_, r)| r).to_string();
        line = format!(
            "{} delta parts, {} loose fetched; {rest}",
            d.parts_fetched,
            fetched.metadata + fetched.content - stats.meta_files.min(fetched.metadata)
        );
    }
    if stats.local_metadata + stats.local_content > 0 {
        // OSTree puts what came from --localcache-repo after the counts.
        let at = line.find(" fetched").map_or(line.len(), |i| i + " fetched".len());
        line.insert_str(at, &format!(" ({} meta, {} content local)", stats.local_metadata, stats.local_content));
    }
    if !quiet {
        println!("{line}");
    }
    Ok(())
}

/// What `--dry-run` reports: the parts and bytes the deltas would bring
/// (none of which a dry run fetches).
fn dry_run_line(d: &oxtree_fetch::delta::pull::DeltaPullStats) -> String {
    format!(
        "Delta update: {}/{} parts, {}/{}, {} total uncompressed",
        d.parts_fetched,
        d.total_parts,
        format_size(0),
        format_size(d.total_size),
        format_size(d.total_usize)
    )
}

/// A progress line on the terminal, redrawn at most every `every`:
/// objects done of those known so far, speed, bytes received.
fn progress_line(every: std::time::Duration) -> oxtree_fetch::ProgressFn {
    let start = std::time::Instant::now();
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    oxtree_fetch::ProgressFn(std::sync::Arc::new(move |p: &oxtree_fetch::Progress| {
        let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
        if l.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        *l = Some(std::time::Instant::now());
        let secs = start.elapsed().as_secs_f64().max(0.001);
        let pct = (p.done * 100).checked_div(p.known).unwrap_or(0).min(100);
        let speed = format_size((p.bytes as f64 / secs) as u64);
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "\r\x1b[KReceiving objects: {pct}% ({}/{}) {speed}/s {}",
            p.done,
            p.known,
            format_size(p.bytes)
        );
        let _ = out.flush();
    }))
}

/// OSTree's closing line of a pull, which scripts read: objects
/// "imported" from a local repo, or "fetched" with the bytes received
/// (whole KiB from 1024 bytes on) and seconds taken over the network.
pub(crate) fn closing_line(stats: &PullStats, network: Option<(u64, u64)>) -> String {
    let counts = format!("{} metadata, {} content objects", stats.metadata, stats.content);
    let written = format_size(stats.content_bytes);
    match network {
        None => format!("{counts} imported; {written} content written"),
        Some((bytes, secs)) => {
            let transferred = if bytes < 1024 { format!("{bytes} B") } else { format!("{} KiB", bytes / 1024) };
            format!("{counts} fetched; {transferred} transferred in {secs} seconds; {written} content written")
        }
    }
}

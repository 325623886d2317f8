//! `remote`: manage remotes (`add`, `delete`, `show-url`, `list`), show
//! what their servers hold (`refs`, `summary`), their GPG keyrings
//! (`gpg-import`, `gpg-list-keys`) and their cookie jars (`add-cookie`,
//! `delete-cookie`, `list-cookies`).

use anyhow::{bail, Context as _, Result};
use oxtree_fetch::cookies;

use super::{no_run, Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "remote",
    usage: "COMMAND",
    summary: "Remote commands that may involve internet access",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[
        &ADD,
        &DELETE,
        &SHOW_URL,
        &LIST,
        &GPG_IMPORT,
        &GPG_LIST_KEYS,
        &ADD_COOKIE,
        &DELETE_COOKIE,
        &LIST_COOKIES,
        &REFS,
        &SUMMARY,
    ],
};

static ADD: Command = Command {
    name: "add",
    usage: "NAME [metalink=|mirrorlist=]URL [BRANCH...]",
    summary: "Add a remote repository",
    opts: &[
        opt!("set", "KEY=VALUE", "Set config option KEY=VALUE for remote"),
        flag!("no-gpg-verify", "Disable GPG verification"),
        flag!("no-sign-verify", "Disable signature verification"),
        opt!(
            "sign-verify",
            "KEYTYPE=[inline|file]:PUBKEY",
            "Verify signatures using KEYTYPE=inline:PUBKEY or KEYTYPE=file:/path/to/key"
        ),
        flag!("if-not-exists", "Do nothing if the provided remote exists"),
        flag!("force", "Replace the provided remote if it exists"),
        opt!("gpg-import", "FILE", "Import GPG key from FILE"),
        opt!("custom-backend", "NAME", "This remote has content not fetched via libostree"),
        opt!("contenturl", "URL", "Use URL when fetching content"),
        opt!(
            "collection-id",
            "COLLECTION-ID",
            "Globally unique ID for this repository as an collection of refs for redistribution to other repositories"
        ),
        opt!("sysroot", "PATH", "Use sysroot at PATH (overrides --repo)"),
    ],
    repo: true,
    run: add,
    subcommands: &[],
};

static DELETE: Command = Command {
    name: "delete",
    usage: "NAME",
    summary: "Delete a remote repository",
    opts: &[
        flag!("if-exists", "Do nothing if the provided remote does not exist"),
        opt!("sysroot", "PATH", "Use sysroot at PATH (overrides --repo)"),
    ],
    repo: true,
    run: delete,
    subcommands: &[],
};

static SHOW_URL: Command = Command {
    name: "show-url",
    usage: "NAME",
    summary: "Show remote repository URL",
    opts: &[],
    repo: true,
    run: show_url,
    subcommands: &[],
};

static LIST: Command = Command {
    name: "list",
    usage: "",
    summary: "List remote repository names",
    opts: &[flag!("show-urls", 'u', "Show remote URLs in list")],
    repo: true,
    run: list,
    subcommands: &[],
};

static ADD_COOKIE: Command = Command {
    name: "add-cookie",
    usage: "NAME DOMAIN PATH COOKIE_NAME VALUE",
    summary: "Add a cookie to remote",
    opts: &[],
    repo: true,
    run: add_cookie,
    subcommands: &[],
};

static DELETE_COOKIE: Command = Command {
    name: "delete-cookie",
    usage: "NAME DOMAIN PATH COOKIE_NAME",
    summary: "Remove one cookie from remote",
    opts: &[],
    repo: true,
    run: delete_cookie,
    subcommands: &[],
};

static LIST_COOKIES: Command = Command {
    name: "list-cookies",
    usage: "NAME",
    summary: "Show remote repository cookies",
    opts: &[],
    repo: true,
    run: list_cookies,
    subcommands: &[],
};

static GPG_IMPORT: Command = Command {
    name: "gpg-import",
    usage: "NAME [KEY-ID...]",
    summary: "Import GPG keys",
    opts: &[
        opt!("keyring", 'k', "FILE", "Import keys from a keyring file (repeatable)"),
        flag!("stdin", "Import keys from standard input"),
    ],
    repo: true,
    run: gpg_import,
    subcommands: &[],
};

static GPG_LIST_KEYS: Command = Command {
    name: "gpg-list-keys",
    usage: "[NAME]",
    summary: "Show remote GPG keys",
    opts: &[],
    repo: true,
    run: gpg_list_keys,
    subcommands: &[],
};

/// Merges into `remote`'s keyring the keys of `source` (those `key_ids`
/// name, or all), and says how many were new.
fn import_keys(repo: &oxtree_store::Repo, remote: &str, source: &[u8], origin: &str, key_ids: &[String]) -> Result<()> {
    use oxtree_sign::openpgp::Keyring;
    repo.remote_option(remote, "url").map_err(|e| anyhow::anyhow!("GPG: {e}"))?;
    let mut from = Keyring::new();
    from.add_bytes(source, std::path::Path::new(origin)).map_err(|e| anyhow::anyhow!("GPG: {e}"))?;
    if from.is_empty() {
        bail!("GPG: Unable to import keys: {origin} holds no public keys");
    }
    let chosen: Vec<_> = if key_ids.is_empty() {
        from.keys().to_vec()
    } else {
        let mut out = Vec::new();
        for id in key_ids {
            match from.lookup(id).as_slice() {
                [] => bail!("GPG: Unable to find key \"{id}\" in {origin}"),
                [k] => out.push((*k).clone()),
                _ => bail!("GPG: key id {id} ambiguous in {origin}. Try the fingerprint instead"),
            }
        }
        out
    };
    let path = oxtree_fetch::verify::remote_keyring_path(repo, remote);
    let mut keyring = Keyring::new();
    if path.exists() {
        keyring.add_file(&path)?;
    }
    let new = chosen.into_iter().filter(|k| keyring.merge(k.clone())).count();
    oxtree_store::repo::write_atomic(&path, &keyring.to_bytes(), 0o644, repo.fsync_enabled())?;
    println!("Imported {new} GPG key{} to remote \"{remote}\"", if new == 1 { "" } else { "s" });
    Ok(())
}

fn gpg_import(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let name = ctx.arg(0, "NAME")?;
    let files = a.all("keyring");
    if !files.is_empty() && a.flag("stdin") {
        bail!("--keyring and --stdin are mutually exclusive");
    }
    let mut source = Vec::new();
    let origin = if a.flag("stdin") {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut source).context("reading standard input")?;
        "standard input".to_string()
    } else if files.is_empty() {
        // As OSTree's CLI: the personal keyring is not read.
        bail!("GPG: Unable to export keys: no keys given (use --keyring FILE or --stdin)");
    } else {
        for f in &files {
            source.extend(std::fs::read(f).with_context(|| format!("Error opening file {f}"))?);
        }
        files.join(", ")
    };
    let repo = repo_for(ctx)?;
    import_keys(&repo, name, &source, &origin, &a.args[1..])
}

fn gpg_list_keys(ctx: &Context) -> Result<()> {
    use oxtree_sign::openpgp::{self, Keyring};
    let repo = repo_for(ctx)?;
    let keyring = match ctx.args.args.first() {
        // A remote's own keys (not the global ones it falls back on).
        Some(remote) => {
            repo.remote_option(remote, "url")?;
            oxtree_fetch::verify::remote_keyring(&repo, remote, false).map_err(|e| anyhow::anyhow!(e))?
        }
        None => {
            let mut k = Keyring::new();
            k.add_keyring_dir(&openpgp::global_keyring_dir())?;
            k
        }
    };
    print!("{}", openpgp::listing::list_keys(keyring.keys(), openpgp::verify::now()));
    Ok(())
}

static REFS: Command = Command {
    name: "refs",
    usage: "NAME",
    summary: "List remote refs",
    opts: &[],
    repo: true,
    run: refs,
    subcommands: &[],
};

static SUMMARY: Command = Command {
    name: "summary",
    usage: "NAME",
    summary: "Show remote summary",
    opts: &[flag!("raw", "Show raw variant data")],
    repo: true,
    run: summary,
    subcommands: &[],
};

/// The remote's summary, fetched now; an error if it has none.
fn remote_summary(ctx: &Context) -> Result<(String, Vec<u8>)> {
    let name = ctx.arg(0, "NAME")?;
    let repo = repo_for(ctx)?;
    let http = oxtree_fetch::http::HttpOptions::default();
    let bytes = oxtree_fetch::fetch_remote_summary(&repo, name, &http)?
        .ok_or_else(|| anyhow::anyhow!("Remote refs not available; server has no summary file"))?;
    Ok((name.to_string(), bytes))
}

fn refs(ctx: &Context) -> Result<()> {
    let (name, bytes) = remote_summary(ctx)?;
    let s =
        oxtree_store::summary::Summary::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("summary of {name}: {e}"))?;
    let mut names: Vec<&str> = s.refs.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    for r in names {
        println!("{name}:{r}");
    }
    Ok(())
}

fn summary(ctx: &Context) -> Result<()> {
    let (name, bytes) = remote_summary(ctx)?;
    let bad = |e: oxtree_store::object::ObjectError| anyhow::anyhow!("summary of {name}: {e}");
    // With gpg-verify-summary on, the summary is shown only if its
    // signatures hold, and they are shown after it.
    let repo = repo_for(ctx)?;
    let mut signatures = None;
    if let Some(keyring) = oxtree_fetch::remote::remote_checks(&repo, &name, true)?.gpg {
        let http = oxtree_fetch::http::HttpOptions::default();
        let sig = oxtree_fetch::fetch_remote_file(&repo, &name, &http, "summary.sig")?;
        let meta = sig.as_deref().map(|s| oxtree_store::object::CommitMetadata::from_bytes(s).unwrap_or_default());
        let result = match &meta {
            Some(m) => oxtree_fetch::verify::gpg_verify(&keyring, &bytes, m).map_err(|e| anyhow::anyhow!(e))?,
            None => None,
        };
        let Some(result) = result.filter(|r| !r.signatures.is_empty()) else {
            bail!(
                "GPG verification enabled, but no summary signatures found \
                 (use gpg-verify-summary=false in remote config to disable)"
            );
        };
        result.require_valid()?;
        signatures = Some(result);
    }
    if ctx.args.flag("raw") {
        println!("{}", oxtree_store::summary::raw_text(&bytes).map_err(bad)?);
    } else {
        print!("{}", oxtree_store::summary::Summary::from_bytes(&bytes).map_err(bad)?.view_text());
        if let Some(r) = signatures {
            print!("\n{}", r.describe_all("GPG: Verification enabled, found"));
        }
    }
    Ok(())
}

fn repo_for(ctx: &Context) -> Result<oxtree_store::Repo> {
    if let Some(sysroot) = ctx.args.get("sysroot") {
        return Ok(oxtree_store::Repo::open(&std::path::Path::new(sysroot).join("ostree/repo"))?);
    }
    ctx.repo()
}

/// Where `remote add --sysroot=S` puts a remote, as OSTree decides: a
/// sysroot that is a deployment (it has a `sysroot/` inside, so it is not
/// the physical root) keeps remotes in `S/etc/ostree/remotes.d/`, unless
/// its repo says `core.add-remotes-config-dir=false`; a physical sysroot
/// keeps them in the repo config.
fn sysroot_remotes_d(ctx: &Context, repo: &oxtree_store::Repo) -> Option<std::path::PathBuf> {
    let sysroot = std::path::Path::new(ctx.args.get("sysroot")?);
    let physical = !sysroot.join("sysroot").exists();
    let use_dir = repo.config().get_bool("core", "add-remotes-config-dir").and_then(Result::ok).unwrap_or(true);
    (!physical && use_dir).then(|| sysroot.join("etc/ostree/remotes.d"))
}

fn add(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let name = ctx.arg(0, "NAME")?;
    // A remote of a custom backend (containers, say) needs no URL.
    let url = match a.args.get(1) {
        Some(u) => Some(u.as_str()),
        None if a.get("custom-backend").is_some() => None,
        None => Some(ctx.arg(1, "URL")?),
    };
    let mut options: Vec<(String, String)> = Vec::new();
    // --sign-verify=TYPE=inline:KEY or TYPE=file:PATH: verify commits with
    // that signer and key.
    let mut sign_types: Vec<&str> = Vec::new();
    for spec in a.all("sign-verify") {
        let Some((ty, keyref)) = spec.split_once('=') else {
            bail!("Failed to parse KEYTYPE=[inline|file]:DATA in {spec}");
        };
        oxtree_sign::SignType::from_name(ty)?;
        let option = match keyref.split_once(':') {
            Some(("inline", key)) => format!("verification-{ty}-key={key}"),
            Some(("file", path)) => format!("verification-{ty}-file={path}"),
            _ => bail!("Invalid key reference {keyref}, expected inline|file"),
        };
        let (k, v) = option.split_once('=').unwrap_or_default();
        options.push((k.to_string(), v.to_string()));
        if !sign_types.contains(&ty) {
            sign_types.push(ty);
        }
    }
    if !sign_types.is_empty() {
        options.push(("sign-verify".into(), sign_types.join(",")));
    }
    if let Some(c) = a.get("contenturl") {
        options.push(("contenturl".into(), c.into()));
    }
    let branches = a.args.get(2..).unwrap_or_default();
    if !branches.is_empty() {
        options.push(("branches".into(), branches.iter().map(|b| format!("{b};")).collect()));
    }
    if let Some(c) = a.get("collection-id") {
        options.push(("collection-id".into(), c.into()));
    }
    if let Some(c) = a.get("custom-backend") {
        options.push(("custom-backend".into(), c.into()));
    }
    for kv in a.all("set") {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("Missing '=' in KEY=VALUE for --set");
        };
        options.push((k.into(), v.into()));
    }
    if a.flag("no-gpg-verify") || a.flag("no-sign-verify") {
        options.push(("gpg-verify".into(), "false".into()));
    }
    if a.flag("no-sign-verify") {
        options.push(("sign-verify".into(), "false".into()));
    }
    let mut repo = repo_for(ctx)?;
    match sysroot_remotes_d(ctx, &repo) {
        Some(dir) => repo.add_remote_file(
            &dir.join(format!("{name}.conf")),
            name,
            url,
            &options,
            a.flag("if-not-exists"),
            a.flag("force"),
        )?,
        None => repo.add_remote(name, url, &options, a.flag("if-not-exists"), a.flag("force"))?,
    }
    // The remote stays added if the import fails, as in OSTree.
    if let Some(f) = a.get("gpg-import") {
        let source = std::fs::read(f).with_context(|| format!("Error opening file {f}"))?;
        import_keys(&repo, name, &source, f, &[])?;
    }
    Ok(())
}

fn delete(ctx: &Context) -> Result<()> {
    let name = ctx.arg(0, "NAME")?;
    let mut repo = repo_for(ctx)?;
    let existed = repo.remote_source(name).is_some();
    repo.delete_remote(name, ctx.args.flag("if-exists"))?;
    let keyring = oxtree_fetch::verify::remote_keyring_path(&repo, name);
    if existed && keyring.exists() {
        std::fs::remove_file(&keyring).with_context(|| format!("removing {}", keyring.display()))?;
    }
    Ok(())
}

fn show_url(ctx: &Context) -> Result<()> {
    let name = ctx.arg(0, "NAME")?;
    let repo = ctx.repo()?;
    match repo.remote_option(name, "url")? {
        Some(u) => println!("{u}"),
        None => bail!("No \"url\" option in remote \"{name}\""),
    }
    Ok(())
}

fn list(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    let names = repo.remote_names();
    if ctx.args.flag("show-urls") {
        let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
        for n in &names {
            let url = repo.remote_option(n, "url")?.unwrap_or_else(|| "(invalid)".into());
            println!("{n:<width$}  {url}");
        }
    } else {
        for n in &names {
            println!("{n}");
        }
    }
    Ok(())
}

/// The jar of the remote named by the first argument (which must exist).
fn cookie_jar(ctx: &Context) -> Result<std::path::PathBuf> {
    let name = ctx.arg(0, "NAME")?;
    let repo = ctx.repo()?;
    repo.remote_option(name, "url")?;
    Ok(cookies::jar_path(repo.path(), name))
}

fn add_cookie(ctx: &Context) -> Result<()> {
    let jar = cookie_jar(ctx)?;
    let (domain, path) = (ctx.arg(1, "DOMAIN")?, ctx.arg(2, "PATH")?);
    let (name, value) = (ctx.arg(3, "COOKIE_NAME")?, ctx.arg(4, "VALUE")?);
    let mut all = cookies::load(&jar).with_context(|| format!("reading {}", jar.display()))?;
    // Like a browser: a cookie replaces the one of the same domain, path and name.
    all.retain(|c| !(c.domain == domain && c.path == path && c.name == name));
    all.push(cookies::new_cookie(domain, path, name, value));
    cookies::save(&jar, &all).with_context(|| format!("writing {}", jar.display()))
}

fn delete_cookie(ctx: &Context) -> Result<()> {
    let jar = cookie_jar(ctx)?;
    let (domain, path, name) = (ctx.arg(1, "DOMAIN")?, ctx.arg(2, "PATH")?, ctx.arg(3, "COOKIE_NAME")?);
    let mut all = cookies::load(&jar).with_context(|| format!("reading {}", jar.display()))?;
    let before = all.len();
    all.retain(|c| !(c.domain == domain && c.path == path && c.name == name));
    if all.len() == before {
        bail!("Cookie not found in jar");
    }
    cookies::save(&jar, &all).with_context(|| format!("writing {}", jar.display()))
}

fn list_cookies(ctx: &Context) -> Result<()> {
    let jar = cookie_jar(ctx)?;
    for c in cookies::load(&jar).with_context(|| format!("reading {}", jar.display()))? {
        println!("--");
        println!("Domain: {}", c.domain);
        println!("Path: {}", c.path);
        println!("Name: {}", c.name);
        println!("Secure: {}", if c.secure { "yes" } else { "no" });
        println!("Expires: {}", c.expires);
        println!("Value: {}", c.value);
    }
    Ok(())
}

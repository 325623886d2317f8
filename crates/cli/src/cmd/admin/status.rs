//! `admin status`: the deployments, in boot order.
//!
//! The text is OSTree's. `--json` prints one object for scripts:
//!
//! ```text
//! { "deployments": [ {
//!     "index": 0,                  // position in boot order (0 = default)
//!     "stateroot": "os",
//!     "checksum": "<commit>",      // 64 hex digits
//!     "serial": 0,                 // deployment serial (CHECKSUM.SERIAL)
//!     "booted": false, "pending": false, "rollback": false, "pinned": false,
//!     "staged": false,             // finalized at shutdown (`deploy --stage`); no boot entry yet
//!     "unlocked": "none",          // or "development", "hotfix", "transient"
//!     "version": "1.0" | null,     // the commit's `version` metadata
//!     "timestamp": 1700000000 | null,  // the commit's time (seconds)
//!     "refspec": "remote:ref" | null,  // `[origin] refspec` of the .origin file
//!     "base-refspec": "remote:ref" | null, // `[origin] baserefspec`: a layered deployment's base
//!     "base-checksum": "<commit>" | null,  // a layered deployment's base commit
//!     "layered-packages": ["NAME-EVR.ARCH", ...], // packages layered by `oxtree install`
//!     "source-title": "..." | null,    // `ostree.source-title` metadata
//!     "bootcsum": "<boot checksum>", "bootserial": 0,
//!     "kernel-args": "root=...",   // the entry's options without `ostree=`
//!     "path": "/sysroot/ostree/deploy/os/deploy/<commit>.0"
//! } ] }
//! ```
//!
//! Fields may be added; none will be removed or change meaning.

use anyhow::{anyhow, bail, Result};
use oxtree_fetch::verify;
use oxtree_store::gvariant::Value;
use oxtree_store::object::{Commit, CommitMetadata, ObjectType};
use oxtree_store::repo::{KeyFile, Repo};
use oxtree_store::Checksum;
use oxtree_sysroot::unlock::UnlockState;
use oxtree_sysroot::{Deployment, Sysroot};

use super::open;
use crate::cmd::{Command, Context};
use crate::{admin_opts, flag};

pub static COMMAND: Command = Command {
    name: "status",
    usage: "",
    summary: "List deployments",
    opts: admin_opts![
        flag!("verify", 'V', "Print the commit verification status"),
        flag!("json", "Print the deployments as JSON (see the module documentation)"),
    ],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let s = open(ctx)?;
    if ctx.args.flag("json") {
        println!("{}", json(&s));
    } else {
        // What comes before a failed verification is printed, as OSTree
        // prints as it goes.
        let mut out = String::new();
        let res = write_text(&s, ctx.args.flag("verify"), &mut out);
        print!("{out}");
        res?;
    }
    Ok(())
}

/// One deployment as `status` shows it.
struct Row<'a> {
    d: &'a Deployment,
    booted: bool,
    pending: bool,
    rollback: bool,
    commit: Option<Commit>,
}

impl Row<'_> {
    fn meta(&self, key: &str) -> Option<String> {
        self.commit.as_ref().and_then(|c| c.metadata.get(key).and_then(Value::as_str).map(str::to_string))
    }

    /// The base commit of a layered deployment (its commit's parent).
    fn base(&self) -> Option<Checksum> {
        let csum = Checksum::from_hex(&self.d.csum).ok()?;
        oxtree_rpmimport::layer::base_of(&csum, self.commit.as_ref()?).filter(|b| *b != csum)
    }
}

/// The NEVRAs of the packages an origin layers.
fn layered(origin: &KeyFile) -> Vec<String> {
    oxtree_rpmimport::layer::origin_layers(origin)
        .1
        .into_iter()
        .filter_map(|s| match s {
            oxtree_rpmimport::layer::Source::Cached { nevra, .. } => Some(nevra),
            oxtree_rpmimport::layer::Source::File(_) => None,
        })
        .collect()
}

/// The deployments in boot order, with OSTree's marks: the booted one;
/// pending, the first of the booted stateroot's deployments before the
/// booted one; rollback, the first after it.
fn rows(s: &Sysroot) -> Vec<Row<'_>> {
    let booted = s.booted_deployment();
    let (mut pending, mut rollback) = (None, None);
    if let Some(b) = booted {
        let mut before = true;
        for d in s.deployments().iter().filter(|d| d.stateroot == b.stateroot) {
            if d.same(b) {
                before = false;
            } else if before && pending.is_none() {
                pending = Some(d.index);
            } else if !before && rollback.is_none() {
                rollback = Some(d.index);
            }
        }
    }
    s.deployments()
        .iter()
        .map(|d| Row {
            d,
            booted: booted.is_some_and(|b| b.same(d)),
            pending: pending == Some(d.index),
            rollback: rollback == Some(d.index),
            commit: Checksum::from_hex(&d.csum).ok().and_then(|c| s.repo().load_commit(&c).ok()),
        })
        .collect()
}

/// `admin status`'s text for a sysroot. With `verify`, each deployment's
/// commit must pass its remote's checks (GPG and signapi), whose report is
/// printed; without, the GPG signatures of commits from remotes with
/// `gpg-verify` are described.
pub fn text(s: &Sysroot, verify: bool) -> Result<String> {
    let mut out = String::new();
    write_text(s, verify, &mut out)?;
    Ok(out)
}

/// [`text`], into `out` as far as it gets.
fn write_text(s: &Sysroot, verify: bool, out: &mut String) -> Result<()> {
    if s.deployments().is_empty() {
        out.push_str("No deployments.\n");
        return Ok(());
    }
    for r in rows(s) {
        let d = r.d;
        let mut suffix = String::new();
        if d.staged {
            suffix.push_str(" (staged)");
        } else if r.pending {
            suffix.push_str(" (pending)");
        }
        if r.rollback {
            suffix.push_str(" (rollback)");
        }
        out.push_str(&format!("{} {} {}{suffix}\n", if r.booted { '*' } else { ' ' }, d.stateroot, d.name()));
        if let Some(v) = r.meta("version") {
            out.push_str(&format!("    Version: {v}\n"));
        }
        let unlocked = s.unlocked(d);
        if unlocked != UnlockState::None {
            out.push_str(&format!("    Unlocked: {}\n", unlocked.name()));
        }
        if d.is_pinned() {
            out.push_str("    Pinned: yes\n");
        }
        match &d.origin {
            None => out.push_str("    origin: none\n"),
            Some(o) => {
                match (o.get("origin", "refspec"), o.get("origin", "baserefspec")) {
                    (Some(r), _) => out.push_str(&format!("    origin refspec: {r}\n")),
                    (None, Some(base)) => {
                        // Layered (see `oxtree install`): OSTree knows no
                        // such origin; these lines are oxtree's.
                        out.push_str(&format!("    origin base refspec: {base}\n"));
                        if let Some(p) = r.base() {
                            out.push_str(&format!("    base commit: {p}\n"));
                        }
                        out.push_str(&format!("    layered packages: {}\n", layered(o).join(" ")));
                    }
                    (None, None) => out.push_str("    origin: <unknown origin type>\n"),
                }
                if let Some(t) = r.meta("ostree.source-title") {
                    out.push_str(&format!("    `- {t}\n"));
                }
            }
        }
        let remote = d.refspec().and_then(|r| r.split_once(':')).map(|(remote, _)| remote);
        if verify {
            out.push_str(&verify_text(s.repo(), d, remote)?);
            out.push('\n');
        } else if let Some(remote) = remote {
            out.push_str(&gpg_text(s.repo(), d, remote)?);
        }
    }
    Ok(())
}

/// The commit of `d` and its detached metadata, if any.
fn commit_and_meta(repo: &Repo, d: &Deployment) -> Result<(Checksum, Vec<u8>, Option<CommitMetadata>)> {
    let c = Checksum::from_hex(&d.csum).map_err(|e| anyhow!("deployment {}: {e}", d.name()))?;
    let data = repo.read_metadata(ObjectType::Commit, &c)?;
    let meta = if repo.has_object(ObjectType::CommitMeta, &c) {
        let b = repo.read_metadata(ObjectType::CommitMeta, &c)?;
        Some(CommitMetadata::from_bytes(&b).unwrap_or_default())
    } else {
        None
    };
    Ok((c, data, meta))
}

/// `    GPG: ` lines describing each GPG signature of `d`'s commit, checked
/// against `remote`'s keys, when the remote verifies GPG signatures;
/// nothing for an unsigned commit.
fn gpg_text(repo: &Repo, d: &Deployment, remote: &str) -> Result<String> {
    let gpg_verify = match repo.remote_option(remote, "gpg-verify") {
        Ok(None) => true,
        Ok(Some(v)) => KeyFile::parse_bool(&v).unwrap_or(false),
        // A remote that is gone: nothing to check against, as for OSTree.
        Err(_) => false,
    };
    if !gpg_verify {
        return Ok(String::new());
    }
    let (c, data, meta) = commit_and_meta(repo, d)?;
    let Some(meta) = meta else { return Ok(String::new()) };
    if verify::gpg_signatures(&meta).map_err(|e| anyhow!("{c}: {e}"))?.is_none() {
        return Ok(String::new());
    }
    let keyring = verify::remote_keyring(repo, remote, true).map_err(|e| anyhow!(e))?;
    let result = verify::gpg_verify(&keyring, &data, &meta).map_err(|e| anyhow!(e))?.unwrap_or_default();
    Ok(result.signatures.iter().map(|sig| sig.describe("    GPG: ")).collect())
}

/// `--verify`: `d`'s commit checked as its remote requires (GPG, then the
/// signapi verifiers); the report, or the failure as the error.
fn verify_text(repo: &Repo, d: &Deployment, remote: Option<&str>) -> Result<String> {
    let Some(remote) = remote else {
        bail!("Cannot verify deployment {}: its origin names no remote", d.name());
    };
    let checks = oxtree_fetch::remote::remote_checks(repo, remote, false)?;
    if checks.is_empty() {
        bail!(
            "Cannot verify commit for remote {remote}; GPG verification disabled, and no signapi verifiers configured"
        );
    }
    let (c, data, meta) = commit_and_meta(repo, d)?;
    let mut out = String::new();
    if let Some(keyring) = &checks.gpg {
        let none = || {
            anyhow!(
                "GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)"
            )
        };
        let meta = meta.as_ref().ok_or_else(none)?;
        let result = verify::gpg_verify(keyring, &data, meta).map_err(|e| anyhow!(e))?.ok_or_else(none)?;
        if result.signatures.is_empty() {
            return Err(none());
        }
        result.require_valid().map_err(|e| anyhow!("{e}"))?;
        out.extend(result.signatures.iter().map(|sig| sig.describe("GPG: ")));
    }
    if !checks.sign.is_empty() {
        let meta =
            meta.as_ref().ok_or_else(|| anyhow!("Can't verify commit without detached metadata (commit {c})"))?;
        let msg = verify::verify_any(&checks.sign, &data, meta).map_err(|e| anyhow!("Can't verify commit: {e}"))?;
        out.push_str(&msg);
        out.push('\n');
    }
    Ok(out)
}

/// `admin status --json`: one object with the deployments in boot order
/// (schema in the module documentation).
pub fn json(s: &Sysroot) -> serde_json::Value {
    let deployments: Vec<serde_json::Value> = rows(s)
        .iter()
        .map(|r| {
            let d = r.d;
            serde_json::json!({
                "index": d.index,
                "stateroot": d.stateroot,
                "checksum": d.csum,
                "serial": d.deployserial,
                "booted": r.booted,
                "pending": r.pending,
                "staged": d.staged,
                "rollback": r.rollback,
                "pinned": d.is_pinned(),
                "unlocked": s.unlocked(d).name(),
                "version": r.meta("version"),
                "timestamp": r.commit.as_ref().map(|c| c.timestamp),
                "refspec": d.origin.as_ref().and_then(|o| o.get("origin", "refspec")),
                "base-refspec": d.origin.as_ref().and_then(|o| o.get("origin", "baserefspec")),
                "base-checksum": r.base().map(|c| c.to_hex()),
                "layered-packages": d.origin.as_ref().map(layered).unwrap_or_default(),
                "source-title": r.meta("ostree.source-title"),
                "bootcsum": d.bootcsum,
                "bootserial": d.bootserial,
                "kernel-args": d.kargs_without_ostree(),
                "path": s.deployment_dir(d).to_string_lossy(),
            })
        })
        .collect();
    serde_json::json!({ "deployments": deployments })
}

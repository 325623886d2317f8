//! `oxtree-prepare-root [--cmdline=TEXT] SYSROOT`: the initramfs step
//! that makes the deployment named by the kernel command line's `ostree=`
//! the root to switch to (OSTree's `ostree-prepare-root`). SYSROOT is the
//! mount point of the physical root, `/sysroot` in an initramfs.
//! `--cmdline` replaces `/proc/cmdline` (for tests and image builders).

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut cmdline: Option<String> = None;
    let mut sysroot: Option<String> = None;
    for a in std::env::args().skip(1) {
        if let Some(c) = a.strip_prefix("--cmdline=") {
            cmdline = Some(c.to_string());
        } else if a == "--help" || a == "-h" {
            println!("Usage: oxtree-prepare-root [--cmdline=TEXT] SYSROOT");
            return ExitCode::SUCCESS;
        } else if a.starts_with('-') || sysroot.is_some() {
            eprintln!(
                "oxtree-prepare-root: unexpected argument {a}\nUsage: oxtree-prepare-root [--cmdline=TEXT] SYSROOT"
            );
            return ExitCode::from(2);
        } else {
            sysroot = Some(a);
        }
    }
    let Some(sysroot) = sysroot else {
        eprintln!("Usage: oxtree-prepare-root [--cmdline=TEXT] SYSROOT");
        return ExitCode::from(2);
    };
    let cmdline = match cmdline {
        Some(c) => c,
        None => match std::fs::read_to_string("/proc/cmdline") {
            Ok(c) => c,
            Err(e) => {
                eprintln!("oxtree-prepare-root: reading /proc/cmdline: {e}");
                return ExitCode::from(1);
            }
        },
    };
    match oxtree_sysroot::prepare_root::prepare_root(std::path::Path::new(&sysroot), &cmdline) {
        Ok(p) => {
            println!(
                "oxtree-prepare-root: {sysroot} is now {}{}",
                p.deployment,
                if p.readonly { " (read-only sysroot)" } else { "" }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oxtree-prepare-root: {e}");
            ExitCode::from(1)
        }
    }
}

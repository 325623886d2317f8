//! `oxtree`: an OSTree-compatible command line. Invoked as `ostree` (for
//! example through a symlink) it behaves the same.

#![forbid(unsafe_code)]

mod cmd;
mod opts;
mod util;

use std::io::Write;
use std::process::ExitCode;

use cmd::{Context, COMMANDS, EXTRA_COMMANDS};
use opts::{ParseResult, UsageError};

/// The features `--version` claims: only what works.
/// `sign-ed25519`: the ed25519 signer (oxtree-sign); `gpgme`: OpenPGP
/// signing and verification (oxtree-sign's `openpgp`, no GPGME in it, but
/// OSTree's tests look for that name). OSTree's tests skip what is not
/// listed.
const FEATURES: &[&str] = &["libarchive", "gpgme", "sign-ed25519"];
// The OSTree release whose CLI this one mirrors.
use oxtree_store::OSTREE_COMPAT_VERSION;

fn prog_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "oxtree".into())
}

fn print_version() {
    println!("libostree:");
    println!(" Version: '{OSTREE_COMPAT_VERSION}'");
    println!(" oxtree: '{}'", env!("CARGO_PKG_VERSION"));
    println!(" Features:");
    for f in FEATURES {
        println!("  - {f}");
    }
}

fn main_help(prog: &str) -> String {
    let mut s = format!("Usage:\n  {prog} [OPTION…] COMMAND\n\nBuiltin Commands:\n");
    for c in COMMANDS {
        s.push_str(&format!("  {:<18}{}\n", c.name, c.summary));
    }
    s.push_str("\nHelp Options:\n  -h, --help        Show help options\n\nApplication Options:\n");
    s.push_str("  -v, --verbose     Print debug information during command processing\n");
    s.push_str("  --version         Print version information and exit\n\n");
    s
}

fn error_text(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    // Typed errors often print their source already; add only what is new.
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s
}

/// Splits `args` at the first non-option: (options before it, the word, the rest).
fn split_command(args: &[String]) -> (Vec<String>, Option<String>, Vec<String>) {
    let mut pre = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a.starts_with('-') && a != "-" {
            pre.push(a.clone());
        } else {
            return (pre, Some(a.clone()), args[i + 1..].to_vec());
        }
    }
    (pre, None, Vec::new())
}

/// Help for a command that has subcommands, in ostree's layout.
fn group_help(full: &str, command: &cmd::Command) -> String {
    let name = full.rsplit(' ').next().unwrap_or(full);
    let mut s = format!("Usage:\n  {full} [OPTION…] COMMAND\n\n{}\n\nBuiltin \"{name}\" Commands:\n", command.summary);
    for c in command.subcommands {
        s.push_str(&format!("  {:<18}{}\n", c.name, c.summary));
    }
    s.push_str("\nHelp Options:\n  -h, --help        Show help options\n\nApplication Options:\n");
    s.push_str("  -v, --verbose     Print debug information during command processing\n");
    s.push_str("  --version         Print version information and exit\n\n");
    s
}

fn main() -> ExitCode {
    let prog = prog_name();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Options before the command (`ostree --repo=R init`) are kept and
    // handed to the command, as ostree does.
    let (pre, name, rest) = split_command(&argv);
    let Some(name) = name else {
        if pre.iter().any(|a| a == "--version") {
            print_version();
            return ExitCode::SUCCESS;
        }
        if pre.iter().any(|a| a == "--help" || a == "-h") {
            print!("{}", main_help(&prog));
            return ExitCode::SUCCESS;
        }
        eprint!("{}", main_help(&prog));
        eprintln!("error: No command specified");
        return ExitCode::from(1);
    };
    let Some(mut command) = COMMANDS.iter().chain(EXTRA_COMMANDS).copied().find(|c| c.name == name) else {
        eprint!("{}", main_help(&prog));
        eprintln!("error: Unknown command '{name}'");
        return ExitCode::from(1);
    };
    let mut full = format!("{prog} {}", command.name);
    let mut cargs = pre;
    cargs.extend(rest);
    // Descend into subcommands; options seen on the way go to the leaf.
    while !command.subcommands.is_empty() {
        let (pre, sub, rest) = split_command(&cargs);
        let group = command.name;
        let Some(sub) = sub else {
            // `admin --print-current-dir` runs without a subcommand.
            if group == "admin" && pre.iter().any(|a| a == "--print-current-dir") {
                let parsed = match opts::parse(&pre, cmd::ADMIN_TOP_OPTS, false) {
                    Ok(ParseResult::Run(p)) => p,
                    Ok(ParseResult::Help) => {
                        print!("{}", group_help(&full, command));
                        return ExitCode::SUCCESS;
                    }
                    Err(e) => {
                        eprint!("{}", group_help(&full, command));
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                };
                return match cmd::admin_top(&Context { args: parsed }) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: {}", error_text(&e));
                        ExitCode::from(1)
                    }
                };
            }
            if pre.iter().any(|a| a == "--help" || a == "-h") {
                print!("{}", group_help(&full, command));
                return ExitCode::SUCCESS;
            }
            eprint!("{}", group_help(&full, command));
            eprintln!("error: No \"{group}\" subcommand specified");
            return ExitCode::from(1);
        };
        let Some(next) = command.subcommands.iter().copied().find(|c| c.name == sub) else {
            eprint!("{}", group_help(&full, command));
            eprintln!("error: Unknown \"{group}\" subcommand '{sub}'");
            return ExitCode::from(1);
        };
        command = next;
        full = format!("{full} {}", command.name);
        cargs = pre;
        cargs.extend(rest);
    }
    let usage =
        || opts::help(&full, &format!("[OPTION…] {}", command.usage), command.summary, command.opts, command.repo);
    let parsed = match opts::parse(&cargs, command.opts, command.repo) {
        Ok(ParseResult::Run(p)) => p,
        Ok(ParseResult::Help) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("{}", usage());
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if parsed.flag("version") {
        print_version();
        return ExitCode::SUCCESS;
    }
    let ctx = Context { args: parsed };
    let result = (command.run)(&ctx);
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<UsageError>().is_some() {
                eprint!("{}", usage());
            }
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

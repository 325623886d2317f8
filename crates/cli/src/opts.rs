//! Command-line parsing in the style of GLib's GOption, which `ostree` uses:
//! options may appear anywhere, long options take `--opt=VALUE` or
//! `--opt VALUE`, short options `-b VALUE` or `-bVALUE`, options may repeat,
//! and `--` ends option parsing. Help text is laid out as GOption does.

use std::collections::HashMap;
use std::fmt::Write as _;

/// One option a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// Long name without the dashes.
    pub long: &'static str,
    /// Short letter.
    pub short: Option<char>,
    /// The argument's name in help, for options that take one.
    pub arg: Option<&'static str>,
    /// One-line help.
    pub help: &'static str,
}

/// Declares an option: `opt!("name", 'n', "ARG", "help")`, `opt!("name", "ARG", "help")`,
/// `flag!("name", 'n', "help")`, `flag!("name", "help")`.
#[macro_export]
macro_rules! opt {
    ($long:literal, $short:literal, $arg:literal, $help:literal) => {
        $crate::opts::Opt { long: $long, short: Some($short), arg: Some($arg), help: $help }
    };
    ($long:literal, $arg:literal, $help:literal) => {
        $crate::opts::Opt { long: $long, short: None, arg: Some($arg), help: $help }
    };
}

/// See [`opt!`].
#[macro_export]
macro_rules! flag {
    ($long:literal, $short:literal, $help:literal) => {
        $crate::opts::Opt { long: $long, short: Some($short), arg: None, help: $help }
    };
    ($long:literal, $help:literal) => {
        $crate::opts::Opt { long: $long, short: None, arg: None, help: $help }
    };
}

/// `--repo`, shared by every command that works on a repository.
pub const REPO: Opt =
    opt!("repo", "PATH", "Path to OSTree repository (defaults to current directory or /sysroot/ostree/repo)");
const VERBOSE: Opt = flag!("verbose", 'v', "Print debug information during command processing");
const VERSION: Opt = flag!("version", "Print version information and exit");

/// The parsed command line of one command.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    /// Positional arguments.
    pub args: Vec<String>,
}

impl Parsed {
    /// True when the flag was given.
    pub fn flag(&self, long: &str) -> bool {
        self.values.contains_key(long)
    }
    /// The last value of an option.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.values.get(long).and_then(|v| v.last()).map(String::as_str)
    }
    /// Every value of a repeatable option, in order.
    /// Turns on a flag (a command that runs another's code with an option
    /// of its own choosing).
    pub fn set_flag(&mut self, long: &'static str) {
        self.values.entry(long).or_default().push(String::new());
    }
    pub fn all(&self, long: &str) -> Vec<&str> {
        self.values.get(long).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default()
    }
}

/// A usage error: the message, printed as `error: MESSAGE`.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// What parsing found.
pub enum ParseResult {
    /// Run the command.
    Run(Parsed),
    /// `--help` was given.
    Help,
}

/// Parses `argv` (after the command name) against `opts` (plus `--help`,
/// `--verbose`, `--version`, and `--repo` when `with_repo`).
/// The command's options plus the common ones. `-v` belongs to the command
/// when it defines it (`summary -v` is `--view`); `--verbose` keeps its long name.
fn all_opts(opts: &[Opt], with_repo: bool) -> Vec<Opt> {
    let mut all: Vec<Opt> = opts.to_vec();
    if with_repo {
        all.insert(0, REPO);
    }
    let mut verbose = VERBOSE;
    if opts.iter().any(|o| o.short == Some('v')) {
        verbose.short = None;
    }
    all.push(verbose);
    all.push(VERSION);
    all
}

pub fn parse(argv: &[String], opts: &[Opt], with_repo: bool) -> Result<ParseResult, UsageError> {
    let all = all_opts(opts, with_repo);
    let mut p = Parsed::default();
    let mut i = 0;
    let mut only_args = false;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if only_args || a == "-" || !a.starts_with('-') {
            p.args.push(a.clone());
            continue;
        }
        if a == "--" {
            only_args = true;
            continue;
        }
        if a == "--help" || a == "-h" || a == "-?" {
            return Ok(ParseResult::Help);
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let o = all.iter().find(|o| o.long == name).ok_or_else(|| UsageError(format!("Unknown option {a}")))?;
            if o.arg.is_some() {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        let v = argv.get(i).ok_or_else(|| UsageError(format!("Missing argument for --{name}")))?;
                        i += 1;
                        v.clone()
                    }
                };
                p.values.entry(o.long).or_default().push(v);
            } else {
                // GLib takes `--flag=VALUE` for a flag and ignores the
                // value (`pull-local --gpg-verify=false` still verifies).
                p.values.entry(o.long).or_default().push(String::new());
            }
            continue;
        }
        // Short options, possibly bundled: -xvf, -bVALUE, -b VALUE.
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            if c == 'h' || c == '?' {
                return Ok(ParseResult::Help);
            }
            let o =
                all.iter().find(|o| o.short == Some(c)).ok_or_else(|| UsageError(format!("Unknown option -{c}")))?;
            if o.arg.is_some() {
                let v = if j < chars.len() {
                    let rest: String = chars[j..].iter().collect();
                    j = chars.len();
                    rest
                } else {
                    let v = argv.get(i).ok_or_else(|| UsageError(format!("Missing argument for -{c}")))?;
                    i += 1;
                    v.clone()
                };
                p.values.entry(o.long).or_default().push(v);
            } else {
                p.values.entry(o.long).or_default().push(String::new());
            }
        }
    }
    Ok(ParseResult::Run(p))
}

/// Help text in GOption's layout.
pub fn help(prog: &str, usage: &str, summary: &str, opts: &[Opt], with_repo: bool) -> String {
    let all = all_opts(opts, with_repo);
    let label = |o: &Opt| {
        let mut s = String::new();
        if let Some(c) = o.short {
            let _ = write!(s, "-{c}, ");
        }
        let _ = write!(s, "--{}", o.long);
        if let Some(a) = o.arg {
            let _ = write!(s, "={a}");
        }
        s
    };
    let width = all.iter().map(|o| label(o).len()).max().unwrap_or(10).max("-h, --help".len()) + 4;
    let mut out = String::new();
    let _ = writeln!(out, "Usage:\n  {prog} {}\n", usage.trim_end());
    if !summary.is_empty() {
        let _ = writeln!(out, "{summary}\n");
    }
    let _ = writeln!(out, "Help Options:\n  {:<width$} Show help options\n", "-h, --help");
    let _ = writeln!(out, "Application Options:");
    for o in &all {
        let _ = writeln!(out, "  {:<width$} {}", label(o), o.help);
    }
    out.push('\n');
    out
}

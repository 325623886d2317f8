//! Compose manifests: the subset of rpm-ostree's treefile that `compose
//! tree` understands, read from JSON or YAML.
//!
//! Keys (rpm-ostree's meaning unless said):
//!
//! | key | type | |
//! |---|---|---|
//! | `ref` | string | the branch to commit to (required) |
//! | `packages`, `packages-ARCH` | strings | names or capabilities to install, each split on whitespace (required, with `repos`); `packages-ARCH` counts only when ARCH is the compose's |
//! | `repos` | strings | directories of RPMs (createrepo repositories included), relative to the manifest |
//! | `exclude-packages` | strings | names never installed |
//! | `add-files` | [src, dest] pairs | files from beside the manifest put at `dest` (`/etc/…` goes to `/usr/etc/…`) |
//! | `remove-files` | strings | paths removed from the tree after assembly (relative; `etc/…` means `usr/etc/…`) |
//! | `etc-group-members` | strings | groups whose members stay in `/etc/group`: all do, `/etc/group` is kept whole |
//! | `boot-location` | `modules` | kernels go to `usr/lib/modules/KVER/` (the only layout supported) |
//! | `documentation` | bool | `false` leaves `%doc` files out |
//! | `selinux` | `false` | no labelling (the only value supported) |
//! | `install-langs` | strings | files tagged with another language are left out |
//! | `automatic-version-prefix` | string | `version` is PREFIX, then PREFIX.1, PREFIX.2… after a commit with that prefix |
//! | `postprocess` | strings | scripts (each with its `#!` line) run chrooted in the tree after assembly |
//! | `postprocess-script` | string | a script file beside the manifest, run after `postprocess` |
//!
//! Any other key is an error: a manifest that asks for something oxtree
//! does not do must not compose quietly without it.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct TreefileError {
    /// The manifest.
    pub path: PathBuf,
    /// What is wrong, naming the key.
    pub msg: String,
}

/// A parsed manifest, paths resolved against its directory.
#[derive(Debug, Clone, Default)]
pub struct Treefile {
    /// `ref`.
    pub branch: String,
    /// `packages` (and `packages-ARCH`), split on whitespace.
    pub packages: Vec<String>,
    /// `repos`.
    pub repos: Vec<PathBuf>,
    /// `exclude-packages`.
    pub exclude_packages: Vec<String>,
    /// `add-files`: (source file, destination path in the tree).
    pub add_files: Vec<(PathBuf, String)>,
    /// `remove-files`.
    pub remove_files: Vec<String>,
    /// `documentation` (default true).
    pub documentation: bool,
    /// `install-langs`.
    pub install_langs: Option<Vec<String>>,
    /// `automatic-version-prefix`.
    pub automatic_version_prefix: Option<String>,
    /// `postprocess`: inline scripts.
    pub postprocess: Vec<String>,
    /// `postprocess-script`.
    pub postprocess_script: Option<PathBuf>,
    /// The manifest as canonical JSON (sorted keys), for the input hash.
    pub canonical: String,
}

/// Deepest nesting accepted in a YAML manifest (a treefile needs 3).
const MAX_DEPTH: usize = 64;

fn yaml_to_json(y: yaml_rust2::Yaml, depth: usize) -> Result<Json, String> {
    use yaml_rust2::Yaml;
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} levels deep"));
    }
    Ok(match y {
        Yaml::Null => Json::Null,
        Yaml::Boolean(b) => Json::Bool(b),
        Yaml::Integer(i) => Json::from(i),
        Yaml::Real(s) => s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number).ok_or(s)?,
        Yaml::String(s) => Json::String(s),
        Yaml::Array(a) => Json::Array(a.into_iter().map(|v| yaml_to_json(v, depth + 1)).collect::<Result<_, _>>()?),
        Yaml::Hash(h) => {
            let mut m = serde_json::Map::new();
            for (k, v) in h {
                let k = match k {
                    Yaml::String(s) => s,
                    other => return Err(format!("a mapping key that is not a string: {other:?}")),
                };
                m.insert(k, yaml_to_json(v, depth + 1)?);
            }
            Json::Object(m)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
        Yaml::BadValue => return Err("a value that does not parse".into()),
    })
}

impl Treefile {
    /// Reads the manifest at `path`: JSON when it ends in `.json`, else
    /// YAML (of which JSON is a subset). `basearch` selects
    /// `packages-ARCH`.
    pub fn load(path: &Path, basearch: &str) -> Result<Treefile, TreefileError> {
        let fail = |msg: String| TreefileError { path: path.to_path_buf(), msg };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let json = path.extension().is_some_and(|e| e == "json");
        Treefile::parse(&text, json, path.parent().unwrap_or(Path::new(".")), basearch).map_err(fail)
    }

    /// A manifest from its text: JSON when `json`, else YAML.
    pub fn parse(text: &str, json: bool, dir: &Path, basearch: &str) -> Result<Treefile, String> {
        let value = if json {
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?
        } else {
            let mut docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
            if docs.len() != 1 {
                return Err(format!("expected one YAML document, found {}", docs.len()));
            }
            yaml_to_json(docs.remove(0), 0)?
        };
        Treefile::from_json(value, dir, basearch)
    }

    /// A manifest from its JSON value; relative paths are taken from `dir`.
    pub fn from_json(json: Json, dir: &Path, basearch: &str) -> Result<Treefile, String> {
        let Json::Object(map) = &json else { return Err("the manifest is not a mapping".into()) };
        let mut t = Treefile { documentation: true, canonical: json.to_string(), ..Default::default() };
        let mut have_packages = false;
        for (key, v) in map {
            match key.as_str() {
                "ref" => t.branch = string(key, v)?,
                "packages" => {
                    have_packages = true;
                    t.packages.extend(words(key, v)?);
                }
                k if k.starts_with("packages-") => {
                    let words = words(key, v)?;
                    if &k["packages-".len()..] == basearch {
                        have_packages = true;
                        t.packages.extend(words);
                    }
                }
                "repos" => t.repos = strings(key, v)?.into_iter().map(|r| dir.join(r)).collect(),
                "exclude-packages" => t.exclude_packages = words(key, v)?,
                "add-files" => {
                    let Json::Array(pairs) = v else {
                        return Err(format!("'{key}' must be a list of [src, dest] pairs"));
                    };
                    for p in pairs {
                        match p.as_array().map(|a| a.as_slice()) {
                            Some([Json::String(src), Json::String(dest)]) if dest.starts_with('/') => {
                                t.add_files.push((dir.join(src), dest.clone()))
                            }
                            _ => return Err(format!("'{key}': {p} is not a [src, /dest] pair")),
                        }
                    }
                }
                "remove-files" => {
                    t.remove_files = strings(key, v)?;
                    if let Some(bad) =
                        t.remove_files.iter().find(|p| p.starts_with('/') || p.split('/').any(|c| c == ".."))
                    {
                        return Err(format!("'{key}': '{bad}' must be a relative path within the tree"));
                    }
                }
                "etc-group-members" => {
                    strings(key, v)?;
                }
                "boot-location" => match v.as_str() {
                    Some("modules") => {}
                    _ => {
                        return Err(format!(
                            "'{key}': {v} is not supported (oxtree places kernels in usr/lib/modules: use \"modules\")"
                        ))
                    }
                },
                "documentation" => t.documentation = boolean(key, v)?,
                "selinux" => {
                    if boolean(key, v)? {
                        return Err(format!("'{key}: true' is not supported (oxtree does not label trees)"));
                    }
                }
                "install-langs" => t.install_langs = Some(strings(key, v)?),
                "automatic-version-prefix" => t.automatic_version_prefix = Some(string(key, v)?),
                "postprocess" => t.postprocess = strings(key, v)?,
                "postprocess-script" => t.postprocess_script = Some(dir.join(string(key, v)?)),
                other => return Err(format!("unknown or unsupported key '{other}'")),
            }
        }
        if t.branch.is_empty() {
            return Err("'ref' is required".into());
        }
        if !have_packages || t.packages.is_empty() {
            return Err("'packages' is required and must name at least one package".into());
        }
        if t.repos.is_empty() {
            return Err("'repos' is required: the directories of RPMs to compose from".into());
        }
        Ok(t)
    }
}

fn string(key: &str, v: &Json) -> Result<String, String> {
    v.as_str().map(str::to_string).ok_or_else(|| format!("'{key}' must be a string, not {v}"))
}

fn boolean(key: &str, v: &Json) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("'{key}' must be true or false, not {v}"))
}

fn strings(key: &str, v: &Json) -> Result<Vec<String>, String> {
    let err = || format!("'{key}' must be a list of strings");
    v.as_array().ok_or_else(err)?.iter().map(|s| s.as_str().map(str::to_string).ok_or_else(err)).collect()
}

/// A list of strings, each split on whitespace (rpm-ostree's `packages`).
fn words(key: &str, v: &Json) -> Result<Vec<String>, String> {
    Ok(strings(key, v)?.iter().flat_map(|s| s.split_whitespace().map(str::to_string)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Treefile, String> {
        Treefile::parse(yaml, false, Path::new("/m"), "x86_64")
    }

    #[test]
    fn keys() {
        let t = parse(
            "ref: os/x86_64/base\nrepos: [repo]\npackages: [\"a b\", c]\npackages-x86_64: [d]\npackages-aarch64: [e]\n\
             exclude-packages: [f]\nadd-files: [[motd, /etc/motd]]\nremove-files: [usr/share/doc]\n\
             documentation: false\nselinux: false\nboot-location: modules\netc-group-members: [wheel]\n\
             install-langs: [en_US]\nautomatic-version-prefix: \"40\"\n",
        )
        .unwrap();
        assert_eq!(t.branch, "os/x86_64/base");
        assert_eq!(t.packages, ["a", "b", "c", "d"]);
        assert_eq!(t.repos, [PathBuf::from("/m/repo")]);
        assert_eq!(t.add_files, [(PathBuf::from("/m/motd"), "/etc/motd".to_string())]);
        assert!(!t.documentation);
        assert_eq!(t.install_langs.as_deref(), Some(&["en_US".to_string()][..]));
        assert_eq!(t.automatic_version_prefix.as_deref(), Some("40"));
    }

    #[test]
    fn refusals_name_the_key() {
        let base = "ref: r\nrepos: [x]\npackages: [a]\n";
        for (extra, word) in [
            ("postprocessing: [x]\n", "'postprocessing'"),
            ("selinux: true\n", "selinux"),
            ("boot-location: new\n", "boot-location"),
            ("documentation: 1\n", "documentation"),
            ("remove-files: [/etc]\n", "remove-files"),
            ("add-files: [[a]]\n", "add-files"),
        ] {
            let e = parse(&format!("{base}{extra}")).unwrap_err();
            assert!(e.contains(word), "{extra}: {e}");
        }
        assert!(parse("ref: r\nrepos: [x]\n").unwrap_err().contains("packages"));
        assert!(parse("repos: [x]\npackages: [a]\n").unwrap_err().contains("ref"));
        assert!(parse(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap_err().contains("nested"));
        assert!(parse("a: 1\n---\nb: 2\n").unwrap_err().contains("one YAML document"));
    }
}

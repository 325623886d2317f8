//! File capabilities: the `%caps(...)` text an RPM header carries
//! (`FILECAPS`, libcap's `cap_from_text` syntax) as the bytes of a
//! `security.capability` xattr.
//!
//! The xattr value is the kernel's `vfs_cap_data`, revision 2, as libcap
//! writes it with `cap_set_fd`: 20 bytes, little-endian u32s:
//! `magic_etc` (`0x02000000`, plus `0x1` when the effective flag is set),
//! then permitted and inheritable bits 0-31, then permitted and
//! inheritable bits 32-63. File capabilities have a single effective
//! *flag*: when any capability is effective, every permitted or
//! inheritable one must be, or libcap refuses the set (EINVAL).

/// Capability names, by number (`CAP_CHOWN` is 0).
const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// A capability text that does not parse, or sets that no file can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid file capabilities '{text}': {why}")]
pub struct CapsError {
    /// The text.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
}

/// The effective, permitted and inheritable sets `text` describes.
fn parse(text: &str) -> Result<[u64; 3], String> {
    const E: usize = 0;
    const P: usize = 1;
    const I: usize = 2;
    let all: u64 = (1u64 << NAMES.len()) - 1;
    let mut sets = [0u64; 3];
    for clause in text.split_whitespace() {
        let split = clause.find(['=', '+', '-']).ok_or_else(|| format!("'{clause}' has no '=', '+' or '-'"))?;
        let (list, mut actions) = clause.split_at(split);
        let caps = if list.is_empty() || list == "all" {
            all
        } else {
            let mut m = 0u64;
            for name in list.split(',') {
                let lower = name.to_ascii_lowercase();
                let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
                let n = match NAMES.iter().position(|c| *c == bare) {
                    Some(n) => n,
                    None => match bare.parse::<usize>() {
                        Ok(n) if n < NAMES.len() => n,
                        _ => return Err(format!("unknown capability '{name}'")),
                    },
                };
                m |= 1 << n;
            }
            m
        };
        if list.is_empty() && !actions.starts_with('=') {
            return Err(format!("'{clause}' names no capability"));
        }
        while let Some(op) = actions.chars().next() {
            let rest = &actions[1..];
            let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
            let (flags, next) = rest.split_at(end);
            let mut which = [false; 3];
            for f in flags.chars() {
                match f {
                    'e' => which[E] = true,
                    'p' => which[P] = true,
                    'i' => which[I] = true,
                    _ => return Err(format!("unknown flag '{f}' in '{clause}'")),
                }
            }
            match op {
                '=' => {
                    for (k, set) in sets.iter_mut().enumerate() {
                        *set &= !caps;
                        if which[k] {
                            *set |= caps;
                        }
                    }
                }
                '+' | '-' => {
                    if flags.is_empty() {
                        return Err(format!("'{clause}': '{op}' without flags"));
                    }
                    for (k, set) in sets.iter_mut().enumerate() {
                        if which[k] {
                            if op == '+' {
                                *set |= caps;
                            } else {
                                *set &= !caps;
                            }
                        }
                    }
                }
                _ => return Err(format!("'{clause}': expected '=', '+' or '-'")),
            }
            actions = next;
        }
    }
    Ok(sets)
}

/// The `security.capability` value for `text`; `None` for an empty text
/// (rpm sets no capabilities then). A text that clears every capability
/// (`=`) still gives a value, all zero, as libcap's `cap_set_fd` writes it.
pub fn xattr_value(text: &str) -> Result<Option<Vec<u8>>, CapsError> {
    let err = |why: String| CapsError { text: text.to_string(), why };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let [eff, perm, inh] = parse(text).map_err(err)?;
    if eff != 0 && eff != perm | inh {
        return Err(err(
            "a file's effective set is one flag: all permitted and inheritable capabilities, or none".into()
        ));
    }
    let mut v = Vec::with_capacity(20);
    let magic: u32 = 0x0200_0000 | u32::from(eff != 0);
    v.extend_from_slice(&magic.to_le_bytes());
    for half in [0, 32] {
        v.extend_from_slice(&((perm >> half) as u32).to_le_bytes());
        v.extend_from_slice(&((inh >> half) as u32).to_le_bytes());
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(v: &[u8]) -> String {
        v.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn libcap_layout() {
        // net_admin = 12, net_raw = 13: bits 0x3000.
        let v = xattr_value("cap_net_raw,cap_net_admin=ep").unwrap().unwrap();
        assert_eq!(hex(&v), "0100000200300000000000000000000000000000");
        let v = xattr_value("cap_net_admin+p").unwrap().unwrap();
        assert_eq!(hex(&v), "0000000200100000000000000000000000000000");
        // bpf = 39: the second word.
        let v = xattr_value("cap_bpf=ei").unwrap().unwrap();
        assert_eq!(hex(&v), "0100000200000000000000000000000080000000");
        // Empty sets are still written (setcap '=' writes this).
        assert_eq!(hex(&xattr_value("=").unwrap().unwrap()), "0000000200000000000000000000000000000000");
        assert_eq!(hex(&xattr_value("cap_chown=").unwrap().unwrap()), "0000000200000000000000000000000000000000");
        assert_eq!(xattr_value("").unwrap(), None);
    }

    #[test]
    fn refused() {
        assert!(xattr_value("cap_nonsense=ep").is_err());
        assert!(xattr_value("cap_chown").is_err());
        assert!(xattr_value("cap_chown=x").is_err());
        assert!(xattr_value("+p").is_err());
        // Effective for one but not the other permitted capability.
        assert!(xattr_value("cap_chown=ep cap_kill=p").is_err());
    }
}

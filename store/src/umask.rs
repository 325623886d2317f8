//! The process's file mode creation mask.

/// The umask, read from `/proc/self/status` (`umask(2)` can only read it by
/// setting it, which would race with threads creating files); `None` when
/// `/proc` is not there. Not cached: a long-running caller may change it
/// between operations, so read it at the start of each.
///
/// Writers use it to create files with their final mode and skip the
/// `fchmod` when the umask would not change that mode.
pub fn process_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok().filter(|m| *m <= 0o777)
}

/// True when a file created with `mode` under `umask` gets exactly `mode`:
/// no setuid, setgid or sticky bit (which creation may drop) and nothing
/// the umask takes away. An unknown umask is never trusted.
pub fn created_with_mode(mode: u32, umask: Option<u32>) -> bool {
    mode & 0o7000 == 0 && umask.is_some_and(|u| mode & u == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_umask_is_read_without_changing_it() {
        let m = process_umask().expect("/proc/self/status has Umask");
        assert_eq!(process_umask(), Some(m));
    }

    #[test]
    fn modes_the_umask_or_special_bits_change_need_a_chmod() {
        assert!(created_with_mode(0o644, Some(0o022)));
        assert!(!created_with_mode(0o664, Some(0o022)));
        assert!(!created_with_mode(0o4755, Some(0o022)));
        assert!(!created_with_mode(0o1755, Some(0)));
        assert!(!created_with_mode(0o644, None));
    }
}

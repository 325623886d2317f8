//! Key files: one key per line, as OSTree reads them (`--keys-file`,
//! `verification-ed25519-file`, `trusted.ed25519.d/*`).

use std::path::Path;

use crate::SignError;

/// Key files larger than this are refused: a list of public keys is a few
/// kilobytes, and reading must not cost what the file claims.
pub const MAX_KEY_FILE: u64 = 4 << 20;

/// The non-blank lines of `path`, trimmed, with their 1-based numbers.
pub fn read_lines(path: &Path) -> Result<Vec<(usize, String)>, SignError> {
    let io = |source| SignError::Io { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(SignError::NotRegularFile(path.to_path_buf()));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(SignError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!("{} bytes; a key file holds at most {MAX_KEY_FILE}", meta.len())),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    Ok(lines(&bytes))
}

/// The non-blank lines of a key file's bytes, trimmed, with their 1-based
/// numbers (bytes that are not UTF-8 become U+FFFD, and so not a key).
pub fn lines(bytes: &[u8]) -> Vec<(usize, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().enumerate().map(|(i, l)| (i + 1, l.trim().to_string())).filter(|(_, l)| !l.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_skipped_and_numbers_kept() {
        let dir = std::env::temp_dir().join(format!("oxtree-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("keys");
        std::fs::write(&f, "a\n\n  b  \r\n").unwrap();
        assert_eq!(read_lines(&f).unwrap(), vec![(1, "a".to_string()), (3, "b".to_string())]);
        assert!(matches!(read_lines(&dir), Err(SignError::NotRegularFile(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

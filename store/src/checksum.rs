//! Object checksums: SHA-256 digests in their three spellings.
//!
//! * hex: 64 lowercase hex digits (uppercase is rejected, as OSTree does);
//! * raw: the 32 bytes, as stored inside GVariant `ay` fields;
//! * modified base64: standard base64 without the trailing `=` and with
//!   `/` replaced by `_`, used only in static-delta paths.

use std::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 object checksum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum([u8; 32]);

/// A string or byte slice that is not a valid checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid checksum {0:?}")]
pub struct InvalidChecksum(pub String);

impl Checksum {
    /// The checksum with the given raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Checksum(bytes)
    }

    /// Parses 32 raw bytes; any other length is an error.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, InvalidChecksum> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| InvalidChecksum(format!("{} raw bytes", bytes.len())))?;
        Ok(Checksum(arr))
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Result<Self, InvalidChecksum> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(InvalidChecksum(s.to_string()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or_else(|| InvalidChecksum(s.to_string()))?;
            let lo = hex_val(pair[1]).ok_or_else(|| InvalidChecksum(s.to_string()))?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Checksum(out))
    }

    /// True when `s` is spelled like a hex checksum.
    pub fn is_hex(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|c| hex_val(c).is_some())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(DIGITS[(b >> 4) as usize] as char);
            s.push(DIGITS[(b & 15) as usize] as char);
        }
        s
    }

    /// The modified base64 form used for static-delta paths (43 characters).
    pub fn to_modified_base64(&self) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_";
        let mut out = String::with_capacity(43);
        for chunk in self.0.chunks(3) {
            let n = match chunk.len() {
                3 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]),
                2 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8),
                _ => u32::from(chunk[0]) << 16,
            };
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    /// Parses the modified base64 form.
    pub fn from_modified_base64(s: &str) -> Result<Self, InvalidChecksum> {
        let bad = || InvalidChecksum(s.to_string());
        if s.len() != 43 {
            return Err(bad());
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut out = Vec::with_capacity(33);
        for c in s.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'_' => 63,
                _ => return Err(bad()),
            };
            bits = (bits << 6) | u32::from(v);
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                out.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        if bits != 0 {
            return Err(bad());
        }
        Checksum::from_slice(&out).map_err(|_| bad())
    }

    /// SHA-256 of `data`.
    pub fn digest(data: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(data);
        Checksum(h.finalize().into())
    }
}

/// An incremental SHA-256.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A new, empty hasher.
    pub fn new() -> Self {
        Hasher(Sha256::new())
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest of everything fed.
    pub fn finish(self) -> Checksum {
        Checksum(self.0.finalize().into())
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.to_hex())
    }
}

impl std::str::FromStr for Checksum {
    type Err = InvalidChecksum;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Checksum::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects_uppercase() {
        let h = "e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe";
        let c = Checksum::from_hex(h).unwrap();
        assert_eq!(c.to_hex(), h);
        assert!(Checksum::from_hex(&h.to_uppercase()).is_err());
        assert!(Checksum::from_hex(&h[1..]).is_err());
    }

    #[test]
    fn modified_base64_matches_golden_delta_path() {
        // spec §13.1: e508…a7fe -> a295…8c04 lives at deltas/5Q/iZp2+ex+LPw9VWa5Z5iGCAqSfECSKCKAY2a000p_4-opU+...
        let from = Checksum::from_hex("e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe").unwrap();
        let to = Checksum::from_hex("a2953ea888b3a2fa279327a881602d96cce9607d112c8e8f7795687a09148c04").unwrap();
        let f = from.to_modified_base64();
        assert_eq!(f, "5QiZp2+ex+LPw9VWa5Z5iGCAqSfECSKCKAY2a000p_4");
        assert_eq!(Checksum::from_modified_base64(&f).unwrap(), from);
        let t = to.to_modified_base64();
        assert!(t.starts_with("opU+qIizovonkyeogWAtlszpYH0RLI6Pd5VoegkUjAQ"));
        assert_eq!(Checksum::from_modified_base64(&t).unwrap(), to);
    }
}

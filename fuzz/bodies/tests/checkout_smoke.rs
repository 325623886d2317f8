//! Runs the `checkout_escape` fuzz body on stable Rust: hand-written
//! programs for the hostile cases (a symlink out of the destination and a
//! directory of the same name below it, names like `..`, whiteouts that
//! climb, union over planted symlinks), then pseudo-random programs. Each
//! input checks out real files, so there are hundreds here, not thousands;
//! `OXTREE_FUZZ_SMOKE_SCALE=N` multiplies the random ones.

mod common;

use common::{env_usize, Rng};
use oxtree_fuzz_bodies::checkout_escape;

/// Options byte: repository mode in bits 0-1, union mode in bits 2-3, user
/// mode 0x10, force copy 0x20, whiteouts 0x40, passthrough whiteouts 0x80.
const UNION: u8 = 1 << 2;
const ADD: u8 = 2 << 2;
const IDENTICAL: u8 = 3 << 2;
const WHITEOUTS: u8 = 0x40;

/// Tree ops (see the body's docs): end, file N M, symlink N T, dir N M.
const END: u8 = 0;
const FILE: u8 = 1;
const LINK: u8 = 2;
const DIR: u8 = 3;
const UNSORTED: u8 = 4;
const AGAIN: u8 = 5;

/// Indexes into the body's NAMES and TARGETS tables.
const A: u8 = 0;
const ETC: u8 = 2;
const PASSWD: u8 = 3;
const DOTDOT: u8 = 4;
const DOT: u8 = 5;
const EMPTY: u8 = 6;
const SLASH: u8 = 7;
const WH_A: u8 = 9;
const WH_OPQ: u8 = 11;
const WH_DOTDOT: u8 = 12;
const LINK_NAME: u8 = 16;
const T_OUTSIDE: u8 = 0;
const T_DOTDOT_OUTSIDE: u8 = 2;
const T_ROOT: u8 = 6;

fn cases() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for repo_mode in 0..4u8 {
        for opt in [0, UNION, ADD, IDENTICAL, UNION | WHITEOUTS, ADD | 0x10, UNION | 0x20, 0x80 | UNION] {
            let o = opt | repo_mode;
            for pre in [0u8, 1] {
                // `a -> outside`, then (second tree) `a/passwd`.
                v.push(vec![o, pre, LINK, A, T_OUTSIDE, END, DIR, A, 0, FILE, PASSWD, 0, END, END]);
                // The same in one directory, in both orders and unsorted.
                v.push(vec![o, pre, LINK, ETC, T_DOTDOT_OUTSIDE, DIR, ETC, 0, FILE, PASSWD, 2, END, END]);
                v.push(vec![o, pre, UNSORTED, DIR, ETC, 0, FILE, PASSWD, 2, END, LINK, ETC, T_ROOT, END]);
                // Hostile names for files and directories.
                for n in [DOTDOT, DOT, EMPTY, SLASH, 8, 17] {
                    v.push(vec![o, pre, FILE, n, 0, DIR, n, 1, FILE, A, 2, END, END]);
                }
                // Whiteouts, including ones that name `..` or climb.
                v.push(vec![o, pre, FILE, WH_A, 0, FILE, WH_OPQ, 0, FILE, WH_DOTDOT, 0, FILE, 13, 0, FILE, 15, 0, END]);
                v.push(vec![o, pre, DIR, A, 0, FILE, WH_DOTDOT, 0, END, END, FILE, WH_A, 0, END]);
                // A file over the planted symlink, then a directory over it.
                v.push(vec![
                    o, pre, FILE, LINK_NAME, 3, AGAIN, LINK_NAME, END, DIR, LINK_NAME, 2, FILE, A, 0, END, END,
                ]);
                // Unwritable directories with content, set-id files.
                v.push(vec![o, pre, DIR, A, 2, DIR, A, 4, FILE, A, 2, FILE, PASSWD, 3, END, END, END]);
            }
        }
    }
    v
}

#[test]
fn checkout_escape_smoke() {
    let scale = env_usize("OXTREE_FUZZ_SMOKE_SCALE", 1);
    let seed = env_usize("OXTREE_FUZZ_SMOKE_SEED", 0x0c0ffee) as u64;
    let mut inputs = cases();
    let mut rng = Rng(seed | 1);
    for _ in 0..200 * scale {
        let len = 2 + (rng.next() % 60) as usize;
        // Small byte values, so that ops and table indexes land often.
        inputs.push((0..len).map(|i| if i < 2 { rng.next() as u8 } else { (rng.next() % 24) as u8 }).collect());
    }
    for input in &inputs {
        let r = std::panic::catch_unwind(|| checkout_escape(input));
        assert!(r.is_ok(), "checkout_escape panicked on {input:02x?}");
    }
    eprintln!("checkout_escape smoke: {} inputs, nothing escaped", inputs.len());
}

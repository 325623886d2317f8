#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oxtree_fuzz_bodies::origin(data));

//! Boot configuration read from disk: BLS entries (any `ostree-*.conf` in
//! `/boot/loader/entries`, which other tools write too), an existing
//! `syslinux.cfg` that is regenerated, and kernel command lines.

use oxtree_bootloader::{syslinux, uboot, BootEntry};
use oxtree_sysroot::KernelArgs;

/// Parses `data` as a BLS entry, a syslinux.cfg and a kernel command line;
/// checks that what is written reads back the same.
pub fn boot_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let e = BootEntry::parse(text);
    let out = e.to_text();
    let again = BootEntry::parse(&out);
    assert_eq!(again.to_text(), out, "BLS entry {text:?} changes through to_text");
    for k in ["title", "version", "options", "linux", "initrd"] {
        assert_eq!(again.get(k), e.get(k), "key {k} of {text:?}");
    }
    // The same text as an existing syslinux.cfg to regenerate around the
    // entry: either an error or, when the entry's kernel is OSTree's (under
    // /ostree/; others are kept as foreign blocks, as OSTree keeps them), a
    // config that regenerates to itself.
    let ours = again.get("linux").is_some_and(|l| l.starts_with("/ostree/"));
    let entries = [again];
    if let (Ok(cfg), true) = (syslinux::regenerate(text, &entries, false), ours) {
        if let Ok(cfg2) = syslinux::regenerate(&cfg, &entries, false) {
            assert_eq!(syslinux::regenerate(&cfg2, &entries, false).ok().as_deref(), Some(cfg2.as_str()));
        }
    }
    let _ = uboot::generate(&entries, Some(text));
    let mut k = KernelArgs::parse(text);
    let words = k.to_words();
    assert_eq!(KernelArgs::parse(&k.to_string()).to_words(), words, "kargs {text:?}");
    k.replace("ostree=/ostree/boot.1/os/c/0");
    assert_eq!(k.values("ostree"), [Some("/ostree/boot.1/os/c/0")]);
    let _ = k.delete("ostree");
    assert!(!k.contains_key("ostree"));
}

/// Parses `data` as a staged-deployment record (`/run/ostree/staged-deployment`);
/// an accepted record writes back to bytes that parse to the same record.
pub fn staged_record(data: &[u8]) {
    use oxtree_sysroot::staged::Staged;
    let Ok(s) = Staged::parse(data) else { return };
    let again = Staged::parse(&s.to_bytes()).expect("a written record parses");
    assert_eq!(again, s, "record {data:?} changes through to_bytes");
}

/// Parses `data` as a deployment's `.origin` file and reads it as `admin
/// status`, `upgrade` and layering do: the refspec (or the base refspec of
/// a layered deployment) and the packages layered over it, pinning and the
/// unlock state. Writing the same layers back gives an origin that reads
/// back to them.
pub fn origin(data: &[u8]) {
    use oxtree_rpmimport::layer::{origin_layers, set_origin_layers, LayeredPackage, Source};
    use oxtree_store::repo::KeyFile;
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(origin) = KeyFile::parse(text) else { return };
    let d = oxtree_sysroot::Deployment {
        index: 0,
        stateroot: "os".into(),
        csum: "00".repeat(32),
        deployserial: 0,
        bootcsum: "00".repeat(32),
        bootserial: 0,
        bootconfig: BootEntry::parse(""),
        origin: Some(origin.clone()),
        entry_file: None,
        staged: false,
    };
    let _ = (d.is_pinned(), d.refspec().map(|r| r.split_once(':')));
    let (refspec, layers) = origin_layers(&origin);
    let Some(refspec) = refspec else { return };
    let packages: Vec<LayeredPackage> = layers
        .iter()
        .map(|l| match l {
            Source::Cached { sha256, nevra } => LayeredPackage {
                name: nevra.clone(),
                nevra: nevra.clone(),
                sha256: sha256.clone(),
                commit: oxtree_store::Checksum::from_slice(&[0; 32]).expect("32 bytes"),
            },
            Source::File(p) => panic!("an origin names a package file {}", p.display()),
        })
        .collect();
    let mut written = origin.clone();
    set_origin_layers(&mut written, &refspec, &packages);
    let text = written.to_text();
    let again = KeyFile::parse(&text).unwrap_or_else(|e| panic!("a written origin {text:?} does not parse: {e}"));
    let (refspec2, layers2) = origin_layers(&again);
    assert_eq!(refspec2.as_deref(), Some(refspec.as_str()), "the refspec of {text:?}");
    assert_eq!(layers2, layers, "the layers of {text:?}");
}

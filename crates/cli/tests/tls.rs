//! Pulls over HTTPS from nginx on 127.0.0.1 with certificates made by
//! openssl: the server pinned with `tls-ca-path`, refused without it,
//! accepted unverified with `tls-permissive`, and a server that asks for
//! a client certificate answered with `tls-client-cert-path` and
//! `tls-client-key-path` (which the real ostree reads the same way).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all
/// P-256, in `dir`: ca.crt, server.{crt,key}, client.{crt,key}.
fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is needed");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca =
        vec!["req", "-x509", "-days", "2", "-subj", "/CN=oxtree test CA", "-keyout", "ca.key", "-out", "ca.crt"];
    ca.extend(ec);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(&ca);
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), format!("basicConstraints=CA:FALSE\n{ext}")).unwrap();
        let (key, csr, crt, ext) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
        let mut req = vec!["req", "-subj", "/CN=oxtree test", "-keyout", &key, "-out", &csr];
        req.extend(ec);
        openssl(&req);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
            "-extfile",
            &ext,
        ]);
    }
}

/// A fresh archive repo with remote `origin` at `url` and `set` options.
fn client(w: &TempDir, tag: &str, url: &str, set: &[String]) -> String {
    let dest = w.join(tag).to_string_lossy().into_owned();
    let d = format!("--repo={dest}");
    ox(&[&d, "init", "--mode=archive"]);
    let mut args = vec![d.clone(), "remote".into(), "add".into(), "--no-gpg-verify".into()];
    args.extend(set.iter().map(|s| format!("--set={s}")));
    args.extend(["origin".into(), url.into()]);
    ox(&args.iter().map(String::as_str).collect::<Vec<_>>());
    dest
}

fn pull(dest: &str) -> std::process::Output {
    ox_out(&[&format!("--repo={dest}"), "pull", "origin", "main"])
}

fn refused(dest: &str, want: &str) {
    let out = pull(dest);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{dest}: pull succeeded");
    assert!(err.contains(want), "{dest}: wanted '{want}' in: {err}");
    assert!(!ox_out(&[&format!("--repo={dest}"), "rev-parse", "origin:main"]).status.success(), "ref moved");
}

#[test]
fn https_pinned_permissive_and_client_certificates() {
    let w = TempDir::new("tls");
    let certs = w.join("certs");
    make_certs(&certs);
    let c = |f: &str| certs.join(f).to_string_lossy().into_owned();
    let srv = w.join("srv").to_string_lossy().into_owned();
    ox(&[&format!("--repo={srv}"), "init", "--mode=archive"]);
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let head = ox(&[&format!("--repo={srv}"), "commit", "-b", "main", "-s", "tls", &tree.to_string_lossy()]);
    let tls_dir = certs.to_string_lossy().into_owned();

    {
        let nginx = Nginx::start_with(&srv, w.join("nginx"), &[("NGINX_TLS", &tls_dir)]);
        assert!(nginx.url.starts_with("https://"));
        let pinned = client(&w, "pinned", &nginx.url, &[format!("tls-ca-path={}", c("ca.crt"))]);
        let out = pull(&pinned);
        assert!(out.status.success(), "pinned pull: {}", String::from_utf8_lossy(&out.stderr));
        let got = ox(&[&format!("--repo={pinned}"), "rev-parse", "origin:main"]);
        assert_eq!(got.trim(), head.trim());
        // The system's CAs do not know ours.
        refused(&client(&w, "unpinned", &nginx.url, &[]), &nginx.url);
        let permissive = client(&w, "permissive", &nginx.url, &["tls-permissive=true".into()]);
        assert!(pull(&permissive).status.success());
    }

    // Now the server wants a client certificate from our CA.
    std::fs::copy(certs.join("ca.crt"), certs.join("client-ca.crt")).unwrap();
    let nginx = Nginx::start_with(&srv, w.join("nginx-mtls"), &[("NGINX_TLS", &tls_dir)]);
    let ca = format!("tls-ca-path={}", c("ca.crt"));
    refused(&client(&w, "no-cert", &nginx.url, std::slice::from_ref(&ca)), "400");
    let half = client(&w, "half", &nginx.url, &[ca.clone(), format!("tls-client-cert-path={}", c("client.crt"))]);
    refused(&half, "tls-client-cert-path and tls-client-key-path must be specified together");
    let with_cert = [
        ca.clone(),
        format!("tls-client-cert-path={}", c("client.crt")),
        format!("tls-client-key-path={}", c("client.key")),
    ];
    let mtls = client(&w, "mtls", &nginx.url, &with_cert);
    let out = pull(&mtls);
    assert!(out.status.success(), "pull with a client certificate: {}", String::from_utf8_lossy(&out.stderr));
    ox(&[&format!("--repo={mtls}"), "fsck"]);
    // A key that is not the certificate's is refused by the handshake.
    let wrong =
        [ca, format!("tls-client-cert-path={}", c("client.crt")), format!("tls-client-key-path={}", c("server.key"))];
    let out = pull(&client(&w, "wrong-key", &nginx.url, &wrong));
    assert!(!out.status.success(), "a client key that is not the certificate's was accepted");

    // The real ostree reads the same remote options.
    require_ostree();
    let real = w.join("real").to_string_lossy().into_owned();
    ostree(&[&format!("--repo={real}"), "init", "--mode=archive"]);
    let mut args = vec![format!("--repo={real}"), "remote".into(), "add".into(), "--no-gpg-verify".into()];
    args.extend(with_cert.iter().map(|s| format!("--set={s}")));
    args.extend(["origin".into(), nginx.url.clone()]);
    ostree(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ostree(&[&format!("--repo={real}"), "pull", "origin", "main"]);
}

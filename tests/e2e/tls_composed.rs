//! `start-tls` in the WASI 0.2 edition's composed TLS build: what only that edition has (its
//! `http-get` example and its 0.1.x imports). The behaviour of `start-tls` itself is in
//! `tls.rs`, which runs against both editions.

use std::io::{Read, Write};
use std::net::Ipv4Addr;

use alore_socket_host::Policy;

use crate::common::*;
use crate::tls::{pki, read_line, tls_policy, tls_server};

/// An HTTPS server for `http-get`: the head, then `body`, over TLS.
fn https_server(body: Vec<u8>) -> Server<String> {
    tls_server(&pki().good, move |tls| {
        let request = read_line(tls);
        while read_line(tls) != "\r\n" {}
        tls.write_all(b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\n")
            .unwrap();
        tls.write_all(&body).unwrap();
        request
    })
}

#[test]
fn http_get_fetches_https_composed_with_the_tls_build() {
    let body = binary_body(300_001, 11);
    let server = https_server(body.clone());
    let policy = tls_policy();
    let app = crate::compose::example_bytes("http-get");
    let composed = runtime().compose(app, &policy).unwrap();
    let imports = runtime().imports(Some(&composed)).unwrap();
    assert!(
        imports.iter().any(|i| i == "wasi:tls/types@0.2.0-draft"),
        "{imports:?}"
    );
    let url = format!("https://localhost:{}/secret", server.port);
    let out = http_get(&composed, &policy, &url);
    assert_fetched(&out.stdout, &out.stderr, out.code == 0, &body);
    assert_eq!(server.join(), "GET /secret HTTP/1.0\r\n");
}

#[test]
fn the_standard_build_asked_to_start_tls_says_it_has_no_tls() {
    // The standard build under a policy that allows TLS: no host hint, so it blames itself.
    let server = Server::start(|mut s| {
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf);
    });
    let policy = tls_policy();
    let composed = runtime()
        .compose(
            crate::compose::example_bytes("http-get"),
            &Policy::deny_all(),
        )
        .unwrap();
    let url = format!("https://localhost:{}/", server.port);
    let out = http_get(&composed, &policy, &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.code, 1, "{stderr}");
    assert!(
        stderr.contains("TLS: not available in this build"),
        "{stderr}"
    );
    drop(std::net::TcpStream::connect((
        Ipv4Addr::LOCALHOST,
        server.port,
    )));
    server.join();
}

#[test]
fn the_tls_build_imports_standard_wasi_and_wasi_tls_alone() {
    let policy = tls_policy();
    let composed = runtime()
        .compose(crate::compose::example_bytes("line-client"), &policy)
        .unwrap();
    for import in runtime().imports(Some(&composed)).unwrap() {
        assert!(
            (import.starts_with("wasi:")
                && import.contains("@0.2.")
                && !import.starts_with("wasi:tls"))
                || import == "wasi:tls/types@0.2.0-draft",
            "{import}"
        );
    }
}

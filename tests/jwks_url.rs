//! `--jwks URL`: the key set is fetched from a real HTTP server (Python's
//! http.server on 127.0.0.1) and verifies exactly as the file does; an
//! unreachable URL is a clear error naming it.

#![allow(clippy::disallowed_methods)] // tests may read the clock

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn serve_keys() -> Option<(Server, u16)> {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
        .arg(root().join("sample-logs/keys"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((server, port))
}

fn replay_traefik(jwks: &str) -> std::process::Output {
    bin()
        .args([
            "replay",
            "--rules",
            "rules",
            "--format",
            "table",
            "--jwks",
            jwks,
            "sample-logs/logs/traefik/stories.ndjson",
        ])
        .output()
        .unwrap()
}

#[test]
fn jwks_fetched_over_http_verifies_like_the_file() {
    let Some((_server, port)) = serve_keys() else {
        panic!("python3 is needed for this test (it serves the JWKS over HTTP)");
    };
    let from_file = replay_traefik("sample-logs/keys/idp-jwks.json");
    let from_url = replay_traefik(&format!("http://127.0.0.1:{port}/idp-jwks.json"));
    assert!(from_url.status.success(), "{}", text(&from_url.stderr));
    assert_eq!(text(&from_url.stdout), text(&from_file.stdout));
    let out = text(&from_url.stdout);
    assert!(out.contains("bad_signature") && out.contains("alg_none"), "{out}");
    assert!(!out.contains(" ken "), "ken's verified token raises nothing: {out}");
}

#[test]
fn unreachable_jwks_url_is_a_clear_error() {
    let port = free_port();
    let out = replay_traefik(&format!("http://127.0.0.1:{port}/jwks.json"));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("cannot fetch JWKS from http://127.0.0.1:{port}/jwks.json")), "{err}");
}

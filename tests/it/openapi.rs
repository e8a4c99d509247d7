//! The API's OpenAPI description against the live server: it is served
//! without a token at `/api/v1/openapi.json` and rendered at `/api/docs`;
//! every operation it lists is routed (no "no such route", no 405); and
//! schemathesis (PyPI, installed by `scripts/test-all.sh` into
//! `target/schemathesis`) fuzzes every operation with an admin token and
//! finds no 5xx, no answer that breaks its schema and no wrong content
//! type. The server runs in a network namespace of its own with only
//! loopback, so whatever the fuzzer makes it do (a power request to a
//! made-up BMC, an SSH probe of a made-up node) reaches nothing outside.
//! Fails under CI=true when anything is missing.

use std::path::PathBuf;
use std::time::Instant;

use crate::harness::{curl, curl_as, in_ci, loopback_config, loopback_network, prerequisites, Netns, Server};
use serde_json::{json, Value};

/// The fuzzer: its virtual environment under target/.
fn schemathesis() -> Option<PathBuf> {
    let bin = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/schemathesis/bin/schemathesis"));
    if bin.exists() {
        return Some(bin);
    }
    let msg = format!("openapi: no schemathesis at {} (scripts/test-all.sh installs it)", bin.display());
    assert!(!in_ci(), "{msg} (CI=true: required)");
    eprintln!("SKIPPED {msg}");
    None
}

/// `path` with each `{parameter}` filled: numbers for ids, a name otherwise.
fn filled(path: &str) -> String {
    path.replace("{id}", "424242").replace("{name}", "no-such-node").replace("{who}", "no-such-node")
}

#[test]
fn the_description_is_served_routed_rendered_and_schemathesis_finds_no_fault() {
    if !prerequisites("openapi", true, &["ip", "curl"]) {
        return;
    }
    let Some(fuzzer) = schemathesis() else { return };
    let ns = Netns::new("oa");
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, Some(&ns));
    // Something for the reads to find.
    let (code, v) = curl(Some(&ns), "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("oa", 77)));
    assert_eq!(code, 201, "{v}");
    let node = json!({"name": "oa1.test.example", "macs": ["52:54:00:77:00:01"], "network": "oa"});
    let (code, v) = curl(Some(&ns), "POST", &srv.url("/api/v1/nodes"), Some(&node));
    assert_eq!(code, 201, "{v}");

    // Served without a token, as OpenAPI 3.1.
    let (code, spec) = curl_as(Some(&ns), None, "GET", &srv.url("/api/v1/openapi.json"), None);
    assert_eq!(code, 200, "{spec}");
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", spec["openapi"]);
    let paths = spec["paths"].as_object().expect("paths");
    let operations: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(p, item)| item.as_object().into_iter().flatten().map(move |(m, _)| (p.clone(), m.to_uppercase())))
        .collect();
    assert!(operations.len() >= 60, "only {} operations described", operations.len());
    for must in ["/api/v1/nodes/{name}", "/api/v1/discover", "/healthz", "/api/v1/leases", "/api/v1/explain/{who}"] {
        assert!(paths.contains_key(must), "{must} is not described");
    }
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for must in ["NodeView", "ErrorBody", "Network", "Bootenv", "Mac", "LeaseView"] {
        assert!(schemas.contains_key(must), "no schema {must}");
    }
    // Every described operation is routed: the router's own 404 ("no such
    // route") or a 405 would mean a description without a route.
    for (path, method) in &operations {
        if path == "/api/v1/events" {
            continue; // an endless stream; schemathesis skips it too
        }
        let body = matches!(method.as_str(), "POST" | "PUT" | "PATCH").then(|| json!({}));
        let (code, v) = curl(Some(&ns), method, &srv.url(&filled(path)), body.as_ref());
        assert_ne!(code, 405, "{method} {path}: {v}");
        assert!(!(code == 404 && v["error"] == "no such route"), "{method} {path} is described but not routed");
    }
    // A route that does not exist is not described either.
    let (code, v) = curl(Some(&ns), "GET", &srv.url("/api/v1/nope"), None);
    assert_eq!((code, v["error"].as_str()), (404, Some("no such route")));

    // The page names every operation, needs no token and runs no script.
    let out = ns
        .cmd("curl")
        .args(["-sS", "-m", "10", "-D", "-", "--cacert"])
        .arg(srv.cert())
        .arg(srv.url("/api/docs"))
        .output()
        .expect("curl");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/2 200"), "{page:.300}");
    assert!(page.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"), "{page:.600}");
    assert!(!page.contains("<script"), "the docs page runs a script");
    for (path, _) in &operations {
        assert!(page.contains(&format!("<code>{path}</code>")), "/api/docs does not show {path}");
    }
    assert!(page.contains("id=\"schema-NodeView\""), "no NodeView schema on the page");

    // schemathesis: every operation but the endless event stream and the
    // revocation of tokens (its made-up ids would sooner or later revoke
    // the very token it fuzzes with).
    let report = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let run = ns
        .cmd("timeout")
        .arg("900")
        .arg(&fuzzer)
        .args(["run", &srv.url("/api/v1/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {}", srv.token())])
        .arg("--tls-verify")
        .arg(srv.cert())
        .args(["--checks", "not_a_server_error,response_schema_conformance,content_type_conformance"])
        .args(["--exclude-path", "/api/v1/events"])
        .args(["--exclude-path", "/api/v1/tokens/{id}"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "30", "--seed", "20261206", "--workers", "2", "--request-timeout", "20"])
        .args(["--no-color", "--report", "ndjson", "--report-dir"])
        .arg(report.path())
        .current_dir(report.path()) // its cache (.schemathesis/) goes there too
        .output()
        .expect("schemathesis");
    let said = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    let tail: String = said.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    eprintln!("openapi: schemathesis ran {:.0?}:\n{tail}", started.elapsed());
    assert!(
        run.status.success(),
        "schemathesis found faults:\n{said}\n--- server log (tail) ---\n{}",
        srv.log_text().lines().rev().take(80).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(said.contains("passed") && !said.contains("No operations"), "schemathesis tested nothing:\n{said}");
    // The checks bite: the same fuzzer against a description that says
    // `/healthz` answers `nodes` as a string finds the violation.
    let mut tampered = spec.clone();
    tampered["components"]["schemas"]["Health"]["properties"]["nodes"] = json!({"type": "string"});
    let file = report.path().join("tampered.json");
    std::fs::write(&file, tampered.to_string()).expect("write");
    let base = srv.url("");
    let control = ns
        .cmd("timeout")
        .arg("120")
        .arg(&fuzzer)
        .arg("run")
        .arg(&file)
        .args(["--url", base.trim_end_matches('/'), "--tls-verify"])
        .arg(srv.cert())
        .args(["--checks", "response_schema_conformance", "--include-path", "/healthz", "--max-examples", "5"])
        .arg("--no-color")
        .current_dir(report.path())
        .output()
        .expect("schemathesis");
    let said = String::from_utf8_lossy(&control.stdout);
    assert!(!control.status.success() && said.contains("violates schema"), "the tampered description passed:\n{said}");
    // The server is still whole.
    let (code, v): (u16, Value) = curl(Some(&ns), "GET", &srv.url("/healthz"), None);
    assert_eq!((code, v["status"].as_str()), (200, Some("ok")), "{v}");
}

//! `fulcrum api`: the API itself, for what no other subcommand covers.
//! `api list` prints every operation the server describes (from its
//! `/api/v1/openapi.json`, so the list is always the running server's);
//! `api call METHOD PATH [BODY]` makes one call with the CLI's token and
//! trust and prints the answer, JSON pretty-printed (BODY: JSON text,
//! `@FILE`, or `-` for standard input). The two routes that stream (the
//! event feed, an ISO upload) are refused with what to use instead.

use std::io::Read;

use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::client::Client;
use super::print;
use super::table;

#[derive(Debug, Subcommand)]
pub(crate) enum RawCmd {
    /// Every operation the server describes: method, path, what it does.
    List,
    /// One call: `fulcrum api call PUT /api/v1/nodes/n1.lab/bootenv '{"bootenv":"local"}'`.
    Call {
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// The path, with its query (`/api/v1/leases?family=6`).
        path: String,
        /// The JSON body: text, `@FILE`, or `-` for standard input.
        body: Option<String>,
    },
}

/// Runs `fulcrum api ...`.
pub(crate) async fn raw(c: &Client, json_out: bool, cmd: RawCmd) -> anyhow::Result<()> {
    match cmd {
        RawCmd::List => {
            let spec: Value = c.get("/api/v1/openapi.json").await?;
            print(json_out, &spec, |spec| {
                let mut rows = Vec::new();
                for (path, item) in spec["paths"].as_object().into_iter().flatten() {
                    for (method, op) in item.as_object().into_iter().flatten() {
                        let what = op["summary"].as_str().unwrap_or_default();
                        rows.push([method.to_uppercase(), path.clone(), what.to_string()]);
                    }
                }
                table::render(&["METHOD", "PATH", "WHAT"], &rows, |r| r.to_vec())
            });
            Ok(())
        }
        RawCmd::Call { method, path, body } => {
            let method = parse_method(&method)?;
            if !path.starts_with('/') {
                bail!("the path starts with `/` (`/api/v1/nodes`), not `{path}`");
            }
            if path.split('?').next() == Some("/api/v1/events") {
                bail!("the event stream never ends: follow it with `curl -N` (with the token) instead");
            }
            if path.starts_with("/api/v1/bootenvs/import/upload") {
                bail!("an ISO upload streams a file: use `fulcrum bootenv import FILE`");
            }
            let body = body.map(|b| read_body(&b)).transpose()?;
            let text = c.any(method, &path, body.as_ref()).await?;
            // JSON pretty-printed; anything else (`/metrics`) as it came.
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
                Err(_) if text.is_empty() => {}
                Err(_) => print!("{text}"),
            }
            Ok(())
        }
    }
}

fn parse_method(m: &str) -> anyhow::Result<Method> {
    match m.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        other => Err(anyhow!("`{other}` is not a method the API takes: GET, POST, PUT, PATCH or DELETE")),
    }
}

/// The body as JSON: given, read from a file (`@FILE`) or from stdin (`-`).
fn read_body(arg: &str) -> anyhow::Result<Value> {
    let text = match arg {
        "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the body from standard input")?;
            s
        }
        a if a.starts_with('@') => std::fs::read_to_string(&a[1..]).with_context(|| format!("reading {}", &a[1..]))?,
        a => a.to_string(),
    };
    serde_json::from_str(&text).context("the body is not JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_bodies_are_checked_before_any_call() {
        assert_eq!(parse_method("put").expect("put"), Method::PUT);
        assert!(parse_method("TRACE").is_err());
        assert_eq!(read_body(r#"{"a": 1}"#).expect("json")["a"], 1);
        assert!(read_body("{nope").is_err());
        assert!(read_body("@/nonexistent/body.json").is_err());
    }
}

//! A small JSON client for the REST API; API errors come back as
//! `error (HTTP status): message` with the field the server named.

use anyhow::{anyhow, Context};
use serde_json::Value;

/// The API at one endpoint.
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(endpoint: &str) -> Client {
        Client { http: reqwest::Client::new(), base: endpoint.trim_end_matches('/').to_string() }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send("GET", path, None).await
    }

    /// Sends a request; `Value::Null` for an empty success body.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.base, path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| anyhow!("{e}"))?;
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("reading {url}"))?;
        let v: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let msg = v["error"].as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            return Err(anyhow!("{method} {path}: {msg} (HTTP {})", status.as_u16()));
        }
        Ok(v)
    }

    /// GET that returns the status code with the body instead of failing on
    /// 4xx (for status endpoints such as `/api/v1/anneal`).
    pub async fn status(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{}", self.base, path);
        let resp = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let code = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok((code, v))
    }
}

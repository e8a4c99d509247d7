//! A typed JSON client for the REST API: requests and responses are the
//! API's wire types; an API error comes back as `METHOD PATH: message
//! (HTTP status)` with the server's message.

use anyhow::{anyhow, Context};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::trust::Trust;
use crate::api::wire::ErrorBody;
use crate::types::secret::Secret;

/// The API at one endpoint, with the caller's token.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

/// No request body.
pub(crate) const NO_BODY: Option<&()> = None;

impl Client {
    /// A client of the API at `endpoint`, presenting `token` (if any) and
    /// verifying the server's certificate by `trust`.
    pub(crate) fn new(endpoint: &str, token: Option<Secret>, trust: &Trust) -> anyhow::Result<Client> {
        let http = trust.client(endpoint)?;
        Ok(Client { http, base: endpoint.trim_end_matches('/').to_string(), token })
    }

    /// `GET path`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(Method::GET, path, NO_BODY).await
    }

    /// Sends a request and decodes the answer.
    pub(crate) async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let text = self.any(method.clone(), path, body).await?;
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: unexpected answer"))
    }

    /// `GET path` of a text document (`/metrics`).
    pub(crate) async fn text(&self, path: &str) -> anyhow::Result<String> {
        let (status, text) = self.exchange(Method::GET, path, NO_BODY).await?;
        if !status.is_success() {
            return Err(anyhow!("GET {path}: {text} (HTTP {})", status.as_u16()));
        }
        Ok(text)
    }

    /// Sends a request that answers with no body (`DELETE`).
    pub(crate) async fn send_empty(&self, method: Method, path: &str) -> anyhow::Result<()> {
        self.any(method, path, NO_BODY).await.map(drop)
    }

    /// `GET path`, with the status code, for status endpoints whose 4xx is
    /// an answer (`/api/v1/anneal` says 409 for a failed deployment).
    pub(crate) async fn status<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<(u16, T)> {
        let (status, text) = self.exchange(Method::GET, path, NO_BODY).await?;
        let v = serde_json::from_str(&text).with_context(|| format!("GET {path}: HTTP {status}: {text}"))?;
        Ok((status.as_u16(), v))
    }

    /// POSTs `body` (`len` bytes, `application/octet-stream`) to `path`.
    pub(crate) async fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        body: reqwest::Body,
        len: u64,
    ) -> anyhow::Result<T> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        req = req.header(reqwest::header::CONTENT_LENGTH, len).body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        let resp = req.send().await.with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            let msg = serde_json::from_str::<ErrorBody>(&text).map(|e| e.error).unwrap_or(text);
            return Err(anyhow!("POST {path}: {msg} (HTTP {})", status.as_u16()));
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path}: unexpected answer"))
    }

    /// Sends a request and returns the answer's text whatever it is (`fulcrum
    /// api call`), or the server's message for an error status.
    pub(crate) async fn any<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<String> {
        let (status, text) = self.exchange(method.clone(), path, body).await?;
        if !status.is_success() {
            let msg = serde_json::from_str::<ErrorBody>(&text).map(|e| e.error).unwrap_or(text);
            return Err(anyhow!("{method} {path}: {msg} (HTTP {})", status.as_u16()));
        }
        Ok(text)
    }

    async fn exchange<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<(reqwest::StatusCode, String)> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("reading {url}"))?;
        Ok((status, text))
    }
}

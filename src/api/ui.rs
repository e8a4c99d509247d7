//! The web UI: four files built into the binary (`ui/index.html`,
//! `app.js`, `app.css`, `icon.svg`), served at `/ui/` on the operator listener, `/`
//! leading there. It is a client of this API (the token in the browser
//! tab, sent with every call), so these routes hold no data and need no
//! token. `/api/docs`, the API's description as a page, is served the
//! same way. A strict Content-Security-Policy: only these files run, and the
//! page talks to nothing but this server.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("../../ui/index.html");
const SCRIPT: &str = include_str!("../../ui/app.js");
const STYLE: &str = include_str!("../../ui/app.css");
const ICON: &str = include_str!("../../ui/icon.svg");

/// Same origin only; no inline script or style; not framed.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                      form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn file(kind: &'static str, body: impl IntoResponse) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /` and `GET /ui`: to the UI.
pub(crate) async fn home() -> Redirect {
    Redirect::to("/ui/")
}

/// `GET /ui/`: the page.
pub(crate) async fn index() -> Response {
    file("text/html; charset=utf-8", INDEX)
}

/// `GET /api/docs`: a page made on the server (the API's description).
pub(crate) async fn page(html: axum::body::Bytes) -> Response {
    file("text/html; charset=utf-8", html)
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn json(text: axum::body::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// `GET /ui/{file}`: its script and style sheet.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => file("text/javascript; charset=utf-8", SCRIPT),
        "app.css" => file("text/css; charset=utf-8", STYLE),
        "icon.svg" => file("image/svg+xml", ICON),
        "index.html" => file("text/html; charset=utf-8", INDEX),
        _ => (StatusCode::NOT_FOUND, format!("no UI file `{name}`")).into_response(),
    }
}

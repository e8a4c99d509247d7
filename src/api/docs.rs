//! `/api/docs`: the OpenAPI description rendered as one HTML page on the
//! server (no script, no CDN; the UI's style sheet), each operation with
//! its parameters, body and answers, and every schema linked by name.

use std::fmt::Write;

use utoipa::openapi::path::{Operation, Parameter, ParameterIn};

use super::openapi::operations;
use utoipa::openapi::{OpenApi, RefOr, Required};

/// The page.
pub(crate) fn render(api: &OpenApi) -> String {
    let mut out = String::new();
    let title = esc(&api.info.title);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/ui/app.css\"></head><body><header><strong>{title} {}</strong>\
         <nav><a href=\"/ui/\">UI</a><a href=\"/api/v1/openapi.json\">openapi.json</a></nav></header><main>",
        esc(&api.info.version)
    );
    if let Some(d) = &api.info.description {
        let _ = write!(out, "<p>{}</p>", code_spans(d));
    }
    out.push_str("<h1>Operations</h1><table><tr><th>Method</th><th>Path</th><th>What it does</th></tr>");
    for (path, method, op) in operations(api) {
        let _ = write!(
            out,
            "<tr><td><code>{method}</code></td><td><a href=\"#{}\"><code>{}</code></a></td><td>{}</td></tr>",
            anchor(method, path),
            esc(path),
            code_spans(op.summary.as_deref().unwrap_or_default())
        );
    }
    out.push_str("</table>");
    for (path, method, op) in operations(api) {
        operation(&mut out, path, method, op);
    }
    out.push_str("<h1>Schemas</h1>");
    if let Some(c) = &api.components {
        for (name, schema) in &c.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(out, "<h2 id=\"schema-{0}\">{0}</h2><pre>{1}</pre>", esc(name), link_refs(&esc(&json)));
        }
    }
    out.push_str("</main></body></html>");
    out
}

fn operation(out: &mut String, path: &str, method: &str, op: &Operation) {
    let _ =
        write!(out, "<div class=\"card\" id=\"{}\"><h2><code>{method} {}</code></h2>", anchor(method, path), esc(path));
    for text in [&op.summary, &op.description].into_iter().flatten() {
        let _ = write!(out, "<p>{}</p>", code_spans(text));
    }
    if op.security.as_ref().is_some_and(|s| s.iter().all(|r| serde_json::to_string(r).is_ok_and(|j| j == "{}"))) {
        out.push_str("<p class=\"muted\">No token needed.</p>");
    }
    if let Some(params) = op.parameters.as_ref().filter(|p| !p.is_empty()) {
        out.push_str("<table><tr><th>Parameter</th><th>In</th><th>Schema</th><th></th></tr>");
        for p in params {
            parameter(out, p);
        }
        out.push_str("</table>");
    }
    if let Some(body) = &op.request_body {
        for (kind, content) in &body.content {
            let schema = content.schema.as_ref().map(schema_name).unwrap_or_default();
            let _ = write!(out, "<p>Body (<code>{}</code>): {}</p>", esc(kind), schema);
        }
    }
    out.push_str("<table><tr><th>Answer</th><th>What</th><th>Body</th></tr>");
    for (status, response) in &op.responses.responses {
        let (what, body) = match response {
            RefOr::T(r) => (
                code_spans(&r.description),
                r.content
                    .iter()
                    .map(|(kind, c)| {
                        format!("{} {}", esc(kind), c.schema.as_ref().map(schema_name).unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
            ),
            RefOr::Ref(r) => (link_refs(&esc(&r.ref_location)), String::new()),
        };
        let _ = write!(out, "<tr><td><code>{}</code></td><td>{what}</td><td>{body}</td></tr>", esc(status));
    }
    out.push_str("</table></div>");
}

fn parameter(out: &mut String, p: &Parameter) {
    let place = match p.parameter_in {
        ParameterIn::Path => "path",
        ParameterIn::Query => "query",
        ParameterIn::Header => "header",
        ParameterIn::Cookie => "cookie",
    };
    let required = if matches!(p.required, Required::True) { "required" } else { "" };
    let schema = p.schema.as_ref().map(schema_name).unwrap_or_default();
    let description = p.description.as_deref().map(code_spans).unwrap_or_default();
    let _ = write!(
        out,
        "<tr><td><code>{}</code> {required}</td><td>{place}</td><td>{schema}</td><td>{description}</td></tr>",
        esc(&p.name)
    );
}

/// A schema as a link to its definition, or its JSON when it is inline.
fn schema_name(s: &RefOr<utoipa::openapi::schema::Schema>) -> String {
    match s {
        RefOr::Ref(r) => link_refs(&esc(&r.ref_location)),
        RefOr::T(t) => format!("<code>{}</code>", link_refs(&esc(&serde_json::to_string(t).unwrap_or_default()))),
    }
}

/// `#/components/schemas/X` made a link to X's section.
fn link_refs(escaped: &str) -> String {
    const PREFIX: &str = "#/components/schemas/";
    let mut out = String::new();
    let mut rest = escaped;
    while let Some(i) = rest.find(PREFIX) {
        out.push_str(&rest[..i]);
        let tail = &rest[i + PREFIX.len()..];
        let end = tail.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-')).unwrap_or(tail.len());
        let name = &tail[..end];
        let _ = write!(out, "<a href=\"#schema-{name}\">{name}</a>");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn anchor(method: &str, path: &str) -> String {
    let mut a = method.to_ascii_lowercase();
    for c in path.chars() {
        a.push(if c.is_ascii_alphanumeric() { c } else { '-' });
    }
    a
}

/// Text with its `code` spans marked up.
fn code_spans(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_code_marked() {
        assert_eq!(code_spans("a `<b>` c"), "a <code>&lt;b&gt;</code> c");
        assert_eq!(link_refs("x #/components/schemas/NodeView\"y"), "x <a href=\"#schema-NodeView\">NodeView</a>\"y");
        assert_eq!(anchor("GET", "/api/v1/nodes/{name}"), "get-api-v1-nodes--name-");
    }
}

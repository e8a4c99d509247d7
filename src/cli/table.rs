//! Plain-text tables for the CLI: a header and one row per item,
//! left-aligned columns, two spaces between them; and the cell spellings
//! every table shares.

use std::fmt::Display;

/// Renders `items` as a table: `cells` gives one row per item.
pub(crate) fn render<T>(header: &[&str], items: &[T], cells: impl Fn(&T) -> Vec<String>) -> String {
    let rows: Vec<Vec<String>> = items.iter().map(cells).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = cells.zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().copied());
    for r in &rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}

/// An optional value: `-` when absent.
pub(crate) fn opt<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A list as one cell, comma-separated: `-` when empty.
pub(crate) fn list<T: Display>(items: &[T]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    }
}

/// A serde enum as its wire spelling (`inspect failed`, `todo`).
pub(crate) fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let items = [("xyz", 1)];
        assert_eq!(
            super::render(&["A", "LONGER"], &items, |(a, b)| vec![a.to_string(), b.to_string()]),
            "A    LONGER\nxyz  1\n"
        );
        assert_eq!(super::list::<u8>(&[]), "-");
        assert_eq!(super::opt::<u8>(None), "-");
    }
}

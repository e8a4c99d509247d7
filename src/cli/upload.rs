//! Sending a large file to the API as a request body, streamed from disk
//! with a progress bar on the terminal (none when stderr is not one).

use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::client::Client;
use crate::api::wire::inventory::ImportReport;

/// Uploads the ISO at `file` to `/api/v1/bootenvs/import/upload`.
pub(crate) async fn iso(c: &Client, file: &std::path::Path, name: Option<&str>) -> anyhow::Result<ImportReport> {
    let f = tokio::fs::File::open(file).await.with_context(|| format!("{}", file.display()))?;
    let len = f.metadata().await.with_context(|| format!("{}", file.display()))?.len();
    let filename = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("uploading {filename}"));
    let counted = bar.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 1 << 20).inspect(move |chunk| {
        if let Ok(c) = chunk {
            counted.inc(c.len() as u64);
        }
    });
    let mut query = vec![("filename", filename.clone())];
    if let Some(n) = name {
        query.push(("name", n.to_string()));
    }
    let path = format!(
        "/api/v1/bootenvs/import/upload?{}",
        query
            .iter()
            .map(|(k, v)| format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            ))
            .collect::<Vec<_>>()
            .join("&")
    );
    let report = c.upload(&path, reqwest::Body::wrap_stream(stream), len).await;
    bar.finish_and_clear();
    report
}

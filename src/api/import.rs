//! `POST /api/v1/bootenvs/import`: a distribution's install ISO made a
//! bootenv, from a path on the admin node (`{"path", "name"?}`) or
//! streamed in the request body (`.../import/upload?filename=&name=`,
//! `application/octet-stream`; written to the files directory's disk as
//! it arrives, never held in memory). The reading and copying is the
//! distro room's, off the async threads; the bootenv is then created, or
//! an existing one pointed at the new files, in one write. 201 when the
//! bootenv is new, 200 when it existed.

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::Json;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::params::Query;
use super::wire::inventory::{IsoImport, UploadQuery};
use super::ApiState;
use crate::distro::{ImportReport, Importer};

/// The largest ISO an upload may be.
const MAX_UPLOAD: u64 = 64 << 30;

async fn run(
    api: &ApiState,
    importer: Arc<Importer>,
    iso: std::path::PathBuf,
    filename: String,
    name: Option<String>,
) -> ApiResult<(StatusCode, Json<ImportReport>)> {
    let done = tokio::task::spawn_blocking(move || importer.import(&iso, &filename, name.as_deref()))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the import stopped: {e}")))?;
    let (mut report, env) = done?;
    let (env, created) = api.inventory.import_bootenv(env).await?;
    report.created = created;
    tracing::info!(bootenv = %env.name, distro = %report.distro.label, created, "ISO imported");
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(report)))
}

/// Makes a bootenv of a distribution's install ISO that is on the admin node (201 new, 200 an existing bootenv pointed at the new files).
#[utoipa::path(post, path = "/api/v1/bootenvs/import", tag = "bootenvs", request_body = IsoImport, responses((status = 201, description = "A new bootenv", body = ImportReport), (status = 200, description = "An existing bootenv, pointed at the new files", body = ImportReport)))]
pub(crate) async fn from_path(
    AxState(api): AxState<ApiState>,
    Body(req): Body<IsoImport>,
) -> ApiResult<(StatusCode, Json<ImportReport>)> {
    let path = std::path::PathBuf::from(&req.path);
    if !path.is_absolute() {
        return Err(ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "path", "an absolute path on the admin node"));
    }
    let filename = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    run(&api, api.importer.clone(), path, filename, req.name).await
}

/// Makes a bootenv of a distribution's install ISO sent as the request body (streamed to disk, never held in memory).
#[utoipa::path(post, path = "/api/v1/bootenvs/import/upload", tag = "bootenvs", params(UploadQuery), request_body(content = crate::types::schema::Binary, content_type = "application/octet-stream", description = "The ISO"), responses((status = 201, description = "A new bootenv", body = ImportReport), (status = 200, description = "An existing bootenv, pointed at the new files", body = ImportReport)))]
pub(crate) async fn upload(
    AxState(api): AxState<ApiState>,
    Query(q): Query<UploadQuery>,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<ImportReport>)> {
    let filename = q.filename.unwrap_or_else(|| "upload.iso".into());
    let importer = api.importer.clone();
    let tmp = importer.upload_path();
    let written = receive(body, &tmp).await;
    let result = match written {
        Ok(()) => run(&api, importer, tmp.clone(), filename, q.name).await,
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&tmp).await;
    result
}

/// Writes the request body to `to`, at most [`MAX_UPLOAD`] bytes.
async fn receive(body: axum::body::Body, to: &std::path::Path) -> ApiResult<()> {
    let failed = |e: std::io::Error| {
        tracing::warn!(path = %to.display(), error = %e, "cannot store an uploaded ISO");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot store the upload: {e}"))
    };
    if let Some(dir) = to.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(failed)?;
    }
    let mut file = tokio::fs::File::create(to).await.map_err(failed)?;
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the upload broke off: {e}")))?;
        n += chunk.len() as u64;
        if n > MAX_UPLOAD {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("an ISO of at most {MAX_UPLOAD} bytes")));
        }
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.sync_all().await.map_err(failed)?;
    if n == 0 {
        return Err(ApiError::field(StatusCode::BAD_REQUEST, "body", "empty: send the ISO as the request body"));
    }
    Ok(())
}

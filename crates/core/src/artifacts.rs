//! Artifacts: release files of digital products, streamed into the blob store under their
//! SHA-256, then registered (one active file per product, version and platform) or retired.

use bursar_domain::commerce::{Product, ProductKind};
use bursar_domain::event_type;
use bursar_domain::fulfillment::{Artifact, ArtifactStatus};
use bursar_domain::id::{ArtifactId, ProductId, WorkspaceId};
use bursar_store::documents::{self, ARTIFACT, PRODUCT};
use bursar_store::Tx;

use crate::blobs::{ByteStream, StoredBlob};
use crate::error::{Error, ErrorKind};
use crate::lookup;
use crate::write::Context;
use crate::App;

/// A release file received, to register: its product, version, platform, name and type, and
/// the blob its bytes were stored as.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub product_id: ProductId,
    pub version: String,
    pub platform: String,
    pub file_name: String,
    pub content_type: String,
    pub blob: StoredBlob,
}

/// The media type of an upload (`application/octet-stream` when none is named).
pub fn parse_content_type(value: Option<String>) -> Result<String, Error> {
    let content_type = value.unwrap_or_else(|| "application/octet-stream".into());
    if content_type.len() > 100
        || !content_type.contains('/')
        || content_type
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\n')
    {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("content_type".into()),
            "content_type is a media type such as application/gzip.",
        ));
    }
    Ok(content_type)
}

/// Refuses a product that is not digital: only digital products carry artifacts.
fn check_digital(product: Option<Product>, product_id: &ProductId) -> Result<(), Error> {
    match product {
        None => Err(Error::not_found("product", product_id.as_str()).with_param("product_id")),
        Some(product) if product.kind != ProductKind::Digital => Err(Error::invalid(
            "parameter_invalid",
            Some("product_id".into()),
            "Artifacts belong to digital products.",
        )),
        Some(_) => Ok(()),
    }
}

/// Checks, before a file is received, that its product exists and is digital.
pub async fn check_product(
    app: &App,
    workspace_id: &WorkspaceId,
    product_id: &ProductId,
) -> Result<(), Error> {
    let (workspace_id, lookup) = (workspace_id.clone(), product_id.clone());
    let product: Option<Product> = app
        .db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                documents::get(tx, PRODUCT, &workspace_id, lookup.as_str(), false).await
            })
        })
        .await?;
    check_digital(product, product_id)
}

/// Streams an upload into the blob store; a broken or empty upload is refused.
pub async fn receive(app: &App, body: ByteStream) -> Result<StoredBlob, Error> {
    let blob = app.blobs.put(body).await.map_err(|error| {
        tracing::warn!(%error, "artifact upload failed");
        Error::invalid(
            "upload_failed",
            Some("body".into()),
            "The file could not be received completely; upload it again.",
        )
    })?;
    if blob.size == 0 {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("body".into()),
            "The file is empty: send its bytes as the request body.",
        ));
    }
    Ok(blob)
}

/// Registers a received file as an active artifact (`artifact.created`); refused while the
/// same version for the same platform is active.
pub async fn create(cx: &mut Context<'_>, new: NewArtifact) -> Result<Artifact, Error> {
    let product: Product = lookup::get_in(
        cx,
        PRODUCT,
        "product",
        new.product_id.as_str(),
        "product_id",
    )
    .await?;
    check_digital(Some(product), &new.product_id)?;
    let existing: Vec<Artifact> = documents::find_in(
        cx.tx,
        ARTIFACT,
        cx.workspace_id,
        "product_id",
        &[new.product_id.as_str()],
    )
    .await?;
    if let Some(same) = existing.iter().find(|a| {
        a.status == ArtifactStatus::Active && a.version == new.version && a.platform == new.platform
    }) {
        return Err(Error::new(
            ErrorKind::Conflict,
            "artifact_exists",
            format!(
                "Version {} for {} exists already ({}); retire it first to replace it.",
                new.version, new.platform, same.id
            ),
        )
        .with_param("version"));
    }
    let artifact = Artifact {
        id: ArtifactId::new(),
        object: "artifact".into(),
        product_id: new.product_id,
        version: new.version,
        platform: new.platform,
        file_name: new.file_name,
        content_type: new.content_type,
        size: i64::try_from(new.blob.size).unwrap_or(i64::MAX),
        sha256: new.blob.sha256,
        status: ArtifactStatus::Active,
        created_at: cx.now,
        retired_at: None,
    };
    documents::insert(
        cx.tx,
        ARTIFACT,
        cx.workspace_id,
        artifact.id.as_str(),
        &artifact,
        &[
            ("product_id", artifact.product_id.as_str().into()),
            ("status", "active".into()),
        ],
    )
    .await?;
    cx.emit_object(
        event_type::ARTIFACT_CREATED,
        "artifact",
        artifact.id.as_str(),
        &artifact,
    )
    .await?;
    Ok(artifact)
}

/// Retires artifact `id` (`artifact.retired`): no new links or updates point to it, and its
/// links stop working.
pub async fn retire(cx: &mut Context<'_>, id: &str) -> Result<Artifact, Error> {
    let mut artifact: Artifact = lookup::get_in(cx, ARTIFACT, "artifact", id, "id").await?;
    if artifact.status == ArtifactStatus::Retired {
        return Err(Error::state(
            "artifact_retired",
            "retired",
            "The artifact is retired already.",
        ));
    }
    artifact.status = ArtifactStatus::Retired;
    artifact.retired_at = Some(cx.now);
    documents::save(
        cx.tx,
        ARTIFACT,
        cx.workspace_id,
        id,
        &artifact,
        &[("status", "retired".into())],
    )
    .await?;
    cx.emit_object(event_type::ARTIFACT_RETIRED, "artifact", id, &artifact)
        .await?;
    Ok(artifact)
}

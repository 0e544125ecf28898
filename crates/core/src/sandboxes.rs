//! Sandboxes beside a live workspace (as Stripe's sandboxes): a live workspace's admin keys
//! create sandboxes linked to it, list them, and reset them. A sandbox is a workspace of its
//! own (its own data, its own `sk_test_…` keys); a reset deletes every row of its data but the
//! workspace and its keys, in one transaction, and is refused for a live workspace.

use bursar_domain::auth::{Scope, WorkspaceMode};
use bursar_domain::event::{Cause, NewEvent};
use bursar_domain::event_type;
use bursar_domain::id::WorkspaceId;
use bursar_domain::sandbox::{Sandbox, SandboxKey};
use bursar_store::api_keys::{self, Secret};
use bursar_store::sandbox_reset::{self, ResetOutcome};
use bursar_store::workspaces::{self, Workspace};
use bursar_store::{events, Tx};
use serde_json::json;

use crate::error::Error;
use crate::write::Context;
use crate::App;

/// A sandbox id from a path: a malformed one names no sandbox, so it is not found.
pub fn parse_sandbox_id(id: &str) -> Result<WorkspaceId, Error> {
    WorkspaceId::parse(id, "id").map_err(|_| Error::not_found("sandbox", id))
}

/// The sandbox as the API shows it (its key only when given).
pub fn sandbox_object(workspace: &Workspace, admin_key: Option<SandboxKey>) -> Sandbox {
    Sandbox {
        id: workspace.id.clone(),
        object: "sandbox".into(),
        name: workspace.name.clone(),
        live_workspace_id: workspace.live_workspace_id.clone(),
        created_at: workspace.created_at,
        admin_key,
    }
}

/// A sandbox just created: as stored for replays (no secret), and its first admin key's secret.
pub struct CreatedSandbox {
    pub sandbox: Sandbox,
    pub secret: Secret,
}

impl CreatedSandbox {
    /// The first answer: the sandbox with its admin key's secret.
    pub fn revealed(&self) -> Sandbox {
        let mut shown = self.sandbox.clone();
        if let Some(key) = shown.admin_key.as_mut() {
            key.secret = Some(self.secret.expose().to_owned());
        }
        shown
    }
}

/// Creates a sandbox named `name` beside the live workspace of `cx`, with a first admin key,
/// and records `sandbox.created` in the live workspace. A sandbox cannot have sandboxes.
pub async fn create(cx: &mut Context<'_>, name: String) -> Result<CreatedSandbox, Error> {
    let live = workspaces::get(cx.tx, cx.workspace_id)
        .await?
        .ok_or_else(Error::internal)?;
    if live.mode != WorkspaceMode::Live {
        return Err(Error::state(
            "workspace_is_sandbox",
            live.mode.as_str(),
            "This workspace is a sandbox, and a sandbox cannot have sandboxes: create them with \
             an admin key of a live workspace.",
        ));
    }
    let workspace = Workspace {
        id: WorkspaceId::new(),
        name,
        created_at: cx.now,
        mode: WorkspaceMode::Sandbox,
        live_workspace_id: Some(live.id),
    };
    workspaces::insert(cx.tx, &workspace).await?;
    let (key, secret) = api_keys::create(
        cx.tx,
        &workspace.id,
        "admin",
        Scope::Admin,
        cx.now,
        cx.cause,
    )
    .await?;
    let sandbox = sandbox_object(
        &workspace,
        Some(SandboxKey {
            id: key.id,
            secret: None,
        }),
    );
    cx.emit(NewEvent::new(
        event_type::SANDBOX_CREATED,
        "sandbox",
        workspace.id.as_str(),
        json!({ "object": sandbox }),
    ))
    .await?;
    Ok(CreatedSandbox { sandbox, secret })
}

/// The sandboxes of live workspace `live`, oldest first.
pub async fn list(app: &App, live: &WorkspaceId) -> Result<Vec<Sandbox>, Error> {
    let live = live.clone();
    let found = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { workspaces::sandboxes_of(tx, &live).await }))
        .await?;
    Ok(found.iter().map(|w| sandbox_object(w, None)).collect())
}

/// Sandbox `id` of live workspace `live`, or not found.
pub async fn get(app: &App, live: &WorkspaceId, id: &WorkspaceId) -> Result<Sandbox, Error> {
    let lookup = id.clone();
    let found = app
        .db
        .read(move |tx: &mut Tx| Box::pin(async move { workspaces::get(tx, &lookup).await }))
        .await?
        .filter(|w| w.live_workspace_id.as_ref() == Some(live));
    found
        .map(|w| sandbox_object(&w, None))
        .ok_or_else(|| Error::not_found("sandbox", id.as_str()))
}

/// Resets sandbox `id` of live workspace `live` (see [`reset`]); another workspace's sandbox,
/// or a workspace that is no sandbox of `live`, is not found.
pub async fn reset_beside(
    app: &App,
    live: &WorkspaceId,
    id: &WorkspaceId,
    cause: Cause,
) -> Result<Sandbox, Error> {
    reset_where(app, id, Some(live.clone()), cause).await
}

/// Deletes every row of sandbox `id`'s data but the workspace and its API keys, in one
/// transaction, and records `sandbox.reset` (audited) in its live workspace, or in the sandbox
/// itself when it stands alone. A live workspace is refused: nothing of it is touched.
pub async fn reset(app: &App, id: &WorkspaceId, cause: Cause) -> Result<Sandbox, Error> {
    reset_where(app, id, None, cause).await
}

async fn reset_where(
    app: &App,
    id: &WorkspaceId,
    required_live: Option<WorkspaceId>,
    cause: Cause,
) -> Result<Sandbox, Error> {
    let now = app.now();
    let target = id.clone();
    let sandbox = app
        .db
        .write_alone(move |tx: &mut Tx| {
            Box::pin(async move {
                let missing = || Error::not_found("sandbox", target.as_str());
                let workspace = workspaces::get(tx, &target).await?.ok_or_else(missing)?;
                if required_live.is_some() && workspace.live_workspace_id != required_live {
                    return Err(missing());
                }
                let rows = match sandbox_reset::reset(tx, &target).await? {
                    ResetOutcome::Reset { rows } => rows,
                    ResetOutcome::Missing => return Err(missing()),
                    ResetOutcome::Live => return Err(live_refused(&target)),
                };
                let sandbox = sandbox_object(&workspace, None);
                let recorded_in = workspace.live_workspace_id.as_ref().unwrap_or(&target);
                let event = NewEvent::new(
                    event_type::SANDBOX_RESET,
                    "sandbox",
                    target.as_str(),
                    json!({ "object": sandbox, "rows_deleted": rows }),
                );
                events::record(tx, recorded_in, &event, &cause, now).await?;
                Ok::<_, Error>(sandbox)
            })
        })
        .await?;
    // Provider connections the sandbox had are gone; this process forgets what it cached.
    app.payments.forget_all();
    Ok(sandbox)
}

fn live_refused(id: &WorkspaceId) -> Error {
    Error::state(
        "workspace_is_live",
        WorkspaceMode::Live.as_str(),
        format!(
            "Workspace {id} is live: only a sandbox can be reset, and nothing of a live \
             workspace is ever deleted."
        ),
    )
}

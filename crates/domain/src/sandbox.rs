//! Sandboxes beside a live workspace, as the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{ApiKeyId, WorkspaceId};
use crate::time::Timestamp;

/// Longest sandbox name, in characters.
pub const NAME_MAX_CHARS: usize = 200;

/// A sandbox: a workspace of its own (its own data, `sk_test_…` keys, the test provider, never
/// real money), created beside a live workspace whose admin keys list and reset it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Sandbox {
    /// The sandbox's workspace.
    pub id: WorkspaceId,
    /// Always `sandbox`.
    pub object: String,
    pub name: String,
    /// The live workspace it was created beside (none for a sandbox standing alone).
    pub live_workspace_id: Option<WorkspaceId>,
    pub created_at: Timestamp,
    /// Its first admin key: only in the answer that created the sandbox.
    pub admin_key: Option<SandboxKey>,
}

/// A sandbox's first admin key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SandboxKey {
    pub id: ApiKeyId,
    /// The secret (`sk_test_…`), shown in the first answer only: a replay of the request under
    /// its Idempotency-Key shows null. Create another key with `bursar keys create`.
    pub secret: Option<String>,
}

/// A name for a new sandbox: trimmed, 1 to [`NAME_MAX_CHARS`] characters; absent: `Sandbox`.
pub fn parse_name(name: Option<&str>) -> Result<String, crate::ValidationError> {
    let Some(name) = name else {
        return Ok("Sandbox".to_owned());
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(crate::ValidationError::invalid(
            "name",
            format!("A sandbox's name is 1 to {NAME_MAX_CHARS} characters."),
        ));
    }
    Ok(name.to_owned())
}

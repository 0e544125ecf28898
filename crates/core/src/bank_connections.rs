//! PLACEHOLDER until the bank connections land on main (the lead's part): the contract only.

use std::sync::Arc;

use bursar_domain::id::WorkspaceId;

use crate::error::{Error, ErrorKind};
use crate::App;

/// The workspace's bank connection id and its rails; `bank_connection_missing` when it has none.
pub async fn rails_for_workspace(
    _app: &App,
    _workspace_id: &WorkspaceId,
) -> Result<(String, Arc<dyn bursar_banks::BankRails>), Error> {
    Err(Error::new(
        ErrorKind::Invalid,
        "bank_connection_missing",
        "The workspace has no bank connection: create one with POST /v1/bank_connections.",
    ))
}

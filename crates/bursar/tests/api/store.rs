//! The storage layer's write path, on both backends.

use bursar_domain::id::WorkspaceId;
use bursar_store::workspaces::{self, Workspace};
use bursar_store::{StoreError, Tx};

use crate::both_backends;
use crate::helpers::*;

#[derive(Debug)]
enum JobError {
    Store(#[allow(dead_code)] StoreError),
    Refused,
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Store(e)
    }
}

both_backends! {
    /// Goal: concurrent write jobs commit independently: a failing job rolls back only its own
    /// writes, even when the SQLite writer groups it with others in one transaction.
    /// Method: 60 concurrent jobs each insert a workspace; every third then fails.
    async fn a_failing_write_job_rolls_back_alone(app: TestApp) {
        let db = app.db().clone();
        let now = db.now();
        let jobs = (0..60).map(|i| {
            let db = db.clone();
            async move {
                let id = WorkspaceId::new();
                let workspace = Workspace { id: id.clone(), name: format!("job-{i}"), created_at: now, mode: Default::default(), live_workspace_id: None };
                let result = db.write(move |conn: &mut Tx| Box::pin(async move {
                    workspaces::insert(conn, &workspace).await?;
                    if i % 3 == 0 { Err(JobError::Refused) } else { Ok(()) }
                })).await;
                (i, id, result)
            }
        });
        let results = futures::future::join_all(jobs).await;
        for (i, id, result) in results {
            let lookup = id.clone();
            let stored: Option<Workspace> = db
                .read(move |tx: &mut Tx| Box::pin(async move { workspaces::get(tx, &lookup).await }))
                .await
                .unwrap();
            if i % 3 == 0 {
                assert!(matches!(result, Err(JobError::Refused)), "job {i}: {result:?}");
                assert!(stored.is_none(), "job {i} failed but its write survived");
            } else {
                assert!(result.is_ok(), "job {i}: {result:?}");
                assert_eq!(stored.unwrap().name, format!("job-{i}"));
            }
        }
    }
}

both_backends! {
    /// Goal: a unique violation is reported with the constraint's name and rolls back.
    async fn unique_violations_are_reported_and_roll_back(app: TestApp) {
        let db = app.db().clone();
        let now = db.now();
        let duplicate = Workspace { id: app.workspace_id.clone(), name: "dup".into(), created_at: now, mode: Default::default(), live_workspace_id: None };
        let result = db.write(move |conn: &mut Tx| Box::pin(async move {
            workspaces::insert(conn, &duplicate).await
        })).await;
        let error = result.unwrap_err();
        assert!(error.unique_violation().is_some(), "{error:?}");
        let id = app.workspace_id.clone();
        let stored: Option<Workspace> = db
            .read(move |tx: &mut Tx| Box::pin(async move { workspaces::get(tx, &id).await }))
            .await
            .unwrap();
        assert_eq!(stored.unwrap().name, "Default");
    }
}

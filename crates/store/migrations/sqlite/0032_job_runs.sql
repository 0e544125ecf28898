-- The job monitor: background work on one subject that failed at least once (documents, the
-- API's shape in body), one row per workspace, kind and subject.
create table job_run (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    kind text not null,
    subject text not null,
    status text not null,
    primary key (workspace_id, object_id)
);
create unique index job_run_by_subject on job_run (workspace_id, kind, subject);
create index job_run_by_status on job_run (workspace_id, status);
create index job_run_by_kind_status on job_run (kind, status);

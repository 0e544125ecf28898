-- Collections. Each account's next check is the next instant its health can change (a step's
-- day, a due date, the end of a paid period), recomputed from facts at every evaluation: the
-- sweep reads only accounts whose instant has come.
alter table billing_status add column next_check_at bigint;
create index billing_status_by_next_check on billing_status (next_check_at);

-- Dunning policies: every version one row (object_id '<policy id>.v<version>'), and the
-- latest under the policy id itself.
create table dunning_policy (
    workspace_id text not null,
    object_id text not null,
    policy_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index dunning_policy_by_policy on dunning_policy (workspace_id, policy_id);

-- Which policy applies: the workspace's default (object_id 'default') and per-customer
-- overrides or exclusions (object_id the customer's id).
create table dunning_assignment (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);

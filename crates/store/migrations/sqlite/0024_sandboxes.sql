-- A sandbox created beside a live workspace names it: the live workspace's admin keys list and
-- reset its sandboxes. Null for live workspaces and for sandboxes standing alone.
alter table workspace add column live_workspace_id text references workspace (workspace_id);
create index workspace_by_live_workspace on workspace (live_workspace_id);

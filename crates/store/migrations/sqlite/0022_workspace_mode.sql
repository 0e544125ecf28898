-- Live or sandbox: a sandbox has the test provider and never real money; a live workspace
-- reaches nothing test-only. Workspaces from before default to live, the mode that permits less.
alter table workspace add column mode text not null default 'live';

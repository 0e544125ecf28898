-- The velocity limits of the public pages (checkouts, sign-in links), counted in the
-- database so that every node of a deployment shares them: one row per key, holding the
-- hits of its current window. Rows of past windows are swept.
create table velocity_window (
    workspace_id text not null,
    key text not null,
    window_start bigint not null,
    hits bigint not null,
    primary key (workspace_id, key)
);
create index velocity_window_by_start on velocity_window (window_start);

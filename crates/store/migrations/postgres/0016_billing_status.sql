-- The billing status of each customer (one row per customer once it has invoices), kept in
-- step with its invoices in the transactions that change them, and by a periodic sweep as
-- due dates pass.
create table billing_status (
    workspace_id text not null,
    object_id text not null,
    status text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index billing_status_by_status on billing_status (status);

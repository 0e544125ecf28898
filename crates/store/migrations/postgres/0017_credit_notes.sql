-- Credit notes against issued invoices.
create table credit_note (
    workspace_id text not null,
    object_id text not null,
    invoice_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index credit_note_by_invoice on credit_note (workspace_id, invoice_id);

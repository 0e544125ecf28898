-- Payments received against invoices (and the customer credit they leave).
create table invoice_payment (
    workspace_id text not null,
    object_id text not null,
    customer_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);
create index invoice_payment_by_customer on invoice_payment (workspace_id, customer_id);

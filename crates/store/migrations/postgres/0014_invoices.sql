-- Invoicing: tax rates, invoices (documents, with the columns they are found by), the
-- workspace's invoicing settings, and the numbering sequences: one row per prefix and year,
-- advanced in the transaction that issues an invoice, so numbers have no gaps.
create table tax_rate (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    primary key (workspace_id, object_id)
);

create table invoice (
    workspace_id text not null,
    object_id text not null,
    customer_id text not null,
    status text not null,
    number text,
    body text not null,
    primary key (workspace_id, object_id)
);
create index invoice_by_customer on invoice (workspace_id, customer_id);
create unique index invoice_by_number on invoice (workspace_id, number);

create table invoice_settings (
    workspace_id text not null primary key,
    body text not null
);

create table invoice_sequence (
    workspace_id text not null,
    prefix text not null,
    year bigint not null,
    last bigint not null,
    primary key (workspace_id, prefix, year)
);

-- A received payment's reference (the bank's transaction id, a cheque number) is its natural
-- id: one payment per reference in a workspace, so a retried request cannot record it twice.
alter table invoice_payment add column reference text;
create unique index invoice_payment_by_reference on invoice_payment (workspace_id, reference)
    where reference is not null;

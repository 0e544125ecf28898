-- Billing runs: an invoice made for a contract's period carries `contract:period start`; the
-- unique index makes a second invoice for the same period impossible, whatever the retries or
-- the number of processes running billing.
alter table invoice add column billing_key text;
create unique index invoice_by_billing_key on invoice (workspace_id, billing_key);

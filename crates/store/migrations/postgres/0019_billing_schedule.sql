-- When a contract is next due for billing (unix µs): set by billing runs to the end of the
-- period they billed (or when a contract not billable now should be looked at again), cleared
-- by every change to the contract. The server's billing loop visits only contracts due.
alter table contract add column bill_at bigint;
create index contract_by_bill_at on contract (bill_at);
-- Drafts waiting to be issued automatically are found by status.
create index invoice_by_status on invoice (status, workspace_id);

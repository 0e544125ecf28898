-- A customer's orders and invoices, newest first, a page at a time (keyset on the id): the
-- customer's index carries the id, so a page reads only its own rows, in order.
drop index commerce_order_by_customer;
create index commerce_order_by_customer on commerce_order (workspace_id, customer_id, object_id);
drop index invoice_by_customer;
create index invoice_by_customer on invoice (workspace_id, customer_id, object_id);
drop index contract_by_buyer;
create index contract_by_buyer on contract (workspace_id, buyer_id, object_id);
drop index invoice_payment_by_customer;
create index invoice_payment_by_customer on invoice_payment (workspace_id, customer_id, object_id);

-- The support team's KPI bar (`GET /v1/orders/metrics`) counts orders by status and shipments by
-- direction and status, per workspace, from indexes rather than by reading every document.
alter table shipment add column direction text not null default 'outbound';
update shipment set direction = 'return' where body like '%"direction":"return"%';
create index shipment_by_direction_status on shipment (workspace_id, direction, status);
create index commerce_order_by_status on commerce_order (workspace_id, status);

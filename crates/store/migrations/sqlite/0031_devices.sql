-- Serialised devices (documents, the API's shape in body), one per serial number, and the
-- windows of their assignment history, found by device.
create table device (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    serial_number text not null,
    status text not null,
    company_id text,
    primary key (workspace_id, object_id)
);
create unique index device_by_serial on device (workspace_id, serial_number);
create index device_by_status on device (workspace_id, status);
create index device_by_company on device (workspace_id, company_id);

create table device_assignment (
    workspace_id text not null,
    object_id text not null,
    body text not null,
    device_id text not null,
    primary key (workspace_id, object_id)
);
create index device_assignment_by_device on device_assignment (workspace_id, device_id);

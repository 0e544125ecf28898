-- Who may see a company's orders and invoices in the portal: each contact address of each
-- company (lower case), kept with the company's contacts. The portal finds a signed-in
-- address's companies by the key, and the company's customers by their index.
create table company_contact (
    workspace_id text not null,
    email text not null,
    company_id text not null,
    primary key (workspace_id, email, company_id)
);
create index customer_by_company on customer (workspace_id, company_id, customer_id);
insert or ignore into company_contact (workspace_id, email, company_id)
select company.workspace_id, lower(json_extract(contact.value, '$.email')), company.object_id
from company, json_each(company.body, '$.contacts') as contact
where json_extract(contact.value, '$.email') is not null;

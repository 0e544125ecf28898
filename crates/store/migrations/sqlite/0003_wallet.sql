-- Wallet holdings: money released to a seller's PAY_IN_HOLDING that seasons until not_before.
create table wallet_holding (
    workspace_id text not null,
    holding_id text not null,
    seller_id text not null,
    buyer_id text not null,
    currency text not null,
    amount bigint not null,
    not_before bigint not null,
    -- holding, then seasoned
    status text not null,
    created_at bigint not null,
    seasoned_at bigint,
    primary key (workspace_id, holding_id)
) without rowid;
create index wallet_holding_due_idx on wallet_holding (status, not_before);

-- Payouts: parties' bank accounts (numbers sealed, shown masked), payouts out of a seller's
-- AVAILABLE (a pending ledger transfer per attempt) and each seller's payout schedule.
create table party_bank_account (
    workspace_id text not null,
    id text not null,
    party_id text not null,
    status text not null,
    disabled_reason text,
    routing_number_sealed text not null,
    account_number_sealed text not null,
    routing_number_masked text not null,
    account_number_masked text not null,
    account_type text not null,
    holder_name text not null,
    counterparty_id text,
    external_account_id text,
    created_at integer not null,
    updated_at integer not null,
    primary key (workspace_id, id)
);
create index party_bank_account_by_party on party_bank_account (workspace_id, party_id, id);

create table payout (
    workspace_id text not null,
    id text not null,
    party_id text not null,
    bank_account_id text not null,
    status text not null,
    amount integer not null,
    currency text not null,
    origin text not null,
    attempts integer not null,
    transfer_id text not null,
    payment_order_id text,
    failure_code text,
    failure_message text,
    return_code text,
    next_attempt_at integer,
    created_at integer not null,
    updated_at integer not null,
    primary key (workspace_id, id)
);
create index payout_by_party on payout (workspace_id, party_id, id);
create index payout_by_payment_order on payout (workspace_id, payment_order_id);
create index payout_by_next_attempt on payout (next_attempt_at);

create table payout_schedule (
    workspace_id text not null,
    party_id text not null,
    payout_interval text not null,
    weekday text,
    day_of_month integer,
    delay_days integer not null,
    minimum_amounts text not null,
    next_run_at integer,
    updated_at integer not null,
    primary key (workspace_id, party_id)
);
create index payout_schedule_by_next_run on payout_schedule (next_run_at);

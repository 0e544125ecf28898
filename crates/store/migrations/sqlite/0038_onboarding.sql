-- The onboarding emails after a purchase: each step of each fulfilled order, due at a time
-- (the welcome at once, tips days later), sent once. The sweep finds the due ones by index.
create table onboarding_step (
    workspace_id text not null,
    order_id text not null,
    step text not null,
    due_at bigint not null,
    -- pending, sent
    status text not null,
    primary key (workspace_id, order_id, step)
);
create index onboarding_step_due on onboarding_step (status, due_at);

-- Notification emails: rendered from an event and a template, then sent over SMTP, or kept
-- here (the mailbox the API lists) when no SMTP server is configured. One message per
-- (event, template): a redelivered event never sends twice.
create table email_message (
    workspace_id text not null,
    message_id text not null,
    event_id text not null,
    template text not null,
    to_address text not null,
    subject text not null,
    text_body text not null,
    html_body text not null,
    -- queued, sent, kept (no SMTP configured), failing
    status text not null,
    attempts bigint not null,
    last_error text,
    created_at bigint not null,
    sent_at bigint,
    primary key (workspace_id, message_id),
    unique (event_id, template)
);

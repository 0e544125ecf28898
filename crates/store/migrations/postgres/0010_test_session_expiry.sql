-- The test provider expires its open checkout sessions when their time is up, as Stripe does.
create index test_checkout_session_open on test_checkout_session (expires_at) where status = 'open';

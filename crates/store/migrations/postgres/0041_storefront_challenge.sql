-- The secret key of a shop's challenge provider (Turnstile), sealed; the settings in body keep
-- only its last four characters.
alter table storefront add column challenge_secret text;

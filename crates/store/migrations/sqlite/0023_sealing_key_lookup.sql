-- The key of lookup hashes (license keys), sealed with the current sealing key: set by the
-- first key rotation, so hashes stored before it keep matching (see store::sealing_key).
alter table sealing_key add column lookup_key_sealed text;

//! `bursar secret-key rotate`: moves a database to a new sealing key while no server runs on
//! it. Every sealed secret is re-sealed in one transaction ([`bursar_store::sealing_key`]).
//!
//! On SQLite with the data directory's `secret.key`, the new key is written beside it first
//! (`secret.key.new`, synced), the transaction commits, and only then is the file renamed over
//! `secret.key`; run after a crash, the command finishes the rename if the database is on the
//! staged key already, or starts over if it is not.

use std::path::Path;

use anyhow::Context;
use bursar_store::backup::ServerLock;
use bursar_store::node_lock::NodeLock;
use bursar_store::seal::{self, Sealer};
use bursar_store::sealing_key::{self, Rotation};
use bursar_store::{Db, Location, PoolSettings};

/// The environment variable that may give the new key.
pub const NEW_SECRET_KEY_ENV: &str = "BURSAR_NEW_SECRET_KEY";

/// Rotates the sealing key of the database at `location`, to the key of `new_key_file`, of
/// `BURSAR_NEW_SECRET_KEY`, or (SQLite with a key file) a fresh one.
pub async fn rotate(location: Location, new_key_file: Option<&Path>) -> anyhow::Result<()> {
    let given = given_new_key(new_key_file)?;
    match &location {
        Location::SqliteDir(dir) => {
            let _lock = ServerLock::acquire(dir)?;
            let file = dir.join(bursar_store::SQLITE_FILE);
            anyhow::ensure!(file.is_file(), "no database at {}", file.display());
            if std::env::var(seal::SECRET_KEY_ENV).is_ok() {
                rotate_to_given(&location, given).await
            } else {
                rotate_key_file(&location, dir, given).await
            }
        }
        Location::Postgres(url) => {
            let _lock = NodeLock::exclusive(url).await?;
            rotate_to_given(&location, given).await
        }
    }
}

/// The new key from `--new-key-file` or `BURSAR_NEW_SECRET_KEY`, checked; base64 text.
fn given_new_key(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let encoded = match file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading the new key from {}", file.display()))?,
        ),
        None => std::env::var(NEW_SECRET_KEY_ENV).ok(),
    };
    let Some(encoded) = encoded.map(|e| e.trim().to_owned()) else {
        return Ok(None);
    };
    let source = file.map_or(NEW_SECRET_KEY_ENV.to_owned(), |f| f.display().to_string());
    Sealer::from_encoded(&encoded, &source)?;
    Ok(Some(encoded))
}

async fn open(location: &Location) -> anyhow::Result<(Db, Sealer)> {
    let db = Db::open(location, &PoolSettings::default())
        .await
        .with_context(|| format!("opening {}", location.redacted()))?;
    let Ok(old) = db.sealer().cloned() else {
        anyhow::bail!(
            "give the current key in {} and the new one in {NEW_SECRET_KEY_ENV} (or \
             --new-key-file)",
            seal::SECRET_KEY_ENV
        );
    };
    Ok((db, old))
}

/// The key comes from `BURSAR_SECRET_KEY`: the new one must be given, and the operator
/// changes the variable on every node afterwards.
async fn rotate_to_given(location: &Location, given: Option<String>) -> anyhow::Result<()> {
    let given = given.with_context(|| {
        format!(
            "give the new key in {NEW_SECRET_KEY_ENV} or --new-key-file (base64 of 32 random \
             bytes, e.g. `openssl rand -base64 32`); the current one stays in {}",
            seal::SECRET_KEY_ENV
        )
    })?;
    let new = Sealer::from_encoded(&given, NEW_SECRET_KEY_ENV)?;
    let (db, old) = open(location).await?;
    let outcome = sealing_key::rotate(&db, old, new.clone()).await;
    db.close().await;
    report(outcome?, &new);
    println!(
        "Set {} to the new key on every node before starting any (a node with the old key is \
         refused), and keep a copy of it in escrow.",
        seal::SECRET_KEY_ENV
    );
    Ok(())
}

/// The key is the data directory's `secret.key`: staged, committed, then renamed into place.
async fn rotate_key_file(
    location: &Location,
    dir: &Path,
    given: Option<String>,
) -> anyhow::Result<()> {
    let (db, old) = open(location).await?;
    if let Some(staged) = seal::staged_key(dir)? {
        if sealing_key::recorded(&db).await? == Some(staged.fingerprint()) {
            db.close().await;
            seal::install_staged_key(dir)?;
            println!(
                "finished an interrupted rotation: {} is now the key with fingerprint {}",
                dir.join(seal::SECRET_KEY_FILE).display(),
                staged.fingerprint()
            );
            return Ok(());
        }
        // The rotation that staged it never committed.
        seal::discard_staged_key(dir)?;
    }
    let encoded = given.unwrap_or_else(seal::generate_key);
    let new = Sealer::from_encoded(&encoded, "the new key")?;
    seal::stage_key_file(dir, &encoded)?;
    let outcome = sealing_key::rotate(&db, old, new.clone()).await;
    db.close().await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            seal::discard_staged_key(dir)?;
            return Err(error.into());
        }
    };
    seal::install_staged_key(dir)?;
    report(outcome, &new);
    println!(
        "{} holds the new key: keep a copy of it in escrow (the old copy no longer opens \
         anything).",
        dir.join(seal::SECRET_KEY_FILE).display()
    );
    Ok(())
}

fn report(outcome: Rotation, new: &Sealer) {
    match outcome {
        Rotation::AlreadyRotated => println!(
            "the database is on the new key already (fingerprint {}): nothing to re-seal",
            new.fingerprint()
        ),
        Rotation::Rotated(count) => println!(
            "re-sealed {} webhook signing secrets, {} payment provider secrets and {} license \
             keys awaiting delivery; the database's key is now the one with fingerprint {}.\n\
             License keys keep validating. Download links sent before now stop working: buyers \
             get fresh ones from POST /v1/downloads/resend.",
            count.webhook_secrets,
            count.provider_secrets,
            count.license_keys,
            new.fingerprint()
        ),
    }
}

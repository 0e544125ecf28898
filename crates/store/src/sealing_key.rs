//! Which key a database's secrets are sealed with, by fingerprint: the first process to use
//! the database records its key's; any later process with another key is refused, clearly,
//! before it could fail on every sealed secret and keyed hash (nodes of one PostgreSQL
//! database must share `BURSAR_SECRET_KEY`).
//!
//! [`rotate`] moves a database to a new key in one transaction: every sealed secret is opened
//! with the old key and sealed again with the new one, and the fingerprint becomes the new
//! key's. Lookup hashes (license keys, whose plaintext Bursar no longer has) keep their key:
//! it is stored sealed under the current key (`lookup_key_sealed`), so a rotation re-seals it
//! like any other secret. Tokens derived with the key itself (download links) change.

use crate::seal::Sealer;
use crate::{params, Db, StoreError, Tx};

/// Records the fingerprint of `db`'s sealing key if none is recorded, or checks that it is
/// the recorded one.
pub async fn check(db: &Db) -> Result<(), StoreError> {
    let sealer = db.sealer()?;
    let fingerprint = sealer.fingerprint();
    let ours = fingerprint.clone();
    let now = db.now().unix_micros();
    let (recorded, lookup_sealed) = db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                // The first writer wins; everyone then compares with what it wrote.
                tx.execute(
                    "insert into sealing_key (id, fingerprint, recorded_at) values (1, $1, $2) \
                     on conflict (id) do nothing",
                    params![ours.as_str(), now],
                )
                .await?;
                let row = tx
                    .fetch_one(
                        "select fingerprint, lookup_key_sealed from sealing_key where id = 1",
                        &[],
                    )
                    .await?;
                Ok::<_, StoreError>((row.text("fingerprint")?, row.opt_text("lookup_key_sealed")?))
            })
        })
        .await?;
    if recorded != fingerprint {
        return Err(StoreError::Config(format!(
            "this database's secrets are sealed with another key (fingerprint {recorded}); this \
             process has the key with fingerprint {fingerprint}. Start every node with the same \
             BURSAR_SECRET_KEY (or the data directory's secret.key). After `bursar secret-key \
             rotate`, that is the new key; if a rotation was interrupted, run it again"
        )));
    }
    // A sealer set by hand (tests, benchmarks) on a rotated database would hash license keys
    // with the wrong key: refuse rather than miss every license.
    if let Some(sealed) = lookup_sealed {
        let stored = sealer
            .clone()
            .with_lookup_key(sealer.open_lookup_key(&sealed)?);
        if !sealer.same_lookup_key(&stored) {
            return Err(StoreError::Config(
                "this process's sealer lacks the database's lookup key (open the database with \
                 Db::open, which loads it)"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// `sealer` with the lookup key `db` keeps, if its key was ever rotated and `sealer` opens it
/// (a wrong key is reported by [`check`]).
pub(crate) async fn with_stored_lookup_key(db: &Db, sealer: Sealer) -> Result<Sealer, StoreError> {
    let sealed = db
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let row = tx
                    .fetch_optional(
                        "select lookup_key_sealed from sealing_key where id = 1",
                        &[],
                    )
                    .await?;
                row.map(|r| r.opt_text("lookup_key_sealed"))
                    .transpose()
                    .map(Option::flatten)
            })
        })
        .await?;
    Ok(match sealed.map(|s| sealer.open_lookup_key(&s)) {
        Some(Ok(lookup)) => sealer.with_lookup_key(lookup),
        _ => sealer,
    })
}

/// The fingerprint of the key `db`'s secrets are sealed with, if one was recorded.
pub async fn recorded(db: &Db) -> Result<Option<String>, StoreError> {
    db.read(|tx: &mut Tx| {
        Box::pin(async move {
            let row = tx
                .fetch_optional("select fingerprint from sealing_key where id = 1", &[])
                .await?;
            row.map(|r| r.text("fingerprint")).transpose()
        })
    })
    .await
}

/// What a [`rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The secrets were re-sealed: how many sealed values of each kind.
    Rotated(Resealed),
    /// The database was on the new key already (a rotation ran before); nothing changed.
    AlreadyRotated,
}

/// Counts of re-sealed values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    pub webhook_secrets: usize,
    pub provider_secrets: usize,
    pub license_keys: usize,
}

/// Re-seals every secret of `db` from `old` to `new`, and records `new`'s fingerprint, in one
/// transaction. No process may be using the database meanwhile (the caller holds the server
/// lock): a node still on the old key would seal what it writes with it.
pub async fn rotate(db: &Db, old: Sealer, new: Sealer) -> Result<Rotation, StoreError> {
    let now = db.now().unix_micros();
    db.write(move |tx: &mut Tx| Box::pin(async move { rotate_in(tx, &old, &new, now).await }))
        .await
}

async fn rotate_in(
    tx: &mut Tx,
    old: &Sealer,
    new: &Sealer,
    now: i64,
) -> Result<Rotation, StoreError> {
    let lock = match tx.backend() {
        crate::Backend::Postgres => " for update",
        crate::Backend::Sqlite => "",
    };
    let row = tx
        .fetch_optional(
            &format!("select fingerprint, lookup_key_sealed from sealing_key where id = 1{lock}"),
            &[],
        )
        .await?
        .ok_or_else(|| StoreError::Config("no sealing key is recorded for this database".into()))?;
    let recorded = row.text("fingerprint")?;
    if recorded == new.fingerprint() {
        return Ok(Rotation::AlreadyRotated);
    }
    if recorded != old.fingerprint() {
        return Err(StoreError::Config(format!(
            "this database's secrets are sealed with the key with fingerprint {recorded}, which \
             is neither the current key ({}) nor the new one ({})",
            old.fingerprint(),
            new.fingerprint()
        )));
    }
    // The lookup key: the database's first key's, or the one kept since an earlier rotation.
    let lookup = match row.opt_text("lookup_key_sealed")? {
        Some(sealed) => old.clone().with_lookup_key(old.open_lookup_key(&sealed)?),
        None => old.clone(),
    };
    let resealed = Resealed {
        webhook_secrets: reseal_webhook_secrets(tx, old, new).await?,
        provider_secrets: reseal_provider_secrets(tx, old, new).await?,
        license_keys: reseal_license_keys(tx, old, new).await?,
    };
    tx.execute(
        "update sealing_key set fingerprint = $1, lookup_key_sealed = $2, recorded_at = $3 \
         where id = 1",
        params![new.fingerprint(), new.seal_lookup_key(&lookup)?, now],
    )
    .await?;
    Ok(Rotation::Rotated(resealed))
}

/// `sealed` opened with `old` and sealed with `new`.
fn reseal(old: &Sealer, new: &Sealer, sealed: &str) -> Result<String, StoreError> {
    new.seal(&old.open(sealed)?)
}

fn reseal_opt(
    old: &Sealer,
    new: &Sealer,
    sealed: Option<String>,
) -> Result<Option<String>, StoreError> {
    sealed.map(|s| reseal(old, new, &s)).transpose()
}

async fn reseal_webhook_secrets(
    tx: &mut Tx,
    old: &Sealer,
    new: &Sealer,
) -> Result<usize, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, endpoint_id, secret_sealed, previous_secret_sealed \
             from webhook_endpoint",
            &[],
        )
        .await?;
    let mut count = 0;
    for row in rows {
        let previous = reseal_opt(old, new, row.opt_text("previous_secret_sealed")?)?;
        count += 1 + usize::from(previous.is_some());
        tx.execute(
            "update webhook_endpoint set secret_sealed = $3, previous_secret_sealed = $4 \
             where workspace_id = $1 and endpoint_id = $2",
            params![
                row.text("workspace_id")?,
                row.text("endpoint_id")?,
                reseal(old, new, &row.text("secret_sealed")?)?,
                previous
            ],
        )
        .await?;
    }
    Ok(count)
}

async fn reseal_provider_secrets(
    tx: &mut Tx,
    old: &Sealer,
    new: &Sealer,
) -> Result<usize, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, object_id, secret_key_sealed, webhook_secrets_sealed \
             from payment_provider",
            &[],
        )
        .await?;
    let mut count = 0;
    for row in rows {
        let secret_key = reseal_opt(old, new, row.opt_text("secret_key_sealed")?)?;
        count += 1 + usize::from(secret_key.is_some());
        tx.execute(
            "update payment_provider set secret_key_sealed = $3, webhook_secrets_sealed = $4 \
             where workspace_id = $1 and object_id = $2",
            params![
                row.text("workspace_id")?,
                row.text("object_id")?,
                secret_key,
                reseal(old, new, &row.text("webhook_secrets_sealed")?)?
            ],
        )
        .await?;
    }
    Ok(count)
}

async fn reseal_license_keys(tx: &mut Tx, old: &Sealer, new: &Sealer) -> Result<usize, StoreError> {
    let rows = tx
        .fetch_all(
            "select workspace_id, object_id, key_sealed from license where key_sealed is not null",
            &[],
        )
        .await?;
    let count = rows.len();
    for row in rows {
        tx.execute(
            "update license set key_sealed = $3 where workspace_id = $1 and object_id = $2",
            params![
                row.text("workspace_id")?,
                row.text("object_id")?,
                reseal(old, new, &row.text("key_sealed")?)?
            ],
        )
        .await?;
    }
    Ok(count)
}

//! Which key a database's secrets are sealed with, by fingerprint: the first process to use
//! the database records its key's; any later process with another key is refused, clearly,
//! before it could fail on every sealed secret and keyed hash (nodes of one PostgreSQL
//! database must share `BURSAR_SECRET_KEY`).

use crate::{params, Db, StoreError, Tx};

/// Records the fingerprint of `db`'s sealing key if none is recorded, or checks that it is
/// the recorded one.
pub async fn check(db: &Db) -> Result<(), StoreError> {
    let fingerprint = db.sealer()?.fingerprint();
    let ours = fingerprint.clone();
    let now = db.now().unix_micros();
    let recorded: String = db
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                // The first writer wins; everyone then compares with what it wrote.
                tx.execute(
                    "insert into sealing_key (id, fingerprint, recorded_at) values (1, $1, $2) \
                     on conflict (id) do nothing",
                    params![ours.as_str(), now],
                )
                .await?;
                tx.fetch_one("select fingerprint from sealing_key where id = 1", &[])
                    .await?
                    .text("fingerprint")
            })
        })
        .await?;
    if recorded != fingerprint {
        return Err(StoreError::Config(format!(
            "this database's secrets are sealed with another key (fingerprint {recorded}); this \
             process has the key with fingerprint {fingerprint}. Start every node with the same \
             BURSAR_SECRET_KEY (or the data directory's secret.key)"
        )));
    }
    Ok(())
}

//! `bursar backup` and `bursar restore`: an online copy of the SQLite database and putting
//! one back. PostgreSQL has its own tools; see docs/operations.md.

use std::path::Path;

use bursar_store::Location;

const POSTGRES_ADVICE: &str = "PostgreSQL is backed up with its own tools: pg_dump for a \
     logical copy, or base backups with WAL archiving for point-in-time recovery (see \
     docs/operations.md)";

/// Copies the database while a server may be running; prints what it wrote.
pub fn backup(location: Location, file: &Path) -> anyhow::Result<()> {
    let Location::SqliteDir(dir) = location else {
        anyhow::bail!("{POSTGRES_ADVICE}");
    };
    let bytes = bursar_store::backup::backup(&dir, file)?;
    println!(
        "backed up {} to {} ({bytes} bytes); keep the sealing key (secret.key or \
         BURSAR_SECRET_KEY) apart, in escrow: the copy is useless for sealed secrets without it",
        dir.join(bursar_store::SQLITE_FILE).display(),
        file.display()
    );
    Ok(())
}

/// Puts a backup in place, refusing while a server uses the data directory.
pub fn restore(location: Location, file: &Path) -> anyhow::Result<()> {
    let Location::SqliteDir(dir) = location else {
        anyhow::bail!("{POSTGRES_ADVICE}");
    };
    let kept = bursar_store::backup::restore(file, &dir)?;
    println!("restored {} into {}", file.display(), dir.display());
    if let Some(kept) = kept {
        println!("the database it replaced is kept as {}", kept.display());
    }
    Ok(())
}

//! Storage on SQLite (the default, one WAL file in the data folder) or PostgreSQL.
//!
//! Both go through sqlx's `Any` driver with the same SQL text: `$n` placeholders, `BIGINT`
//! values (times as UTC milliseconds, money as minor units) and `ON CONFLICT` upserts, which
//! both databases accept. Each database has its own numbered migrations.

pub mod orders;
pub mod plugins;
pub mod rules;
pub mod stock;
pub mod stores;
pub mod sync_state;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool plus what the code needs to know about the database behind it.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time, and a read transaction that later writes fails with
    /// `SQLITE_BUSY` instead of waiting when another writer committed first. Writers therefore
    /// queue on this lock, which makes every write transaction start as the only one.
    sqlite_writer: Option<Arc<Mutex<()>>>,
}

/// A write transaction; on SQLite it also holds the writer lock until commit or drop.
pub struct WriteTx {
    pub tx: Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
    /// SKU codes already recorded in this transaction, so a page records each once.
    pub(crate) skus_seen: std::collections::HashSet<String>,
}

impl WriteTx {
    pub async fn commit(self) -> anyhow::Result<()> {
        self.tx.commit().await.context("failed to commit transaction")?;
        Ok(())
    }
}

impl Db {
    /// Opens the SQLite file `shopkeeper.db` in `data_dir`, creating it if needed.
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Db> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("failed to create data folder {}", data_dir.display()))?;
        let path = data_dir.join("shopkeeper.db");
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Connects to `sqlite://…` or `postgres://…` and applies the pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            );
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10));
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await.map_err(|error| match error {
            sqlx::Error::PoolTimedOut => anyhow::anyhow!(
                "failed to connect to database {} within 10 s; check that the server is running and the URL is right",
                redact_url(url)
            ),
            other => anyhow::Error::new(other).context(format!("failed to connect to database {}", redact_url(url))),
        })?;
        let db = Db {
            pool,
            backend,
            sqlite_writer: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator.run(&self.pool).await.context("failed to apply database migrations")?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction (see [`Db::sqlite_writer`] for the SQLite case).
    pub async fn begin_write(&self) -> anyhow::Result<WriteTx> {
        let writer = match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let tx = self.pool.begin().await.context("failed to start transaction")?;
        Ok(WriteTx { tx, _writer: writer, skus_seen: Default::default() })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Removes a password from a database URL before it goes into a message.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::from_str(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

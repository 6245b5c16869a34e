//! Sync cursors and the record of every sync run.

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::{Db, WriteTx};

/// Progress of a store's pull: everything modified before `cursor_ms` is stored, and a
/// window may be part-way through its pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub cursor_ms: Option<i64>,
    pub open_window: Option<OpenWindow>,
}

/// A window whose earlier pages are stored; `page_token` fetches the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub page_token: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SyncRun {
    pub id: i64,
    pub store_id: i64,
    pub kind: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub window_start_ms: Option<i64>,
    pub window_end_ms: Option<i64>,
    pub pages: i64,
    pub orders_seen: i64,
    pub orders_created: i64,
    pub orders_updated: i64,
    pub plugin_version: Option<String>,
    pub error: Option<String>,
}

/// Counts a page adds to its run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub seen: i64,
    pub created: i64,
    pub updated: i64,
}

pub const PULL_ORDERS: &str = "pull_orders";

impl Db {
    pub async fn cursor(&self, store_id: i64, kind: &str) -> anyhow::Result<Cursor> {
        let row = sqlx::query(
            "SELECT cursor_ms, window_start_ms, window_end_ms, page_token FROM sync_cursors \
             WHERE store_id = $1 AND kind = $2",
        )
        .bind(store_id)
        .bind(kind)
        .fetch_optional(self.pool())
        .await
        .context("failed to load sync cursor")?;
        let Some(row) = row else { return Ok(Cursor::default()) };
        let cursor_ms: i64 = row.try_get("cursor_ms")?;
        let start: Option<i64> = row.try_get("window_start_ms")?;
        let end: Option<i64> = row.try_get("window_end_ms")?;
        let token: Option<String> = row.try_get("page_token")?;
        let open_window = match (start, end, token) {
            (Some(start_ms), Some(end_ms), Some(page_token)) => Some(OpenWindow { start_ms, end_ms, page_token }),
            _ => None,
        };
        // A cursor of i64::MIN marks a store whose first window is still open.
        Ok(Cursor { cursor_ms: (cursor_ms != i64::MIN).then_some(cursor_ms), open_window })
    }

    pub async fn start_sync_run(&self, store_id: i64, kind: &str, plugin_version: &str) -> anyhow::Result<i64> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO sync_runs (store_id, kind, status, started_at, plugin_version) \
             VALUES ($1, $2, 'running', $3, $4) RETURNING id",
        )
        .bind(store_id)
        .bind(kind)
        .bind(crate::now_ms())
        .bind(plugin_version)
        .fetch_one(&mut *write.tx)
        .await
        .context("failed to record sync run")?
        .try_get("id")?;
        write.commit().await?;
        Ok(id)
    }

    pub async fn finish_sync_run(&self, run_id: i64, error: Option<&str>) -> anyhow::Result<()> {
        let now = crate::now_ms();
        let mut write = self.begin_write().await?;
        sqlx::query(
            "UPDATE sync_runs SET status = $1, finished_at = $2, duration_ms = $2 - started_at, \
             error = $3 WHERE id = $4",
        )
        .bind(if error.is_some() { "failed" } else { "succeeded" })
        .bind(now)
        .bind(error)
        .bind(run_id)
        .execute(&mut *write.tx)
        .await
        .context("failed to finish sync run")?;
        write.commit().await
    }

    /// Marks runs left `running` by a process that died as interrupted.
    pub async fn mark_interrupted_runs(&self) -> anyhow::Result<u64> {
        let mut write = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE sync_runs SET status = 'interrupted', error = 'the server stopped during this run; \
             the next run resumes from the last stored page' WHERE status = 'running'",
        )
        .execute(&mut *write.tx)
        .await
        .context("failed to mark interrupted sync runs")?;
        write.commit().await?;
        Ok(done.rows_affected())
    }

    pub async fn list_sync_runs(&self, store_id: Option<i64>, limit: i64) -> anyhow::Result<Vec<SyncRun>> {
        let rows = sqlx::query(
            "SELECT id, store_id, kind, status, started_at, finished_at, duration_ms, window_start_ms, \
             window_end_ms, pages, orders_seen, orders_created, orders_updated, plugin_version, error \
             FROM sync_runs WHERE ($1 = 0 OR store_id = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(i64::from(store_id.is_some()))
        .bind(store_id.unwrap_or(0))
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("failed to list sync runs")?;
        rows.iter()
            .map(|row| {
                Ok(SyncRun {
                    id: row.try_get("id")?,
                    store_id: row.try_get("store_id")?,
                    kind: row.try_get("kind")?,
                    status: row.try_get("status")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    duration_ms: row.try_get("duration_ms")?,
                    window_start_ms: row.try_get("window_start_ms")?,
                    window_end_ms: row.try_get("window_end_ms")?,
                    pages: row.try_get("pages")?,
                    orders_seen: row.try_get("orders_seen")?,
                    orders_created: row.try_get("orders_created")?,
                    orders_updated: row.try_get("orders_updated")?,
                    plugin_version: row.try_get("plugin_version")?,
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }
}

impl Db {
    /// Takes or renews the lease of a store's job for `holder` until `ttl_ms` from now; returns
    /// false when another holder's lease has not expired.
    pub async fn try_lease(&self, store_id: i64, kind: &str, holder: &str, ttl_ms: i64) -> anyhow::Result<bool> {
        let now = crate::now_ms();
        let mut write = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO sync_leases (store_id, kind, holder, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (store_id, kind) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE sync_leases.holder = excluded.holder OR sync_leases.expires_at < $5",
        )
        .bind(store_id)
        .bind(kind)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&mut *write.tx)
        .await
        .context("failed to take sync lease")?;
        write.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up a lease so another server may run the job at once.
    pub async fn release_lease(&self, store_id: i64, kind: &str, holder: &str) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE sync_leases SET expires_at = 0 WHERE store_id = $1 AND kind = $2 AND holder = $3")
            .bind(store_id)
            .bind(kind)
            .bind(holder)
            .execute(&mut *write.tx)
            .await
            .context("failed to release sync lease")?;
        write.commit().await
    }
}

impl WriteTx {
    /// Records a stored page: moves the cursor to `window.1` when it was the window's last
    /// page (no `next_token`), otherwise remembers the token of the next page.
    pub async fn record_page(
        &mut self,
        store_id: i64,
        kind: &str,
        run_id: i64,
        window: (i64, i64),
        next_token: Option<&str>,
        counts: PageCounts,
    ) -> anyhow::Result<()> {
        let now = crate::now_ms();
        let (window_start, window_end, token) = match next_token {
            Some(token) => (Some(window.0), Some(window.1), Some(token)),
            None => (None, None, None),
        };
        let cursor_after = if next_token.is_none() { window.1 } else { i64::MIN };
        sqlx::query(
            "INSERT INTO sync_cursors (store_id, kind, cursor_ms, window_start_ms, window_end_ms, page_token, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (store_id, kind) DO UPDATE SET \
             cursor_ms = CASE WHEN excluded.cursor_ms > sync_cursors.cursor_ms THEN excluded.cursor_ms ELSE sync_cursors.cursor_ms END, \
             window_start_ms = excluded.window_start_ms, window_end_ms = excluded.window_end_ms, \
             page_token = excluded.page_token, updated_at = excluded.updated_at",
        )
        .bind(store_id)
        .bind(kind)
        .bind(cursor_after)
        .bind(window_start)
        .bind(window_end)
        .bind(token)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .context("failed to move sync cursor")?;
        sqlx::query(
            "UPDATE sync_runs SET pages = pages + 1, orders_seen = orders_seen + $1, \
             orders_created = orders_created + $2, orders_updated = orders_updated + $3, \
             window_start_ms = COALESCE(window_start_ms, $4), window_end_ms = $5 WHERE id = $6",
        )
        .bind(counts.seen)
        .bind(counts.created)
        .bind(counts.updated)
        .bind(window.0)
        .bind(window.1)
        .bind(run_id)
        .execute(&mut *self.tx)
        .await
        .context("failed to update sync run")?;
        Ok(())
    }
}

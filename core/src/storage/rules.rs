//! Stored rule versions: every saved script is a numbered version of its rule kind.

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::Db;

#[derive(Clone, Debug, Serialize)]
pub struct RuleVersion {
    pub kind: String,
    pub version: i64,
    pub source: String,
    pub sha256: String,
    pub author: String,
    /// Source of the text: `built-in`, a file path, or `editor`.
    pub origin: String,
    pub created_at: i64,
    pub active: bool,
}

impl Db {
    pub async fn active_rule(&self, kind: &str) -> anyhow::Result<Option<RuleVersion>> {
        let row = sqlx::query(
            "SELECT kind, version, source, sha256, author, origin, created_at, active FROM rule_versions \
             WHERE kind = $1 AND active = 1",
        )
        .bind(kind)
        .fetch_optional(self.pool())
        .await
        .context("failed to load active rule")?;
        row.as_ref().map(rule_from_row).transpose()
    }

    /// Stores `source` as the next version of `kind` and activates it, unless the active
    /// version has the same text; returns the active version either way.
    pub async fn activate_rule_source(
        &self,
        kind: &str,
        source: &str,
        author: &str,
        origin: &str,
    ) -> anyhow::Result<RuleVersion> {
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(source.as_bytes()));
        if let Some(active) = self.active_rule(kind).await? {
            if active.sha256 == sha256 {
                return Ok(active);
            }
        }
        let saved = self.insert_rule_version(kind, source, author, origin).await?;
        self.activate_rule_version(kind, saved.version).await?;
        self.active_rule(kind).await?.context("rule version vanished after insert")
    }
}

impl Db {
    /// Stores `source` as the next version of `kind`, not active yet.
    pub async fn insert_rule_version(&self, kind: &str, source: &str, author: &str, origin: &str) -> anyhow::Result<RuleVersion> {
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(source.as_bytes()));
        let mut write = self.begin_write().await?;
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM rule_versions WHERE kind = $1")
            .bind(kind)
            .fetch_one(&mut *write.tx)
            .await
            .context("failed to number rule version")?
            .try_get("next")?;
        sqlx::query(
            "INSERT INTO rule_versions (kind, version, source, sha256, author, origin, created_at, active) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind(kind)
        .bind(next)
        .bind(source)
        .bind(&sha256)
        .bind(author)
        .bind(origin)
        .bind(crate::now_ms())
        .execute(&mut *write.tx)
        .await
        .context("failed to store rule version")?;
        write.commit().await?;
        self.rule_version(kind, next).await?.context("rule version vanished after insert")
    }

    /// Marks one version of `kind` as the active one.
    pub async fn activate_rule_version(&self, kind: &str, version: i64) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE rule_versions SET active = CASE WHEN version = $1 THEN 1 ELSE 0 END WHERE kind = $2")
            .bind(version)
            .bind(kind)
            .execute(&mut *write.tx)
            .await
            .context("failed to activate rule version")?;
        write.commit().await
    }

    pub async fn rule_version(&self, kind: &str, version: i64) -> anyhow::Result<Option<RuleVersion>> {
        let row = sqlx::query(
            "SELECT kind, version, source, sha256, author, origin, created_at, active FROM rule_versions \
             WHERE kind = $1 AND version = $2",
        )
        .bind(kind)
        .bind(version)
        .fetch_optional(self.pool())
        .await
        .context("failed to load rule version")?;
        row.as_ref().map(rule_from_row).transpose()
    }

    /// Lists the versions of `kind`, newest first.
    pub async fn rule_versions(&self, kind: &str) -> anyhow::Result<Vec<RuleVersion>> {
        let rows = sqlx::query(
            "SELECT kind, version, source, sha256, author, origin, created_at, active FROM rule_versions \
             WHERE kind = $1 ORDER BY version DESC",
        )
        .bind(kind)
        .fetch_all(self.pool())
        .await
        .context("failed to list rule versions")?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Returns the active version number of every rule kind.
    pub async fn active_rule_versions(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT kind, version FROM rule_versions WHERE active = 1")
            .fetch_all(self.pool())
            .await
            .context("failed to load active rule versions")?;
        rows.iter().map(|row| Ok((row.try_get("kind")?, row.try_get("version")?))).collect()
    }
}

fn rule_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<RuleVersion> {
    Ok(RuleVersion {
        kind: row.try_get("kind")?,
        version: row.try_get("version")?,
        source: row.try_get("source")?,
        sha256: row.try_get("sha256")?,
        author: row.try_get("author")?,
        origin: row.try_get("origin")?,
        created_at: row.try_get("created_at")?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

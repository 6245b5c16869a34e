//! Installed connector plugins.

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::Db;

#[derive(Clone, Debug, Serialize)]
pub struct InstalledPlugin {
    pub id: String,
    pub version: String,
    pub name: String,
    pub world: String,
    pub sha256: String,
    pub component_path: String,
    /// The manifest's TOML text, as installed.
    pub manifest: String,
    pub enabled: bool,
    pub installed_at: i64,
}

impl Db {
    /// Records a plugin version and makes it the enabled one for its id.
    pub async fn record_plugin(&self, plugin: &InstalledPlugin) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE plugins SET enabled = 0 WHERE id = $1")
            .bind(&plugin.id)
            .execute(&mut *write.tx)
            .await
            .context("failed to disable older plugin versions")?;
        sqlx::query(
            "INSERT INTO plugins (id, version, name, world, sha256, component_path, manifest, enabled, installed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8) ON CONFLICT (id, version) DO UPDATE SET \
             name = excluded.name, world = excluded.world, sha256 = excluded.sha256, \
             component_path = excluded.component_path, manifest = excluded.manifest, enabled = 1, \
             installed_at = excluded.installed_at",
        )
        .bind(&plugin.id)
        .bind(&plugin.version)
        .bind(&plugin.name)
        .bind(&plugin.world)
        .bind(&plugin.sha256)
        .bind(&plugin.component_path)
        .bind(&plugin.manifest)
        .bind(plugin.installed_at)
        .execute(&mut *write.tx)
        .await
        .context("failed to record plugin")?;
        write.commit().await
    }

    /// Returns the enabled version of a plugin, if any.
    pub async fn enabled_plugin(&self, id: &str) -> anyhow::Result<Option<InstalledPlugin>> {
        let row = sqlx::query(
            "SELECT id, version, name, world, sha256, component_path, manifest, enabled, installed_at \
             FROM plugins WHERE id = $1 AND enabled = 1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context("failed to load plugin")?;
        row.as_ref().map(plugin_from_row).transpose()
    }

    pub async fn list_plugins(&self) -> anyhow::Result<Vec<InstalledPlugin>> {
        let rows = sqlx::query(
            "SELECT id, version, name, world, sha256, component_path, manifest, enabled, installed_at \
             FROM plugins ORDER BY id, installed_at DESC",
        )
        .fetch_all(self.pool())
        .await
        .context("failed to list plugins")?;
        rows.iter().map(plugin_from_row).collect()
    }
}

fn plugin_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<InstalledPlugin> {
    Ok(InstalledPlugin {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        name: row.try_get("name")?,
        world: row.try_get("world")?,
        sha256: row.try_get("sha256")?,
        component_path: row.try_get("component_path")?,
        manifest: row.try_get("manifest")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        installed_at: row.try_get("installed_at")?,
    })
}

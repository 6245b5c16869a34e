//! Stores: one per marketplace shop, each synced through one connector plugin.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Db;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Store {
    pub id: i64,
    pub name: String,
    pub platform: String,
    pub plugin_id: String,
    /// Values of the plugin's configuration fields, secrets included.
    pub config: BTreeMap<String, String>,
    /// Origins (`scheme://host:port`) the admin approved for this store beyond the manifest's.
    pub approved_origins: Vec<String>,
    pub sync_interval_secs: i64,
    pub initial_lookback_secs: i64,
    pub enabled: bool,
    pub created_at: i64,
}

/// Settings an admin supplies to add a store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewStore {
    pub name: String,
    /// Platform name shown in the UI; empty means the plugin id.
    #[serde(default)]
    pub platform: String,
    pub plugin_id: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    #[serde(default)]
    pub approved_origins: Vec<String>,
    #[serde(default = "default_interval")]
    pub sync_interval_secs: i64,
    #[serde(default = "default_lookback")]
    pub initial_lookback_secs: i64,
}

/// Changes to a store; absent fields keep their value. `config` values are merged into the
/// stored ones (an empty value removes the field), so secrets need not be sent again.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreChanges {
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    pub approved_origins: Option<Vec<String>>,
    pub sync_interval_secs: Option<i64>,
    pub enabled: Option<bool>,
}

fn default_interval() -> i64 {
    60
}

fn default_lookback() -> i64 {
    86_400
}

const COLUMNS: &str = "id, name, platform, plugin_id, config, approved_origins, sync_interval_secs, \
                       initial_lookback_secs, enabled, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<Store> {
    let config: String = row.try_get("config")?;
    let origins: String = row.try_get("approved_origins")?;
    Ok(Store {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        platform: row.try_get("platform")?,
        plugin_id: row.try_get("plugin_id")?,
        config: serde_json::from_str(&config).context("stored store config is not valid JSON")?,
        approved_origins: serde_json::from_str(&origins)
            .context("stored approved origins are not valid JSON")?,
        sync_interval_secs: row.try_get("sync_interval_secs")?,
        initial_lookback_secs: row.try_get("initial_lookback_secs")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    pub async fn insert_store(&self, store: &NewStore) -> anyhow::Result<Store> {
        let mut write = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO stores (name, platform, plugin_id, config, approved_origins, \
             sync_interval_secs, initial_lookback_secs, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8) RETURNING {COLUMNS}"
        ))
        .bind(&store.name)
        .bind(&store.platform)
        .bind(&store.plugin_id)
        .bind(serde_json::to_string(&store.config)?)
        .bind(serde_json::to_string(&store.approved_origins)?)
        .bind(store.sync_interval_secs)
        .bind(store.initial_lookback_secs)
        .bind(crate::now_ms())
        .fetch_one(&mut *write.tx)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                anyhow::anyhow!("a store named {:?} already exists; pick another name", store.name)
            }
            _ => anyhow::Error::new(error).context("failed to insert store"),
        })?;
        let created = from_row(&row)?;
        write.commit().await?;
        Ok(created)
    }

    /// Replaces a store's configuration and approved origins.
    pub async fn update_store_connection(
        &self,
        id: i64,
        config: &BTreeMap<String, String>,
        approved_origins: &[String],
    ) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE stores SET config = $1, approved_origins = $2 WHERE id = $3")
            .bind(serde_json::to_string(config)?)
            .bind(serde_json::to_string(approved_origins)?)
            .bind(id)
            .execute(&mut *write.tx)
            .await
            .context("failed to update store")?;
        write.commit().await
    }

    /// Replaces the settings an admin may change on an existing store.
    pub async fn update_store(&self, store: &Store) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "UPDATE stores SET config = $1, approved_origins = $2, sync_interval_secs = $3, enabled = $4 WHERE id = $5",
        )
        .bind(serde_json::to_string(&store.config)?)
        .bind(serde_json::to_string(&store.approved_origins)?)
        .bind(store.sync_interval_secs)
        .bind(i64::from(store.enabled))
        .bind(store.id)
        .execute(&mut *write.tx)
        .await
        .context("failed to update store")?;
        write.commit().await
    }

    pub async fn list_stores(&self) -> anyhow::Result<Vec<Store>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM stores ORDER BY id"))
            .fetch_all(self.pool())
            .await
            .context("failed to list stores")?;
        rows.iter().map(from_row).collect()
    }

    pub async fn store(&self, id: i64) -> anyhow::Result<Option<Store>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM stores WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .context("failed to load store")?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn store_by_name(&self, name: &str) -> anyhow::Result<Option<Store>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM stores WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .context("failed to load store")?;
        row.as_ref().map(from_row).transpose()
    }

    /// Adds a warehouse unless one with the code exists.
    pub async fn ensure_warehouse(&self, code: &str, name: &str, province: &str, city: &str) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO warehouses (code, name, province, city, enabled) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(code)
        .bind(name)
        .bind(province)
        .bind(city)
        .execute(&mut *write.tx)
        .await
        .context("failed to insert warehouse")?;
        write.commit().await
    }

    pub async fn list_warehouses(&self) -> anyhow::Result<Vec<Warehouse>> {
        let rows = sqlx::query(
            "SELECT id, code, name, province, city FROM warehouses WHERE enabled = 1 ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .context("failed to list warehouses")?;
        rows.iter()
            .map(|row| {
                Ok(Warehouse {
                    id: row.try_get("id")?,
                    code: row.try_get("code")?,
                    name: row.try_get("name")?,
                    province: row.try_get("province")?,
                    city: row.try_get("city")?,
                })
            })
            .collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Warehouse {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub province: String,
    pub city: String,
}

//! Installed connector plugins: every uploaded version is kept, one is active per plugin id.

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::Db;

/// Lifecycle state of one plugin version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// Uploaded; waits for an admin to approve the hosts it requests.
    Pending,
    /// The version new sync jobs use.
    Active,
    /// Kept so that an admin can roll back to it.
    Inactive,
    /// The active version, paused by an admin: its stores do not sync.
    Disabled,
}

impl VersionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Disabled => "disabled",
        }
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(match text {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            "disabled" => Self::Disabled,
            other => anyhow::bail!("unknown plugin state {other:?} in the database"),
        })
    }
}

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
    pub state: VersionState,
    pub installed_at: i64,
    pub activated_at: Option<i64>,
    /// Hex Ed25519 key of the publisher whose valid signature came with the upload, if any.
    pub publisher_key: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrustedPublisher {
    pub public_key: String,
    pub name: String,
    pub added_at: i64,
}

const COLUMNS: &str =
    "id, version, name, world, sha256, component_path, manifest, state, installed_at, activated_at, publisher_key";

impl Db {
    /// Records an uploaded version, as `pending` or, when `activate` is set, as the active one.
    /// Uploading a version that exists replaces it only while it is still pending.
    pub async fn record_plugin(&self, plugin: &InstalledPlugin, activate: bool) -> anyhow::Result<InstalledPlugin> {
        let mut write = self.begin_write().await?;
        let existing = sqlx::query("SELECT state, sha256 FROM plugins WHERE id = $1 AND version = $2")
            .bind(&plugin.id)
            .bind(&plugin.version)
            .fetch_optional(&mut *write.tx)
            .await
            .context("failed to look up plugin version")?;
        if let Some(row) = existing {
            let state: String = row.try_get("state")?;
            let sha256: String = row.try_get("sha256")?;
            anyhow::ensure!(
                state == "pending" || sha256 == plugin.sha256,
                "plugin {} version {} is already installed with another component (SHA-256 {sha256}); \
                 give the new build a new version number",
                plugin.id,
                plugin.version
            );
            sqlx::query("DELETE FROM plugins WHERE id = $1 AND version = $2")
                .bind(&plugin.id)
                .bind(&plugin.version)
                .execute(&mut *write.tx)
                .await
                .context("failed to replace plugin version")?;
        }
        sqlx::query(
            "INSERT INTO plugins (id, version, name, world, sha256, component_path, manifest, enabled, installed_at, \
             state, publisher_key) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, 'pending', $9)",
        )
        .bind(&plugin.id)
        .bind(&plugin.version)
        .bind(&plugin.name)
        .bind(&plugin.world)
        .bind(&plugin.sha256)
        .bind(&plugin.component_path)
        .bind(&plugin.manifest)
        .bind(plugin.installed_at)
        .bind(&plugin.publisher_key)
        .execute(&mut *write.tx)
        .await
        .context("failed to record plugin")?;
        write.commit().await?;
        if activate {
            self.activate_plugin(&plugin.id, &plugin.version).await
        } else {
            self.plugin_version(&plugin.id, &plugin.version).await?.context("plugin version vanished after insert")
        }
    }

    /// Makes a version the active one; the previously active version stays installed for rollback.
    pub async fn activate_plugin(&self, id: &str, version: &str) -> anyhow::Result<InstalledPlugin> {
        let mut write = self.begin_write().await?;
        let found = sqlx::query("SELECT state FROM plugins WHERE id = $1 AND version = $2")
            .bind(id)
            .bind(version)
            .fetch_optional(&mut *write.tx)
            .await
            .context("failed to look up plugin version")?;
        anyhow::ensure!(found.is_some(), "plugin {id} has no version {version:?}; upload it first");
        sqlx::query("UPDATE plugins SET state = 'inactive', enabled = 0 WHERE id = $1 AND state IN ('active', 'disabled')")
            .bind(id)
            .execute(&mut *write.tx)
            .await
            .context("failed to deactivate plugin version")?;
        sqlx::query("UPDATE plugins SET state = 'active', enabled = 1, activated_at = $1 WHERE id = $2 AND version = $3")
            .bind(crate::now_ms())
            .bind(id)
            .bind(version)
            .execute(&mut *write.tx)
            .await
            .context("failed to activate plugin version")?;
        write.commit().await?;
        self.plugin_version(id, version).await?.context("plugin version vanished")
    }

    /// Re-activates the version that was active before the current one.
    pub async fn rollback_plugin(&self, id: &str) -> anyhow::Result<InstalledPlugin> {
        let current = self
            .current_plugin(id)
            .await?
            .with_context(|| format!("plugin {id} has no active version to roll back from"))?;
        let row = sqlx::query(
            "SELECT version FROM plugins WHERE id = $1 AND state = 'inactive' AND activated_at IS NOT NULL \
             AND version <> $2 ORDER BY activated_at DESC LIMIT 1",
        )
        .bind(id)
        .bind(&current.version)
        .fetch_optional(self.pool())
        .await
        .context("failed to find the previous plugin version")?
        .with_context(|| format!("plugin {id} has no earlier active version than {} to roll back to", current.version))?;
        let previous: String = row.try_get("version")?;
        self.activate_plugin(id, &previous).await
    }

    /// Pauses or resumes the active version; a paused plugin's stores do not sync.
    pub async fn set_plugin_disabled(&self, id: &str, disabled: bool) -> anyhow::Result<InstalledPlugin> {
        let (from, to) = if disabled { ("active", "disabled") } else { ("disabled", "active") };
        let mut write = self.begin_write().await?;
        let done = sqlx::query("UPDATE plugins SET state = $1, enabled = $2 WHERE id = $3 AND state = $4")
            .bind(to)
            .bind(i64::from(!disabled))
            .bind(id)
            .bind(from)
            .execute(&mut *write.tx)
            .await
            .context("failed to change plugin state")?;
        write.commit().await?;
        if done.rows_affected() == 0 {
            let current = self.current_plugin(id).await?;
            anyhow::bail!(match current {
                Some(plugin) => format!("plugin {id} is already {}", plugin.state.as_str()),
                None => format!("plugin {id} has no active version; approve an uploaded version first"),
            });
        }
        self.current_plugin(id).await?.context("plugin vanished")
    }

    /// Returns the version new jobs use, if it is active (not pending, inactive or disabled).
    pub async fn enabled_plugin(&self, id: &str) -> anyhow::Result<Option<InstalledPlugin>> {
        Ok(self.current_plugin(id).await?.filter(|plugin| plugin.state == VersionState::Active))
    }

    /// Returns the active or disabled version of a plugin.
    pub async fn current_plugin(&self, id: &str) -> anyhow::Result<Option<InstalledPlugin>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM plugins WHERE id = $1 AND state IN ('active', 'disabled')"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .context("failed to load plugin")?;
        row.as_ref().map(plugin_from_row).transpose()
    }

    pub async fn plugin_version(&self, id: &str, version: &str) -> anyhow::Result<Option<InstalledPlugin>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM plugins WHERE id = $1 AND version = $2"))
            .bind(id)
            .bind(version)
            .fetch_optional(self.pool())
            .await
            .context("failed to load plugin version")?;
        row.as_ref().map(plugin_from_row).transpose()
    }

    pub async fn list_plugins(&self) -> anyhow::Result<Vec<InstalledPlugin>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM plugins ORDER BY id, installed_at DESC"))
            .fetch_all(self.pool())
            .await
            .context("failed to list plugins")?;
        rows.iter().map(plugin_from_row).collect()
    }

    pub async fn trust_publisher(&self, public_key: &str, name: &str) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO trusted_publishers (public_key, name, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (public_key) DO UPDATE SET name = excluded.name",
        )
        .bind(public_key)
        .bind(name)
        .bind(crate::now_ms())
        .execute(&mut *write.tx)
        .await
        .context("failed to store trusted publisher")?;
        write.commit().await
    }

    pub async fn trusted_publishers(&self) -> anyhow::Result<Vec<TrustedPublisher>> {
        let rows = sqlx::query("SELECT public_key, name, added_at FROM trusted_publishers ORDER BY added_at")
            .fetch_all(self.pool())
            .await
            .context("failed to list trusted publishers")?;
        rows.iter()
            .map(|row| Ok(TrustedPublisher { public_key: row.try_get("public_key")?, name: row.try_get("name")?, added_at: row.try_get("added_at")? }))
            .collect()
    }
}

fn plugin_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<InstalledPlugin> {
    let state: String = row.try_get("state")?;
    Ok(InstalledPlugin {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        name: row.try_get("name")?,
        world: row.try_get("world")?,
        sha256: row.try_get("sha256")?,
        component_path: row.try_get("component_path")?,
        manifest: row.try_get("manifest")?,
        state: VersionState::parse(&state)?,
        installed_at: row.try_get("installed_at")?,
        activated_at: row.try_get("activated_at")?,
        publisher_key: row.try_get("publisher_key")?,
    })
}

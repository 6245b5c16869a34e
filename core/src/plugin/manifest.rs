//! The plugin manifest (`plugin.toml`): the one place a plugin declares its id, version, WIT
//! world, capabilities, allowed hosts and configuration fields.

use serde::{Deserialize, Serialize};

use super::net::Origin;

/// WIT worlds this host can load, oldest first.
pub const SUPPORTED_WORLDS: &[&str] = &["shopkeeper:connector@0.1.0", "shopkeeper:connector@0.2.0"];

/// Something a plugin can do for the core. Each capability is one exported WIT interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    PullOrders,
    PullProducts,
    PushStock,
    ConfirmShipment,
    UpdateRemark,
    ParseWebhook,
    RequestWaybill,
}

impl Capability {
    pub const ALL: [Capability; 7] = [
        Capability::PullOrders,
        Capability::PullProducts,
        Capability::PushStock,
        Capability::ConfirmShipment,
        Capability::UpdateRemark,
        Capability::ParseWebhook,
        Capability::RequestWaybill,
    ];

    /// Returns the name used in `plugin.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Capability::PullOrders => "pull-orders",
            Capability::PullProducts => "pull-products",
            Capability::PushStock => "push-stock",
            Capability::ConfirmShipment => "confirm-shipment",
            Capability::UpdateRemark => "update-remark",
            Capability::ParseWebhook => "parse-webhook",
            Capability::RequestWaybill => "request-waybill",
        }
    }

    /// Returns the component export that provides the capability.
    pub fn interface(self) -> &'static str {
        match self {
            Capability::PullOrders => "shopkeeper:connector/pull@0.1.0",
            Capability::PullProducts => "shopkeeper:connector/products@0.2.0",
            Capability::PushStock => "shopkeeper:connector/stock@0.2.0",
            Capability::ConfirmShipment => "shopkeeper:connector/shipping@0.2.0",
            Capability::UpdateRemark => "shopkeeper:connector/remarks@0.2.0",
            Capability::ParseWebhook => "shopkeeper:connector/webhooks@0.2.0",
            Capability::RequestWaybill => "shopkeeper:connector/waybills@0.2.0",
        }
    }

    /// Returns the oldest world that has the capability.
    pub fn since_world(self) -> &'static str {
        match self {
            Capability::PullOrders => SUPPORTED_WORLDS[0],
            _ => SUPPORTED_WORLDS[1],
        }
    }

    pub fn parse(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|capability| capability.name() == name)
    }
}

/// Capabilities a plugin built for `world` may declare.
pub fn capabilities_of(world: &str) -> Vec<Capability> {
    let position = SUPPORTED_WORLDS.iter().position(|known| *known == world).unwrap_or(0);
    Capability::ALL
        .into_iter()
        .filter(|capability| SUPPORTED_WORLDS.iter().position(|known| *known == capability.since_world()).unwrap_or(0) <= position)
        .collect()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    pub world: String,
    pub author: String,
    #[serde(default)]
    pub description: String,
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub pull_orders: Option<PullOrdersSection>,
    #[serde(default)]
    pub config: Vec<ConfigField>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PullOrdersSection {
    /// The widest modified-time window the platform accepts in one query.
    pub max_window_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// A secret is write-only once saved: the API and UI never show it again.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub choices: Vec<String>,
    #[serde(default)]
    pub help: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    Url,
    Integer,
    Choice,
}

impl Manifest {
    /// Parses and checks a manifest; errors name the file's field and what to change.
    pub fn parse(text: &str) -> anyhow::Result<Manifest> {
        let manifest: Manifest = toml::from_str(text).map_err(|error| anyhow::anyhow!("invalid plugin.toml: {error}"))?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> anyhow::Result<()> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        anyhow::ensure!(id_ok, "invalid plugin.toml: `id` {:?} must be 1-64 characters of a-z, 0-9 and -", self.id);
        // Dot-separated parts such as 1.2.0 or 1.2.0-beta.1; the version names a folder, so
        // empty parts (and with them `.` and `..`) are not allowed.
        let version_ok = self.version.len() <= 32
            && self.version.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'+')
            })
            && self.version.starts_with(|c: char| c.is_ascii_digit());
        anyhow::ensure!(version_ok, "invalid plugin.toml: `version` {:?} is not a version such as 1.2.0", self.version);
        anyhow::ensure!(
            SUPPORTED_WORLDS.contains(&self.world.as_str()),
            "plugin {} targets WIT world {:?}, but this Shopkeeper accepts only {}; rebuild the plugin against a supported SDK version",
            self.id,
            self.world,
            SUPPORTED_WORLDS.join(", ")
        );
        let offered = capabilities_of(&self.world);
        for name in &self.capabilities {
            anyhow::ensure!(
                Capability::parse(name).is_some_and(|capability| offered.contains(&capability)),
                "plugin {} declares capability {name:?}, which world {} does not have; it offers: {}",
                self.id,
                self.world,
                offered.iter().map(|capability| capability.name()).collect::<Vec<_>>().join(", ")
            );
        }
        anyhow::ensure!(!self.capabilities.is_empty(), "plugin {} declares no capabilities; list at least one in `capabilities`", self.id);
        if self.has_capability(Capability::PullOrders) {
            anyhow::ensure!(
                self.pull_orders.as_ref().is_some_and(|p| (60..=86_400 * 7).contains(&p.max_window_secs)),
                "plugin {} declares pull-orders but no [pull_orders] max_window_secs between 60 and 604800",
                self.id
            );
        }
        for host in &self.allowed_hosts {
            Origin::parse(host).map_err(|error| anyhow::anyhow!("plugin {}: allowed_hosts entry {host:?}: {error}", self.id))?;
        }
        let mut names = std::collections::HashSet::new();
        for field in &self.config {
            anyhow::ensure!(names.insert(field.name.as_str()), "plugin {}: config field {:?} is declared twice", self.id, field.name);
            if field.kind == FieldKind::Choice {
                anyhow::ensure!(!field.choices.is_empty(), "plugin {}: choice field {:?} lists no choices", self.id, field.name);
            }
        }
        Ok(())
    }

    pub fn allowed_origins(&self) -> Vec<Origin> {
        self.allowed_hosts.iter().filter_map(|host| Origin::parse(host).ok()).collect()
    }

    pub fn has_capability(&self, capability: Capability) -> bool {
        self.capabilities.iter().any(|name| name == capability.name())
    }

    /// Returns the declared capabilities, in the order of [`Capability::ALL`].
    pub fn declared_capabilities(&self) -> Vec<Capability> {
        Capability::ALL.into_iter().filter(|capability| self.has_capability(*capability)).collect()
    }

    /// Checks a store's configuration against the declared fields.
    pub fn check_store_config(&self, config: &std::collections::BTreeMap<String, String>) -> anyhow::Result<()> {
        for name in config.keys() {
            anyhow::ensure!(
                self.config.iter().any(|field| &field.name == name),
                "plugin {} has no configuration field {name:?}; its fields are: {}",
                self.id,
                self.config.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        for field in &self.config {
            let value = config.get(&field.name).or(field.default.as_ref());
            match value {
                None if field.required => {
                    anyhow::bail!("store configuration is missing required field {:?} ({})", field.name, field.label)
                }
                None => {}
                Some(value) => match field.kind {
                    FieldKind::Integer if value.parse::<i64>().is_err() => {
                        anyhow::bail!("configuration field {:?} must be an integer, got {value:?}", field.name)
                    }
                    FieldKind::Choice if !field.choices.contains(value) => anyhow::bail!(
                        "configuration field {:?} is {value:?}; expected one of: {}",
                        field.name,
                        field.choices.join(", ")
                    ),
                    FieldKind::Url if !reqwest::Url::parse(value).is_ok_and(|url| matches!(url.scheme(), "http" | "https")) => {
                        anyhow::bail!("configuration field {:?} must be an http or https URL, got {value:?}", field.name)
                    }
                    _ => {}
                },
            }
        }
        Ok(())
    }
}

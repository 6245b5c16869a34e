//! Server configuration: a TOML file, then environment variables, then command-line flags,
//! each overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::plugin::SandboxLimits;
use crate::sync::SyncSettings;

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; none means `shopkeeper.db` in the data folder.
    pub database_url: Option<String>,
    pub rules_dir: Option<PathBuf>,
    pub sync: SyncSettings,
    pub sandbox: SandboxLimits,
    /// Accept only plugins signed by a trusted publisher.
    pub require_signed_plugins: bool,
    /// Host names (or `host:port`) besides loopback that browsers may use to reach the server.
    pub public_hosts: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("data"),
            database_url: None,
            rules_dir: None,
            sync: SyncSettings::default(),
            sandbox: SandboxLimits::default(),
            require_signed_plugins: false,
            public_hosts: Vec::new(),
        }
    }
}

/// The config file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    rules_dir: Option<PathBuf>,
    #[serde(default)]
    sync: FileSync,
    #[serde(default)]
    sandbox: FileSandbox,
    #[serde(default)]
    plugins: FilePlugins,
    #[serde(default)]
    http: FileHttp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    #[serde(default)]
    public_hosts: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePlugins {
    require_signature: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSync {
    overlap_secs: Option<u64>,
    lag_secs: Option<u64>,
    max_windows_per_run: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSandbox {
    cpu_ms_per_call: Option<u64>,
    max_memory_mb: Option<usize>,
    max_output_mb: Option<usize>,
    http_timeout_secs: Option<u64>,
    max_response_mb: Option<usize>,
    max_requests_per_minute: Option<u32>,
}

/// Values given on the command line; they win over the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub rules_dir: Option<PathBuf>,
}

impl Config {
    /// Builds the configuration. The file is `--config`, else `SHOPKEEPER_CONFIG`, else
    /// `shopkeeper.toml` in the data folder if it exists. Environment variables:
    /// `SHOPKEEPER_LISTEN`, `SHOPKEEPER_DATA_DIR`, `DATABASE_URL`, `SHOPKEEPER_RULES_DIR`.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Config> {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let data_dir_hint = overrides.data_dir.clone().or_else(|| env("SHOPKEEPER_DATA_DIR").map(PathBuf::from));
        let file_path = overrides.config_file.clone().or_else(|| env("SHOPKEEPER_CONFIG").map(PathBuf::from)).or_else(|| {
            let candidate = data_dir_hint.clone().unwrap_or_else(|| PathBuf::from("data")).join("shopkeeper.toml");
            candidate.exists().then_some(candidate)
        });
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut config = Config::default();
        let origin = |key: &str| match &file_path {
            Some(path) => format!("`{key}` in {}", path.display()),
            None => key.to_owned(),
        };
        if let Some(listen) = &file.listen {
            config.listen = parse_listen(listen).with_context(|| origin("listen"))?;
        }
        if let Some(dir) = file.data_dir {
            config.data_dir = dir;
        }
        config.database_url = file.database_url;
        config.rules_dir = file.rules_dir;
        if let Some(secs) = file.sync.overlap_secs {
            config.sync.overlap = Duration::from_secs(secs);
        }
        if let Some(secs) = file.sync.lag_secs {
            config.sync.lag = Duration::from_secs(secs);
        }
        if let Some(windows) = file.sync.max_windows_per_run {
            config.sync.max_windows_per_run = windows.max(1);
        }
        config.public_hosts = file.http.public_hosts.iter().map(|host| host.to_ascii_lowercase()).collect();
        if let Some(required) = file.plugins.require_signature {
            config.require_signed_plugins = required;
        }
        let sandbox = &mut config.sandbox;
        if let Some(ms) = file.sandbox.cpu_ms_per_call {
            sandbox.cpu_time_per_call = Duration::from_millis(ms);
        }
        if let Some(mb) = file.sandbox.max_memory_mb {
            sandbox.max_memory_bytes = megabytes(mb, 1, 4096).with_context(|| origin("sandbox.max_memory_mb"))?;
        }
        if let Some(mb) = file.sandbox.max_output_mb {
            sandbox.max_output_bytes = megabytes(mb, 1, 1024).with_context(|| origin("sandbox.max_output_mb"))?;
        }
        if let Some(secs) = file.sandbox.http_timeout_secs {
            sandbox.http.timeout = Duration::from_secs(secs);
        }
        if let Some(mb) = file.sandbox.max_response_mb {
            sandbox.http.max_response_bytes = megabytes(mb, 1, 1024).with_context(|| origin("sandbox.max_response_mb"))?;
        }
        if let Some(n) = file.sandbox.max_requests_per_minute {
            sandbox.http.max_requests_per_minute = n;
        }

        if let Some(listen) = env("SHOPKEEPER_LISTEN") {
            config.listen = parse_listen(&listen).context("environment variable SHOPKEEPER_LISTEN")?;
        }
        if let Some(dir) = env("SHOPKEEPER_DATA_DIR") {
            config.data_dir = PathBuf::from(dir);
        }
        if let Some(url) = env("DATABASE_URL") {
            config.database_url = Some(url);
        }
        if let Some(dir) = env("SHOPKEEPER_RULES_DIR") {
            config.rules_dir = Some(PathBuf::from(dir));
        }

        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &overrides.database_url {
            config.database_url = Some(url.clone());
        }
        if let Some(dir) = &overrides.rules_dir {
            config.rules_dir = Some(dir.clone());
        }
        Ok(config)
    }
}

fn megabytes(value: usize, min: usize, max: usize) -> anyhow::Result<usize> {
    anyhow::ensure!((min..=max).contains(&value), "{value} MB is out of range; use {min} to {max}");
    Ok(value * 1024 * 1024)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("failed to read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|error| anyhow::anyhow!("invalid config file {}: {error}", path.display()))
}

fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    text.parse().map_err(|_| anyhow::anyhow!("{text:?} is not an address such as 127.0.0.1:8080"))
}

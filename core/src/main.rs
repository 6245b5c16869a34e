use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use shopkeeper::config::{Config, Overrides};
use shopkeeper::demo::{Demo, DemoOptions};
use shopkeeper::server::{App, Server};
use shopkeeper::storage::stores::NewStore;

#[derive(Parser)]
#[command(name = "shopkeeper", version, about = "Order management for merchants who sell in many online stores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: sync every store, serve the API and the web UI.
    Serve(ServerArgs),
    /// Run a server with two demo Taobao stores that sync from built-in marketplace simulators
    /// and share one warehouse's stock.
    Demo {
        #[command(flatten)]
        server: ServerArgs,
        /// Folder with the built plugins (`cargo xtask demo` passes target/plugins).
        #[arg(long, default_value = "target/plugins")]
        plugins_dir: PathBuf,
        /// Seed of the simulated order stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// New simulated orders per minute.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Address of the simulator (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        simulator_listen: SocketAddr,
    },
    /// Manage stores.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Manage connector plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Manage the publisher keys whose plugin signatures are trusted.
    Publisher {
        #[command(subcommand)]
        command: PublisherCommand,
    },
    /// Manage warehouses.
    Warehouse {
        #[command(subcommand)]
        command: WarehouseCommand,
    },
}

#[derive(Subcommand)]
enum PublisherCommand {
    /// Trust plugins signed with this Ed25519 public key.
    Trust {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        name: String,
        /// The public key, 64 hex digits.
        #[arg(long)]
        key: String,
    },
    /// List trusted publisher keys.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
enum WarehouseCommand {
    /// Add a warehouse that the allocation rule can pick.
    Add {
        #[command(flatten)]
        server: ServerArgs,
        /// Short code, for example WH-HZ.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        province: String,
        #[arg(long, default_value = "")]
        city: String,
    },
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// Address to serve the API and web UI on.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Folder for the SQLite database, installed plugins and caches.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Config file (TOML); default: shopkeeper.toml in the data folder, if present.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DB); default: SQLite in the data folder.
    #[arg(long)]
    database_url: Option<String>,
    /// Folder whose allocation.rhai, review.rhai, stock_share.rhai and split.rhai replace the
    /// built-in rules.
    #[arg(long)]
    rules_dir: Option<PathBuf>,
}

impl ServerArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            rules_dir: self.rules_dir.clone(),
        }
    }
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Add a store that syncs through an installed plugin.
    Add {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        name: String,
        /// Id of the installed plugin, for example `taobao`.
        #[arg(long)]
        plugin: String,
        /// Platform name shown in the UI; default: the plugin id.
        #[arg(long)]
        platform: Option<String>,
        /// A configuration value of the plugin, as NAME=VALUE; repeat for each field.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// An origin (scheme://host:port) this store's plugin may reach beyond its manifest's hosts.
        #[arg(long = "approve-origin", value_name = "ORIGIN")]
        approved_origins: Vec<String>,
        /// Seconds between pulls.
        #[arg(long, default_value_t = 60)]
        interval: i64,
        /// How far back the first pull reaches, in seconds.
        #[arg(long, default_value_t = 86_400)]
        lookback: i64,
    },
    /// Change a store: configuration values, approved origins, interval, or pause it.
    Update {
        #[command(flatten)]
        server: ServerArgs,
        /// The store's name.
        name: String,
        /// A configuration value, as NAME=VALUE (NAME= removes it); repeat for each field.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// Replace the approved origins with these (repeat for several).
        #[arg(long = "approve-origin", value_name = "ORIGIN")]
        approved_origins: Vec<String>,
        /// Remove every approved origin.
        #[arg(long, conflicts_with = "approved_origins")]
        clear_origins: bool,
        /// Seconds between pulls.
        #[arg(long)]
        interval: Option<i64>,
        /// Stop syncing the store.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Resume syncing the store.
        #[arg(long)]
        enable: bool,
    },
    /// List stores.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Install a plugin from a folder holding plugin.toml, one .wasm component and optionally
    /// plugin.sig, approve the hosts its manifest requests, and make it the active version.
    Install {
        #[command(flatten)]
        server: ServerArgs,
        dir: PathBuf,
    },
    /// List installed plugin versions and their states.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Re-activate the version that was active before the current one.
    Rollback {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Pause a plugin: its stores stop syncing until it is enabled again.
    Disable {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Resume a paused plugin.
    Enable {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Create a publisher key pair for signing plugins; prints both keys.
    Keygen,
    /// Write DIR/plugin.sig: the publisher's signature over DIR's component and manifest.
    Sign {
        dir: PathBuf,
        /// File holding the publisher's secret key (64 hex digits), as printed by `keygen`.
        #[arg(long)]
        secret_key_file: PathBuf,
    },
    /// Run a plugin against a fresh simulator and report what it pulled (a throw-away server;
    /// nothing is kept).
    Try {
        /// Folder holding plugin.toml and one .wasm component.
        dir: PathBuf,
        /// Seed of the simulated order stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of simulated orders.
        #[arg(long, default_value_t = 200)]
        orders: usize,
        /// An extra configuration value for the store, as NAME=VALUE.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
    },
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,wasmtime=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("failed to start the Tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args.overrides())?;
            let server = Server::start(config).await?;
            println!("Shopkeeper is running at {}", server.url());
            server.run_until_signal().await
        }
        Command::Demo { server, plugins_dir, seed, rate, simulator_listen } => {
            anyhow::ensure!(
                rate.is_finite() && (0.0..=6000.0).contains(&rate),
                "--rate {rate} is out of range; give new orders per minute from 0 to 6000"
            );
            let demo = Demo::start(DemoOptions {
                overrides: server.overrides(),
                plugins_dir,
                seed,
                orders_per_minute: rate,
                simulator_listen,
            })
            .await?;
            println!();
            println!("  Shopkeeper demo is running. Open {} in a browser.", demo.server.url());
            for (name, simulator) in [shopkeeper::demo::DEMO_STORE, shopkeeper::demo::DEMO_OUTLET].iter().zip(&demo.simulators) {
                println!("  {name}: simulated shop at {}/_sim/ (stock and a sell button), router {}", simulator.base_url(), simulator.router_url());
            }
            println!("  Data folder: {}", demo.data_dir.display());
            println!("  Stop with Ctrl-C.");
            println!();
            demo.server.run_until_signal().await
        }
        Command::Store { command: StoreCommand::Add { server, name, plugin, platform, settings, approved_origins, interval, lookback } } => {
            let app = open_app(&server).await?;
            let config = parse_settings(&settings)?;
            let store = app
                .add_store(&NewStore {
                    name,
                    platform: platform.unwrap_or_else(|| plugin.clone()),
                    plugin_id: plugin,
                    config,
                    approved_origins,
                    sync_interval_secs: interval,
                    initial_lookback_secs: lookback,
                })
                .await?;
            println!("added store {} ({}); a running server starts syncing it within seconds", store.id, store.name);
            Ok(())
        }
        Command::Store {
            command: StoreCommand::Update { server, name, settings, approved_origins, clear_origins, interval, disable, enable },
        } => {
            let app = open_app(&server).await?;
            let store = app.db.store_by_name(&name).await?.with_context(|| format!("no store named {name:?}; `shopkeeper store list` shows them"))?;
            let changes = shopkeeper::storage::stores::StoreChanges {
                config: parse_settings(&settings)?,
                approved_origins: if clear_origins { Some(Vec::new()) } else { (!approved_origins.is_empty()).then_some(approved_origins) },
                sync_interval_secs: interval,
                enabled: if disable { Some(false) } else if enable { Some(true) } else { None },
            };
            let updated = app.update_store(store.id, &changes).await?;
            println!("updated store {} ({}); a running server applies it at the next sync", updated.id, updated.name);
            Ok(())
        }
        Command::Store { command: StoreCommand::List { server } } => {
            let app = open_app(&server).await?;
            for store in app.db.list_stores().await? {
                println!("{}\t{}\t{}\tevery {} s", store.id, store.name, store.plugin_id, store.sync_interval_secs);
            }
            Ok(())
        }
        Command::Warehouse { command: WarehouseCommand::Add { server, code, name, province, city } } => {
            anyhow::ensure!(!code.trim().is_empty(), "--code is empty; give the warehouse a short code such as WH-HZ");
            let app = open_app(&server).await?;
            if let Some(existing) = app.db.list_warehouses().await?.into_iter().find(|w| w.code == code) {
                anyhow::bail!("warehouse {code} already exists (named {:?}); pick another code", existing.name);
            }
            app.db.ensure_warehouse(&code, &name, &province, &city).await?;
            println!("warehouse {code} ({name}) is available to the allocation rule");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Try { dir, seed, orders, settings } } => {
            let scenario = shopkeeper::harness::Scenario { seed, orders, settings: parse_settings(&settings)? };
            let report = shopkeeper::harness::try_plugin(&dir, &scenario).await?;
            print!("{report}");
            anyhow::ensure!(report.passed(), "the plugin did not pass the harness");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Install { server, dir } } => {
            let app = open_app(&server).await?;
            let installed = app.plugins.install_from_dir(&app.db, &dir, true).await?;
            let manifest = shopkeeper::plugin::manifest::Manifest::parse(&installed.manifest)?;
            println!("installed plugin {} {} (sha256 {})", installed.id, installed.version, installed.sha256);
            println!("approved hosts: {}", if manifest.allowed_hosts.is_empty() { "none".to_owned() } else { manifest.allowed_hosts.join(", ") });
            println!("a running server uses this version for its next sync jobs");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::List { server } } => {
            let app = open_app(&server).await?;
            for plugin in app.db.list_plugins().await? {
                println!("{}\t{}\t{}\t{}", plugin.id, plugin.version, plugin.state.as_str(), plugin.sha256);
            }
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Rollback { server, id } } => {
            let app = open_app(&server).await?;
            let active = app.db.rollback_plugin(&id).await?;
            println!("plugin {id} rolled back to version {}", active.version);
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Disable { server, id } } => {
            let app = open_app(&server).await?;
            app.db.set_plugin_disabled(&id, true).await?;
            println!("plugin {id} disabled; its stores pause syncing");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Enable { server, id } } => {
            let app = open_app(&server).await?;
            app.db.set_plugin_disabled(&id, false).await?;
            println!("plugin {id} enabled; its stores resume syncing");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Keygen } => {
            let (secret, public) = shopkeeper::plugin::signing::generate_key();
            println!("secret key (keep it private, store it in a file for `plugin sign`): {secret}");
            println!("public key (give it to admins for `publisher trust`): {public}");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Sign { dir, secret_key_file } } => {
            let secret = std::fs::read_to_string(&secret_key_file)
                .with_context(|| format!("failed to read secret key file {}", secret_key_file.display()))?;
            let manifest_path = dir.join("plugin.toml");
            let manifest = std::fs::read_to_string(&manifest_path).with_context(|| format!("failed to read {}", manifest_path.display()))?;
            let component_path = dir.join("plugin.wasm");
            let component = std::fs::read(&component_path).with_context(|| format!("failed to read {}", component_path.display()))?;
            let signature = shopkeeper::plugin::signing::sign(&secret, &component, &manifest)?;
            std::fs::write(dir.join("plugin.sig"), signature.to_toml())?;
            println!("wrote {} (publisher key {})", dir.join("plugin.sig").display(), signature.publisher_key);
            Ok(())
        }
        Command::Publisher { command: PublisherCommand::Trust { server, name, key } } => {
            shopkeeper::plugin::signing::parse_public_key(&key)?;
            let app = open_app(&server).await?;
            app.db.trust_publisher(key.trim(), &name).await?;
            println!("plugins signed by {name} ({}) are trusted", key.trim());
            Ok(())
        }
        Command::Publisher { command: PublisherCommand::List { server } } => {
            let app = open_app(&server).await?;
            for publisher in app.db.trusted_publishers().await? {
                println!("{}\t{}", publisher.public_key, publisher.name);
            }
            Ok(())
        }
    }
}

fn parse_settings(settings: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut config = BTreeMap::new();
    for setting in settings {
        let (key, value) = setting.split_once('=').with_context(|| format!("--set {setting:?} is not NAME=VALUE"))?;
        config.insert(key.to_owned(), value.to_owned());
    }
    Ok(config)
}

async fn open_app(args: &ServerArgs) -> anyhow::Result<App> {
    let config = Config::load(&args.overrides())?;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    App::open(config, shutdown).await
}

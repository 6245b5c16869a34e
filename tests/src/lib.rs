//! Shared helpers of the integration tests: fresh databases, servers, simulators and polling.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shopkeeper::config::Config;
use shopkeeper::server::{App, Server};
use shopkeeper::storage::stores::{NewStore, Store};
use shopkeeper_simulator::RunningSimulator;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// Generates one test per database from an `async fn(DbKind)`.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::DbKind::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$name($crate::DbKind::Postgres).await
            }
        }
    };
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests live in the workspace").to_path_buf()
}

/// Returns the folder of built plugins: `SHOPKEEPER_TEST_PLUGINS`, else `target/plugins`.
pub fn plugins_dir() -> PathBuf {
    let dir = std::env::var_os("SHOPKEEPER_TEST_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("plugins"));
    assert!(
        dir.join("taobao").join("plugin.wasm").exists(),
        "no built plugins in {}; run the tests with `cargo xtask test`, which builds them",
        dir.display()
    );
    dir
}

/// Returns the `shopkeeper` binary, for tests that run the server as a separate process.
pub fn shopkeeper_bin() -> PathBuf {
    let path = std::env::var_os("SHOPKEEPER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("debug").join("shopkeeper"));
    assert!(path.exists(), "no shopkeeper binary at {}; run the tests with `cargo xtask test`", path.display());
    path
}

pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Records that a test was skipped, for the summary `cargo xtask test` prints.
pub fn note_skip(what: &str) {
    eprintln!("SKIPPED: {what}");
    if let Some(path) = std::env::var_os("SHOPKEEPER_TEST_SKIPS") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{what}");
        }
    }
}

/// Creates a new empty folder under the system temp folder.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir()
        .join("shopkeeper-tests")
        .join(format!("{label}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A database URL for a fresh database, or none when the database kind is unavailable here
/// (then the test is recorded as skipped; on CI that is a failure instead).
pub async fn fresh_database(kind: DbKind, data_dir: &Path) -> Option<String> {
    match kind {
        DbKind::Sqlite => Some(format!("sqlite://{}?mode=rwc", data_dir.join("shopkeeper.db").display())),
        DbKind::Postgres => {
            let Some(admin_url) = std::env::var("SHOPKEEPER_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) else {
                assert!(!on_ci(), "CI=true but SHOPKEEPER_TEST_POSTGRES is not set; run through `cargo xtask test`");
                note_skip("PostgreSQL tests (no PostgreSQL answering)");
                return None;
            };
            let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|error| panic!("connect to {admin_url}: {error}"));
            let name = format!(
                "sk_test_{}_{}",
                std::process::id(),
                data_dir.file_name().unwrap().to_string_lossy().rsplit('-').next().unwrap()
            );
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap_or_else(|error| panic!("create database {name}: {error}"));
            admin.close().await;
            let (base, _) = admin_url.rsplit_once('/').expect("postgres URL has a database name");
            Some(format!("{base}/{name}"))
        }
    }
}

/// Test configuration: loopback on a free port, a fresh data folder, short sync windows.
pub async fn test_config(kind: DbKind, label: &str) -> Option<Config> {
    let data_dir = temp_dir(label);
    let database_url = fresh_database(kind, &data_dir).await?;
    let mut config = Config { listen: "127.0.0.1:0".parse().unwrap(), data_dir, database_url: Some(database_url), ..Config::default() };
    config.sync.lag = Duration::from_secs(1);
    config.sync.overlap = Duration::from_secs(10);
    Some(config)
}

pub async fn start_server(config: Config) -> Server {
    Server::start(config).await.expect("server starts")
}

/// Installs a built plugin (`taobao`, `hostile`) into the server.
pub async fn install_plugin(app: &App, id: &str) {
    app.plugins.install_from_dir(&app.db, &plugins_dir().join(id), true).await.expect("plugin installs");
}

/// Adds a Taobao store pointed at the simulator, with the simulator's origin approved.
pub async fn add_taobao_store(app: &App, name: &str, simulator: &RunningSimulator, interval_secs: i64, lookback_secs: i64) -> Store {
    app.add_store(&taobao_store(name, simulator, interval_secs, lookback_secs)).await.expect("store is added")
}

pub fn taobao_store(name: &str, simulator: &RunningSimulator, interval_secs: i64, lookback_secs: i64) -> NewStore {
    taobao_store_at(name, simulator.addr, interval_secs, lookback_secs)
}

/// A Taobao store whose endpoint is the TOP router at `addr`, with that origin approved.
pub fn taobao_store_at(name: &str, addr: std::net::SocketAddr, interval_secs: i64, lookback_secs: i64) -> NewStore {
    NewStore {
        name: name.to_owned(),
        platform: "taobao".to_owned(),
        plugin_id: "taobao".to_owned(),
        config: [
            ("endpoint", format!("http://{addr}/router/rest")),
            ("app_key", shopkeeper_simulator::DEMO_APP_KEY.to_owned()),
            ("app_secret", shopkeeper_simulator::DEMO_APP_SECRET.to_owned()),
            ("session", shopkeeper_simulator::DEMO_SESSION.to_owned()),
            ("sign_method", "hmac-sha256".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        approved_origins: vec![format!("http://{addr}")],
        sync_interval_secs: interval_secs,
        initial_lookback_secs: lookback_secs,
    }
}

/// Polls `check` every 100 ms until it returns `Ok`, or panics after `timeout` with the last
/// error it returned.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if started.elapsed() > timeout => panic!("timed out after {timeout:?} waiting for {what}: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Sets up tracing output for a test binary once; `TEST_LOG=debug` shows more.
pub fn init_logging() {
    let filter = std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// Returns `manifest` with its top-level `key = "..."` line (such as `version` or `world`) set
/// to `value`.
pub fn with_manifest_value(manifest: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key} = ");
    let mut replaced = false;
    let lines: Vec<String> = manifest
        .lines()
        .map(|line| {
            if !replaced && line.starts_with(&prefix) {
                replaced = true;
                format!("{key} = \"{value}\"")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert!(replaced, "manifest has no `{key}` line");
    lines.join("\n") + "\n"
}

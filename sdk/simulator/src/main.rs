//! Runs the TOP marketplace simulator on a socket until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use shopkeeper_simulator::{
    DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, Simulator, SimulatorConfig,
};

/// Marketplace simulator that behaves like the Taobao Open Platform router.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on. Keep it on loopback: the simulator has no real security.
    #[arg(long, default_value = "127.0.0.1:8900")]
    listen: SocketAddr,
    /// Seed of the order stream. The same seed gives the same orders.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Live orders created per minute after start (0 for none).
    #[arg(long, default_value_t = 30.0)]
    rate: f64,
    /// Number of orders created before start.
    #[arg(long, default_value_t = 200)]
    history: usize,
    /// Minutes before start over which the history orders are spread.
    #[arg(long, default_value_t = 120)]
    history_minutes: u64,
    /// Factor applied to every lifecycle delay, e.g. 0.1 to move orders ten times faster.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// App key that calls must carry.
    #[arg(long, default_value = DEMO_APP_KEY)]
    app_key: String,
    /// App secret that calls are signed with.
    #[arg(long, default_value = DEMO_APP_SECRET)]
    app_secret: String,
    /// Seller session that calls must carry.
    #[arg(long, default_value = DEMO_SESSION)]
    session: String,
    /// Milliseconds to wait before every router answer, to imitate a slow platform.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Platform quantity of every SKU at start, in units (0 or more).
    #[arg(long, default_value_t = 100)]
    initial_stock: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let args = Args::parse();
    anyhow::ensure!(
        args.rate.is_finite() && args.rate >= 0.0,
        "invalid --rate {}: expected orders per minute, 0 or more",
        args.rate
    );
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale >= 0.0,
        "invalid --time-scale {}: expected a factor, 0 or more",
        args.time_scale
    );
    anyhow::ensure!(
        args.initial_stock >= 0,
        "invalid --initial-stock {}: expected units, 0 or more",
        args.initial_stock
    );
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "listening on a non-loopback address");
    }

    let config = SimulatorConfig {
        seed: args.seed,
        rate_per_minute: args.rate,
        history_orders: args.history,
        history_span: Duration::from_secs(args.history_minutes * 60),
        time_scale: args.time_scale,
        app_key: args.app_key,
        app_secret: args.app_secret,
        session: args.session,
        response_delay: Duration::from_millis(args.delay_ms),
        initial_stock: args.initial_stock,
        ..SimulatorConfig::default()
    };
    let running = Simulator::start(config.clone(), args.listen).await?;

    // The credentials are printed on purpose: they are the simulator's own demo values for clients.
    println!("TOP router:  {}", running.router_url());
    println!("app_key:     {}", config.app_key);
    println!("app_secret:  {}", config.app_secret);
    println!("session:     {}", config.session);
    println!("stock page:  {}/_sim/", running.base_url());
    println!(
        "admin:       {}/_sim/trades, /_sim/stock, /_sim/requests, /_sim/faults",
        running.base_url()
    );
    tracing::info!(
        seed = config.seed,
        rate_per_minute = config.rate_per_minute,
        history_orders = config.history_orders,
        time_scale = config.time_scale,
        initial_stock = config.initial_stock,
        "simulating orders"
    );

    wait_for_shutdown_signal().await?;
    tracing::info!("shutdown signal received");
    running.stop().await;
    Ok(())
}

async fn wait_for_shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

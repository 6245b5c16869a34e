//! Project automation. `cargo xtask demo` and `cargo xtask test` install the `wasm32-wasip2`
//! target when it is missing, build the plugins, and then run, so a plugin never needs building by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

mod new_plugin;

const WASM_TARGET: &str = "wasm32-wasip2";

const USAGE: &str = "usage: cargo xtask <command> [args]

commands:
  demo [ARGS]     build the plugins and run `shopkeeper demo` (ARGS go to it, e.g. --listen 127.0.0.1:9000)
  test [ARGS]     build the plugins and run every test on SQLite, and on PostgreSQL when it answers
                  (ARGS go to the integration test binary, e.g. a test name filter)
  bench           build the plugins and run the benchmarks (release build); prints ratios to baselines
  build-plugins   build the plugin components into target/plugins/<id>/
  new-plugin NAME create plugins/NAME, a connector crate from xtask/template/, and add it to the workspace";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("build-plugins") => build_plugins().map(|_| ()),
        Some("bench") => bench(),
        Some("new-plugin") => match &args[1..] {
            [name] => new_plugin::new_plugin(&workspace_root(), name).map(|folder| {
                eprintln!("xtask: created {}; build it with `cargo xtask build-plugins`", folder.display());
            }),
            [] => Err(anyhow::anyhow!("new-plugin needs a NAME, such as `cargo xtask new-plugin my-shop`")),
            [_, extra @ ..] => Err(anyhow::anyhow!("new-plugin takes one NAME; unexpected arguments: {}", extra.join(" "))),
        },
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(mut command: Command) -> anyhow::Result<()> {
    let description = format!("{command:?}");
    let status = command.status().with_context(|| format!("failed to start {description}"))?;
    if !status.success() {
        bail!("{description} failed with {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let output = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match output {
        Ok(output) if String::from_utf8_lossy(&output.stdout).lines().any(|line| line.trim() == WASM_TARGET) => Ok(()),
        Ok(_) => {
            eprintln!("xtask: installing the {WASM_TARGET} target");
            let mut add = Command::new("rustup");
            add.args(["target", "add", WASM_TARGET]);
            run(add)
        }
        Err(error) => bail!("rustup is needed to install the {WASM_TARGET} target: {error}"),
    }
}

/// Builds every plugin component and copies each with its manifest to `target/plugins/<id>/`.
fn build_plugins() -> anyhow::Result<PathBuf> {
    ensure_wasm_target()?;
    let root = workspace_root();
    let plugins = new_plugin::plugin_packages(&root);
    let mut build = cargo();
    build.args(["build", "--release", "--target", WASM_TARGET]);
    for (package, _) in &plugins {
        build.args(["-p", package]);
    }
    run(build)?;
    let out = root.join("target").join("plugins");
    for (package, folder) in &plugins {
        let manifest_path = root.join(folder).join("plugin.toml");
        let manifest = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("failed to read {}", manifest_path.display()))?;
        let id = manifest_id(&manifest).with_context(|| format!("{} has no id", manifest_path.display()))?;
        let wasm = root.join("target").join(WASM_TARGET).join("release").join(format!("{}.wasm", package.replace('-', "_")));
        let dest = out.join(&id);
        std::fs::create_dir_all(&dest)?;
        std::fs::copy(&wasm, dest.join("plugin.wasm")).with_context(|| format!("failed to copy {}", wasm.display()))?;
        std::fs::write(dest.join("plugin.toml"), manifest)?;
    }
    eprintln!("xtask: plugins built into {}", out.display());
    Ok(out)
}

fn manifest_id(manifest: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "id").then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn demo(args: &[String]) -> anyhow::Result<()> {
    let plugins = build_plugins()?;
    let mut command = cargo();
    command.args(["run", "--package", "shopkeeper", "--bin", "shopkeeper", "--", "demo", "--plugins-dir"]);
    command.arg(&plugins);
    command.args(args);
    run(command)
}

/// Builds the Python example connector with componentize-py (fetched from PyPI into
/// target/python-venv). Returns false when python3 is missing, which is an error on CI.
fn build_python_plugin(on_ci: bool) -> anyhow::Result<bool> {
    let root = workspace_root();
    let script = root.join("plugins").join("taobao-python").join("build.py");
    if Command::new("python3").arg("--version").output().is_err() {
        anyhow::ensure!(!on_ci, "python3 is needed to build plugins/taobao-python, and CI=true requires it");
        eprintln!("xtask: python3 not found; skipping the Python connector");
        return Ok(false);
    }
    let mut build = Command::new("python3");
    build.arg(script).current_dir(&root);
    run(build)?;
    Ok(true)
}

fn bench() -> anyhow::Result<()> {
    let plugins = build_plugins()?;
    let mut command = cargo();
    command.args(["bench", "--package", "shopkeeper-tests", "--bench", "intake", "--bench", "plugin_host", "--bench", "rules", "--bench", "stock"]);
    command.env("SHOPKEEPER_TEST_PLUGINS", &plugins);
    run(command)
}

/// Finds PostgreSQL: `DATABASE_URL` if it is a postgres URL, else 127.0.0.1:5432.
fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if url.starts_with("postgres") {
            return Some(url);
        }
    }
    let address = "127.0.0.1:5432".parse().expect("valid address");
    std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2))
        .ok()
        .map(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn test(args: &[String]) -> anyhow::Result<()> {
    let on_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    let plugins = build_plugins()?;
    let root = workspace_root();
    let skips = root.join("target").join("test-skips.txt");
    let _ = std::fs::remove_file(&skips);

    run({
        let mut build = cargo();
        build.args(["build", "--package", "shopkeeper", "--bin", "shopkeeper"]);
        build
    })?;

    let python_built = build_python_plugin(on_ci)?;

    let postgres = postgres_url();
    if postgres.is_none() && on_ci {
        bail!("PostgreSQL is not answering on DATABASE_URL or 127.0.0.1:5432, and CI=true requires it");
    }
    let mut unit = cargo();
    unit.args(["test", "--package", "shopkeeper", "--package", "shopkeeper-simulator", "--package", "xtask"]);
    run(unit)?;
    let mut guest = cargo();
    guest.args(["test", "--package", "shopkeeper-connector"]);
    for (package, _) in new_plugin::plugin_packages(&root) {
        guest.args(["--package", &package]);
    }
    run(guest)?;

    let mut integration = cargo();
    integration.args(["test", "--package", "shopkeeper-tests", "--test", "integration", "--"]);
    integration.args(args);
    integration.env("SHOPKEEPER_TEST_PLUGINS", &plugins);
    integration.env("SHOPKEEPER_BIN", root.join("target").join("debug").join("shopkeeper"));
    integration.env("SHOPKEEPER_TEST_SKIPS", &skips);
    if !python_built {
        integration.env("SHOPKEEPER_TEST_NO_PYTHON", "1");
    }
    match &postgres {
        Some(url) => {
            integration.env("SHOPKEEPER_TEST_POSTGRES", url);
        }
        None => {
            integration.env_remove("SHOPKEEPER_TEST_POSTGRES");
        }
    }
    let result = run(integration);

    println!();
    println!("test summary:");
    println!("  SQLite: ran");
    println!("  PostgreSQL: {}", if postgres.is_some() { "ran" } else { "SKIPPED (not answering on 127.0.0.1:5432 or DATABASE_URL)" });
    if let Ok(text) = std::fs::read_to_string(&skips) {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        lines.dedup();
        for line in lines {
            println!("  SKIPPED: {line}");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_id_is_read() {
        assert_eq!(manifest_id("name = \"x\"\nid = \"taobao\"\n").as_deref(), Some("taobao"));
        assert_eq!(manifest_id("name = \"x\"\n"), None);
    }
}

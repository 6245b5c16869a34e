//! A headless Chromium opens the demo and finds the synced orders with their review decisions.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use shopkeeper::config::Overrides;
use shopkeeper::demo::{Demo, DemoOptions};
use shopkeeper_tests::*;

/// Chromium's flags for this machine: no sandbox as root, and no background traffic.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1440,900",
];

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.exists()))
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_shows_orders_with_decisions() {
    init_logging();
    let (Some(chromedriver), Some(chromium)) = (find_program(&["chromedriver"]), find_program(&["chromium", "chromium-browser"])) else {
        assert!(!on_ci(), "CI=true but chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        note_skip("browser test (chromium or chromedriver not installed)");
        return;
    };
    let data_dir = temp_dir("browser");
    let demo = Demo::start(DemoOptions {
        overrides: Overrides { listen: Some("127.0.0.1:0".parse().unwrap()), data_dir: Some(data_dir), ..Overrides::default() },
        plugins_dir: plugins_dir(),
        seed: 1,
        orders_per_minute: 30.0,
        simulator_listen: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .expect("the demo starts");
    let url = demo.server.url();
    wait_until(Duration::from_secs(60), "the demo's first decided orders", || async {
        let body: serde_json::Value = reqwest::get(format!("{url}/api/orders?workflow_state=held&limit=5"))
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if body["orders"].as_array().is_some_and(|o| !o.is_empty()) { Ok(()) } else { Err("no held order yet".into()) }
    })
    .await;

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": chromium, "args": CHROMIUM_ARGS }),
    );
    let client = wait_until(Duration::from_secs(20), "chromedriver to accept a session", || async {
        // chromedriver speaks plain HTTP on loopback, so no TLS connector is needed.
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&webdriver)
            .await
            .map_err(|e| e.to_string())
    })
    .await;

    client.goto(&url).await.unwrap();
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#orders tbody td.decision b")).await.unwrap();
    let decisions: Vec<String> = {
        let mut texts = Vec::new();
        for cell in client.find_all(Locator::Css("#orders tbody td.decision")).await.unwrap() {
            texts.push(cell.text().await.unwrap());
        }
        texts
    };
    assert!(decisions.len() >= 10, "the review queue lists the synced orders: {decisions:?}");
    assert!(decisions.iter().any(|text| text.starts_with("approve")), "{decisions:?}");
    assert!(decisions.iter().any(|text| text.starts_with("hold")), "{decisions:?}");

    let screenshots = workspace_root().join("target").join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    std::fs::write(screenshots.join("orders.png"), client.screenshot().await.unwrap()).unwrap();

    // The "Held" entry narrows the list to held orders, each with its reason.
    client.find(Locator::Css("aside a[data-state='held']")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//main/h1[text()='Held']")).await.unwrap();
    let states: Vec<String> = {
        let mut texts = Vec::new();
        for tag in client.find_all(Locator::Css("#orders tbody td .tag.held")).await.unwrap() {
            texts.push(tag.text().await.unwrap());
        }
        texts
    };
    let rows = client.find_all(Locator::Css("#orders tbody tr")).await.unwrap().len();
    assert!(!states.is_empty() && states.len() == rows, "every listed order is held: {states:?} of {rows} rows");
    std::fs::write(screenshots.join("held.png"), client.screenshot().await.unwrap()).unwrap();

    // The Chinese interface.
    client.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//header//a[text()='订单']")).await.unwrap();
    std::fs::write(screenshots.join("held-zh.png"), client.screenshot().await.unwrap()).unwrap();

    client.close().await.unwrap();
    demo.server.shutdown().await;
}

//! A headless Chromium opens the demo and finds the synced orders with their review decisions.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::key::Key;
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

/// Starts chromedriver and a headless Chromium session, or returns none (recording a skip)
/// when they are not installed.
async fn start_browser() -> Option<(Driver, fantoccini::Client)> {
    let (Some(chromedriver), Some(chromium)) = (find_program(&["chromedriver"]), find_program(&["chromium", "chromium-browser"])) else {
        assert!(!on_ci(), "CI=true but chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        note_skip("browser tests (chromium or chromedriver not installed)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": chromium, "args": CHROMIUM_ARGS }));
    let client = wait_until(Duration::from_secs(20), "chromedriver to accept a session", || async {
        // chromedriver speaks plain HTTP on loopback, so no TLS connector is needed.
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&webdriver)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    Some((driver, client))
}

fn screenshot_dir() -> PathBuf {
    let dir = workspace_root().join("target").join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_shows_orders_with_decisions() {
    init_logging();
    let Some((_driver, client)) = start_browser().await else { return };
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

    let screenshots = screenshot_dir();
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
    assert!(!states.is_empty(), "every listed order is held: {states:?} of {rows} rows");
    assert!(states.len() == rows, "every listed order is held: {states:?} of {rows} rows");
    std::fs::write(screenshots.join("held.png"), client.screenshot().await.unwrap()).unwrap();

    // The Chinese interface.
    client.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//header//a[text()='订单']")).await.unwrap();
    std::fs::write(screenshots.join("held-zh.png"), client.screenshot().await.unwrap()).unwrap();
    client.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();

    // The two shops share the warehouse's stock: a sale in the main store lowers what the
    // outlet is told within seconds, as the outlet's simulator shows.
    let code = "TEA-LJ-250G";
    let app = &demo.server.app;
    let told_outlet = || demo.simulators[1].simulator.quantity_updates().iter().rev().find(|u| u.outer_sku_id == code).map(|u| u.value);
    let outlet_before = wait_until(Duration::from_secs(60), "the outlet told its share", || async {
        let offers = app.db.offer_rows().await.map_err(|e| e.to_string())?;
        let offer = offers.iter().find(|o| o.store_name == shopkeeper::demo::DEMO_OUTLET && o.sku_code == code).ok_or("no offer")?;
        match told_outlet() {
            Some(told) if !offer.pending && told == offer.offered => Ok(told),
            other => Err(format!("offered {}, told {other:?}", offer.offered)),
        }
    })
    .await;
    let free_before = app.db.stock_rows().await.unwrap().iter().find(|r| r.sku_code == code).unwrap().available;
    assert!(free_before >= 6, "enough stock left for the test: {free_before}");
    // Sell what the main store offers, up to 3 units, so the shop never sells beyond its stock.
    let units = demo.simulators[0].simulator.quantity_of(code).unwrap().min(3);
    assert!(units >= 1, "the main store offers {code}");
    let sold = shopkeeper_simulator::ScriptedTrade::new([(code, units as u32)]);
    demo.simulators[0].simulator.add_trade(sold);
    let started = std::time::Instant::now();
    let outlet_after = wait_until(Duration::from_secs(30), "the outlet told a lower share", || async {
        match told_outlet() {
            Some(told) if told < outlet_before => Ok(told),
            other => Err(format!("outlet still told {other:?}, was {outlet_before}")),
        }
    })
    .await;
    eprintln!("outlet offer of {code}: {outlet_before} -> {outlet_after} in {:?} after the sale", started.elapsed());
    let total_offered: i64 = app.db.offer_rows().await.unwrap().iter().filter(|o| o.sku_code == code).map(|o| o.offered).sum();
    let free_after = app.db.stock_rows().await.unwrap().iter().find(|r| r.sku_code == code).unwrap().available;
    assert!(total_offered <= free_after, "offered {total_offered} of {free_after} free");

    client.goto(&format!("{url}/#stock")).await.unwrap();
    client.refresh().await.unwrap();
    let row = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("#stock-levels tr[data-sku='{code}'] td.reserved")))
        .await
        .unwrap();
    assert_ne!(row.text().await.unwrap(), "0", "the sale's reservation shows on the Stock page");
    std::fs::write(screenshots.join("stock.png"), client.screenshot().await.unwrap()).unwrap();
    client.goto(&format!("{}/_sim/", demo.simulators[1].base_url())).await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("table")).await.unwrap();
    std::fs::write(screenshots.join("outlet-simulator.png"), client.screenshot().await.unwrap()).unwrap();
    for simulator in &demo.simulators {
        assert_eq!(simulator.simulator.oversold_units(), 0);
    }

    client.close().await.unwrap();
    demo.server.shutdown().await;
}

/// An admin uploads a connector in the browser, approves its hosts, sees its store sync, then
/// upgrades it and rolls it back, all on a running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_installs_upgrades_and_rolls_back() {
    init_logging();
    let Some((_driver, client)) = start_browser().await else { return };
    let simulator = shopkeeper_simulator::Simulator::start(
        shopkeeper_simulator::SimulatorConfig { seed: 8, rate_per_minute: 60.0, history_orders: 20, time_scale: 0.01, ..Default::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let config = test_config(DbKind::Sqlite, "browser-plugins").await.unwrap();
    let server = start_server(config).await;
    let app = &server.app;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let url = server.url();

    // Two bundles of the same component: versions 0.1.0 and 0.1.1.
    let built = plugins_dir().join("taobao");
    let manifest = std::fs::read_to_string(built.join("plugin.toml")).unwrap();
    let bundles: Vec<PathBuf> = ["0.1.0", "0.1.1"]
        .iter()
        .map(|version| {
            let dir = temp_dir(&format!("bundle-{version}"));
            std::fs::copy(built.join("plugin.wasm"), dir.join("plugin.wasm")).unwrap();
            let text = shopkeeper_tests::with_manifest_value(&manifest, "version", version);
            std::fs::write(dir.join("plugin.toml"), text).unwrap();
            dir
        })
        .collect();

    client.goto(&format!("{url}/#plugins")).await.unwrap();
    let upload = |bundle: PathBuf| {
        let client = client.clone();
        async move {
            let form = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("upload-form")).await.unwrap();
            form.find(Locator::Css("input[name=manifest]")).await.unwrap().send_keys(bundle.join("plugin.toml").to_str().unwrap()).await.unwrap();
            form.find(Locator::Css("input[name=component]")).await.unwrap().send_keys(bundle.join("plugin.wasm").to_str().unwrap()).await.unwrap();
            form.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        }
    };
    let approve = |version: &'static str| {
        let client = client.clone();
        async move {
            let selector = format!("tr[data-version='{version}'] button[data-action$='/approve']");
            client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(&selector)).await.unwrap().click().await.unwrap();
            let active = format!("//tr[@data-version='{version}']//span[text()='active']");
            client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath(&active)).await.unwrap();
        }
    };

    upload(bundles[0].clone()).await;
    let pending = client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath("//tr[@data-version='0.1.0']//span[text()='waiting for approval']"))
        .await
        .unwrap();
    assert!(pending.text().await.unwrap().contains("waiting"));
    let hosts = client.find(Locator::Css("tr[data-version='0.1.0'] td:nth-child(5)")).await.unwrap().text().await.unwrap();
    assert!(hosts.contains("https://gw.api.taobao.com"), "the requested hosts are shown before approval: {hosts}");
    std::fs::write(screenshot_dir().join("plugin-pending.png"), client.screenshot().await.unwrap()).unwrap();
    approve("0.1.0").await;

    // The store form is built from the plugin's manifest; secrets are password fields.
    client.goto(&format!("{url}/#stores")).await.unwrap();
    client.refresh().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("store-new")).await.unwrap().click().await.unwrap();
    let form = client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("store-form")).await.unwrap();
    let secret_type = form.find(Locator::Id("cfg-app_secret")).await.unwrap().attr("type").await.unwrap();
    assert_eq!(secret_type.as_deref(), Some("password"));
    let fill = |id: &'static str, value: String| {
        let form = form.clone();
        async move { form.find(Locator::Id(id)).await.unwrap().send_keys(&value).await.unwrap() }
    };
    fill("store-name", "browser-store".into()).await;
    fill("cfg-endpoint", simulator.router_url()).await;
    fill("cfg-app_key", shopkeeper_simulator::DEMO_APP_KEY.into()).await;
    fill("cfg-app_secret", shopkeeper_simulator::DEMO_APP_SECRET.into()).await;
    fill("cfg-session", shopkeeper_simulator::DEMO_SESSION.into()).await;
    fill("store-origins", format!("http://{}", simulator.addr)).await;
    let interval = form.find(Locator::Id("store-interval")).await.unwrap();
    interval.clear().await.unwrap();
    interval.send_keys("1").await.unwrap();
    std::fs::write(screenshot_dir().join("store-form.png"), client.screenshot().await.unwrap()).unwrap();
    form.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//table[@id='stores']//td[text()='browser-store']")).await.unwrap();
    let store = app.db.store_by_name("browser-store").await.unwrap().expect("the form added the store");
    assert_eq!(store.config.get("app_secret").map(String::as_str), Some(shopkeeper_simulator::DEMO_APP_SECRET));
    assert_eq!(store.sync_interval_secs, 1);
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::XPath("//table[@id='runs']//span[text()='succeeded']"))
        .await
        .unwrap();
    std::fs::write(screenshot_dir().join("store-syncing.png"), client.screenshot().await.unwrap()).unwrap();

    client.goto(&format!("{url}/#plugins")).await.unwrap();
    client.refresh().await.unwrap();
    upload(bundles[1].clone()).await;
    approve("0.1.1").await;
    let runs_by = |version: &'static str| async move {
        wait_until(Duration::from_secs(30), &format!("a run by {version}"), || async {
            let runs = app.db.list_sync_runs(Some(store.id), 3).await.map_err(|e| e.to_string())?;
            if runs.first().is_some_and(|run| run.plugin_version.as_deref() == Some(version) && run.status == "succeeded") {
                Ok(())
            } else {
                Err(format!("{:?}", runs.first().map(|r| (&r.plugin_version, &r.status))))
            }
        })
        .await
    };
    runs_by("0.1.1").await;

    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("tr[data-version='0.1.1'] button[data-action$='/rollback']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//tr[@data-version='0.1.0']//span[text()='active']"))
        .await
        .unwrap();
    runs_by("0.1.0").await;
    std::fs::write(screenshot_dir().join("plugin-rolled-back.png"), client.screenshot().await.unwrap()).unwrap();
    client.close().await.unwrap();
    server.shutdown().await;
}

/// A merchant edits the review rule in the browser: sees a compile error at its line, fixes it,
/// dry-runs, activates, and the next synced orders are decided by the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merchant_edits_review_rule() {
    init_logging();
    let Some((_driver, client)) = start_browser().await else { return };
    let simulator = shopkeeper_simulator::Simulator::start(
        shopkeeper_simulator::SimulatorConfig { seed: 12, rate_per_minute: 240.0, history_orders: 30, time_scale: 0.002, ..Default::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let config = test_config(DbKind::Sqlite, "browser-rules").await.unwrap();
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "taobao").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let store = add_taobao_store(app, "rules-browser", &simulator, 1, 3600).await;
    let url = server.url();

    client.goto(&format!("{url}/#rules")).await.unwrap();
    let content = client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css("#rule-source .cm-content")).await.unwrap();
    // Runs a script with the rule editor's handle as `editor` and returns the script's result.
    let with_editor = |script: &'static str, args: Vec<serde_json::Value>| {
        let client = client.clone();
        async move {
            let body = format!("const editor = ShopkeeperEditor.find(document.getElementById('rule-source'));\n{script}");
            client.execute(&body, args).await.unwrap()
        }
    };

    // The editor opens the active version with a line number for every line and highlighting.
    let built_in = shopkeeper::rules::RuleKind::Review.built_in_source();
    assert_eq!(with_editor("return editor.getValue();", vec![]).await.as_str(), Some(built_in));
    let mut numbers = Vec::new();
    for element in client.find_all(Locator::Css("#rule-source .cm-lineNumbers .cm-gutterElement")).await.unwrap() {
        let text = element.text().await.unwrap();
        // The gutter's first element only reserves its width and is hidden.
        if !text.is_empty() {
            numbers.push(text);
        }
    }
    let expected: Vec<String> = (1..=built_in.split('\n').count()).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected);
    let colors = with_editor(
        "const spans = [...document.querySelectorAll('#rule-source .cm-line span')];
         const color = test => { const span = spans.find(test); return span ? getComputedStyle(span).color : null; };
         return {
             keyword: color(span => span.textContent === 'fn'),
             string: color(span => span.textContent === '\"hold\"'),
             comment: color(span => span.textContent.startsWith('// Review rule')),
             plain: getComputedStyle(document.querySelector('#rule-source .cm-content')).color,
         };",
        vec![],
    )
    .await;
    assert_eq!(colors["keyword"], "rgb(124, 58, 237)", "keywords are highlighted: {colors}");
    assert_eq!(colors["string"], "rgb(4, 120, 87)", "strings are highlighted: {colors}");
    assert_eq!(colors["comment"], "rgb(107, 114, 128)", "comments are highlighted: {colors}");
    std::fs::write(screenshot_dir().join("rule-editor.png"), client.screenshot().await.unwrap()).unwrap();

    // Typed with real keys over the whole text: Enter indents by the open braces and `}` dedents.
    let typed = "fn review(order) {\nlet limit = 100;\nlet x = ;\n}\n";
    let mut keys = format!("{}a{}", Key::Control, Key::Null);
    keys.extend(typed.chars().map(|ch| if ch == '\n' { char::from(Key::Enter) } else { ch }));
    content.send_keys(&keys).await.unwrap();
    let broken = "fn review(order) {\n    let limit = 100;\n    let x = ;\n}\n";
    assert_eq!(with_editor("return editor.getValue();", vec![]).await.as_str(), Some(broken));

    // The syntax error on line 3 is marked on its line number, its line and its column.
    let marked = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#rule-source .cm-lineNumbers .cm-error-line-number"))
        .await
        .unwrap();
    assert_eq!(marked.text().await.unwrap(), "3");
    let message = client.find(Locator::Id("rule-message")).await.unwrap().text().await.unwrap();
    assert!(message.contains("line 3"), "{message}");
    let column: usize = message
        .split("column ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("the message names the column: {message}"));
    let error_line = broken.lines().nth(2).unwrap();
    let expected_mark: String = error_line.chars().nth(column - 1).map(String::from).unwrap_or_default();
    let marks = with_editor(
        "const lines = [...document.querySelectorAll('#rule-source .cm-content .cm-line')];
         const mark = document.querySelector('#rule-source .cm-error-mark, #rule-source .cm-error-end');
         return {
             error_lines: lines.flatMap((line, i) => line.classList.contains('cm-error-line') ? [i + 1] : []),
             mark_line: mark ? lines.indexOf(mark.closest('.cm-line')) + 1 : null,
             mark_text: mark ? mark.textContent : null,
             handle_line: editor.errorLine(),
         };",
        vec![],
    )
    .await;
    assert_eq!(marks["error_lines"], serde_json::json!([3]), "{marks}");
    assert_eq!(marks["mark_line"], 3, "{marks}");
    assert_eq!(marks["mark_text"], expected_mark.as_str(), "column {column} of {error_line:?}: {marks}");
    assert_eq!(marks["handle_line"], 3, "{marks}");

    // Tab inserts four spaces and undo takes them out. The pause keeps the Tab out of the
    // typing's undo group.
    tokio::time::sleep(Duration::from_millis(700)).await;
    content.send_keys(&format!("{}{}{}{}", Key::Control, Key::End, Key::Null, Key::Tab)).await.unwrap();
    let with_tab = with_editor("return editor.getValue();", vec![]).await;
    assert_eq!(with_tab.as_str(), Some(format!("{broken}    ").as_str()));
    content.send_keys(&format!("{}z{}", Key::Control, Key::Null)).await.unwrap();
    assert_eq!(with_editor("return editor.getValue();", vec![]).await.as_str(), Some(broken));
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//span[@id='rule-message' and contains(., 'line 3')]"))
        .await
        .unwrap();
    assert_eq!(with_editor("return editor.errorLine();", vec![]).await, 3);
    std::fs::write(screenshot_dir().join("rule-error.png"), client.screenshot().await.unwrap()).unwrap();

    // The fix compiles and clears the marks, and saving it makes version 2.
    let fixed = shopkeeper::rules::RuleKind::Review.built_in_source().replacen(
        "fn review(order) {\n",
        "fn review(order) {\n    if order.item_count >= 3 && order.buyer_previous_orders >= 0 {\n        return #{ decision: \"review\", reason: \"three items or more\" };\n    }\n",
        1,
    );
    with_editor("editor.replaceDocument(arguments[0]);", vec![serde_json::Value::String(fixed)]).await;
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//span[@id='rule-message' and contains(., 'compiles')]")).await.unwrap();
    assert!(client.find_all(Locator::Css("#rule-source .cm-error-line-number, #rule-source .cm-error-line")).await.unwrap().is_empty());
    client.find(Locator::Id("rule-save")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//main/h1[contains(., 'v2')]")).await.unwrap();
    assert_eq!(app.db.rule_versions("review").await.unwrap().len(), 2);

    // Dry run beside version 1, then activate.
    client.find(Locator::Id("rule-dry-run")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#dry-run tbody tr")).await.unwrap();
    let diff = client.find(Locator::Id("rule-diff")).await.unwrap().text().await.unwrap();
    assert!(diff.contains("+     if order.item_count >= 3"), "the diff shows the added lines: {diff}");
    std::fs::write(screenshot_dir().join("rule-dry-run.png"), client.screenshot().await.unwrap()).unwrap();
    client.find(Locator::Id("rule-activate")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//tr[@data-rule-version='2']//span[text()='active']")).await.unwrap();
    assert_eq!(app.rules.current().review.version, 2);

    // The next synced orders are decided by version 2.
    wait_until(Duration::from_secs(60), "an order decided by review v2", || async {
        let filter = shopkeeper::storage::orders::OrderFilter { store_id: Some(store.id), limit: 500, ..Default::default() };
        let orders = app.db.list_orders(&filter).await.map_err(|e| e.to_string())?;
        if orders.iter().any(|o| o.review_rule_version == Some(2)) { Ok(()) } else { Err("none yet".into()) }
    })
    .await;
    client.goto(&format!("{url}/#orders")).await.unwrap();
    client.refresh().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//td[contains(@class,'decision')]//div[contains(., 'review v2')]")).await.unwrap();
    std::fs::write(screenshot_dir().join("orders-after-rule-change.png"), client.screenshot().await.unwrap()).unwrap();

    // Rolling back: version 1 from the history loads into the editor and is activated again.
    client.goto(&format!("{url}/#rules")).await.unwrap();
    client.refresh().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#rule-versions a[data-load='1']")).await.unwrap().click().await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//button[@id='rule-activate' and contains(., 'v1')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//tr[@data-rule-version='1']//span[text()='active']")).await.unwrap();
    assert_eq!(with_editor("return editor.getValue();", vec![]).await.as_str(), Some(built_in));
    assert_eq!(app.rules.current().review.version, 1);

    // The Chinese interface labels the rules page and the editor.
    client.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
    client.wait().at_most(Duration::from_secs(10)).for_element(Locator::XPath("//button[@id='rule-save' and text()='保存为新版本']")).await.unwrap();
    let label = client.find(Locator::Css("#rule-source .cm-content")).await.unwrap().attr("aria-label").await.unwrap();
    assert_eq!(label.as_deref(), Some("规则脚本"));
    std::fs::write(screenshot_dir().join("rule-history-zh.png"), client.screenshot().await.unwrap()).unwrap();
    client.close().await.unwrap();
    server.shutdown().await;
}

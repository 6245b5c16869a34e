//! A rules folder replaces the built-in rules; a script with a syntax error stops start-up with
//! its file, line and message.

use shopkeeper::server::App;
use shopkeeper_tests::*;

#[tokio::test]
async fn syntax_error_stops_start() {
    let Some(mut config) = test_config(DbKind::Sqlite, "rules-bad").await else { return };
    let rules = temp_dir("rules");
    std::fs::write(rules.join("review.rhai"), "fn review(order) {\n    let limit = 100\n    if order.paid_fen > { }\n}\n").unwrap();
    config.rules_dir = Some(rules.clone());
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let error = match App::open(config, shutdown).await {
        Ok(_) => panic!("a broken rule must stop start-up"),
        Err(error) => format!("{error:#}"),
    };
    let file = rules.join("review.rhai").display().to_string();
    assert!(error.contains(&file), "names the file: {error}");
    assert!(error.contains("line 3"), "names the line: {error}");
}

#[tokio::test]
async fn rules_folder_replaces_defaults() {
    let Some(mut config) = test_config(DbKind::Sqlite, "rules-good").await else { return };
    let rules = temp_dir("rules");
    let source = "fn review(order) { #{ decision: \"review\", reason: \"every order is checked by hand\" } }\n";
    std::fs::write(rules.join("review.rhai"), source).unwrap();
    config.rules_dir = Some(rules);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let app = App::open(config, shutdown).await.unwrap();
    let review = app.db.active_rule("review").await.unwrap().unwrap();
    assert_eq!(review.version, 2, "the built-in script is version 1, the folder's becomes version 2");
    assert_eq!(review.source, source);
    assert_eq!(app.rules.current().review.version, 2);
    let allocation = app.db.active_rule("allocation").await.unwrap().unwrap();
    assert_eq!(allocation.version, 1, "a kind missing from the folder keeps its active version");
}

#[tokio::test]
async fn missing_rules_folder_stops_start() {
    let Some(mut config) = test_config(DbKind::Sqlite, "rules-missing").await else { return };
    let missing = temp_dir("rules").join("no-such-folder");
    config.rules_dir = Some(missing.clone());
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let error = match App::open(config, shutdown).await {
        Ok(_) => panic!("a rules folder that does not exist must stop start-up"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains(&missing.display().to_string()) && error.contains("does not exist"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changed_rule_file_reloads() {
    let Some(mut config) = test_config(DbKind::Sqlite, "rules-watch").await else { return };
    let rules = temp_dir("rules");
    let file = rules.join("review.rhai");
    std::fs::write(&file, shopkeeper::rules::RuleKind::Review.built_in_source()).unwrap();
    config.rules_dir = Some(rules.clone());
    let server = start_server(config).await;
    let app = &server.app;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let start_version = app.rules.current().review.version;

    // A broken edit is rejected and the running version keeps serving.
    std::fs::write(&file, "fn review(order) {\n    let x = ;\n}\n").unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(app.rules.current().review.version, start_version);

    // A good edit becomes the next version within seconds.
    let edited = shopkeeper::rules::RuleKind::Review.built_in_source().replace("200000; // 2,000 yuan", "300000; // 3,000 yuan");
    std::fs::write(&file, &edited).unwrap();
    wait_until(std::time::Duration::from_secs(15), "the edited file to be activated", || async {
        let version = app.rules.current().review.version;
        if version > start_version { Ok(()) } else { Err(format!("still version {version}")) }
    })
    .await;
    let active = app.db.active_rule("review").await.unwrap().unwrap();
    assert_eq!(active.source, edited);
    assert!(active.origin.ends_with("review.rhai"), "{}", active.origin);
    server.shutdown().await;
}

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

//! Rule versions as merchants manage them: save a draft, dry-run it beside the active version on
//! the sample orders and recent real orders, activate it, re-activate an earlier one. Activation
//! reaches every server: the database stores the active version, each server reloads it, and on
//! PostgreSQL a NOTIFY makes the others reload at once.

use rhai::Map;
use serde::Serialize;

use crate::rules::{ReviewDecision, RuleBook, RuleKind, RuleSet, order_map};
use crate::server::App;
use crate::storage::Backend;
use crate::storage::stock::{Level, OfferTarget};
use crate::storage::stores::Warehouse;

/// The channel servers LISTEN on for rule activations.
pub const NOTIFY_CHANNEL: &str = "shopkeeper_rules";

/// How many recent real orders a dry run replays.
pub const DRY_RUN_ORDERS: i64 = 300;

/// How long a dry run may spend on recent orders; the samples always run in full.
const DRY_RUN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

const SAMPLES: &[(&str, &str)] = &[
    ("plain.json", include_str!("../../rules/samples/plain.json")),
    ("remark.json", include_str!("../../rules/samples/remark.json")),
    ("large.json", include_str!("../../rules/samples/large.json")),
    ("refund.json", include_str!("../../rules/samples/refund.json")),
    ("two-warehouses.json", include_str!("../../rules/samples/two-warehouses.json")),
];

/// A sample order with what the review rule must decide for it.
struct Sample {
    file: &'static str,
    name: String,
    order: Map,
    expected_review: Option<String>,
}

fn samples(rules: &RuleBook) -> anyhow::Result<Vec<Sample>> {
    SAMPLES
        .iter()
        .map(|(file, text)| {
            let mut map = rules.parse_json(text).map_err(|error| anyhow::anyhow!("rules/samples/{file}: {error}"))?;
            let name = map.get("name").and_then(|v| v.clone().into_string().ok()).unwrap_or_else(|| (*file).to_owned());
            let order = map.remove("order").and_then(|v| v.try_cast::<Map>()).ok_or_else(|| anyhow::anyhow!("rules/samples/{file}: no `order` map"))?;
            let expected_review = map
                .get("expect")
                .and_then(|v| v.clone().try_cast::<Map>())
                .and_then(|expect| expect.get("review").and_then(|v| v.clone().into_string().ok()));
            Ok(Sample { file, name, order, expected_review })
        })
        .collect()
}

/// One order decided by the active version and by the draft.
#[derive(Debug, Serialize)]
pub struct DryRunRow {
    pub source: String,
    pub order: String,
    pub active: String,
    pub draft: String,
    pub differs: bool,
}

#[derive(Debug, Serialize)]
pub struct DryRun {
    pub kind: String,
    pub version: i64,
    pub active_version: i64,
    pub rows: Vec<DryRunRow>,
    pub differences: usize,
    /// Sample orders the draft failed on or decided against their expectation.
    pub sample_failures: Vec<String>,
}

/// Outcome of running a rule set on one order, as one line of text.
fn decide(rules: &RuleBook, set: &RuleSet, order: &Map, warehouses: &[Warehouse]) -> (String, Option<String>) {
    let line_count = order.get("lines").and_then(|lines| lines.clone().into_array().ok()).map_or(0, |lines| lines.len());
    let allocation = match rules.allocate(set, order, warehouses, &[], line_count) {
        Ok(allocation) => allocation,
        Err(error) => return (format!("exception: {error}"), None),
    };
    let mut input = order.clone();
    input.insert("warehouse".into(), allocation.warehouse_code.clone().into());
    let (word, text) = match rules.review(set, &input) {
        Ok(review) => match review.decision {
            ReviewDecision::Approve => ("approve", "approve".to_owned()),
            ReviewDecision::Hold(reason) => ("hold", format!("hold: {reason}")),
            ReviewDecision::Manual(reason) => ("review", format!("review: {reason}")),
        },
        Err(error) => return (format!("exception: {error}"), None),
    };
    if let Some(Ok(mut lines)) = input.get("lines").map(|lines| lines.clone().into_array()) {
        for (index, line) in lines.iter_mut().enumerate() {
            if let Some(mut map) = line.clone().try_cast::<Map>() {
                let code = allocation.line_warehouses.get(index).unwrap_or(&allocation.warehouse_code);
                map.entry("warehouse".into()).or_insert_with(|| code.as_str().into());
                *line = rhai::Dynamic::from_map(map);
            }
        }
        input.insert("lines".into(), rhai::Dynamic::from_array(lines));
    }
    let parcels = match rules.split(set, &input) {
        Ok(split) => split.shipments.iter().map(|s| format!("{:?}", s.lines)).collect::<Vec<_>>().join(" "),
        Err(error) => return (format!("exception: {error}"), None),
    };
    (format!("{} · {text} · parcels {parcels}", allocation.warehouse_code), Some(word.to_owned()))
}

/// Runs `version` of `kind` beside the active version on the samples and the recent orders.
pub async fn dry_run(app: &App, kind: RuleKind, version: i64) -> anyhow::Result<DryRun> {
    let stored = app
        .db
        .rule_version(kind.name(), version)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{} rule has no version {version}", kind.name()))?;
    let draft = app.rules.compile_version(kind, version, &stored.source)?;
    let active = app.rules.current();
    let active_version = active.get(kind).version;
    let candidate = RuleBook::with_rule(&active, draft);
    if kind == RuleKind::StockShare {
        return dry_run_share(app, &active, &candidate, version, active_version).await;
    }
    let mut warehouses = app.db.list_warehouses().await?;
    if warehouses.is_empty() {
        // Without any warehouse every allocation fails, which tells nothing about the draft, so
        // the dry run allocates to a stand-in and the review rule still gets checked.
        warehouses.push(Warehouse { id: 0, code: "SAMPLE".into(), name: "stand-in warehouse".into(), province: String::new(), city: String::new() });
    }
    let mut rows = Vec::new();
    let mut sample_failures = Vec::new();
    for sample in samples(&app.rules)? {
        let (before, _) = decide(&app.rules, &active, &sample.order, &warehouses);
        let (after, review) = decide(&app.rules, &candidate, &sample.order, &warehouses);
        if after.starts_with("exception") {
            sample_failures.push(format!("sample {} ({}): {after}", sample.file, sample.name));
        } else if let Some(expected) = &sample.expected_review {
            if review.as_deref() != Some(expected.as_str()) {
                sample_failures.push(format!("sample {} ({}): expected {expected:?}, got {after:?}", sample.file, sample.name));
            }
        }
        rows.push(DryRunRow { source: "sample".into(), order: sample.name, differs: before != after, active: before, draft: after });
    }
    let started = std::time::Instant::now();
    let recent = app.db.recent_decided_orders(DRY_RUN_ORDERS).await?;
    let total = recent.len();
    for (compared, (store, platform, order, previous_orders)) in recent.into_iter().enumerate() {
        if started.elapsed() > DRY_RUN_TIME {
            // A slow draft (or active version) must not hold the editor for minutes.
            rows.push(DryRunRow {
                source: "note".into(),
                order: String::new(),
                active: String::new(),
                draft: format!("dry run stopped after {} s: {compared} of {total} recent orders compared", DRY_RUN_TIME.as_secs()),
                differs: false,
            });
            break;
        }
        let mut map = order_map(&order, &store, &platform);
        map.insert("buyer_previous_orders".into(), previous_orders.into());
        let (before, _) = decide(&app.rules, &active, &map, &warehouses);
        let (after, _) = decide(&app.rules, &candidate, &map, &warehouses);
        rows.push(DryRunRow {
            source: store,
            order: order.platform_order_id,
            differs: before != after,
            active: before,
            draft: after,
        });
    }
    let differences = rows.iter().filter(|row| row.differs).count();
    Ok(DryRun { kind: kind.name().to_owned(), version, active_version, rows, differences, sample_failures })
}

const SHARE_SAMPLES: &[(&str, &str)] = &[("share.json", include_str!("../../rules/samples/share.json"))];

/// Offers of one SKU under a rule set, as one line of text such as `Store A 6 · Store B 4`.
fn share_line(rules: &RuleBook, set: &RuleSet, code: &str, name: &str, levels: &[Level], targets: &[OfferTarget]) -> String {
    let names: Vec<String> = targets.iter().map(|t| t.store_name.clone()).collect();
    match rules.share(set, crate::stock::share_input(code, name, levels, targets), &names) {
        Ok(requests) => {
            let offers = crate::stock::fit_offers(levels, targets, &requests);
            names.iter().zip(offers).map(|(store, offered)| format!("{store} {offered}")).collect::<Vec<_>>().join(" · ")
        }
        Err(error) => format!("exception: {error}"),
    }
}

/// Dry run of a stock-share version: the offers it would make for the sample SKUs and for up to
/// [`DRY_RUN_ORDERS`] real stock-managed SKUs, beside the active version's.
async fn dry_run_share(app: &App, active: &RuleSet, candidate: &RuleSet, version: i64, active_version: i64) -> anyhow::Result<DryRun> {
    let mut rows = Vec::new();
    let mut sample_failures = Vec::new();
    for (file, text) in SHARE_SAMPLES {
        let sample: ShareSample = serde_json::from_str(text).map_err(|error| anyhow::anyhow!("rules/samples/{file}: {error}"))?;
        let levels = [Level { warehouse_id: 1, on_hand: sample.available, reserved: 0 }];
        let targets: Vec<OfferTarget> = sample
            .stores
            .iter()
            .enumerate()
            .map(|(index, store)| OfferTarget {
                store_id: index as i64 + 1,
                store_name: store.name.clone(),
                platform: store.platform.clone(),
                warehouse_ids: Vec::new(),
                adjustment: store.adjustment,
                sales_7d: store.sales_7d,
            })
            .collect();
        let before = share_line(&app.rules, active, &sample.code, &sample.name, &levels, &targets);
        let after = share_line(&app.rules, candidate, &sample.code, &sample.name, &levels, &targets);
        if after.starts_with("exception") {
            sample_failures.push(format!("sample {file} ({}): {after}", sample.name));
        }
        rows.push(DryRunRow { source: "sample".into(), order: sample.code, differs: before != after, active: before, draft: after });
    }
    let mut write = app.db.begin_write().await?;
    let since = crate::now_ms() - 7 * 24 * 3600 * 1000;
    for (sku_id, code, name) in sqlx::query_as::<_, (i64, String, String)>(
        "SELECT id, code, name FROM skus WHERE stock_tracked = 1 ORDER BY id DESC LIMIT $1",
    )
    .bind(DRY_RUN_ORDERS)
    .fetch_all(&mut *write.tx)
    .await?
    {
        let targets = write.offer_targets(sku_id, since).await?;
        if targets.is_empty() {
            continue;
        }
        let levels = write.sku_levels(sku_id).await?;
        let before = share_line(&app.rules, active, &code, &name, &levels, &targets);
        let after = share_line(&app.rules, candidate, &code, &name, &levels, &targets);
        rows.push(DryRunRow { source: "stock".into(), order: code, differs: before != after, active: before, draft: after });
    }
    drop(write);
    let differences = rows.iter().filter(|row| row.differs).count();
    Ok(DryRun { kind: RuleKind::StockShare.name().to_owned(), version, active_version, rows, differences, sample_failures })
}

#[derive(serde::Deserialize)]
struct ShareSample {
    name: String,
    code: String,
    available: i64,
    stores: Vec<ShareSampleStore>,
}

#[derive(serde::Deserialize)]
struct ShareSampleStore {
    name: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    sales_7d: i64,
    #[serde(default)]
    adjustment: i64,
}

/// Activates a version after checking it compiles and passes its samples, then notifies every
/// server. On failure the running version keeps serving.
pub async fn activate(app: &App, kind: RuleKind, version: i64) -> anyhow::Result<()> {
    let run = dry_run(app, kind, version).await?;
    anyhow::ensure!(
        run.sample_failures.is_empty(),
        "{} v{version} was not activated because it fails its samples: {}",
        kind.name(),
        run.sample_failures.join("; ")
    );
    app.db.activate_rule_version(kind.name(), version).await?;
    app.rules.reload(&app.db).await?;
    if kind == RuleKind::StockShare {
        let count = crate::stock::recompute_all(&app.db, &app.rules).await?;
        tracing::info!(skus = count, "offers recomputed with the new stock-share rule");
    }
    if app.db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(format!("{}:{version}", kind.name()))
            .execute(app.db.pool())
            .await?;
    }
    tracing::info!(rule = kind.name(), version, "rule version activated");
    Ok(())
}

/// Activates a rules-folder file whose text changed since it was last read, with the same
/// checks as the editor. A file that fails them is logged, and the running version stays.
async fn reload_folder(app: &App, dir: &std::path::Path, seen: &mut std::collections::HashMap<RuleKind, String>) {
    for kind in RuleKind::ALL {
        let path = dir.join(kind.file_name());
        let Ok(source) = std::fs::read_to_string(&path) else { continue };
        if seen.get(&kind) == Some(&source) {
            continue;
        }
        seen.insert(kind, source.clone());
        let active = app.db.active_rule(kind.name()).await.ok().flatten();
        if active.as_ref().is_some_and(|active| active.source == source) {
            continue;
        }
        let label = path.display().to_string();
        if let Err(error) = app.rules.check_source(kind, &source) {
            tracing::error!(file = %label, %error, "changed rule file rejected; the running version keeps serving");
            continue;
        }
        let result = async {
            let saved = app.db.insert_rule_version(kind.name(), &source, "rules folder", &label).await?;
            activate(app, kind, saved.version).await?;
            anyhow::Ok(saved.version)
        }
        .await;
        match result {
            Ok(version) => tracing::info!(file = %label, version, "rule file changed; new version activated"),
            Err(error) => tracing::error!(file = %label, error = %format!("{error:#}"), "changed rule file not activated; the running version keeps serving"),
        }
    }
}

/// Keeps this server's rules in step with the database: reloads on every PostgreSQL NOTIFY and,
/// as a fallback (and for SQLite), polls every two seconds. With a rules folder it also
/// activates files that change there.
pub async fn watch(app: App, database_url: Option<String>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let rules_dir = app.config.rules_dir.clone();
    let mut seen = std::collections::HashMap::new();
    if let Some(dir) = &rules_dir {
        for kind in RuleKind::ALL {
            if let Ok(source) = std::fs::read_to_string(dir.join(kind.file_name())) {
                seen.insert(kind, source);
            }
        }
    }
    let mut listener = match (&database_url, app.db.backend()) {
        (Some(url), Backend::Postgres) => match sqlx::postgres::PgListener::connect(url).await {
            Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                Ok(()) => Some(listener),
                Err(error) => {
                    tracing::warn!(%error, "failed to LISTEN for rule changes; polling instead");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "failed to connect a rule-change listener; polling instead");
                None
            }
        },
        _ => None,
    };
    loop {
        let notified = async {
            match listener.as_mut() {
                Some(listener) => listener.recv().await.map(|_| ()).map_err(|error| error.to_string()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = notified => {
                if let Err(error) = result {
                    tracing::warn!(%error, "rule-change listener failed; polling instead");
                    listener = None;
                }
            }
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if let Some(dir) = &rules_dir {
            reload_folder(&app, dir, &mut seen).await;
        }
        let share_before = app.rules.current().stock_share.version;
        if let Err(error) = app.rules.reload(&app.db).await {
            tracing::error!(error = %format!("{error:#}"), "failed to reload rules; the running versions keep serving");
        }
        if app.rules.current().stock_share.version != share_before {
            if let Err(error) = crate::stock::recompute_all(&app.db, &app.rules).await {
                tracing::error!(error = %format!("{error:#}"), "failed to recompute offers after a stock-share rule change");
            }
        }
    }
}

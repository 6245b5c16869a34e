//! HTTP API under `/api/` and the web UI, served by the same binary.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::{PlatformStatus, WorkflowState};
use crate::plugin::manifest::Manifest;
use crate::server::App;
use crate::storage::orders::OrderFilter;
use crate::storage::stores::{NewStore, Store};

pub mod guard;
mod stock;

/// Builds the routes. `policy` lists the `Host` values requests may carry.
pub fn router(app: App, policy: guard::HostPolicy) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/editor.js", get(editor_script))
        .route("/api/health", get(health))
        .route("/api/summary", get(summary))
        .route("/api/orders", get(list_orders))
        .route("/api/orders/{id}", get(order_detail))
        .route("/api/stores", get(list_stores).post(add_store))
        .route("/api/stores/{id}", axum::routing::patch(update_store))
        .route("/api/stores/{id}/sync", post(sync_now))
        .route("/api/sync-runs", get(list_sync_runs))
        .route("/api/plugins", get(list_plugins).post(upload_plugin))
        .route("/api/plugins/{id}/versions/{version}/approve", post(approve_plugin))
        .route("/api/plugins/{id}/rollback", post(rollback_plugin))
        .route("/api/plugins/{id}/disable", post(disable_plugin))
        .route("/api/plugins/{id}/enable", post(enable_plugin))
        .route("/api/publishers", get(list_publishers).post(trust_publisher))
        .route("/api/rules", get(list_rules))
        .route("/api/rules/{kind}/check", post(check_rule))
        .route("/api/rules/{kind}/versions", post(save_rule))
        .route("/api/rules/{kind}/versions/{version}", get(rule_version))
        .route("/api/rules/{kind}/versions/{version}/dry-run", post(dry_run_rule))
        .route("/api/rules/{kind}/versions/{version}/activate", post(activate_rule))
        .merge(stock::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PLUGIN_UPLOAD_BYTES))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(policy, guard::guard))
        .with_state(app)
}

/// An API error: a status and a message that names the bad value and what to do.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, message: message.into() }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{error:#}"), "request failed");
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, message: "internal error; the server log has the details".into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

/// Serves the rule editor bundle, built from `core/web` and checked in so the server needs no
/// Node. The page loads it without a version in its URL, so a browser keeps its copy for an hour
/// at most before it fetches the script again.
async fn editor_script() -> impl IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("assets/editor.js"),
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such page or API route")
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn summary(State(app): State<App>) -> ApiResult<serde_json::Value> {
    let counts: BTreeMap<String, i64> = app.db.count_by_workflow().await?.into_iter().collect();
    Ok(Json(json!({ "workflow_counts": counts })))
}

#[derive(Debug, Deserialize)]
struct OrderQuery {
    store_id: Option<i64>,
    platform_status: Option<String>,
    workflow_state: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct OrderPage {
    orders: Vec<crate::storage::orders::OrderSummary>,
    /// Pass as `before` to get the next page; absent on the last page.
    next_before: Option<i64>,
}

async fn list_orders(State(app): State<App>, Query(query): Query<OrderQuery>) -> ApiResult<OrderPage> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is out of range; use 1 to 500")));
    }
    let platform_status = match query.platform_status.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(text.parse::<PlatformStatus>().map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let workflow_state = match query.workflow_state.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(text.parse::<WorkflowState>().map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let filter = OrderFilter { store_id: query.store_id, platform_status, workflow_state, before_id: query.before, limit: limit + 1 };
    let mut orders = app.db.list_orders(&filter).await?;
    let next_before = if orders.len() as i64 > limit {
        orders.truncate(limit as usize);
        orders.last().map(|order| order.id)
    } else {
        None
    };
    Ok(Json(OrderPage { orders, next_before }))
}

async fn order_detail(State(app): State<App>, Path(id): Path<i64>) -> ApiResult<crate::storage::orders::OrderDetail> {
    match app.db.order_detail(id).await? {
        Some(order) => Ok(Json(order)),
        None => Err(ApiError::not_found(format!("order {id} not found"))),
    }
}

/// A store as the API shows it: secret configuration values are never returned.
#[derive(Serialize)]
struct StoreView {
    #[serde(flatten)]
    store: Store,
    /// Names of secret fields that have a value.
    secrets_set: Vec<String>,
    /// Reason the store does not sync, when it does not.
    sync_paused: Option<String>,
}

async fn store_view(app: &App, mut store: Store) -> anyhow::Result<StoreView> {
    let current = app.db.current_plugin(&store.plugin_id).await?;
    let sync_paused = match &current {
        _ if !store.enabled => Some("the store is disabled".to_owned()),
        None => Some(format!("plugin {} has no active version", store.plugin_id)),
        Some(plugin) if plugin.state == crate::storage::plugins::VersionState::Disabled => {
            Some(format!("plugin {} {} is disabled", plugin.id, plugin.version))
        }
        Some(_) => None,
    };
    let secret_fields: Vec<String> = match current {
        Some(plugin) => Manifest::parse(&plugin.manifest)?.config.into_iter().filter(|f| f.secret).map(|f| f.name).collect(),
        // Without a manifest no field is known to be public, so no value is shown.
        None => store.config.keys().cloned().collect(),
    };
    let mut secrets_set = Vec::new();
    for name in secret_fields {
        if store.config.remove(&name).is_some() {
            secrets_set.push(name);
        }
    }
    Ok(StoreView { store, secrets_set, sync_paused })
}

async fn list_stores(State(app): State<App>) -> ApiResult<Vec<StoreView>> {
    let mut views = Vec::new();
    for store in app.db.list_stores().await? {
        views.push(store_view(&app, store).await?);
    }
    Ok(Json(views))
}

async fn add_store(State(app): State<App>, Json(new_store): Json<NewStore>) -> Result<(StatusCode, Json<StoreView>), ApiError> {
    let store = app.add_store(&new_store).await.map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    app.scheduler.trigger(store.id);
    Ok((StatusCode::CREATED, Json(store_view(&app, store).await?)))
}

async fn update_store(
    State(app): State<App>,
    Path(id): Path<i64>,
    Json(changes): Json<crate::storage::stores::StoreChanges>,
) -> ApiResult<StoreView> {
    if app.db.store(id).await?.is_none() {
        return Err(ApiError::not_found(format!("store {id} not found")));
    }
    let store = app.update_store(id, &changes).await.map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    Ok(Json(store_view(&app, store).await?))
}

async fn sync_now(State(app): State<App>, Path(id): Path<i64>) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    if app.db.store(id).await?.is_none() {
        return Err(ApiError::not_found(format!("store {id} not found")));
    }
    app.scheduler.trigger(id);
    Ok((StatusCode::ACCEPTED, Json(json!({ "store_id": id, "status": "sync requested" }))))
}

#[derive(Debug, Deserialize)]
struct RunQuery {
    store_id: Option<i64>,
    limit: Option<i64>,
}

async fn list_sync_runs(State(app): State<App>, Query(query): Query<RunQuery>) -> ApiResult<Vec<crate::storage::sync_state::SyncRun>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is out of range; use 1 to 500")));
    }
    Ok(Json(app.db.list_sync_runs(query.store_id, limit).await?))
}

#[derive(Serialize)]
struct PluginView {
    #[serde(flatten)]
    plugin: crate::storage::plugins::InstalledPlugin,
    #[serde(skip_serializing_if = "Option::is_none")]
    parsed: Option<Manifest>,
}

fn plugin_view(plugin: crate::storage::plugins::InstalledPlugin) -> PluginView {
    PluginView { parsed: Manifest::parse(&plugin.manifest).ok(), plugin }
}

async fn list_plugins(State(app): State<App>) -> ApiResult<Vec<PluginView>> {
    Ok(Json(app.db.list_plugins().await?.into_iter().map(plugin_view).collect()))
}

/// Largest plugin upload accepted (component, manifest and signature together).
pub const MAX_PLUGIN_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// Uploads a plugin as a multipart form with the parts `manifest` (plugin.toml), `component`
/// (the .wasm) and optionally `signature` (plugin.sig). The version waits for approval.
async fn upload_plugin(State(app): State<App>, mut form: axum::extract::Multipart) -> Result<(StatusCode, Json<PluginView>), ApiError> {
    let mut manifest = None;
    let mut component = None;
    let mut signature = None;
    while let Some(field) = form.next_field().await.map_err(|e| ApiError::bad_request(format!("invalid multipart upload: {e}")))? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| ApiError::bad_request(format!("failed to read upload part {name:?}: {e}")))?;
        let text = |bytes: axum::body::Bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad_request(format!("upload part {name:?} is not UTF-8 text")))
        };
        match name.as_str() {
            "manifest" => manifest = Some(text(bytes)?),
            "component" => component = Some(bytes.to_vec()),
            "signature" if !bytes.is_empty() => signature = Some(text(bytes)?),
            "signature" => {}
            other => return Err(ApiError::bad_request(format!("unexpected upload part {other:?}; send manifest, component and optionally signature"))),
        }
    }
    let manifest = manifest.ok_or_else(|| ApiError::bad_request("the upload has no `manifest` part (plugin.toml)"))?;
    let component = component.ok_or_else(|| ApiError::bad_request("the upload has no `component` part (the .wasm file)"))?;
    let bundle = crate::plugin::Bundle { manifest, component, signature };
    let installed = app.plugins.install_bundle(&app.db, &bundle, false).await.map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    Ok((StatusCode::CREATED, Json(plugin_view(installed))))
}

async fn approve_plugin(State(app): State<App>, Path((id, version)): Path<(String, String)>) -> ApiResult<PluginView> {
    let plugin = app.db.activate_plugin(&id, &version).await.map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    tracing::info!(plugin = %id, %version, "plugin version approved and activated");
    Ok(Json(plugin_view(plugin)))
}

async fn rollback_plugin(State(app): State<App>, Path(id): Path<String>) -> ApiResult<PluginView> {
    let plugin = app.db.rollback_plugin(&id).await.map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    tracing::info!(plugin = %id, version = %plugin.version, "plugin rolled back");
    Ok(Json(plugin_view(plugin)))
}

async fn disable_plugin(State(app): State<App>, Path(id): Path<String>) -> ApiResult<PluginView> {
    let plugin = app.db.set_plugin_disabled(&id, true).await.map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    Ok(Json(plugin_view(plugin)))
}

async fn enable_plugin(State(app): State<App>, Path(id): Path<String>) -> ApiResult<PluginView> {
    let plugin = app.db.set_plugin_disabled(&id, false).await.map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    Ok(Json(plugin_view(plugin)))
}

#[derive(Deserialize)]
struct NewPublisher {
    name: String,
    public_key: String,
}

async fn list_publishers(State(app): State<App>) -> ApiResult<Vec<crate::storage::plugins::TrustedPublisher>> {
    Ok(Json(app.db.trusted_publishers().await?))
}

async fn trust_publisher(State(app): State<App>, Json(publisher): Json<NewPublisher>) -> Result<StatusCode, ApiError> {
    crate::plugin::signing::parse_public_key(&publisher.public_key).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if publisher.name.trim().is_empty() {
        return Err(ApiError::bad_request("publisher name is empty; give the key a name"));
    }
    app.db.trust_publisher(publisher.public_key.trim(), &publisher.name).await?;
    Ok(StatusCode::CREATED)
}

fn rule_kind(name: &str) -> Result<crate::rules::RuleKind, ApiError> {
    crate::rules::RuleKind::parse(name).ok_or_else(|| {
        let known: Vec<&str> = crate::rules::RuleKind::ALL.iter().map(|kind| kind.name()).collect();
        ApiError::not_found(format!("unknown rule kind {name:?}; the rules are {}", known.join(", ")))
    })
}

#[derive(Serialize)]
struct RuleSummary {
    kind: &'static str,
    entry_function: &'static str,
    active_version: i64,
    versions: Vec<crate::storage::rules::RuleVersion>,
}

async fn list_rules(State(app): State<App>) -> ApiResult<Vec<RuleSummary>> {
    let active = app.rules.current();
    let mut summaries = Vec::new();
    for kind in crate::rules::RuleKind::ALL {
        let mut versions = app.db.rule_versions(kind.name()).await?;
        for version in &mut versions {
            version.source.clear();
        }
        let active_version = active.get(kind).version;
        summaries.push(RuleSummary { kind: kind.name(), entry_function: kind.entry_function(), active_version, versions });
    }
    Ok(Json(summaries))
}

async fn rule_version(State(app): State<App>, Path((kind, version)): Path<(String, i64)>) -> ApiResult<crate::storage::rules::RuleVersion> {
    let kind = rule_kind(&kind)?;
    match app.db.rule_version(kind.name(), version).await? {
        Some(stored) => Ok(Json(stored)),
        None => Err(ApiError::not_found(format!("{} rule has no version {version}", kind.name()))),
    }
}

#[derive(Deserialize)]
struct RuleDraft {
    source: String,
    #[serde(default)]
    author: Option<String>,
}

/// Builds the response for a compile error, with the position the editor marks.
fn compile_error(app: &App, source: &str, error: crate::rules::RuleError) -> Response {
    let position = app.rules.syntax_error_position(source);
    let body = json!({
        "error": error.to_string(),
        "line": position.map(|p| p.0),
        "column": position.map(|p| p.1),
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

const MAX_RULE_SOURCE_BYTES: usize = 256 * 1024;

async fn check_rule(State(app): State<App>, Path(kind): Path<String>, Json(draft): Json<RuleDraft>) -> Result<Response, ApiError> {
    let kind = rule_kind(&kind)?;
    Ok(match app.rules.check_source(kind, &draft.source) {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(error) => compile_error(&app, &draft.source, error),
    })
}

async fn save_rule(State(app): State<App>, Path(kind): Path<String>, Json(draft): Json<RuleDraft>) -> Result<Response, ApiError> {
    let kind = rule_kind(&kind)?;
    if draft.source.len() > MAX_RULE_SOURCE_BYTES {
        return Err(ApiError::bad_request(format!("the script is {} bytes; the limit is {MAX_RULE_SOURCE_BYTES}", draft.source.len())));
    }
    if let Err(error) = app.rules.check_source(kind, &draft.source) {
        return Ok(compile_error(&app, &draft.source, error));
    }
    let author = draft.author.filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "web editor".to_owned());
    let saved = app.db.insert_rule_version(kind.name(), &draft.source, &author, "editor").await?;
    tracing::info!(rule = kind.name(), version = saved.version, %author, "rule version saved");
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

async fn dry_run_rule(State(app): State<App>, Path((kind, version)): Path<(String, i64)>) -> ApiResult<crate::rules_admin::DryRun> {
    let kind = rule_kind(&kind)?;
    let run = crate::rules_admin::dry_run(&app, kind, version).await.map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    Ok(Json(run))
}

async fn activate_rule(State(app): State<App>, Path((kind, version)): Path<(String, i64)>) -> ApiResult<serde_json::Value> {
    let kind = rule_kind(&kind)?;
    crate::rules_admin::activate(&app, kind, version).await.map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    Ok(Json(json!({ "kind": kind.name(), "active_version": version })))
}

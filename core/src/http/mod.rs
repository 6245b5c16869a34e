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

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/health", get(health))
        .route("/api/summary", get(summary))
        .route("/api/orders", get(list_orders))
        .route("/api/orders/{id}", get(order_detail))
        .route("/api/stores", get(list_stores).post(add_store))
        .route("/api/stores/{id}/sync", post(sync_now))
        .route("/api/sync-runs", get(list_sync_runs))
        .route("/api/plugins", get(list_plugins))
        .fallback(not_found)
        .with_state(app)
}

/// An API error: a status and a message that names the bad value and what to do.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    fn not_found(message: impl Into<String>) -> Self {
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
}

async fn store_view(app: &App, mut store: Store) -> anyhow::Result<StoreView> {
    let secret_fields: Vec<String> = match app.db.enabled_plugin(&store.plugin_id).await? {
        Some(plugin) => Manifest::parse(&plugin.manifest)?.config.into_iter().filter(|f| f.secret).map(|f| f.name).collect(),
        // Without a manifest nothing says which fields are secret, so no value is shown.
        None => store.config.keys().cloned().collect(),
    };
    let mut secrets_set = Vec::new();
    for name in secret_fields {
        if store.config.remove(&name).is_some() {
            secrets_set.push(name);
        }
    }
    Ok(StoreView { store, secrets_set })
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
    let limit = query.limit.unwrap_or(20).clamp(1, 500);
    Ok(Json(app.db.list_sync_runs(query.store_id, limit).await?))
}

#[derive(Serialize)]
struct PluginView {
    id: String,
    version: String,
    name: String,
    world: String,
    sha256: String,
    enabled: bool,
    installed_at: i64,
    manifest: Manifest,
}

async fn list_plugins(State(app): State<App>) -> ApiResult<Vec<PluginView>> {
    let mut views = Vec::new();
    for plugin in app.db.list_plugins().await? {
        views.push(PluginView {
            manifest: Manifest::parse(&plugin.manifest)?,
            id: plugin.id,
            version: plugin.version,
            name: plugin.name,
            world: plugin.world,
            sha256: plugin.sha256,
            enabled: plugin.enabled,
            installed_at: plugin.installed_at,
        });
    }
    Ok(Json(views))
}

//! Stock routes: levels and offers, movements, manual changes, listings and their mapping,
//! offer adjustments, store warehouses, and retrying orders from the exception list.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult};
use crate::server::App;
use crate::stock::{MAX_UNITS_PER_CHANGE, StockChange};
use crate::storage::stock::{ListingRow, MovementRow, OfferRow, StockRow};

/// Turns the JSON reader's wording into plain words: the field, what it should be, where.
fn plain(rejection: &axum::extract::rejection::JsonRejection) -> String {
    rejection
        .body_text()
        .replace("Failed to deserialize the JSON body into the target type: ", "")
        .replace("Failed to parse the request body as JSON: ", "not valid JSON: ")
        .replace("expected i64", "expected a whole number")
        .replace("expected internally tagged enum StockChange", "expected an object with a \"kind\" field")
        .replace("floating point", "the number")
        .replace("missing field", "the request has no field")
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/stock", get(overview))
        .route("/api/stock/movements", get(movements))
        .route("/api/stock/changes", post(change))
        .route("/api/stock/listings", get(listings))
        .route("/api/stock/listings/map", post(map_listing))
        .route("/api/stock/offers/{store_id}/{sku}", put(adjust_offer))
        .route("/api/skus", post(add_sku))
        .route("/api/stock/bins", put(set_bin))
        .route("/api/stores/{id}/warehouses", put(store_warehouses))
        .route("/api/orders/{id}/retry", post(retry))
}

#[derive(Serialize)]
struct Overview {
    levels: Vec<StockRow>,
    offers: Vec<OfferRow>,
}

async fn overview(State(app): State<App>) -> ApiResult<Overview> {
    Ok(Json(Overview { levels: app.db.stock_rows().await?, offers: app.db.offer_rows().await? }))
}
// NOTE: levels and offers are read by two queries, so under heavy sales a response can pair
// levels with offers computed a moment later. The stored offers themselves never exceed free
// stock.

#[derive(Deserialize)]
struct MovementQuery {
    sku: Option<String>,
    limit: Option<i64>,
}

async fn movements(State(app): State<App>, Query(query): Query<MovementQuery>) -> ApiResult<Vec<MovementRow>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is out of range; use 1 to 1000")));
    }
    Ok(Json(app.db.movement_rows(query.sku.as_deref(), limit).await?))
}

async fn change(State(app): State<App>, body: Result<Json<StockChange>, axum::extract::rejection::JsonRejection>) -> ApiResult<serde_json::Value> {
    let Json(change) = body.map_err(|error| {
        ApiError::bad_request(format!(
            "invalid stock change: {}; send {{\"kind\": \"adjustment\"|\"receipt\"|\"stocktake\"|\"transfer\", \"sku\": ..., \"warehouse\": ..., ...}}",
            plain(&error)
        ))
    })?;
    crate::stock::apply_change(&app.db, &app.rules, &change, "web").await.map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    let retried = retry_exceptions(&app, None).await;
    Ok(Json(serde_json::json!({ "ok": true, "retried": retried })))
}

async fn listings(State(app): State<App>) -> ApiResult<Vec<ListingRow>> {
    Ok(Json(app.db.listing_rows().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapListing {
    store_id: i64,
    platform_item_id: String,
    #[serde(default)]
    platform_sku_id: String,
    sku: String,
}

async fn map_listing(State(app): State<App>, body: Result<Json<MapListing>, axum::extract::rejection::JsonRejection>) -> ApiResult<serde_json::Value> {
    let Json(mapping) = body.map_err(|error| ApiError::bad_request(format!("invalid mapping: {}", plain(&error))))?;
    if app.db.store(mapping.store_id).await?.is_none() {
        return Err(ApiError::not_found(format!("store {} not found", mapping.store_id)));
    }
    let mut write = app.db.begin_write().await?;
    let Some(sku_id) = write.sku_by_code(&mapping.sku).await? else {
        return Err(ApiError::bad_request(format!("unknown SKU {:?}; add it first (POST /api/skus)", mapping.sku)));
    };
    write.lock_skus(&[sku_id]).await?;
    if !write.map_listing(mapping.store_id, &mapping.platform_item_id, &mapping.platform_sku_id, sku_id).await? {
        return Err(ApiError::not_found(format!(
            "store {} has no listing with item {:?} and SKU {:?}, and no order sold one; copy the ids from the listings table \
             or from the order's line",
            mapping.store_id, mapping.platform_item_id, mapping.platform_sku_id
        )));
    }
    let rule_set = app.rules.current();
    crate::stock::recompute_offers(&mut write, &app.rules, &rule_set, &[sku_id]).await?;
    write.commit().await?;
    let retried = retry_exceptions(&app, Some(mapping.store_id)).await;
    Ok(Json(serde_json::json!({ "ok": true, "retried": retried })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Adjustment {
    adjustment: i64,
}

async fn adjust_offer(
    State(app): State<App>,
    Path((store_id, sku)): Path<(i64, String)>,
    body: Result<Json<Adjustment>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<serde_json::Value> {
    let Json(body) = body.map_err(|error| ApiError::bad_request(format!("invalid adjustment: {}; send {{\"adjustment\": N}}", plain(&error))))?;
    if !(-1_000_000..=1_000_000).contains(&body.adjustment) {
        return Err(ApiError::bad_request(format!("adjustment {} is out of range; use -1000000 to 1000000", body.adjustment)));
    }
    if app.db.store(store_id).await?.is_none() {
        return Err(ApiError::not_found(format!("store {store_id} not found")));
    }
    crate::stock::set_adjustment(&app.db, &app.rules, store_id, &sku, body.adjustment)
        .await
        .map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSku {
    code: String,
    name: String,
    #[serde(default)]
    low_stock_threshold: Option<i64>,
    /// Weight of one unit in grams, which the split rule reads.
    #[serde(default)]
    weight_grams: Option<i64>,
    /// Sold before the goods arrive; the split rule ships such lines apart.
    #[serde(default)]
    presale: Option<bool>,
}

async fn add_sku(State(app): State<App>, body: Result<Json<NewSku>, axum::extract::rejection::JsonRejection>) -> ApiResult<serde_json::Value> {
    let Json(sku) = body.map_err(|error| ApiError::bad_request(format!("invalid SKU: {}", plain(&error))))?;
    let code = sku.code.trim();
    if code.is_empty() || code.chars().count() > 128 {
        return Err(ApiError::bad_request(format!("SKU code {:?} must be 1-128 characters", sku.code)));
    }
    if sku.name.chars().count() > 512 {
        return Err(ApiError::bad_request(format!("SKU name is {} characters long; keep it to 512", sku.name.chars().count())));
    }
    let mut write = app.db.begin_write().await?;
    let id = write.create_sku(code, sku.name.trim()).await?;
    if let Some(grams) = sku.weight_grams {
        if !(0..=1_000_000).contains(&grams) {
            return Err(ApiError::bad_request(format!("weight_grams {grams} is out of range; use 0 to 1000000 grams per unit")));
        }
        sqlx::query("UPDATE skus SET weight_grams = $2 WHERE id = $1").bind(id).bind(grams).execute(&mut *write.tx).await.map_err(anyhow::Error::from)?;
    }
    if let Some(presale) = sku.presale {
        sqlx::query("UPDATE skus SET presale = $2 WHERE id = $1").bind(id).bind(i64::from(presale)).execute(&mut *write.tx).await.map_err(anyhow::Error::from)?;
    }
    if let Some(threshold) = sku.low_stock_threshold {
        if !(0..=MAX_UNITS_PER_CHANGE).contains(&threshold) {
            return Err(ApiError::bad_request(format!("low_stock_threshold {threshold} is out of range; use 0 to {MAX_UNITS_PER_CHANGE}")));
        }
        sqlx::query("UPDATE skus SET low_stock_threshold = $2 WHERE id = $1").bind(id).bind(threshold.max(0)).execute(&mut *write.tx).await.map_err(anyhow::Error::from)?;
    }
    write.commit().await?;
    Ok(Json(serde_json::json!({ "id": id, "code": code })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinAssignment {
    sku: String,
    warehouse: String,
    /// Bin code such as `A-03-2`; empty clears it.
    bin: String,
}

async fn set_bin(State(app): State<App>, body: Result<Json<BinAssignment>, axum::extract::rejection::JsonRejection>) -> ApiResult<serde_json::Value> {
    let Json(body) = body.map_err(|error| ApiError::bad_request(format!("invalid bin: {}; send {{\"sku\", \"warehouse\", \"bin\"}}", plain(&error))))?;
    let bin = body.bin.trim();
    if bin.chars().count() > 64 || bin.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("bin {:?} is invalid; use at most 64 characters and no control characters", crate::domain::truncate_for_message(bin))));
    }
    let known = app.db.warehouse_ids_by_code().await?;
    let Some(&warehouse_id) = known.get(&body.warehouse) else {
        return Err(ApiError::bad_request(format!(
            "unknown warehouse {:?}; the warehouses are {}",
            body.warehouse,
            known.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    };
    let mut write = app.db.begin_write().await?;
    let Some(sku_id) = write.sku_by_code(&body.sku).await? else {
        return Err(ApiError::bad_request(format!("unknown SKU {:?}; pull the store's products or add the SKU first", body.sku)));
    };
    write.set_bin(sku_id, warehouse_id, bin).await?;
    write.commit().await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreWarehouses {
    /// Warehouse codes; empty means every warehouse.
    warehouses: Vec<String>,
}

async fn store_warehouses(
    State(app): State<App>,
    Path(store_id): Path<i64>,
    body: Result<Json<StoreWarehouses>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<serde_json::Value> {
    let Json(body) = body.map_err(|error| ApiError::bad_request(format!("invalid warehouses: {}; send {{\"warehouses\": [\"CODE\"]}}", plain(&error))))?;
    if app.db.store(store_id).await?.is_none() {
        return Err(ApiError::not_found(format!("store {store_id} not found")));
    }
    let known = app.db.warehouse_ids_by_code().await?;
    let mut ids: Vec<i64> = Vec::new();
    for code in &body.warehouses {
        let id = known.get(code).copied().ok_or_else(|| {
            ApiError::bad_request(format!("unknown warehouse {code:?}; the warehouses are {}", known.keys().cloned().collect::<Vec<_>>().join(", ")))
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut write = app.db.begin_write().await?;
    sqlx::query("DELETE FROM store_warehouses WHERE store_id = $1").bind(store_id).execute(&mut *write.tx).await.map_err(anyhow::Error::from)?;
    for id in ids {
        sqlx::query("INSERT INTO store_warehouses (store_id, warehouse_id) VALUES ($1, $2)")
            .bind(store_id)
            .bind(id)
            .execute(&mut *write.tx)
            .await
            .map_err(anyhow::Error::from)?;
    }
    write.commit().await?;
    crate::stock::recompute_all(&app.db, &app.rules).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn retry(State(app): State<App>, Path(id): Path<i64>) -> ApiResult<serde_json::Value> {
    let state = crate::intake::retry_order(&app.db, &app.rules, id).await.map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
    Ok(Json(serde_json::json!({ "workflow_state": state })))
}

/// Retries the stock-related exception orders of a store, or of all stores, after a change that
/// may have fixed them. Returns how many left the exception list.
async fn retry_exceptions(app: &App, store_id: Option<i64>) -> usize {
    let filter = crate::storage::orders::OrderFilter {
        store_id,
        workflow_state: Some(crate::domain::WorkflowState::Exception),
        limit: 200,
        ..Default::default()
    };
    let Ok(orders) = app.db.list_orders(&filter).await else { return 0 };
    let mut fixed = 0;
    for order in orders {
        let stock_related = order.exception_reason.as_deref().is_some_and(|reason| reason.starts_with("out of stock") || reason.starts_with("unmapped SKU"));
        if !stock_related {
            continue;
        }
        match crate::intake::retry_order(&app.db, &app.rules, order.id).await {
            Ok(state) if state != crate::domain::WorkflowState::Exception => fixed += 1,
            Ok(_) => {}
            Err(error) => tracing::warn!(order = order.id, error = %format!("{error:#}"), "retry failed"),
        }
    }
    fixed
}

//! Admin routes for stock and scripted trades, outside TOP signing like every `/_sim/` route:
//! the stock page (`GET /_sim/`), the stock as JSON (`GET`/`POST /_sim/stock`), scripted trades
//! (`POST /_sim/trades`) and the page's "sell one" form (`POST /_sim/sell`).

use std::fmt::Write;

use axum::extract::State;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::stock::{QuantityMode, QuantityUpdate, Stock};
use crate::trade::format_top_time;
use crate::{ScriptedLine, ScriptedTrade, Simulator, catalog};

/// Number of recent stock pushes that the stock page lists.
const RECENT_UPDATES_SHOWN: usize = 20;
/// Seconds between reloads of the stock page.
const PAGE_REFRESH_SECS: u32 = 5;

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/_sim", get(stock_page))
        .route("/_sim/", get(stock_page))
        .route("/_sim/stock", get(stock_json).post(set_stock))
        .route("/_sim/sell", post(sell_form))
}

fn bad_request(message: impl Into<String>) -> Response {
    let message = message.into();
    tracing::warn!(%message, "admin request rejected");
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// `GET /_sim/stock`: every SKU with its platform quantity and the latest quantity the seller
/// pushed, plus `oversold_units`.
async fn stock_json(State(simulator): State<Simulator>) -> Json<Value> {
    let skus: Vec<Value> = simulator.with_stock(Utc::now(), |stock| {
        catalog::skus()
            .map(|(product, sku)| {
                json!({
                    "num_iid": product.num_iid,
                    "sku_id": sku.sku_id,
                    "outer_sku_id": sku.outer_sku_id,
                    "title": product.title,
                    "properties_name": sku.properties_name,
                    "quantity": stock.quantity(sku.sku_id),
                    "last_update": stock.last_update(sku.sku_id),
                })
            })
            .collect()
    });
    Json(json!({
        "oversold_units": simulator.oversold_units(),
        "skus": skus,
    }))
}

#[derive(Deserialize)]
struct SetStock {
    outer_sku_id: String,
    quantity: i64,
}

/// `POST /_sim/stock` with `{"outer_sku_id": "...", "quantity": N}`: sets a platform quantity as
/// the merchant would in the seller back office.
async fn set_stock(
    State(simulator): State<Simulator>,
    body: Result<Json<SetStock>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_request(format!("invalid stock body: {rejection}")),
    };
    match simulator.set_initial_quantity(&body.outer_sku_id, body.quantity) {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(error) => bad_request(error),
    }
}

/// `POST /_sim/trades` with a [`ScriptedTrade`] as JSON: creates the trade and returns its tid
/// and snapshot with status 201.
pub(crate) async fn create_trade(
    State(simulator): State<Simulator>,
    body: Result<Json<ScriptedTrade>, JsonRejection>,
) -> Response {
    let Json(spec) = match body {
        Ok(body) => body,
        Err(rejection) => return bad_request(format!("invalid trade body: {rejection}")),
    };
    match simulator.try_add_trade(spec) {
        Ok(tid) => {
            let trade = simulator.trade_at(tid, Utc::now());
            let body = json!({ "tid": tid, "tid_str": tid.to_string(), "trade": trade });
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(error) => bad_request(error),
    }
}

#[derive(Deserialize)]
struct SellForm {
    outer_sku_id: String,
    #[serde(default = "one")]
    quantity: u32,
}

fn one() -> u32 {
    1
}

/// `POST /_sim/sell` from the stock page's form: a paid scripted trade of one SKU, then back to
/// the page.
async fn sell_form(
    State(simulator): State<Simulator>,
    form: Result<Form<SellForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(form) => form,
        Err(rejection) => return bad_request(format!("invalid sell form: {rejection}")),
    };
    // A buyer on the shop page can only buy what the shop shows; POST /_sim/trades remains
    // the way to oversell on purpose.
    let shown = simulator.quantity_of(&form.outer_sku_id);
    if let Some(shown) = shown
        && shown < i64::from(form.quantity)
    {
        return bad_request(format!(
            "the shop shows {shown} of {} for sale, so a buyer cannot buy {}; POST /_sim/trades sells beyond stock on purpose",
            form.outer_sku_id, form.quantity
        ));
    }
    let spec = ScriptedTrade {
        lines: vec![ScriptedLine {
            outer_sku_id: form.outer_sku_id,
            quantity: form.quantity,
        }],
        ..ScriptedTrade::default()
    };
    match simulator.try_add_trade(spec) {
        Ok(_) => Redirect::to("/_sim/").into_response(),
        Err(error) => bad_request(error),
    }
}

/// `GET /_sim/`: the shop's stock as an HTML table that reloads every few seconds.
async fn stock_page(State(simulator): State<Simulator>) -> Html<String> {
    let oversold = simulator.oversold_units();
    let (rows, recent) = simulator.with_stock(Utc::now(), |stock| {
        (stock_rows(stock), recent_updates(stock))
    });
    let config = simulator.config();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{PAGE_REFRESH_SECS}\">\
         <title>Simulated shop {seed}: stock</title>\
         <style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
         td.number{{text-align:right}}tr.empty td.number{{color:#b00;font-weight:bold}}</style>\
         </head><body>\
         <h1>Simulated Taobao shop (seed {seed})</h1>\
         <p>Started {start} (UTC+8). TOP router at <code>/router/rest</code>. \
         JSON: <a href=\"/_sim/stock\">/_sim/stock</a>, <a href=\"/_sim/trades\">/_sim/trades</a>, \
         <a href=\"/_sim/requests\">/_sim/requests</a>. This page reloads every \
         {PAGE_REFRESH_SECS} s.</p>\
         <p>Units sold beyond platform stock: <strong>{oversold}</strong></p>\
         <h2>Platform stock</h2>\
         <table><tr><th>Item</th><th>SKU</th><th>SKU code</th><th>Quantity</th>\
         <th>Last quantity pushed by the seller</th><th>Pushed at (UTC+8)</th><th></th></tr>\n\
         {rows}</table>\
         <h2>Latest stock pushes</h2>{recent}</body></html>\n",
        seed = config.seed,
        start = format_top_time(simulator.start_time()),
    );
    Html(page)
}

fn stock_rows(stock: &Stock) -> String {
    let mut rows = String::new();
    for (product, sku) in catalog::skus() {
        let quantity = stock.quantity(sku.sku_id);
        let (pushed, pushed_at) = match stock.last_update(sku.sku_id) {
            Some(update) => (describe_update(update), format_top_time(update.at)),
            None => ("none".to_owned(), String::new()),
        };
        let class = if quantity == 0 {
            " class=\"empty\""
        } else {
            ""
        };
        let _ = writeln!(
            rows,
            "<tr{class}><td>{title}</td><td>{properties}</td><td><code>{code}</code></td>\
             <td class=\"number\">{quantity}</td><td>{pushed}</td><td>{pushed_at}</td>\
             <td><form method=\"post\" action=\"/_sim/sell\">\
             <input type=\"hidden\" name=\"outer_sku_id\" value=\"{code}\">\
             <button type=\"submit\">Sell one</button></form></td></tr>",
            title = escape_html(product.title),
            properties = escape_html(sku.properties_name),
            code = escape_html(sku.outer_sku_id),
        );
    }
    rows
}

fn recent_updates(stock: &Stock) -> String {
    let updates: Vec<&QuantityUpdate> = stock.updates().rev().take(RECENT_UPDATES_SHOWN).collect();
    if updates.is_empty() {
        return "<p>No <code>taobao.item.quantity.update</code> call yet.</p>".to_owned();
    }
    let mut list =
        String::from("<table><tr><th>At (UTC+8)</th><th>SKU code</th><th>Update</th></tr>\n");
    for update in updates {
        let _ = writeln!(
            list,
            "<tr><td>{at}</td><td><code>{code}</code></td><td>{text}</td></tr>",
            at = format_top_time(update.at),
            code = escape_html(&update.outer_sku_id),
            text = describe_update(update),
        );
    }
    list.push_str("</table>");
    list
}

fn describe_update(update: &QuantityUpdate) -> String {
    match update.mode {
        QuantityMode::Full => format!("set to {}", update.resulting_quantity),
        QuantityMode::Delta => format!(
            "changed by {:+}, to {}",
            update.value, update.resulting_quantity
        ),
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

//! The TOP router at `/router/rest` and the `/_sim/` admin routes.
//!
//! A call passes the common checks in the order TOP documents its system errors (method, app key,
//! timestamp, signature, version, session, method name), then any injected fault, then the
//! method's own argument checks. Every response is HTTP 200 with a JSON body, as on TOP.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value, json};

use crate::sign::{SignMethod, top_sign};
use crate::trade::{TradeSnapshot, parse_top_time};
use crate::{FaultSpec, RequestRecord, Simulator, TopError, admin, top_items, top_trades};

const INCREMENT_GET: &str = "taobao.trades.sold.increment.get";
const FULLINFO_GET: &str = "taobao.trade.fullinfo.get";
const ITEMS_ONSALE_GET: &str = "taobao.items.onsale.get";
const ITEM_SELLER_GET: &str = "taobao.item.seller.get";
const ITEM_QUANTITY_UPDATE: &str = "taobao.item.quantity.update";
const LOGISTICS_OFFLINE_SEND: &str = "taobao.logistics.offline.send";
const TRADE_MEMO_UPDATE: &str = "taobao.trade.memo.update";
const SUPPORTED_METHODS: &[&str] = &[
    INCREMENT_GET,
    FULLINFO_GET,
    ITEMS_ONSALE_GET,
    ITEM_SELLER_GET,
    ITEM_QUANTITY_UPDATE,
    LOGISTICS_OFFLINE_SEND,
    TRADE_MEMO_UPDATE,
];

/// Statuses that `taobao.trades.sold.increment.get` accepts as a `status` filter. The simulator
/// never produces some of them, and those filters match nothing.
const FILTER_STATUSES: &[&str] = &[
    "TRADE_NO_CREATE_PAY",
    "WAIT_BUYER_PAY",
    "SELLER_CONSIGNED_PART",
    "WAIT_SELLER_SEND_GOODS",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_BUYER_SIGNED",
    "TRADE_FINISHED",
    "TRADE_CLOSED",
    "TRADE_CLOSED_BY_TAOBAO",
    "PAY_PENDING",
    "WAIT_PRE_AUTH_CONFIRM",
    "PAID_FORBID_CONSIGN",
    "ALL_WAIT_PAY",
    "ALL_CLOSED",
];

const MAX_PAGE_SIZE: u64 = 100;
const DEFAULT_PAGE_SIZE: u64 = 40;

pub(crate) fn router(simulator: Simulator) -> Router {
    Router::new()
        .route("/router/rest", get(handle_rest).post(handle_rest))
        .route("/_sim/health", get(health))
        .route("/_sim/trades", get(list_trades).post(admin::create_trade))
        .route("/_sim/requests", get(list_requests))
        .route(
            "/_sim/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .merge(admin::routes())
        .with_state(simulator)
}

/// Request parameters from the query string and a form body, in request order.
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Returns the first non-empty value of `name`. TOP treats an empty value as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, TopError> {
        self.get(name).ok_or_else(|| missing_argument(name))
    }

    fn required_time(&self, name: &str) -> Result<DateTime<Utc>, TopError> {
        let text = self.required(name)?;
        parse_top_time(text).ok_or_else(|| {
            invalid_argument(
                name,
                format!("{text:?} is not a time of the form yyyy-MM-dd HH:mm:ss"),
            )
        })
    }

    pub(crate) fn optional_bool(&self, name: &str) -> Result<bool, TopError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(invalid_argument(
                name,
                format!("{other:?} is not true or false"),
            )),
        }
    }

    pub(crate) fn optional_number(
        &self,
        name: &str,
        default: u64,
        max: u64,
    ) -> Result<u64, TopError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(number) if (1..=max).contains(&number) => Ok(number),
            _ => Err(invalid_argument(
                name,
                format!("{text:?} is not an integer from 1 to {max}"),
            )),
        }
    }

    /// Returns the value of `name` as an id (a positive integer such as `num_iid` or `tid`).
    pub(crate) fn required_id(&self, name: &str) -> Result<u64, TopError> {
        let text = self.required(name)?;
        parse_id(name, text)
    }

    /// Returns the value of `name` as an id, or `None` when it is absent.
    pub(crate) fn optional_id(&self, name: &str) -> Result<Option<u64>, TopError> {
        self.get(name).map(|text| parse_id(name, text)).transpose()
    }

    /// Returns the value of `name` as a signed integer.
    pub(crate) fn required_integer(&self, name: &str) -> Result<i64, TopError> {
        let text = self.required(name)?;
        text.trim()
            .parse()
            .map_err(|_| invalid_argument(name, format!("{text:?} is not an integer")))
    }
}

fn parse_id(name: &str, text: &str) -> Result<u64, TopError> {
    match text.trim().parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(invalid_argument(
            name,
            format!("{text:?} is not a positive integer id"),
        )),
    }
}

pub(crate) fn missing_argument(name: &str) -> TopError {
    TopError::with_sub_code(
        40,
        "Missing required arguments",
        "isv.missing-parameter",
        format!("missing required parameter {name}"),
    )
}

pub(crate) fn invalid_argument(name: &str, reason: String) -> TopError {
    TopError::with_sub_code(
        41,
        "Invalid arguments",
        "isv.invalid-parameter",
        format!("invalid parameter {name}: {reason}"),
    )
}

async fn handle_rest(
    State(simulator): State<Simulator>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(query) = &query {
        pairs.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    // NOTE: multipart bodies (TOP file uploads) are not parsed, so their parameters count as absent.
    if is_form_body(&headers) {
        pairs.extend(form_urlencoded::parse(&body).into_owned());
    }
    let params = Params { pairs };

    let delay = simulator.config().response_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let now = Utc::now();
    let request_id = simulator.next_request_id();
    let outcome = handle_call(&simulator, &params, now);
    let api_method = params.get("method").map(str::to_owned);

    let body = match outcome {
        Ok((root, mut content)) => {
            tracing::debug!(api_method = api_method.as_deref(), %request_id, "router call succeeded");
            simulator.record_request(RequestRecord {
                at: now,
                api_method,
                error_code: None,
                error_sub_code: None,
            });
            content.insert("request_id".to_owned(), Value::from(request_id));
            let mut body = Map::new();
            body.insert(root, Value::Object(content));
            Value::Object(body)
        }
        Err(error) => {
            tracing::debug!(
                api_method = api_method.as_deref(),
                code = error.code,
                sub_code = error.sub_code.as_deref(),
                %request_id,
                "router call failed"
            );
            simulator.record_request(RequestRecord {
                at: now,
                api_method,
                error_code: Some(error.code),
                error_sub_code: error.sub_code.clone(),
            });
            error_body(&error, &request_id)
        }
    };
    (
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn is_form_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

fn error_body(error: &TopError, request_id: &str) -> Value {
    let mut content = Map::new();
    content.insert("code".to_owned(), Value::from(error.code));
    content.insert("msg".to_owned(), Value::from(error.msg.as_str()));
    if let Some(sub_code) = &error.sub_code {
        content.insert("sub_code".to_owned(), Value::from(sub_code.as_str()));
    }
    if let Some(sub_msg) = &error.sub_msg {
        content.insert("sub_msg".to_owned(), Value::from(sub_msg.as_str()));
    }
    content.insert("request_id".to_owned(), Value::from(request_id));
    json!({ "error_response": content })
}

/// Runs one router call and returns the response root name with its content, or the TOP error.
fn handle_call(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<(String, Map<String, Value>), TopError> {
    check_format(params)?;
    let method = check_common_params(simulator, params, now)?;
    if let Some(error) = simulator.take_fault(method) {
        return Err(error);
    }

    let simplify = params.optional_bool("simplify")?;
    let content = match method {
        INCREMENT_GET => trades_sold_increment_get(simulator, params, now, simplify)?,
        FULLINFO_GET => trade_fullinfo_get(simulator, params, now, simplify)?,
        ITEMS_ONSALE_GET => top_items::items_onsale_get(simulator, params, now, simplify)?,
        ITEM_SELLER_GET => top_items::item_seller_get(simulator, params, now, simplify)?,
        ITEM_QUANTITY_UPDATE => top_items::item_quantity_update(simulator, params, now, simplify)?,
        LOGISTICS_OFFLINE_SEND => top_trades::logistics_offline_send(simulator, params, now)?,
        TRADE_MEMO_UPDATE => top_trades::trade_memo_update(simulator, params, now)?,
        _ => unreachable!("check_common_params accepts only supported methods"),
    };
    Ok((response_root(method), content))
}

/// Returns the success root of a method: `taobao.trade.fullinfo.get` → `trade_fullinfo_get_response`.
fn response_root(method: &str) -> String {
    let name = method.strip_prefix("taobao.").unwrap_or(method);
    format!("{}_response", name.replace('.', "_"))
}

fn check_format(params: &Params) -> Result<(), TopError> {
    match params.get("format") {
        Some("json") => Ok(()),
        Some(other) => Err(TopError::new(
            23,
            "Invalid format",
            format!("format {other:?} is not supported: the simulator only answers format=json"),
        )),
        None => Err(TopError::new(
            23,
            "Invalid format",
            "format is missing, and TOP would answer in its default xml: send format=json, \
             the only format the simulator answers",
        )),
    }
}

/// Checks the system parameters and returns the supported method that the call names.
///
/// NOTE: the `sub_code` values of system errors (`isv.appkey-not-exists`, `invalid-sessionkey`)
/// are the simulator's choice. Connectors should branch on `code`, which TOP documents.
fn check_common_params<'a>(
    simulator: &Simulator,
    params: &'a Params,
    now: DateTime<Utc>,
) -> Result<&'a str, TopError> {
    let config = simulator.config();
    let method = params
        .get("method")
        .ok_or_else(|| TopError::new(21, "Missing method", "the method parameter is required"))?;

    let app_key = params
        .get("app_key")
        .ok_or_else(|| TopError::new(28, "Missing app key", "the app_key parameter is required"))?;
    if app_key != config.app_key {
        return Err(TopError::with_sub_code(
            29,
            "Invalid app key",
            "isv.appkey-not-exists",
            format!("app_key {app_key:?} is not registered with this simulator"),
        ));
    }

    check_timestamp(params, now, config.timestamp_tolerance)?;
    check_sign(params, &config.app_secret)?;

    let version = params
        .get("v")
        .ok_or_else(|| TopError::new(32, "Missing version", "the v parameter is required"))?;
    if version != "2.0" {
        return Err(TopError::new(
            33,
            "Invalid version",
            format!("v {version:?} is not supported: send v=2.0"),
        ));
    }

    let session = params
        .get("session")
        .ok_or_else(|| TopError::new(26, "Missing session", "the session parameter is required"))?;
    if session != config.session {
        return Err(TopError::with_sub_code(
            27,
            "Invalid session",
            "invalid-sessionkey",
            "the session is not valid for this app: authorize the seller again",
        ));
    }

    if !SUPPORTED_METHODS.contains(&method) {
        return Err(TopError::new(
            22,
            "Invalid method",
            format!(
                "method {method:?} is not served by the simulator (it serves {})",
                SUPPORTED_METHODS.join(", ")
            ),
        ));
    }
    Ok(method)
}

fn check_timestamp(
    params: &Params,
    now: DateTime<Utc>,
    tolerance: std::time::Duration,
) -> Result<(), TopError> {
    let text = params.get("timestamp").ok_or_else(|| {
        TopError::new(
            30,
            "Missing timestamp",
            "the timestamp parameter is required",
        )
    })?;
    let timestamp = parse_top_time(text).ok_or_else(|| {
        TopError::new(
            31,
            "Invalid timestamp",
            format!("timestamp {text:?} is not of the form yyyy-MM-dd HH:mm:ss in UTC+8"),
        )
    })?;
    let skew = (timestamp - now.trunc_subsecs(0)).abs();
    let tolerance = chrono::Duration::from_std(tolerance).unwrap_or(chrono::Duration::MAX);
    if skew > tolerance {
        return Err(TopError::new(
            31,
            "Invalid timestamp",
            format!(
                "timestamp {text} differs from the server time by {} s, more than the allowed {} s",
                skew.num_seconds(),
                tolerance.num_seconds()
            ),
        ));
    }
    Ok(())
}

fn check_sign(params: &Params, secret: &str) -> Result<(), TopError> {
    let sign = params
        .get("sign")
        .ok_or_else(|| TopError::new(24, "Missing signature", "the sign parameter is required"))?;

    // TOP signs with md5 when sign_method is absent.
    let method_name = params.get("sign_method").unwrap_or("md5");
    let Some(sign_method) = SignMethod::parse(method_name) else {
        return Err(TopError::new(
            25,
            "Invalid signature",
            format!("sign_method {method_name:?} is not supported: use md5, hmac or hmac-sha256"),
        ));
    };

    let pairs = params
        .pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let expected = top_sign(pairs, secret, sign_method);
    if !sign.eq_ignore_ascii_case(&expected) {
        return Err(TopError::new(
            25,
            "Invalid signature",
            format!(
                "sign does not match the {} signature of the parameters: sort every parameter \
                 except sign by name and concatenate each name and value",
                sign_method.as_str()
            ),
        ));
    }
    Ok(())
}

fn trades_sold_increment_get(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
    simplify: bool,
) -> Result<Map<String, Value>, TopError> {
    let fields = parse_fields(params.required("fields")?);
    let start = params.required_time("start_modified")?;
    let end = params.required_time("end_modified")?;
    if end < start {
        return Err(invalid_argument(
            "end_modified",
            "it is earlier than start_modified".to_owned(),
        ));
    }
    if end - start > chrono::Duration::days(1) {
        return Err(invalid_argument(
            "end_modified",
            "the window from start_modified to end_modified is longer than one day".to_owned(),
        ));
    }

    let status = params.get("status");
    if let Some(status) = status
        && !FILTER_STATUSES.contains(&status)
    {
        return Err(invalid_argument(
            "status",
            format!("{status:?} is not a TOP trade status"),
        ));
    }
    let page_no = params.optional_number("page_no", 1, u64::MAX)?;
    let page_size = params.optional_number("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let use_has_next = params.optional_bool("use_has_next")?;

    // Every simulated time is a whole second, so comparing at second precision needs no rounding.
    let skip = usize::try_from((page_no - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    let filter = status.map(|status| move |trade: &TradeSnapshot| status_matches(status, &trade.status));
    let keep = filter.as_ref().map(|filter| filter as &dyn Fn(&TradeSnapshot) -> bool);
    let (trades, total) = simulator.page_modified_between(start, end, now, keep, skip, page_size as usize);
    let total = total as u64;
    let page: Vec<Value> = trades.iter().map(|trade| trade.render_top_json(Some(&fields), simplify)).collect();

    let mut content = Map::new();
    if use_has_next {
        let has_next = page_no.saturating_mul(page_size) < total;
        content.insert("has_next".to_owned(), Value::from(has_next));
    } else {
        content.insert("total_results".to_owned(), Value::from(total));
    }
    // TOP leaves `trades` out of an empty page.
    if !page.is_empty() {
        let trades = if simplify {
            Value::Array(page)
        } else {
            json!({ "trade": page })
        };
        content.insert("trades".to_owned(), trades);
    }
    Ok(content)
}

fn status_matches(filter: &str, status: &str) -> bool {
    match filter {
        "ALL_WAIT_PAY" => matches!(status, "WAIT_BUYER_PAY" | "TRADE_NO_CREATE_PAY"),
        "ALL_CLOSED" => matches!(status, "TRADE_CLOSED" | "TRADE_CLOSED_BY_TAOBAO"),
        _ => filter == status,
    }
}

fn trade_fullinfo_get(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
    simplify: bool,
) -> Result<Map<String, Value>, TopError> {
    let tid_text = params.required("tid")?;
    let fields = parse_fields(params.required("fields")?);
    let tid: u64 = tid_text
        .parse()
        .map_err(|_| invalid_argument("tid", format!("{tid_text:?} is not a trade number")))?;

    let trade = simulator
        .trade_at(tid, now)
        .ok_or_else(|| trade_not_found(tid))?;
    let mut content = Map::new();
    content.insert(
        "trade".to_owned(),
        trade.render_top_json(Some(&fields), simplify),
    );
    Ok(content)
}

/// Returns TOP's business error (code 15 `Remote service error`) with a sub_code and sub_msg.
pub(crate) fn remote_error(sub_code: &str, sub_msg: impl Into<String>) -> TopError {
    TopError::with_sub_code(15, "Remote service error", sub_code, sub_msg)
}

pub(crate) fn trade_not_found(tid: u64) -> TopError {
    remote_error("isv.trade-not-exist", format!("trade {tid} does not exist"))
}

pub(crate) fn parse_fields(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|field| !field.is_empty())
        .collect()
}

async fn health(State(simulator): State<Simulator>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "start": simulator.start_time(),
        "router_path": "/router/rest",
    }))
}

async fn list_trades(State(simulator): State<Simulator>) -> Json<Vec<TradeSnapshot>> {
    Json(simulator.trades_now())
}

async fn list_requests(State(simulator): State<Simulator>) -> Json<Vec<RequestRecord>> {
    Json(simulator.requests())
}

async fn list_faults(State(simulator): State<Simulator>) -> Json<Vec<FaultSpec>> {
    Json(simulator.fault_specs())
}

async fn add_fault(
    State(simulator): State<Simulator>,
    Json(fault): Json<FaultSpec>,
) -> Json<Value> {
    simulator.inject_fault_spec(fault);
    Json(json!({ "ok": true }))
}

async fn clear_faults(State(simulator): State<Simulator>) -> Json<Value> {
    simulator.clear_faults();
    Json(json!({ "ok": true }))
}

//! Router tests: signed TOP calls through `tower::ServiceExt::oneshot`, and one over a real
//! loopback socket.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use shopkeeper_simulator::trade::status;
use shopkeeper_simulator::{
    DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, Fault, SignMethod, Simulator, SimulatorConfig,
    TopError, TradeSnapshot, format_top_time, parse_top_time, top_sign,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const INCREMENT_GET: &str = "taobao.trades.sold.increment.get";
const FULLINFO_GET: &str = "taobao.trade.fullinfo.get";
const HISTORY_ORDERS: usize = 120;

/// Creates a simulator whose 120 orders were created 3–5 hours ago. The longest lifecycle (pay,
/// ship, finish) ends within 100 minutes of creation, so the trades no longer change during a test.
fn settled_simulator() -> Simulator {
    let config = SimulatorConfig {
        seed: 42,
        history_orders: HISTORY_ORDERS,
        history_span: Duration::from_secs(2 * 3600),
        rate_per_minute: 0.0,
        ..SimulatorConfig::default()
    };
    Simulator::new_at(config, Utc::now() - chrono::Duration::hours(3))
}

/// Builds the system parameters plus `extra`, then appends a `sign` computed here with MD5
/// directly, independently of the crate's signer.
fn signed_md5(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    signed_md5_without(extra, None)
}

/// Like [`signed_md5`], but leaves the parameter `dropped` out before signing.
fn signed_md5_without(extra: &[(&str, &str)], dropped: Option<&str>) -> Vec<(String, String)> {
    let mut params = system_params(extra, "md5");
    params.retain(|(name, _)| Some(name.as_str()) != dropped);
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut base = String::from(DEMO_APP_SECRET);
    for (name, value) in sorted {
        base.push_str(name);
        base.push_str(value);
    }
    base.push_str(DEMO_APP_SECRET);
    let sign = hex::encode_upper(Md5::digest(base.as_bytes()));
    params.push(("sign".to_owned(), sign));
    params
}

fn system_params(extra: &[(&str, &str)], sign_method: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("app_key".into(), DEMO_APP_KEY.into()),
        ("session".into(), DEMO_SESSION.into()),
        ("timestamp".into(), format_top_time(Utc::now())),
        ("format".into(), "json".into()),
        ("v".into(), "2.0".into()),
        ("sign_method".into(), sign_method.into()),
    ];
    for (name, value) in extra {
        // An `extra` entry replaces a system parameter of the same name.
        params.retain(|(existing, _)| existing != name);
        params.push(((*name).to_owned(), (*value).to_owned()));
    }
    params
}

/// Signs with the crate's signer, for the sign methods besides md5.
fn signed_with(extra: &[(&str, &str)], method: SignMethod) -> Vec<(String, String)> {
    let mut params = system_params(extra, method.as_str());
    let pairs = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let sign = top_sign(pairs, DEMO_APP_SECRET, method);
    params.push(("sign".to_owned(), sign));
    params
}

fn encode(params: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "body is not JSON ({error}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

async fn get(router: &Router, params: &[(String, String)]) -> Value {
    let uri = format!("/router/rest?{}", encode(params));
    let (status, body) = send(router, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "TOP answers errors with HTTP 200 too: {body}"
    );
    body
}

async fn post_form(router: &Router, params: &[(String, String)]) -> Value {
    let request = Request::post("/router/rest")
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(Body::from(encode(params)))
        .unwrap();
    let (status, body) = send(router, request).await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn error_code(body: &Value) -> i64 {
    body["error_response"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an error_response: {body}"))
}

fn increment_response(body: &Value) -> &Value {
    let response = &body["trades_sold_increment_get_response"];
    assert!(
        response.is_object(),
        "expected a trades_sold_increment_get_response: {body}"
    );
    assert!(response["request_id"].is_string());
    response
}

fn page_tids(response: &Value) -> Vec<u64> {
    match response.get("trades") {
        None => Vec::new(),
        Some(trades) => trades["trade"]
            .as_array()
            .expect("trades.trade is an array")
            .iter()
            .map(|trade| trade["tid"].as_u64().expect("tid is a number"))
            .collect(),
    }
}

/// The trades in the order TOP returns them: modified descending, then tid descending.
fn expected_order(trades: &[TradeSnapshot], start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<u64> {
    let mut matching: Vec<&TradeSnapshot> = trades
        .iter()
        .filter(|trade| trade.modified >= start && trade.modified <= end)
        .collect();
    matching.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.tid.cmp(&a.tid)));
    matching.iter().map(|trade| trade.tid).collect()
}

fn window_around_all(now: DateTime<Utc>) -> (String, String) {
    (
        format_top_time(now - chrono::Duration::hours(6)),
        format_top_time(now),
    )
}

#[tokio::test]
async fn paging_returns_every_trade_once() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let trades = simulator.trades_now();
    assert_eq!(trades.len(), HISTORY_ORDERS);
    let (start, end) = window_around_all(Utc::now());
    let expected = expected_order(
        &trades,
        parse_top_time(&start).unwrap(),
        parse_top_time(&end).unwrap(),
    );
    assert_eq!(expected.len(), HISTORY_ORDERS);

    let mut seen = Vec::new();
    for page in 1..=18 {
        let page_no = page.to_string();
        let body = get(
            &router,
            &signed_md5(&[
                ("method", INCREMENT_GET),
                ("fields", "tid,status,modified,payment,orders"),
                ("start_modified", &start),
                ("end_modified", &end),
                ("page_no", &page_no),
                ("page_size", "7"),
            ]),
        )
        .await;
        let response = increment_response(&body);
        assert_eq!(
            response["total_results"],
            json!(HISTORY_ORDERS),
            "page {page}"
        );
        assert!(response.get("has_next").is_none());
        let tids = page_tids(response);
        let expected_len = if page < 18 {
            7
        } else {
            HISTORY_ORDERS - 17 * 7
        };
        assert_eq!(tids.len(), expected_len, "page {page}");
        seen.extend(tids);
    }
    assert_eq!(
        seen, expected,
        "pages do not follow modified desc, tid desc"
    );

    let modified: Vec<DateTime<Utc>> = trades_in_order(&trades, &seen)
        .iter()
        .map(|t| t.modified)
        .collect();
    assert!(
        modified.windows(2).all(|pair| pair[0] >= pair[1]),
        "modified is not descending"
    );
}

fn trades_in_order<'a>(trades: &'a [TradeSnapshot], tids: &[u64]) -> Vec<&'a TradeSnapshot> {
    tids.iter()
        .map(|tid| trades.iter().find(|trade| trade.tid == *tid).unwrap())
        .collect()
}

#[tokio::test]
async fn default_page_size_is_forty() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let (start, end) = window_around_all(Utc::now());
    let body = get(
        &router,
        &signed_md5(&[
            ("method", INCREMENT_GET),
            ("fields", "tid"),
            ("start_modified", &start),
            ("end_modified", &end),
        ]),
    )
    .await;
    let response = increment_response(&body);
    assert_eq!(page_tids(response).len(), 40);
    let first = &response["trades"]["trade"][0];
    assert_eq!(
        first.as_object().unwrap().len(),
        1,
        "only the tid field was requested: {first}"
    );
}

#[tokio::test]
async fn use_has_next_replaces_total() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let (start, end) = window_around_all(Utc::now());
    let mut results = Vec::new();
    for page_no in ["1", "2", "3", "4"] {
        let body = get(
            &router,
            &signed_md5(&[
                ("method", INCREMENT_GET),
                ("fields", "tid"),
                ("start_modified", &start),
                ("end_modified", &end),
                ("page_no", page_no),
                ("page_size", "50"),
                ("use_has_next", "true"),
            ]),
        )
        .await;
        let response = increment_response(&body).clone();
        assert!(
            response.get("total_results").is_none(),
            "page {page_no}: {response}"
        );
        results.push((
            response["has_next"].clone(),
            page_tids(&response).len(),
            response,
        ));
    }

    assert_eq!(results[0].0, json!(true));
    assert_eq!(results[0].1, 50);
    assert_eq!(results[1].0, json!(true));
    assert_eq!(results[1].1, 50);
    assert_eq!(results[2].0, json!(false));
    assert_eq!(results[2].1, 20);

    assert_eq!(results[3].0, json!(false));
    assert!(
        results[3].2.get("trades").is_none(),
        "an empty page has no trades key"
    );
}

#[tokio::test]
async fn window_bounds_are_inclusive() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let trades = simulator.trades_now();
    let mut by_modified: Vec<&TradeSnapshot> = trades.iter().collect();
    by_modified.sort_by_key(|trade| trade.modified);
    let low = by_modified[20].modified;
    let high = by_modified[60].modified;
    assert!(low < high);

    let call = |start: DateTime<Utc>, end: DateTime<Utc>| {
        let params = signed_md5(&[
            ("method", INCREMENT_GET),
            ("fields", "tid,modified"),
            ("start_modified", &format_top_time(start)),
            ("end_modified", &format_top_time(end)),
            ("page_size", "100"),
        ]);
        let router = router.clone();
        async move { get(&router, &params).await }
    };

    let inclusive = call(low, high).await;
    let tids = page_tids(increment_response(&inclusive));
    assert_eq!(tids, expected_order(&trades, low, high));
    assert!(
        tids.contains(&by_modified[20].tid),
        "trade at start_modified is missing"
    );
    assert!(
        tids.contains(&by_modified[60].tid),
        "trade at end_modified is missing"
    );

    let one_second = chrono::Duration::seconds(1);
    let inner = call(low + one_second, high - one_second).await;
    let inner_tids = page_tids(increment_response(&inner));
    assert!(!inner_tids.contains(&by_modified[20].tid));
    assert!(!inner_tids.contains(&by_modified[60].tid));
    assert_eq!(
        inner_tids,
        expected_order(&trades, low + one_second, high - one_second)
    );

    let empty = call(
        low - chrono::Duration::hours(20),
        low - chrono::Duration::hours(19),
    )
    .await;
    let response = increment_response(&empty);
    assert_eq!(response["total_results"], json!(0));
    assert!(
        response.get("trades").is_none(),
        "an empty result has no trades key: {response}"
    );
}

#[tokio::test]
async fn status_filter_and_simplify() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let trades = simulator.trades_now();
    let (start, end) = window_around_all(Utc::now());
    let finished = trades
        .iter()
        .filter(|trade| trade.status == status::TRADE_FINISHED)
        .count();
    assert!(finished > 0);

    let body = get(
        &router,
        &signed_md5(&[
            ("method", INCREMENT_GET),
            ("fields", "tid,status,orders.oid,orders.status"),
            ("start_modified", &start),
            ("end_modified", &end),
            ("status", status::TRADE_FINISHED),
            ("page_size", "100"),
            ("simplify", "true"),
        ]),
    )
    .await;
    let response = increment_response(&body);
    assert_eq!(response["total_results"], json!(finished));
    let list = response["trades"]
        .as_array()
        .expect("simplify makes trades a plain array");
    assert_eq!(list.len(), finished);
    for trade in list {
        assert_eq!(trade["status"], status::TRADE_FINISHED);
        let lines = trade["orders"]
            .as_array()
            .expect("simplify makes orders a plain array");
        assert!(!lines.is_empty());
        assert_eq!(lines[0].as_object().unwrap().len(), 2, "{trade}");
        assert_eq!(lines[0]["status"], status::TRADE_FINISHED);
    }

    let closed = trades
        .iter()
        .filter(|trade| {
            trade.status == status::TRADE_CLOSED || trade.status == status::TRADE_CLOSED_BY_TAOBAO
        })
        .count();
    let body = get(
        &router,
        &signed_md5(&[
            ("method", INCREMENT_GET),
            ("fields", "tid"),
            ("start_modified", &start),
            ("end_modified", &end),
            ("status", "ALL_CLOSED"),
        ]),
    )
    .await;
    assert_eq!(increment_response(&body)["total_results"], json!(closed));
}

#[tokio::test]
async fn post_form_matches_get() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let (start, end) = window_around_all(Utc::now());
    let params = signed_md5(&[
        ("method", INCREMENT_GET),
        ("fields", "tid,status,payment,receiver_state,orders"),
        ("start_modified", &start),
        ("end_modified", &end),
        ("page_size", "100"),
    ]);
    let mut via_get = get(&router, &params).await;
    let mut via_post = post_form(&router, &params).await;
    for body in [&mut via_get, &mut via_post] {
        body["trades_sold_increment_get_response"]
            .as_object_mut()
            .unwrap()
            .remove("request_id");
    }
    assert_eq!(via_get, via_post);
}

#[tokio::test]
async fn hmac_sign_methods_accepted() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let tid = simulator.trades_now()[0].tid.to_string();
    for method in [SignMethod::HmacMd5, SignMethod::HmacSha256, SignMethod::Md5] {
        let params = signed_with(
            &[("method", FULLINFO_GET), ("tid", &tid), ("fields", "tid")],
            method,
        );
        let body = get(&router, &params).await;
        assert_eq!(
            body["trade_fullinfo_get_response"]["trade"]["tid"].as_u64(),
            Some(tid.parse().unwrap()),
            "{method:?}: {body}"
        );
    }
}

#[tokio::test]
async fn fullinfo_matches_snapshot() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let trades = simulator.trades_now();
    let trade = trades
        .iter()
        .find(|trade| trade.lines.len() > 1)
        .expect("a multi-line trade");
    let tid = trade.tid.to_string();
    let fields = "tid,tid_str,status,type,created,modified,pay_time,consign_time,end_time,payment,\
                  total_fee,post_fee,buyer_nick,buyer_message,seller_memo,receiver_name,\
                  receiver_mobile,receiver_state,receiver_city,receiver_district,receiver_address,\
                  receiver_zip,orders";
    let body = get(
        &router,
        &signed_md5(&[("method", FULLINFO_GET), ("tid", &tid), ("fields", fields)]),
    )
    .await;
    let rendered = &body["trade_fullinfo_get_response"]["trade"];
    assert_eq!(rendered, &trade.to_top_json(None));
    assert_eq!(rendered["tid_str"], json!(tid));
    assert_eq!(
        rendered["orders"]["order"].as_array().unwrap().len(),
        trade.lines.len()
    );
    assert!(rendered["payment"].as_str().unwrap().contains('.'));

    let body = get(
        &router,
        &signed_md5(&[("method", FULLINFO_GET), ("tid", "1234"), ("fields", "tid")]),
    )
    .await;
    assert_eq!(error_code(&body), 15);
    assert_eq!(body["error_response"]["sub_code"], "isv.trade-not-exist");
}

/// Sends `params` and checks the error code, sub_code (if given) and that sub_msg mentions `hint`.
async fn expect_error(
    router: &Router,
    params: Vec<(String, String)>,
    code: i64,
    hint: &str,
) -> Value {
    let body = get(router, &params).await;
    assert_eq!(error_code(&body), code, "{body}");
    let error = &body["error_response"];
    assert!(error["msg"].is_string());
    assert!(error["request_id"].is_string());
    let sub_msg = error["sub_msg"].as_str().unwrap_or_default();
    assert!(
        sub_msg.contains(hint),
        "sub_msg {sub_msg:?} does not mention {hint:?}"
    );
    body
}

#[tokio::test]
async fn system_errors_have_top_codes() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let (start, end) = window_around_all(Utc::now());
    let args = [
        ("method", INCREMENT_GET),
        ("fields", "tid"),
        ("start_modified", start.as_str()),
        ("end_modified", end.as_str()),
    ];
    let with_dropped = |changes: &[(&'static str, &str)], dropped: Option<&str>| {
        let mut extra: Vec<(&str, &str)> = args.to_vec();
        for change in changes {
            extra.retain(|(name, _)| *name != change.0);
            extra.push(*change);
        }
        signed_md5_without(&extra, dropped)
    };
    let with = |changes: &[(&'static str, &str)]| with_dropped(changes, None);
    let without = |name: &str| with_dropped(&[], Some(name));

    // A wrong sign: the last parameter is the sign, so replace its value.
    let mut wrong_sign = with(&[]);
    wrong_sign.last_mut().unwrap().1 = "0123456789ABCDEF0123456789ABCDEF".to_owned();
    let body = expect_error(&router, wrong_sign, 25, "signature").await;
    assert_eq!(body["error_response"]["msg"], "Invalid signature");

    // Changing a parameter after signing breaks the sign too.
    let mut tampered = with(&[]);
    tampered
        .iter_mut()
        .find(|(name, _)| name == "fields")
        .unwrap()
        .1 = "tid,status".to_owned();
    expect_error(&router, tampered, 25, "signature").await;

    let lowercase_sign: Vec<(String, String)> = with(&[])
        .into_iter()
        .map(|(name, value)| {
            if name == "sign" {
                (name, value.to_lowercase())
            } else {
                (name, value)
            }
        })
        .collect();
    assert!(
        get(&router, &lowercase_sign)
            .await
            .get("trades_sold_increment_get_response")
            .is_some()
    );

    let body = expect_error(&router, with(&[("session", "someone-else")]), 27, "session").await;
    assert_eq!(body["error_response"]["msg"], "Invalid session");

    let stale = format_top_time(Utc::now() - chrono::Duration::minutes(11));
    expect_error(&router, with(&[("timestamp", &stale)]), 31, "differs").await;
    let ahead = format_top_time(Utc::now() + chrono::Duration::minutes(11));
    expect_error(&router, with(&[("timestamp", &ahead)]), 31, "differs").await;
    let skewed = format_top_time(Utc::now() - chrono::Duration::minutes(9));
    assert!(
        get(&router, &with(&[("timestamp", &skewed)]))
            .await
            .get("error_response")
            .is_none()
    );
    expect_error(
        &router,
        with(&[("timestamp", "1700000000000")]),
        31,
        "yyyy-MM-dd",
    )
    .await;
    expect_error(&router, without("timestamp"), 30, "timestamp").await;

    expect_error(&router, without("method"), 21, "method").await;
    expect_error(&router, without("app_key"), 28, "app_key").await;
    expect_error(&router, with(&[("app_key", "other-app")]), 29, "other-app").await;
    let unsigned: Vec<(String, String)> = with(&[])
        .into_iter()
        .filter(|(name, _)| name != "sign")
        .collect();
    expect_error(&router, unsigned, 24, "sign").await;
    expect_error(&router, with(&[("v", "1.0")]), 33, "v=2.0").await;
    expect_error(&router, without("v"), 32, "v").await;
    expect_error(&router, with(&[("sign_method", "sha1")]), 25, "sha1").await;
    expect_error(&router, without("session"), 26, "session").await;
    let body = expect_error(
        &router,
        with(&[("method", "taobao.item.get")]),
        22,
        "taobao.item.get",
    )
    .await;
    assert_eq!(body["error_response"]["msg"], "Invalid method");
    expect_error(&router, with(&[("format", "xml")]), 23, "json").await;
    expect_error(&router, without("format"), 23, "json").await;

    // The checks run in TOP's order: app key before timestamp before sign before session.
    let mut several = with(&[("app_key", "other-app"), ("timestamp", &stale)]);
    several.last_mut().unwrap().1 = "BAD".to_owned();
    expect_error(&router, several, 29, "other-app").await;
    let mut sign_and_session = with(&[("session", "someone-else")]);
    sign_and_session.last_mut().unwrap().1 = "BAD".to_owned();
    expect_error(&router, sign_and_session, 25, "signature").await;
}

#[tokio::test]
async fn argument_errors_name_parameter() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let now = Utc::now();
    let start = format_top_time(now - chrono::Duration::hours(6));
    let end = format_top_time(now);
    let over_a_day =
        format_top_time(now - chrono::Duration::hours(24) - chrono::Duration::seconds(1));
    let exactly_a_day = format_top_time(now - chrono::Duration::hours(24));
    let increment = |extra: &[(&str, &str)]| {
        let mut all = vec![("method", INCREMENT_GET)];
        all.extend_from_slice(extra);
        signed_md5(&all)
    };

    let body = expect_error(
        &router,
        increment(&[
            ("fields", "tid"),
            ("start_modified", &over_a_day),
            ("end_modified", &end),
        ]),
        41,
        "end_modified",
    )
    .await;
    assert_eq!(body["error_response"]["sub_code"], "isv.invalid-parameter");
    let body = get(
        &router,
        &increment(&[
            ("fields", "tid"),
            ("start_modified", &exactly_a_day),
            ("end_modified", &end),
        ]),
    )
    .await;
    assert!(
        body.get("trades_sold_increment_get_response").is_some(),
        "a one-day window is allowed: {body}"
    );

    expect_error(
        &router,
        increment(&[
            ("fields", "tid"),
            ("start_modified", &end),
            ("end_modified", &start),
        ]),
        41,
        "end_modified",
    )
    .await;
    expect_error(
        &router,
        increment(&[("start_modified", &start), ("end_modified", &end)]),
        40,
        "fields",
    )
    .await;
    expect_error(
        &router,
        increment(&[("fields", "tid"), ("end_modified", &end)]),
        40,
        "start_modified",
    )
    .await;
    expect_error(
        &router,
        increment(&[("fields", "tid"), ("start_modified", &start)]),
        40,
        "end_modified",
    )
    .await;
    expect_error(
        &router,
        increment(&[
            ("fields", "tid"),
            ("start_modified", "yesterday"),
            ("end_modified", &end),
        ]),
        41,
        "start_modified",
    )
    .await;
    let window = [
        ("fields", "tid"),
        ("start_modified", start.as_str()),
        ("end_modified", end.as_str()),
    ];
    for (name, value) in [
        ("page_size", "101"),
        ("page_size", "0"),
        ("page_no", "0"),
        ("page_no", "two"),
        ("use_has_next", "yes"),
        ("status", "SHIPPED"),
    ] {
        let mut extra = window.to_vec();
        extra.push((name, value));
        expect_error(&router, increment(&extra), 41, name).await;
    }
    let mut largest_page = window.to_vec();
    largest_page.push(("page_size", "100"));
    assert_eq!(
        page_tids(increment_response(
            &get(&router, &increment(&largest_page)).await
        ))
        .len(),
        100
    );

    let fullinfo = |extra: &[(&str, &str)]| {
        let mut all = vec![("method", FULLINFO_GET)];
        all.extend_from_slice(extra);
        signed_md5(&all)
    };
    expect_error(&router, fullinfo(&[("fields", "tid")]), 40, "tid").await;
    expect_error(&router, fullinfo(&[("tid", "123")]), 40, "fields").await;
    expect_error(
        &router,
        fullinfo(&[("tid", "12x"), ("fields", "tid")]),
        41,
        "tid",
    )
    .await;
}

#[tokio::test]
async fn injected_fault_returned_then_cleared() {
    let simulator = settled_simulator();
    let router = simulator.router();
    let (start, end) = window_around_all(Utc::now());
    let increment = || {
        signed_md5(&[
            ("method", INCREMENT_GET),
            ("fields", "tid"),
            ("start_modified", &start),
            ("end_modified", &end),
        ])
    };
    let tid = simulator.trades_now()[0].tid.to_string();
    let fullinfo = || signed_md5(&[("method", FULLINFO_GET), ("tid", &tid), ("fields", "tid")]);

    simulator.inject_fault(Fault {
        api_method: Some(INCREMENT_GET.to_owned()),
        count: 2,
        error: TopError {
            code: 7,
            msg: "App Call Limited".to_owned(),
            sub_code: Some("accesscontrol.limited-by-api-access-count".to_owned()),
            sub_msg: Some("This ban will last for 1 more seconds".to_owned()),
        },
    });

    // A fault for another method leaves this one alone.
    assert!(
        get(&router, &fullinfo())
            .await
            .get("trade_fullinfo_get_response")
            .is_some()
    );
    for attempt in 1..=2 {
        let body = get(&router, &increment()).await;
        assert_eq!(error_code(&body), 7, "attempt {attempt}");
        assert_eq!(
            body["error_response"]["sub_code"],
            "accesscontrol.limited-by-api-access-count"
        );
        assert_eq!(
            body["error_response"]["sub_msg"],
            "This ban will last for 1 more seconds"
        );
    }
    assert!(simulator.faults().is_empty(), "the fault is used up");
    assert!(
        get(&router, &increment())
            .await
            .get("trades_sold_increment_get_response")
            .is_some()
    );

    // Faults only hit calls that pass the common checks.
    simulator.inject_fault(Fault {
        api_method: None,
        count: 1,
        error: TopError {
            code: 10,
            msg: "Service currently unavailable".to_owned(),
            sub_code: None,
            sub_msg: None,
        },
    });
    let mut bad_sign = fullinfo();
    bad_sign.last_mut().unwrap().1 = "BAD".to_owned();
    assert_eq!(error_code(&get(&router, &bad_sign).await), 25);
    let body = get(&router, &fullinfo()).await;
    assert_eq!(error_code(&body), 10);
    assert!(body["error_response"].get("sub_code").is_none());
    assert!(
        get(&router, &fullinfo())
            .await
            .get("trade_fullinfo_get_response")
            .is_some()
    );

    let log: Vec<(Option<String>, Option<i64>)> = simulator
        .requests()
        .into_iter()
        .map(|record| (record.api_method, record.error_code))
        .collect();
    let full = Some(FULLINFO_GET.to_owned());
    let inc = Some(INCREMENT_GET.to_owned());
    assert_eq!(
        log,
        vec![
            (full.clone(), None),
            (inc.clone(), Some(7)),
            (inc.clone(), Some(7)),
            (inc, None),
            (full.clone(), Some(25)),
            (full.clone(), Some(10)),
            (full, None),
        ]
    );
}

#[tokio::test]
async fn admin_routes_work() {
    let simulator = settled_simulator();
    let router = simulator.router();

    let (status, body) = send(
        &router,
        Request::get("/_sim/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");

    let (status, body) = send(
        &router,
        Request::get("/_sim/trades").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<TradeSnapshot> = serde_json::from_value(body).unwrap();
    assert_eq!(listed, simulator.trades_now());

    let fault = json!({
        "api_method": FULLINFO_GET,
        "count": 1,
        "error": { "code": 15, "msg": "Remote service error", "sub_code": "isp.top-remote-connection-timeout" }
    });
    let request = Request::post("/_sim/faults")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(fault.to_string()))
        .unwrap();
    let (status, _) = send(&router, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(simulator.faults().len(), 1);

    let tid = listed[0].tid.to_string();
    let body = get(
        &router,
        &signed_md5(&[("method", FULLINFO_GET), ("tid", &tid), ("fields", "tid")]),
    )
    .await;
    assert_eq!(
        body["error_response"]["sub_code"],
        "isp.top-remote-connection-timeout"
    );

    let (_, body) = send(
        &router,
        Request::get("/_sim/requests").body(Body::empty()).unwrap(),
    )
    .await;
    let log = body.as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["api_method"], FULLINFO_GET);
    assert_eq!(log[0]["error_code"], 15);
}

/// Sends one HTTP/1.1 request over a fresh TCP connection and returns the status line and body.
async fn raw_http(addr: std::net::SocketAddr, path: &str) -> (String, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("response has a header block");
    let status_line = head.lines().next().unwrap().to_owned();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (
        status_line,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")),
    )
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

#[tokio::test]
async fn serves_on_loopback_socket() {
    let config = SimulatorConfig {
        history_orders: 10,
        rate_per_minute: 0.0,
        ..SimulatorConfig::default()
    };
    let running = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    assert!(running.router_url().starts_with("http://127.0.0.1:"));
    assert!(running.router_url().ends_with("/router/rest"));

    let (status_line, body) = raw_http(running.addr, "/_sim/health").await;
    assert!(status_line.contains("200"), "{status_line}");
    assert_eq!(body["status"], "ok");

    let now = Utc::now();
    let params = signed_md5(&[
        ("method", INCREMENT_GET),
        ("fields", "tid,status"),
        (
            "start_modified",
            &format_top_time(now - chrono::Duration::hours(3)),
        ),
        ("end_modified", &format_top_time(now)),
    ]);
    let (status_line, body) =
        raw_http(running.addr, &format!("/router/rest?{}", encode(&params))).await;
    assert!(status_line.contains("200"), "{status_line}");
    let response = increment_response(&body);
    assert_eq!(response["total_results"], json!(10), "{body}");

    let addr = running.addr;
    running.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "server still accepts after stop"
    );
}

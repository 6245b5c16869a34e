//! Helpers shared by the stock and seller-method tests: signed TOP calls and admin requests
//! through `tower::ServiceExt::oneshot`.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use md5::{Digest, Md5};
use serde_json::Value;
use shopkeeper_simulator::{DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, format_top_time};
use tower::ServiceExt;

/// Builds the system parameters plus `extra` and appends an MD5 `sign` computed here, apart from
/// the crate's signer.
pub fn signed(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("app_key".into(), DEMO_APP_KEY.into()),
        ("session".into(), DEMO_SESSION.into()),
        ("timestamp".into(), format_top_time(Utc::now())),
        ("format".into(), "json".into()),
        ("v".into(), "2.0".into()),
        ("sign_method".into(), "md5".into()),
    ];
    for (name, value) in extra {
        params.push(((*name).to_owned(), (*value).to_owned()));
    }
    let mut sorted: Vec<&(String, String)> = params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
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

pub fn encode(params: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// Sends a request and returns the status and the raw body.
pub async fn send_raw(router: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Sends a request and returns the status and the body parsed as JSON.
pub async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let (status, body) = send_raw(router, request).await;
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|error| panic!("body is not JSON ({error}): {body}"));
    (status, value)
}

/// Makes a signed TOP call with `method` and `extra` parameters (POST form) and returns the body.
pub async fn call(router: &Router, method: &str, extra: &[(&str, &str)]) -> Value {
    let mut all = vec![("method", method)];
    all.extend_from_slice(extra);
    let request = Request::post("/router/rest")
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(Body::from(encode(&signed(&all))))
        .unwrap();
    let (status, body) = send(router, request).await;
    assert_eq!(status, StatusCode::OK, "TOP answers with HTTP 200: {body}");
    body
}

/// Returns the success content under `root`, failing with the body when the call failed.
pub fn content<'a>(body: &'a Value, root: &str) -> &'a Value {
    body.get(root)
        .unwrap_or_else(|| panic!("expected {root}, got {body}"))
}

/// One rejected call: its parameters, then the expected code, sub_code and a sub_msg fragment.
pub type ErrorCase<'a> = (&'a [(&'a str, &'a str)], i64, &'a str, &'a str);

/// Asserts an `error_response` with this code and sub_code whose sub_msg contains `hint`.
pub fn assert_error(body: &Value, code: i64, sub_code: &str, hint: &str) {
    let error = body
        .get("error_response")
        .unwrap_or_else(|| panic!("expected an error_response, got {body}"));
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["sub_code"], sub_code, "{body}");
    let sub_msg = error["sub_msg"].as_str().unwrap_or_default();
    assert!(sub_msg.contains(hint), "sub_msg {sub_msg:?} lacks {hint:?}");
}

pub async fn get_json(router: &Router, path: &str) -> (StatusCode, Value) {
    send(router, Request::get(path).body(Body::empty()).unwrap()).await
}

pub async fn post_json(router: &Router, path: &str, body: &Value) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(router, request).await
}

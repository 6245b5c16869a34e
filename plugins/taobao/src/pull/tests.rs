use std::collections::VecDeque;

use serde_json::{Value, json};
use shopkeeper_connector::ErrorKind;
use shopkeeper_connector::sign::SignMethod;

use super::*;

const ENDPOINT: &str = "http://127.0.0.1:9/router/rest";
/// 2024-03-01 08:00:00 in UTC+8.
const WINDOW_START_MS: i64 = 1_709_251_200_000;
/// Host clock of the tests, 2024-03-01 09:00:00.250 in UTC+8.
const NOW_MS: i64 = 1_709_254_800_250;

/// Gateway that replies with queued bodies and records each request's form fields.
struct FakeGateway {
    responses: VecDeque<(u16, String)>,
    requests: Vec<Vec<(String, String)>>,
}

impl FakeGateway {
    fn new(responses: Vec<Value>) -> Self {
        FakeGateway {
            responses: responses
                .into_iter()
                .map(|body| (200, body.to_string()))
                .collect(),
            requests: Vec::new(),
        }
    }

    fn param(&self, request: usize, name: &str) -> Option<&str> {
        self.requests[request]
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Gateway for FakeGateway {
    fn post_form(
        &mut self,
        url: &str,
        fields: &[(String, String)],
    ) -> Result<Response, ConnectorError> {
        assert_eq!(url, ENDPOINT);
        self.requests.push(fields.to_vec());
        let (status, body) = self
            .responses
            .pop_front()
            .expect("unexpected extra request");
        Ok(Response {
            status,
            headers: Vec::new(),
            body: body.into_bytes(),
        })
    }

    fn now_ms(&mut self) -> i64 {
        NOW_MS
    }

    fn debug(&mut self, _message: &str) {}
}

fn settings(page_size: u32) -> Settings {
    Settings {
        endpoint: ENDPOINT.to_string(),
        app_key: "12345678".to_string(),
        app_secret: "helloworld".to_string(),
        session: "test".to_string(),
        sign_method: SignMethod::HmacSha256,
        page_size,
    }
}

fn window() -> TimeWindow {
    TimeWindow {
        start_ms: WINDOW_START_MS,
        end_ms: WINDOW_START_MS + 30 * 60 * 1000,
    }
}

fn trade(tid: u64) -> Value {
    json!({
        "tid": tid,
        "status": "WAIT_SELLER_SEND_GOODS",
        "created": "2024-03-01 08:01:00",
        "modified": "2024-03-01 08:02:00",
        "payment": "10.00",
        "orders": { "order": [{ "oid": tid + 1, "num": 1, "price": "10.00", "payment": "10.00" }] }
    })
}

fn count_body(total: u64) -> Value {
    json!({
        "trades_sold_increment_get_response": {
            "total_results": total,
            "trades": { "trade": [{ "tid": 1 }] }
        }
    })
}

fn page_body(total: u64, tids: &[u64]) -> Value {
    let trades: Vec<Value> = tids.iter().map(|&tid| trade(tid)).collect();
    json!({
        "trades_sold_increment_get_response": {
            "total_results": total,
            "trades": { "trade": trades }
        }
    })
}

fn order_ids(page: &OrderPage) -> Vec<&str> {
    page.orders
        .iter()
        .map(|order| order.platform_order_id.as_str())
        .collect()
}

#[test]
fn single_page_window() {
    let mut gateway = FakeGateway::new(vec![count_body(2), page_body(2, &[11, 12])]);
    let page = pull_page(&settings(50), &mut gateway, window(), None).unwrap();

    assert_eq!(order_ids(&page), ["11", "12"]);
    assert_eq!(page.next_page_token, None);
    assert_eq!(gateway.requests.len(), 2);
    assert_eq!(gateway.param(0, "fields"), Some("tid"));
    assert_eq!(gateway.param(0, "page_no"), Some("1"));
    assert_eq!(gateway.param(1, "fields"), Some(TRADE_FIELDS));
    assert_eq!(gateway.param(1, "page_no"), Some("1"));
}

#[test]
fn long_window_starts_at_last_page() {
    let mut gateway = FakeGateway::new(vec![count_body(120), page_body(120, &[1, 2])]);
    let page = pull_page(&settings(50), &mut gateway, window(), None).unwrap();

    assert_eq!(order_ids(&page), ["1", "2"]);
    assert_eq!(page.next_page_token.as_deref(), Some("page:2"));
    assert_eq!(gateway.requests.len(), 2);
    assert_eq!(gateway.param(1, "page_no"), Some("3"));
    assert_eq!(gateway.param(1, "page_size"), Some("50"));
    assert_eq!(gateway.param(1, "fields"), Some(TRADE_FIELDS));
}

#[test]
fn exact_multiple_of_page_size() {
    let mut gateway = FakeGateway::new(vec![count_body(100), page_body(100, &[7])]);
    let page = pull_page(&settings(50), &mut gateway, window(), None).unwrap();
    assert_eq!(gateway.param(1, "page_no"), Some("2"));
    assert_eq!(page.next_page_token.as_deref(), Some("page:1"));
}

#[test]
fn token_fetches_named_page() {
    let mut gateway = FakeGateway::new(vec![page_body(120, &[51, 52])]);
    let page = pull_page(&settings(50), &mut gateway, window(), Some("page:2")).unwrap();
    assert_eq!(order_ids(&page), ["51", "52"]);
    assert_eq!(page.next_page_token.as_deref(), Some("page:1"));
    assert_eq!(gateway.requests.len(), 1);
    assert_eq!(gateway.param(0, "page_no"), Some("2"));
    assert_eq!(gateway.param(0, "fields"), Some(TRADE_FIELDS));

    let mut gateway = FakeGateway::new(vec![page_body(120, &[99])]);
    let page = pull_page(&settings(50), &mut gateway, window(), Some("page:1")).unwrap();
    assert_eq!(order_ids(&page), ["99"]);
    assert_eq!(page.next_page_token, None);
}

#[test]
fn empty_window_needs_one_request() {
    let body = json!({ "trades_sold_increment_get_response": { "total_results": 0 } });
    let mut gateway = FakeGateway::new(vec![body]);
    let page = pull_page(&settings(50), &mut gateway, window(), None).unwrap();
    assert!(page.orders.is_empty());
    assert_eq!(page.next_page_token, None);
    assert_eq!(gateway.requests.len(), 1);
}

#[test]
fn zero_length_window_sends_nothing() {
    let mut gateway = FakeGateway::new(Vec::new());
    let window = TimeWindow {
        start_ms: WINDOW_START_MS,
        end_ms: WINDOW_START_MS,
    };
    let page = pull_page(&settings(50), &mut gateway, window, None).unwrap();
    assert!(page.orders.is_empty());
    assert!(gateway.requests.is_empty());
}

#[test]
fn window_bounds_at_second_precision() {
    let mut gateway = FakeGateway::new(vec![count_body(0)]);
    let window = TimeWindow {
        start_ms: WINDOW_START_MS + 500,
        end_ms: WINDOW_START_MS + 30 * 60 * 1000,
    };
    pull_page(&settings(50), &mut gateway, window, None).unwrap();
    assert_eq!(
        gateway.param(0, "start_modified"),
        Some("2024-03-01 08:00:00")
    );
    assert_eq!(
        gateway.param(0, "end_modified"),
        Some("2024-03-01 08:29:59")
    );

    let mut gateway = FakeGateway::new(vec![count_body(0)]);
    let window = TimeWindow {
        start_ms: WINDOW_START_MS,
        end_ms: WINDOW_START_MS + 1_001,
    };
    pull_page(&settings(50), &mut gateway, window, None).unwrap();
    assert_eq!(
        gateway.param(0, "end_modified"),
        Some("2024-03-01 08:00:01")
    );
}

#[test]
fn request_carries_system_params() {
    let mut gateway = FakeGateway::new(vec![count_body(0)]);
    pull_page(&settings(50), &mut gateway, window(), None).unwrap();
    assert_eq!(gateway.param(0, "method"), Some(METHOD));
    assert_eq!(gateway.param(0, "app_key"), Some("12345678"));
    assert_eq!(gateway.param(0, "session"), Some("test"));
    assert_eq!(gateway.param(0, "timestamp"), Some("2024-03-01 09:00:00"));
    assert_eq!(gateway.param(0, "format"), Some("json"));
    assert_eq!(gateway.param(0, "v"), Some("2.0"));
    assert_eq!(gateway.param(0, "sign_method"), Some("hmac-sha256"));
    assert_eq!(gateway.param(0, "app_secret"), None);
}

#[test]
fn request_signature_verifies() {
    for method in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256] {
        let mut settings = settings(50);
        settings.sign_method = method;
        let mut gateway = FakeGateway::new(vec![count_body(0)]);
        pull_page(&settings, &mut gateway, window(), None).unwrap();

        let fields = &gateway.requests[0];
        assert_eq!(fields.last().map(|(name, _)| name.as_str()), Some("sign"));
        let unsigned: Vec<(&str, &str)> = fields
            .iter()
            .filter(|(name, _)| name != "sign")
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let expected = top_sign(&unsigned, "helloworld", method);
        assert_eq!(
            gateway.param(0, "sign"),
            Some(expected.as_str()),
            "{method}"
        );
        assert_eq!(gateway.param(0, "sign_method"), Some(method.as_str()));
    }
}

#[test]
fn malformed_token_sends_nothing() {
    let mut gateway = FakeGateway::new(Vec::new());
    let error = pull_page(&settings(50), &mut gateway, window(), Some("page:x")).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Internal);
    assert!(error.message.contains("page:x"), "{}", error.message);
    assert!(gateway.requests.is_empty());
}

#[test]
fn count_without_total_rejected() {
    let body = json!({ "trades_sold_increment_get_response": { "has_next": true } });
    let mut gateway = FakeGateway::new(vec![body]);
    let error = pull_page(&settings(50), &mut gateway, window(), None).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
}

#[test]
fn platform_error_propagates() {
    let body = json!({ "error_response": { "code": 27, "msg": "Invalid session" } });
    let mut gateway = FakeGateway::new(vec![body]);
    let error = pull_page(&settings(50), &mut gateway, window(), None).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(error.platform_code.as_deref(), Some("27"));
}

#[test]
fn bad_trade_fails_page() {
    let mut bad = trade(5);
    bad["status"] = json!("SOMETHING_NEW");
    let body = json!({
        "trades_sold_increment_get_response": { "total_results": 1, "trades": { "trade": [bad] } }
    });
    let mut gateway = FakeGateway::new(vec![count_body(1), body]);
    let error = pull_page(&settings(50), &mut gateway, window(), None).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
    assert!(error.message.contains("SOMETHING_NEW"), "{}", error.message);
}

#[test]
fn http_error_status_is_platform() {
    let mut gateway = FakeGateway::new(Vec::new());
    gateway.responses.push_back((503, "busy".to_string()));
    let error = pull_page(&settings(50), &mut gateway, window(), None).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Platform);
    assert!(error.message.contains("503"), "{}", error.message);
}

//! Request guards in front of every route.
//!
//! - The `Host` header must name this server (a loopback name or address on the bound port, or a
//!   host listed in `[http] public_hosts`). Otherwise a web page on another site could resolve
//!   its own name to 127.0.0.1 (DNS rebinding) and read the API through the browser.
//! - A state-changing request that carries an `Origin` header must come from the same origin,
//!   so another site cannot post forms (a plugin upload, an approval) to the API.
//! - Plain-text rejections of axum's extractors (bad JSON, a missing field, a wrong path type)
//!   are turned into the API's `{"error": ...}` body, so clients get one error shape.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The `Host` values this server accepts.
#[derive(Clone, Debug)]
pub struct HostPolicy {
    pub port: u16,
    /// Extra `host` or `host:port` values, lowercase, from the configuration.
    pub public_hosts: Vec<String>,
}

impl HostPolicy {
    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self.public_hosts.iter().any(|allowed| *allowed == host) {
            return true;
        }
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => (name.to_owned(), port.parse::<u16>().ok()),
            _ => (host.clone(), None),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let loopback = name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        loopback && port.unwrap_or(80) == self.port
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

pub async fn guard(State(policy): State<HostPolicy>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    if !policy.allows(&host) {
        tracing::warn!(%host, uri = %request.uri(), "request for an unknown host rejected");
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this server does not answer to host {host:?}; open it as http://127.0.0.1:{} or add the name to [http] public_hosts",
                policy.port
            ),
        );
    }
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        if let Some(origin) = request.headers().get(header::ORIGIN).and_then(|value| value.to_str().ok()) {
            let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(|rest| rest.eq_ignore_ascii_case(&host));
            if !same {
                tracing::warn!(%origin, %host, uri = %request.uri(), "cross-origin request rejected");
                return error(StatusCode::FORBIDDEN, format!("requests from origin {origin:?} are not accepted; use this server's own page"));
            }
        }
    }
    let response = next.run(request).await;
    json_errors(response).await
}

/// Rewrites a plain-text client error into the API's JSON error body.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !status.is_client_error() || !is_text {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&bytes).trim().to_owned();
    // Rejections of bad input are all 400 Bad Request, whatever axum picked.
    let status = if status == StatusCode::PAYLOAD_TOO_LARGE { status } else { StatusCode::BAD_REQUEST };
    let body = serde_json::to_vec(&json!({ "error": message })).expect("JSON serialises");
    parts.status = status;
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_on_the_port_are_allowed() {
        let policy = HostPolicy { port: 8080, public_hosts: vec!["shop.example.com".into()] };
        for host in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST:8080", "shop.example.com"] {
            assert!(policy.allows(host), "{host}");
        }
        for host in ["evil.example:8080", "127.0.0.1:9090", "", "localhost", "127.0.0.1.evil.example:8080"] {
            assert!(!policy.allows(host), "{host}");
        }
    }
}

//! Outgoing HTTP for plugins. A plugin reaches only the origins its manifest declares and the
//! ones the admin approved for its store; a declared name that resolves to a loopback, private
//! or link-local address is refused unless that exact origin was approved. Redirects are never
//! followed by the host, so each hop the plugin makes is a new, checked request.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::bindings::shopkeeper::connector0_1_0::http::{HttpError, Request, Response};

/// `scheme://host:port`, the unit of approval.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `https://host`, `http://127.0.0.1:8900` and the like; a path is not allowed.
    pub fn parse(text: &str) -> Result<Origin, String> {
        let url = reqwest::Url::parse(text).map_err(|error| format!("not a URL ({error})"))?;
        let bare = (url.path() == "/" || url.path().is_empty())
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !bare {
            return Err("must be an origin such as https://host:port, without user, path, query or fragment".to_owned());
        }
        Self::of_url(&url)
    }

    pub fn of_url(url: &reqwest::Url) -> Result<Origin, String> {
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme {scheme:?} is not http or https"));
        }
        let host = url.host_str().ok_or("has no host")?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = url.port_or_known_default().ok_or("has no port")?;
        Ok(Origin { scheme, host, port })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Limits on a plugin's HTTP use.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub max_request_bytes: usize,
    pub max_requests_per_minute: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            max_response_bytes: 16 * 1024 * 1024,
            max_request_bytes: 4 * 1024 * 1024,
            max_requests_per_minute: 600,
        }
    }
}

/// The HTTP filter of one plugin session (one store's sync run).
pub struct HttpGate {
    declared: Vec<Origin>,
    approved: Vec<Origin>,
    limits: HttpLimits,
    runtime: tokio::runtime::Handle,
    minute_started: Instant,
    requests_this_minute: u32,
}

enum Reach {
    /// Approved for the store: any address, including loopback and private ones.
    Approved,
    /// Declared in the manifest: public addresses only.
    Declared,
}

impl HttpGate {
    pub fn new(declared: Vec<Origin>, approved: Vec<Origin>, limits: HttpLimits, runtime: tokio::runtime::Handle) -> Self {
        Self { declared, approved, limits, runtime, minute_started: Instant::now(), requests_this_minute: 0 }
    }

    /// Sends a request for the plugin; blocks the calling (non-async) thread.
    pub fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|error| HttpError::Failed(format!("invalid URL {:?}: {error}", request.url)))?;
        let origin = Origin::of_url(&url).map_err(|problem| HttpError::Denied(format!("URL {url} {problem}")))?;
        let reach = self.reach(&origin)?;
        if self.minute_started.elapsed() >= Duration::from_secs(60) {
            self.minute_started = Instant::now();
            self.requests_this_minute = 0;
        }
        if self.requests_this_minute >= self.limits.max_requests_per_minute {
            return Err(HttpError::Denied(format!(
                "request limit of {} per minute reached",
                self.limits.max_requests_per_minute
            )));
        }
        self.requests_this_minute += 1;
        if request.body.len() > self.limits.max_request_bytes {
            return Err(HttpError::TooLarge(format!(
                "request body of {} bytes exceeds the limit of {} bytes",
                request.body.len(),
                self.limits.max_request_bytes
            )));
        }
        let limits = self.limits.clone();
        self.runtime.block_on(async move {
            let address = resolve_checked(&origin, &reach).await?;
            send_pinned(&url, &origin, address, request, &limits).await
        })
    }

    fn reach(&self, origin: &Origin) -> Result<Reach, HttpError> {
        if self.approved.contains(origin) {
            return Ok(Reach::Approved);
        }
        if self.declared.contains(origin) {
            return Ok(Reach::Declared);
        }
        Err(HttpError::Denied(format!(
            "{origin} is not in the plugin's allowed_hosts and not approved for this store; an admin \
             can approve it with `shopkeeper store update STORE --approve-origin {origin}` or \
             PATCH /api/stores/ID with approved_origins"
        )))
    }
}

async fn resolve_checked(origin: &Origin, reach: &Reach) -> Result<SocketAddr, HttpError> {
    let addresses: Vec<SocketAddr> = match origin.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, origin.port)],
        Err(_) => tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(|error| HttpError::Failed(format!("failed to resolve {}: {error}", origin.host)))?
            .collect(),
    };
    let first = addresses.first().copied().ok_or_else(|| HttpError::Failed(format!("{} has no address", origin.host)))?;
    if matches!(reach, Reach::Declared) {
        if let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(HttpError::Denied(format!(
                "{origin} resolves to the non-public address {}; an admin must approve that exact origin for the store",
                bad.ip()
            )));
        }
    }
    Ok(first)
}

/// Sends to the checked address only, so a second DNS answer cannot redirect the connection.
async fn send_pinned(
    url: &reqwest::Url,
    origin: &Origin,
    address: SocketAddr,
    request: Request,
    limits: &HttpLimits,
) -> Result<Response, HttpError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout)
        .resolve(&origin.host, address)
        .build()
        .map_err(|error| HttpError::Failed(format!("failed to build HTTP client: {error}")))?;
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| HttpError::Failed(format!("invalid HTTP method {:?}", request.method)))?;
    let mut builder = client.request(method, url.clone());
    for (name, value) in &request.headers {
        if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        builder = builder.header(name, value);
    }
    let mut response = builder.body(request.body).send().await.map_err(|error| {
        if error.is_timeout() {
            HttpError::TimedOut(format!("{origin} did not answer within {} s", limits.timeout.as_secs()))
        } else {
            HttpError::Failed(format!("request to {origin} failed: {error}"))
        }
    })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|error| {
            if error.is_timeout() {
                HttpError::TimedOut(format!("{origin} did not finish the response within {} s", limits.timeout.as_secs()))
            } else {
                HttpError::Failed(format!("reading the response from {origin} failed: {error}"))
            }
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > limits.max_response_bytes {
            return Err(HttpError::TooLarge(format!(
                "response from {origin} exceeds the limit of {} bytes",
                limits.max_response_bytes
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body })
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_with_default_ports() {
        let origin = Origin::parse("https://gw.api.taobao.com").unwrap();
        assert_eq!(origin.port, 443);
        assert_eq!(origin.to_string(), "https://gw.api.taobao.com:443");
        assert_eq!(Origin::parse("http://127.0.0.1:8900").unwrap().port, 8900);
        assert!(Origin::parse("https://host/path").is_err());
        assert!(Origin::parse("ftp://host").is_err());
    }

    #[test]
    fn private_addresses_are_not_public() {
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fd00::1", "::ffff:127.0.0.1", "100.64.0.1"] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_public("140.205.1.1".parse().unwrap()));
    }
}

//! Outgoing HTTP through the host.
//!
//! The host only lets a request through to the origins that the plugin manifest declares and
//! that the admin approved for the store, and it does not follow redirects. Every failure of the
//! host call becomes a [`ConnectorError`] of kind [`ErrorKind::Network`](crate::ErrorKind).

use crate::ConnectorError;
use crate::bindings::shopkeeper::connector0_1_0::http::{self as host_http, HttpError, Request};

/// Content type of the body that [`post_form`] sends.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";

/// HTTP response as the host returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Returns the body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// Returns an [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse) error when
    /// the body is not valid UTF-8.
    pub fn text(&self) -> Result<&str, ConnectorError> {
        std::str::from_utf8(&self.body).map_err(|error| {
            ConnectorError::invalid_response(format!(
                "response body with HTTP status {} is not valid UTF-8: {error}",
                self.status
            ))
        })
    }

    /// Returns the value of the first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns whether the status is in the 2xx range.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends a request through the host.
///
/// # Errors
///
/// Returns an [`ErrorKind::Network`](crate::ErrorKind::Network) error when the host denied the
/// destination, the request timed out or failed, or the response exceeded the host's size limit.
pub fn send(
    method: &str,
    url: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<Response, ConnectorError> {
    let request = Request {
        method: method.to_string(),
        url: url.to_string(),
        headers,
        body,
    };
    match host_http::send(&request) {
        Ok(response) => Ok(Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }),
        Err(error) => Err(network_error(method, url, error)),
    }
}

/// Sends a GET request for `url` with no body.
///
/// # Errors
///
/// See [`send`].
pub fn get(url: &str) -> Result<Response, ConnectorError> {
    send("GET", url, Vec::new(), Vec::new())
}

/// Sends a POST request whose body is `fields` encoded as `application/x-www-form-urlencoded`.
///
/// # Errors
///
/// See [`send`].
pub fn post_form<K, V>(url: &str, fields: &[(K, V)]) -> Result<Response, ConnectorError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let headers = vec![("content-type".to_string(), FORM_CONTENT_TYPE.to_string())];
    send("POST", url, headers, encode_form(fields).into_bytes())
}

/// Encodes `fields` as an `application/x-www-form-urlencoded` body.
///
/// It follows the WHATWG URL standard: ASCII letters, digits and `*-._` stay as they are, a
/// space becomes `+` and every other byte of the UTF-8 text becomes `%XX` in uppercase hex.
pub fn encode_form<K, V>(fields: &[(K, V)]) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut body = String::new();
    for (index, (name, value)) in fields.iter().enumerate() {
        if index > 0 {
            body.push('&');
        }
        encode_form_component(name.as_ref(), &mut body);
        body.push('=');
        encode_form_component(value.as_ref(), &mut body);
    }
    body
}

fn encode_form_component(text: &str, output: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                output.push(byte as char);
            }
            b' ' => output.push('+'),
            _ => {
                output.push('%');
                output.push(HEX[usize::from(byte >> 4)] as char);
                output.push(HEX[usize::from(byte & 0x0f)] as char);
            }
        }
    }
}

fn network_error(method: &str, url: &str, error: HttpError) -> ConnectorError {
    // Only the origin and path go into the message, because a query string may carry a token.
    let target = url.split(['?', '#']).next().unwrap_or(url);
    let message = match error {
        HttpError::Denied(detail) => format!("{method} {target} denied by the host: {detail}"),
        HttpError::TimedOut(detail) => format!("{method} {target} timed out: {detail}"),
        HttpError::TooLarge(detail) => {
            format!("{method} {target} failed: response exceeded the host's size limit: {detail}")
        }
        HttpError::Failed(detail) => format!("{method} {target} failed: {detail}"),
    };
    ConnectorError::network(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn form_encoding_of_reserved_bytes() {
        let body = encode_form(&[
            ("timestamp", "2016-01-01 12:00:00"),
            ("fields", "tid,status"),
            ("a&b", "x=y+z/~"),
            ("title", "连衣裙"),
            ("safe", "AZaz09*-._"),
        ]);
        assert_eq!(
            body,
            "timestamp=2016-01-01+12%3A00%3A00\
             &fields=tid%2Cstatus\
             &a%26b=x%3Dy%2Bz%2F%7E\
             &title=%E8%BF%9E%E8%A1%A3%E8%A3%99\
             &safe=AZaz09*-._"
        );
    }

    #[test]
    fn form_encoding_of_empty_fields() {
        let no_fields: [(&str, &str); 0] = [];
        assert_eq!(encode_form(&no_fields), "");
        assert_eq!(encode_form(&[("a", "")]), "a=");
    }

    #[test]
    fn denied_request_maps_to_network() {
        let error = network_error(
            "GET",
            "https://example.invalid/path?session=secret",
            HttpError::Denied("origin https://example.invalid is not allowed".to_string()),
        );
        assert_eq!(error.kind, ErrorKind::Network);
        assert!(
            error.message.contains("denied by the host"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("is not allowed"),
            "{}",
            error.message
        );
        assert!(!error.message.contains("secret"), "{}", error.message);
    }

    #[test]
    fn response_text_and_header() {
        let response = Response {
            status: 200,
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: b"{}".to_vec(),
        };
        assert_eq!(response.text(), Ok("{}"));
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(response.is_success());

        let binary = Response {
            status: 200,
            headers: Vec::new(),
            body: vec![0xff, 0xfe],
        };
        assert_eq!(binary.text().unwrap_err().kind, ErrorKind::InvalidResponse);
    }
}

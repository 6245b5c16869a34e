//! Page tokens of a pull.
//!
//! TOP returns the trades of a window newest first. A trade that changes while the pull runs
//! leaves the window, so every older trade moves one place forward in the list. Paging from the
//! last page to the first means such a shift can only repeat a trade on the next page, never
//! skip one. A token `page:K` therefore names the next page to fetch, counting down to 1.

use shopkeeper_connector::ConnectorError;

const TOKEN_PREFIX: &str = "page:";

/// Returns the number of pages that `total_results` trades fill, at least 1.
pub fn page_count(total_results: u64, page_size: u32) -> u64 {
    total_results.div_ceil(u64::from(page_size)).max(1)
}

/// Returns the token for the page after `page_no`, which is `page_no - 1`, or `None` after
/// page 1.
pub fn token_after(page_no: u64) -> Option<String> {
    (page_no > 1).then(|| format!("{TOKEN_PREFIX}{}", page_no - 1))
}

/// Parses a token that [`token_after`] produced into its page number.
///
/// # Errors
///
/// Returns an `internal` error naming the token when it is not `page:` followed by a page
/// number of 1 or more without leading zeros.
pub fn parse_token(token: &str) -> Result<u64, ConnectorError> {
    let invalid = || {
        ConnectorError::internal(format!(
            "invalid page token {token:?}: expected `page:N` with N a page number from 1"
        ))
    };
    let digits = token.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    digits.parse::<u64>().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopkeeper_connector::ErrorKind;

    #[test]
    fn page_count_rounds_up() {
        assert_eq!(page_count(0, 50), 1);
        assert_eq!(page_count(1, 50), 1);
        assert_eq!(page_count(50, 50), 1);
        assert_eq!(page_count(51, 50), 2);
        assert_eq!(page_count(100, 50), 2);
        assert_eq!(page_count(101, 50), 3);
        assert_eq!(page_count(7, 1), 7);
    }

    #[test]
    fn token_counts_down_to_first_page() {
        assert_eq!(token_after(3), Some("page:2".to_string()));
        assert_eq!(token_after(2), Some("page:1".to_string()));
        assert_eq!(token_after(1), None);
    }

    #[test]
    fn token_round_trip() {
        for page_no in [1, 2, 9, 10, 12345] {
            let token = token_after(page_no + 1).unwrap();
            assert_eq!(parse_token(&token), Ok(page_no));
        }
    }

    #[test]
    fn malformed_tokens_rejected() {
        let cases = [
            "",
            "page:",
            "page:0",
            "page:01",
            "page:-1",
            "page:+1",
            "page:1 ",
            "page: 1",
            "Page:1",
            "1",
            "page:1a",
            "page:99999999999999999999",
            "cursor:abc",
        ];
        for token in cases {
            let error = parse_token(token).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Internal, "{token:?}");
            assert!(
                error.message.contains(&format!("{token:?}")),
                "{}",
                error.message
            );
        }
    }
}

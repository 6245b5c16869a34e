//! Exact conversion of decimal money text to integer minor units.

/// Parses a decimal amount such as `"128.05"` into minor units with `scale` decimals, so
/// `parse_decimal_minor("128.05", 2)` returns `Ok(12805)`.
///
/// The text is an optional `-`, one or more ASCII digits, and optionally a `.` followed by one to
/// `scale` digits. Fewer decimals than `scale` are padded with zeros, so `"3.5"` at scale 2 is
/// 350. The arithmetic is on integers only.
///
/// # Errors
///
/// Returns a message naming the text when it is empty, contains anything else (spaces, `+`,
/// exponents, thousands separators), has more than `scale` decimals, or does not fit in `i64`.
pub fn parse_decimal_minor(text: &str, scale: u32) -> Result<i64, String> {
    let invalid = |reason: &str| format!("invalid decimal amount {text:?}: {reason}");

    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };

    if whole.is_empty() {
        return Err(invalid("expected a digit before the decimal point"));
    }
    if !whole.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid("expected only digits and one decimal point"));
    }
    let fraction = fraction.unwrap_or("");
    if unsigned.contains('.') && fraction.is_empty() {
        return Err(invalid("expected a digit after the decimal point"));
    }
    if !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid("expected only digits and one decimal point"));
    }
    if fraction.len() > scale as usize {
        return Err(invalid(&format!("more than {scale} decimal places")));
    }

    let overflow = || invalid("amount is too large");
    let mut minor: i64 = 0;
    let padding = scale as usize - fraction.len();
    let digits = whole
        .bytes()
        .chain(fraction.bytes())
        .chain(std::iter::repeat_n(b'0', padding));
    for digit in digits {
        minor = minor
            .checked_mul(10)
            .and_then(|value| value.checked_add(i64::from(digit - b'0')))
            .ok_or_else(overflow)?;
    }
    Ok(if negative { -minor } else { minor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_valid_amounts() {
        let cases = [
            ("128.05", 2, 12805),
            ("128.5", 2, 12850),
            ("128", 2, 12800),
            ("0", 2, 0),
            ("0.00", 2, 0),
            ("0.01", 2, 1),
            ("007.10", 2, 710),
            ("-3.20", 2, -320),
            ("12", 0, 12),
            ("1.234", 3, 1234),
            ("92233720368547758.07", 2, i64::MAX),
        ];
        for (text, scale, expected) in cases {
            assert_eq!(
                parse_decimal_minor(text, scale),
                Ok(expected),
                "{text} at scale {scale}"
            );
        }
    }

    #[test]
    fn parse_rejects_malformed_text() {
        let cases = [
            "", "-", ".", ".5", "5.", "1.2.3", "+1.00", " 1.00", "1.00 ", "1,000.00", "1e3", "abc",
            "12a", "--1", "1.-5", "0x10", "１２", "NaN",
        ];
        for text in cases {
            assert!(
                parse_decimal_minor(text, 2).is_err(),
                "{text:?} was accepted"
            );
        }
    }

    #[test]
    fn parse_rejects_extra_decimals() {
        assert!(parse_decimal_minor("128.055", 2).is_err());
        assert!(parse_decimal_minor("128.050", 2).is_err());
        assert!(parse_decimal_minor("1.5", 0).is_err());
    }

    #[test]
    fn parse_rejects_overflow() {
        assert!(parse_decimal_minor("92233720368547758.08", 2).is_err());
        assert!(parse_decimal_minor("99999999999999999999", 2).is_err());
        assert!(parse_decimal_minor("-92233720368547758.08", 2).is_err());
    }

    #[test]
    fn parse_error_names_text() {
        let message = parse_decimal_minor("12.345", 2).unwrap_err();
        assert!(message.contains("\"12.345\""), "{message}");
    }

    #[test]
    fn parse_round_trips_formatted_fen() {
        for fen in [0_i64, 1, 9, 10, 99, 100, 12805, 1_000_000_007] {
            let text = format!("{}.{:02}", fen / 100, fen % 100);
            assert_eq!(parse_decimal_minor(&text, 2), Ok(fen), "{text}");
        }
    }
}

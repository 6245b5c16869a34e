//! Clock access and the `yyyy-MM-dd HH:mm:ss` local time text that Chinese platforms use.
//!
//! Times in the WIT contract are UTC milliseconds since the Unix epoch. Platforms such as Taobao
//! write times as wall-clock text in UTC+8 with second precision. The conversion uses the
//! proleptic Gregorian calendar and ignores leap seconds, as Unix time does.

use crate::bindings::shopkeeper::connector0_1_0::host;

/// Offset of China Standard Time (UTC+8) from UTC, in seconds.
pub const UTC_PLUS_8_SECS: i32 = 8 * 3600;

const MS_PER_SECOND: i64 = 1000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Returns the host's clock in UTC milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    host::now_ms()
}

/// Rounds `utc_ms` down to a whole second, also for times before 1970.
pub fn floor_to_second(utc_ms: i64) -> i64 {
    utc_ms.div_euclid(MS_PER_SECOND) * MS_PER_SECOND
}

/// Formats `utc_ms` as `yyyy-MM-dd HH:mm:ss` in UTC+8, dropping the milliseconds.
pub fn format_utc8(utc_ms: i64) -> String {
    format_with_offset(utc_ms, UTC_PLUS_8_SECS)
}

/// Parses `yyyy-MM-dd HH:mm:ss` in UTC+8 into UTC milliseconds.
///
/// # Errors
///
/// See [`parse_with_offset`].
pub fn parse_utc8(text: &str) -> Result<i64, String> {
    parse_with_offset(text, UTC_PLUS_8_SECS)
}

/// Formats `utc_ms` as `yyyy-MM-dd HH:mm:ss` in the zone `offset_secs` east of UTC, dropping
/// the milliseconds.
///
/// NOTE: the year is written with at least four digits and a `-` before years below 0, and
/// [`parse_with_offset`] reads back only the years 0000 to 9999.
pub fn format_with_offset(utc_ms: i64, offset_secs: i32) -> String {
    let local_secs = utc_ms.div_euclid(MS_PER_SECOND) + i64::from(offset_secs);
    let days = local_secs.div_euclid(SECONDS_PER_DAY);
    let second_of_day = local_secs.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Parses `yyyy-MM-dd HH:mm:ss` in the zone `offset_secs` east of UTC into UTC milliseconds.
///
/// # Errors
///
/// Returns a message naming the text when it does not have exactly that shape (a four-digit
/// year, two-digit fields, one space) or names a date or time that does not exist, such as
/// February 30 or 24:00:00.
pub fn parse_with_offset(text: &str, offset_secs: i32) -> Result<i64, String> {
    let invalid = |reason: &str| format!("invalid time {text:?}: {reason}");
    let bytes = text.as_bytes();
    if bytes.len() != 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b' '
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return Err(invalid("expected the format yyyy-MM-dd HH:mm:ss"));
    }
    let number = |start: usize, end: usize| -> Result<i64, String> {
        let field = &bytes[start..end];
        if !field.iter().all(u8::is_ascii_digit) {
            return Err(invalid("expected the format yyyy-MM-dd HH:mm:ss"));
        }
        Ok(field
            .iter()
            .fold(0, |value, digit| value * 10 + i64::from(digit - b'0')))
    };
    let year = number(0, 4)?;
    let month = number(5, 7)?;
    let day = number(8, 10)?;
    let hour = number(11, 13)?;
    let minute = number(14, 16)?;
    let second = number(17, 19)?;

    if !(1..=12).contains(&month) {
        return Err(invalid("month is out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(invalid("day is out of range for the month"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(invalid("time of day is out of range"));
    }

    let local_secs =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Ok((local_secs - i64::from(offset_secs)) * MS_PER_SECOND)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// The two conversions below count in 400-year eras of 146,097 days whose years start on
// March 1, so that the leap day is the last day of a year and month lengths follow a fixed
// 153-days-per-5-months pattern. Day 0 is 1970-01-01, which is day 719,468 counted from
// 0000-03-01.
const DAYS_PER_ERA: i64 = 146_097;
const DAYS_FROM_YEAR_0_MARCH_TO_EPOCH: i64 = 719_468;

/// Returns the number of days from 1970-01-01 to the given date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let march_year = if month <= 2 { year - 1 } else { year };
    let era = march_year.div_euclid(400);
    let year_of_era = march_year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - DAYS_FROM_YEAR_0_MARCH_TO_EPOCH
}

/// Returns the `(year, month, day)` that lies `days` days after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + DAYS_FROM_YEAR_0_MARCH_TO_EPOCH;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted - era * DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2016-01-01 04:00:00 UTC, which is 12:00:00 in UTC+8.
    const NOON_2016_UTC8_MS: i64 = 1_451_620_800_000;

    #[test]
    fn format_known_instants() {
        assert_eq!(format_utc8(0), "1970-01-01 08:00:00");
        assert_eq!(format_utc8(NOON_2016_UTC8_MS), "2016-01-01 12:00:00");
        assert_eq!(format_utc8(NOON_2016_UTC8_MS + 999), "2016-01-01 12:00:00");
        assert_eq!(format_utc8(951_782_400_000), "2000-02-29 08:00:00");
        assert_eq!(format_with_offset(-1, 0), "1969-12-31 23:59:59");
        assert_eq!(
            format_with_offset(253_402_300_799_000, 0),
            "9999-12-31 23:59:59"
        );
    }

    #[test]
    fn parse_known_instants() {
        assert_eq!(parse_utc8("1970-01-01 08:00:00"), Ok(0));
        assert_eq!(parse_utc8("2016-01-01 12:00:00"), Ok(NOON_2016_UTC8_MS));
        assert_eq!(parse_utc8("1970-01-01 00:00:00"), Ok(-28_800_000));
        assert_eq!(
            parse_with_offset("0000-01-01 00:00:00", 0),
            Ok(-62_167_219_200_000)
        );
        assert_eq!(
            parse_with_offset("2024-02-29 23:59:59", 0),
            Ok(1_709_251_199_000)
        );
    }

    #[test]
    fn format_parse_round_trip() {
        // Steps of a prime number of seconds visit every time of day and many month ends.
        let mut utc_ms = parse_with_offset("1899-12-31 00:00:00", 0).unwrap();
        let end = parse_with_offset("2101-01-01 00:00:00", 0).unwrap();
        while utc_ms < end {
            let text = format_utc8(utc_ms);
            assert_eq!(parse_utc8(&text), Ok(utc_ms), "{text}");
            utc_ms += 86_413_000;
        }
    }

    #[test]
    fn civil_days_round_trip() {
        for days in -800_000..800_000 {
            let (year, month, day) = civil_from_days(days);
            assert!((1..=12).contains(&month), "{days}");
            assert!(day >= 1, "{days}");
            assert!(day <= days_in_month(year, month), "{days}");
            assert_eq!(
                days_from_civil(year, month, day),
                days,
                "{year}-{month}-{day}"
            );
        }
    }

    #[test]
    fn parse_rejects_malformed_text() {
        let cases = [
            "",
            "2016-01-01",
            "2016-01-01T12:00:00",
            "2016-01-01 12:00:00Z",
            "2016-01-01 12:00:00.000",
            "2016-1-01 12:00:00",
            "2016/01/01 12:00:00",
            " 2016-01-01 12:00:0",
            "2016-01-01 12:0a:00",
            "+016-01-01 12:00:00",
            "２０１６-01-01 12:00",
        ];
        for text in cases {
            assert!(parse_utc8(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn parse_rejects_impossible_dates() {
        let cases = [
            "2016-00-01 12:00:00",
            "2016-13-01 12:00:00",
            "2016-01-00 12:00:00",
            "2016-01-32 12:00:00",
            "2023-02-29 12:00:00",
            "1900-02-29 12:00:00",
            "2016-04-31 12:00:00",
            "2016-01-01 24:00:00",
            "2016-01-01 12:60:00",
            "2016-01-01 12:00:60",
        ];
        for text in cases {
            assert!(parse_utc8(text).is_err(), "{text:?} was accepted");
        }
        assert!(parse_utc8("2000-02-29 12:00:00").is_ok());
    }

    #[test]
    fn floor_to_second_rounds_down() {
        assert_eq!(floor_to_second(1_999), 1_000);
        assert_eq!(floor_to_second(2_000), 2_000);
        assert_eq!(floor_to_second(-1), -1_000);
        assert_eq!(floor_to_second(-1_000), -1_000);
    }
}

//! What commands print on stdout: aligned tables and pretty JSON for people, one JSON document
//! (or JSON lines) for scripts.

use std::io::Write;

use rivetkit_client::{ActorInfo, Value};
use serde_json::json;

use crate::input::display_key;

/// Columns padded to their widest cell, separated by two spaces; the last is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
    }
    out
}

/// One actor per row.
pub fn actors_table(actors: &[ActorInfo]) -> String {
    let rows: Vec<Vec<String>> = actors
        .iter()
        .map(|actor| {
            vec![
                actor.name.clone(),
                display_key(&actor.key),
                actor.actor_id.clone(),
                actor.create_ts.map(utc_time).unwrap_or_default(),
            ]
        })
        .collect();
    table(&["NAME", "KEY", "ID", "CREATED"], &rows)
}

/// The JSON form of an actor (the key as an array, times as sent).
pub fn actor_json(actor: &ActorInfo) -> Value {
    json!({
        "actor_id": actor.actor_id,
        "name": actor.name,
        "key": actor.key,
        "create_ts": actor.create_ts,
    })
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_time(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Prints `value`: indented for people, on one line for scripts.
pub fn print_json(value: &Value, compact: bool) {
    let text = if compact {
        value.to_string()
    } else {
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    };
    println!("{text}");
}

/// Writes one line to stdout at once and flushes it, so a reader sees each event as it comes
/// (callbacks of the connection print from its task).
pub fn print_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell() {
        let rows = vec![
            vec!["counter".to_owned(), "a/b".to_owned(), "x".to_owned()],
            vec!["chatRoom".to_owned(), "/".to_owned(), "yy".to_owned()],
        ];
        assert_eq!(
            table(&["NAME", "KEY", "ID"], &rows),
            "NAME      KEY  ID\ncounter   a/b  x\nchatRoom  /    yy\n"
        );
        assert_eq!(table(&["A", "B"], &[]), "A  B\n");
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_time(-1000), "1969-12-31 23:59:59 UTC");
    }
}

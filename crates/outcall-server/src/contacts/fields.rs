//! The rules of a contact's fields, as plain checks returning a message: the API turns
//! a message into a field error (400), an import into a row's reason (row skipped).

use chrono_tz::Tz;
use outcall_domain::contact::ContactStatus;
use outcall_domain::validate::{MAX_SHORT, MAX_TEXT};
use serde_json::{Map, Value};

/// Most tags one contact may carry.
pub const MAX_TAGS: usize = 100;
/// Most custom fields one contact may carry.
pub const MAX_CUSTOM_FIELDS: usize = 100;
/// Largest custom-fields object, as JSON text.
pub const MAX_CUSTOM_FIELDS_BYTES: usize = 20_000;

pub type Check<T> = Result<T, String>;

/// 0 (lowest) to 10 (highest).
pub fn priority(p: i64) -> Check<i64> {
    if (0..=10).contains(&p) {
        Ok(p)
    } else {
        Err(format!("must be a whole number from 0 to 10, not {p}"))
    }
}

/// A priority as written in a spreadsheet cell (`7`, ` 7 `, `7.0`).
pub fn priority_text(s: &str) -> Check<i64> {
    let s = s.trim();
    let whole = s.strip_suffix(".0").unwrap_or(s);
    match whole.parse::<i64>() {
        Ok(p) => priority(p),
        Err(_) => Err(format!("must be a whole number from 0 to 10, not {s:?}")),
    }
}

/// A status as written in a cell: any case, `do not call`, `do_not_call` and `dnc` too.
pub fn status_text(s: &str) -> Check<ContactStatus> {
    let key: String = s
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .collect();
    let key = if key == "dnc" { "do-not-call" } else { &key };
    key.parse::<ContactStatus>().map_err(|e| e.to_string())
}

/// An IANA time zone name such as `America/New_York`, in its canonical spelling.
pub fn timezone(s: &str) -> Check<String> {
    let s = s.trim();
    s.parse::<Tz>()
        .map(|tz| tz.name().to_string())
        .map_err(|_| format!("{s:?} is not an IANA time zone name (e.g. America/New_York)"))
}

/// A plausible address: one `@` with text on both sides, a dot in the domain, no spaces.
/// Whether it receives mail is not ours to know.
pub fn email(s: &str) -> Check<String> {
    let s = s.trim();
    let ok = s.chars().count() <= MAX_SHORT
        && !s.chars().any(char::is_whitespace)
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not an email address"))
    }
}

/// A short text (name): trimmed, at most `MAX_SHORT` characters.
pub fn short(s: &str) -> Check<String> {
    limited(s, MAX_SHORT)
}

/// A long text (notes): trimmed, at most `MAX_TEXT` characters.
pub fn long(s: &str) -> Check<String> {
    limited(s, MAX_TEXT)
}

fn limited(s: &str, max: usize) -> Check<String> {
    let s = s.trim();
    if s.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(s.to_string())
    }
}

/// Tags: each trimmed, non-blank and short; repeats dropped (first kept), order kept.
pub fn tags(input: &[String]) -> Check<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for t in input {
        let t = t.trim();
        if t.is_empty() {
            return Err("a tag must not be empty".into());
        }
        if t.chars().count() > MAX_SHORT {
            return Err(format!("a tag must be at most {MAX_SHORT} characters"));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    Ok(out)
}

/// Custom fields: short non-blank keys, a bounded number and size.
pub fn custom_fields(fields: &Map<String, Value>) -> Check<()> {
    if fields.len() > MAX_CUSTOM_FIELDS {
        return Err(format!("at most {MAX_CUSTOM_FIELDS} custom fields"));
    }
    if let Some(k) = fields
        .keys()
        .find(|k| k.trim().is_empty() || k.chars().count() > MAX_SHORT)
    {
        return Err(format!(
            "custom field name {k:?} must be 1 to {MAX_SHORT} characters"
        ));
    }
    let size = serde_json::to_string(fields).map_or(usize::MAX, |s| s.len());
    if size > MAX_CUSTOM_FIELDS_BYTES {
        return Err(format!(
            "custom fields must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes as JSON"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities() {
        assert_eq!(priority_text(" 7 "), Ok(7));
        assert_eq!(priority_text("10.0"), Ok(10));
        assert!(priority_text("11").is_err());
        assert!(priority_text("-1").is_err());
        assert!(priority_text("high").is_err());
    }

    #[test]
    fn statuses_as_people_write_them() {
        for s in ["do-not-call", "Do Not Call", "DO_NOT_CALL", "dnc"] {
            assert_eq!(status_text(s), Ok(ContactStatus::DoNotCall), "{s}");
        }
        assert_eq!(status_text("Active"), Ok(ContactStatus::Active));
        assert!(status_text("gone").is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(timezone("Europe/London").as_deref(), Ok("Europe/London"));
        assert!(timezone("Mars/Olympus").is_err());
        assert!(timezone("").is_err());
    }

    #[test]
    fn emails() {
        assert!(email("ada@example.com").is_ok());
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "a b@example.com",
            "a@b",
            "a@b@c.d",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(tags(&t(&[" vip", "west", "vip "])), Ok(t(&["vip", "west"])));
        assert!(tags(&t(&["ok", " "])).is_err());
    }
}

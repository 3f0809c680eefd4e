//! `ElevenLabs-Signature`, the HMAC that authenticates post-call webhooks:
//! `t=<unix seconds>,v0=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! The MAC covers the raw body bytes exactly as received, so verify before
//! parsing (and never re-serialize). The key is the webhook secret's text
//! (`wsec_…`) as bytes, as ElevenLabs' SDKs use it. A timestamp older than
//! the tolerance (30 minutes, as ElevenLabs' SDKs use) is refused so a
//! captured request cannot be replayed later; one more than
//! [`MAX_FUTURE_SKEW`] ahead of our clock is refused too.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

/// The header carrying the signature (HTTP header names are case-insensitive).
pub const HEADER: &str = "ElevenLabs-Signature";
/// How old a signature may be.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(30 * 60);
/// How far ahead of our clock a signature's `t` may be (the sender's clock
/// may run a little fast; ElevenLabs documents no bound).
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

/// Length in bytes of an HMAC-SHA256 tag.
const MAC_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing ElevenLabs-Signature header")]
    Missing,
    #[error("malformed ElevenLabs-Signature header: {0}")]
    Malformed(&'static str),
    #[error("ElevenLabs-Signature does not match the body")]
    Mismatch,
    #[error("ElevenLabs-Signature timestamp is {age_secs} s old, beyond the tolerance")]
    Stale { age_secs: i64 },
    #[error("ElevenLabs-Signature timestamp is {ahead_secs} s in the future")]
    FromFuture { ahead_secs: i64 },
    #[error("no webhook secret configured")]
    NoSecret,
}

/// The header value for `raw_body` signed at unix time `t`, as ElevenLabs
/// sends it (used by the simulator).
pub fn sign(raw_body: &[u8], secret: &str, t: i64) -> String {
    format!("t={t},v0={}", hex::encode(mac(raw_body, secret, t)))
}

/// Checks `header` (the `ElevenLabs-Signature` value, `None` when absent)
/// against the raw body at time `now`.
///
/// The header is a comma-separated list of `key=value` pairs: exactly one
/// `t` and at least one `v0`; unknown keys (a future `v1`) are ignored. The
/// request is accepted when any `v0` matches, so a sender may sign with an
/// old and a new secret during a rotation (ElevenLabs sends one `v0`; its
/// SDKs read only the first). Each comparison is constant-time and all are
/// made. The MAC is checked before the timestamp so a forged request is
/// reported as such whatever its `t`.
pub fn verify(
    header: Option<&str>,
    raw_body: &[u8],
    secret: &str,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let parsed = parse_header(header.ok_or(SignatureError::Missing)?)?;

    let expected = mac(raw_body, secret, parsed.t);
    let mut matched = Choice::from(0);
    for candidate in &parsed.v0 {
        matched |= expected.ct_eq(candidate);
    }
    if !bool::from(matched) {
        return Err(SignatureError::Mismatch);
    }

    let age = now.timestamp().saturating_sub(parsed.t);
    if age > secs(tolerance) {
        return Err(SignatureError::Stale { age_secs: age });
    }
    if -age > secs(MAX_FUTURE_SKEW) {
        return Err(SignatureError::FromFuture { ahead_secs: -age });
    }
    Ok(())
}

/// [`verify`] against the system clock with [`DEFAULT_TOLERANCE`].
pub fn verify_now(
    header: Option<&str>,
    raw_body: &[u8],
    secret: &str,
) -> Result<(), SignatureError> {
    verify(header, raw_body, secret, Utc::now(), DEFAULT_TOLERANCE)
}

struct ParsedHeader {
    t: i64,
    v0: Vec<[u8; MAC_LEN]>,
}

fn parse_header(header: &str) -> Result<ParsedHeader, SignatureError> {
    let mut t = None;
    let mut v0 = Vec::with_capacity(1);
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("expected key=value pairs"))?;
        match key.trim() {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed("more than one t"));
                }
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed("t is not unix seconds"));
                }
                t = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed("t is not unix seconds"))?,
                );
            }
            "v0" => {
                let mut tag = [0u8; MAC_LEN];
                hex::decode_to_slice(value.trim(), &mut tag)
                    .map_err(|_| SignatureError::Malformed("v0 is not 64 hex digits"))?;
                v0.push(tag);
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed("no t"))?;
    if v0.is_empty() {
        return Err(SignatureError::Malformed("no v0"));
    }
    Ok(ParsedHeader { t, v0 })
}

fn mac(raw_body: &[u8], secret: &str, t: i64) -> [u8; MAC_LEN] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("BUG: HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(mac.finalize().into_bytes().as_slice());
    out
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const SECRET: &str = "wsec_test_secret_0123456789";
    const T: i64 = 1_739_537_297;
    const BODY: &[u8] = br#"{"type":"post_call_transcription","event_timestamp":1739537297,"data":{"agent_id":"agent_1","conversation_id":"conv_1"}}"#;
    /// Computed independently with Python's standard library:
    /// `hmac.new(b"wsec_test_secret_0123456789", b"1739537297." + BODY, hashlib.sha256).hexdigest()`.
    const EXPECTED_V0: &str = "312fbd3adf2110de19af13cf1fac7fb6e6a278b96ad46fe506b5bd94066badee";

    fn at(t: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(t, 0).single().expect("valid time")
    }

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
        verify(Some(header), body, SECRET, at(now), DEFAULT_TOLERANCE)
    }

    #[test]
    fn known_answer() {
        assert_eq!(sign(BODY, SECRET, T), format!("t={T},v0={EXPECTED_V0}"));
        assert_eq!(
            check(&format!("t={T},v0={EXPECTED_V0}"), BODY, T + 10),
            Ok(())
        );
    }

    #[test]
    fn hmac_matches_the_textbook_vector() {
        // RFC-style sanity check of the primitive: HMAC-SHA256("key", "The quick
        // brown fox jumps over the lazy dog"), also reproduced with Python.
        let mut m = Hmac::<Sha256>::new_from_slice(b"key").expect("key");
        m.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(m.finalize().into_bytes().as_slice()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn tolerates_spaces_order_case_of_hex_and_unknown_keys() {
        let upper = EXPECTED_V0.to_ascii_uppercase();
        assert_eq!(
            check(&format!(" v0={upper} , t={T} ,v1=zz"), BODY, T),
            Ok(())
        );
    }

    #[test]
    fn tampered_body() {
        let header = sign(BODY, SECRET, T);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(check(&header, &tampered, T), Err(SignatureError::Mismatch));
        assert_eq!(check(&header, b"", T), Err(SignatureError::Mismatch));
    }

    #[test]
    fn wrong_secret() {
        let header = sign(BODY, "wsec_other", T);
        assert_eq!(check(&header, BODY, T), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(Some(&header), BODY, "", at(T), DEFAULT_TOLERANCE),
            Err(SignatureError::NoSecret)
        );
    }

    #[test]
    fn timestamp_is_part_of_the_mac() {
        let forged = format!("t={},v0={EXPECTED_V0}", T + 60);
        assert_eq!(check(&forged, BODY, T + 60), Err(SignatureError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps() {
        let header = sign(BODY, SECRET, T);
        let limit = 30 * 60;
        assert_eq!(check(&header, BODY, T + limit), Ok(()));
        assert_eq!(
            check(&header, BODY, T + limit + 1),
            Err(SignatureError::Stale {
                age_secs: limit + 1
            })
        );
        assert_eq!(check(&header, BODY, T - 5 * 60), Ok(()));
        assert_eq!(
            check(&header, BODY, T - 5 * 60 - 1),
            Err(SignatureError::FromFuture { ahead_secs: 301 })
        );
        assert_eq!(
            verify(
                Some(&header),
                BODY,
                SECRET,
                at(T + 61),
                Duration::from_secs(60)
            ),
            Err(SignatureError::Stale { age_secs: 61 })
        );
    }

    #[test]
    fn missing_header() {
        for header in [None, Some(""), Some("   ")] {
            assert_eq!(
                verify(header, BODY, SECRET, at(T), DEFAULT_TOLERANCE),
                Err(SignatureError::Missing)
            );
        }
    }

    #[test]
    fn malformed_headers() {
        let v0 = format!("v0={EXPECTED_V0}");
        let cases = [
            v0.clone(),
            format!("t={T}"),
            format!("t=,{v0}"),
            format!("t=-5,{v0}"),
            format!("t=12a,{v0}"),
            format!("t=99999999999999999999999,{v0}"),
            format!("t={T},t={T},{v0}"),
            format!("t={T},v0=abc"),
            format!("t={T},v0={}", &EXPECTED_V0[..62]),
            format!("t={T},v0={}zz", &EXPECTED_V0[..62]),
            format!("t={T};{v0}"),
            format!("t={T},{v0},garbage"),
            "sha256=abcdef".to_owned(),
        ];
        for header in cases {
            assert!(
                matches!(check(&header, BODY, T), Err(SignatureError::Malformed(_))),
                "{header}: {:?}",
                check(&header, BODY, T)
            );
        }
    }

    #[test]
    fn any_of_several_v0_values_may_match() {
        let other = sign(BODY, "wsec_old", T);
        let other_v0 = other.split_once("v0=").expect("v0").1;
        assert_eq!(
            check(&format!("t={T},v0={other_v0},v0={EXPECTED_V0}"), BODY, T),
            Ok(())
        );
        assert_eq!(
            check(&format!("t={T},v0={EXPECTED_V0},v0={other_v0}"), BODY, T),
            Ok(())
        );
        assert_eq!(
            check(&format!("t={T},v0={other_v0},v0={other_v0}"), BODY, T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn sign_then_verify_now() {
        let now = Utc::now().timestamp();
        assert_eq!(
            verify_now(Some(&sign(b"{}", SECRET, now)), b"{}", SECRET),
            Ok(())
        );
    }
}

//! `X-Twilio-Signature`: how Twilio signs the webhooks it sends us, computed
//! and checked exactly as `protocols.md` describes.
//!
//! The signed string is the full URL Twilio requested (scheme, host, path,
//! query) followed, for form bodies, by every parameter name and its value,
//! names in sorted order and the values of a repeated name sorted too. The
//! signature is base64(HMAC-SHA1(auth token, string)). JSON bodies are covered
//! by a `bodySHA256=<hex sha256>` query parameter instead, and the URL alone
//! is signed.
//!
//! The URL must be the public one Twilio used (built from the configured
//! public base URL behind a proxy), byte for byte: it is not normalised here,
//! except that the default port (`:443`/`:80`) may be present or absent, as in
//! Twilio's own validators. All comparisons are constant-time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The header Twilio puts the signature in.
pub const HEADER: &str = "X-Twilio-Signature";
/// The query parameter carrying the hash of a JSON body.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// The signature of a form-encoded request, as Twilio computes it. The
/// simulator signs its callbacks with this.
pub fn sign_form(url: &str, params: &[(String, String)], auth_token: &str) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Sorting the pairs sorts by name, then the values of one name.
    sorted.sort_unstable();
    let mut mac = new_mac(auth_token);
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// True when `signature` is Twilio's signature of this form request.
pub fn validate_form(
    url: &str,
    params: &[(String, String)],
    signature: &str,
    auth_token: &str,
) -> bool {
    let signature = signature.trim().as_bytes();
    let mut ok = Choice::from(0);
    for candidate in url_variants(url) {
        ok |= sign_form(&candidate, params, auth_token)
            .as_bytes()
            .ct_eq(signature);
    }
    ok.into()
}

/// Signs a JSON request: appends `bodySHA256` to `url` and signs the result.
/// Returns the URL to request and the signature to send with it.
pub fn sign_json(url: &str, raw_body: &[u8], auth_token: &str) -> (String, String) {
    let separator = if url.contains('?') { '&' } else { '?' };
    let signed_url = format!("{url}{separator}{BODY_HASH_PARAM}={}", body_hash(raw_body));
    let signature = sign_form(&signed_url, &[], auth_token);
    (signed_url, signature)
}

/// True when `url` carries the SHA-256 of `raw_body` in `bodySHA256` and
/// `signature` is Twilio's signature of that URL.
pub fn validate_json(url: &str, raw_body: &[u8], signature: &str, auth_token: &str) -> bool {
    let Some(claimed) = query_param(url, BODY_HASH_PARAM) else {
        return false;
    };
    let hash_ok = body_hash(raw_body)
        .as_bytes()
        .ct_eq(claimed.to_ascii_lowercase().as_bytes());
    let signature_ok = Choice::from(u8::from(validate_form(url, &[], signature, auth_token)));
    (hash_ok & signature_ok).into()
}

/// Lowercase hex SHA-256 of a body.
pub fn body_hash(raw_body: &[u8]) -> String {
    hex::encode(Sha256::digest(raw_body))
}

fn new_mac(auth_token: &str) -> Hmac<Sha1> {
    <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("BUG: HMAC accepts keys of any length")
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` as given, plus the same URL with the scheme's default port added
/// (when it has no port) or removed (when it has exactly that port).
///
/// Works on the string, not on a parsed URL: parsers normalise (drop default
/// ports, lowercase hosts), which would change what was signed.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some(scheme_end) = url.find("://") else {
        return variants;
    };
    let default_port = match url[..scheme_end].to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    // The host starts after any userinfo; a port is `:digits` after the host
    // (after the `]` of an IPv6 literal).
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_and_port = &authority[host_start..];
    let search_from = host_and_port.rfind(']').unwrap_or(0);
    let port = host_and_port[search_from..]
        .rfind(':')
        .map(|i| search_from + i)
        .filter(|&i| {
            let digits = &host_and_port[i + 1..];
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        });
    let (before, after) = (&url[..authority_start + host_start], &url[authority_end..]);
    match port {
        Some(colon) if &host_and_port[colon + 1..] == default_port => {
            variants.push(format!("{before}{}{after}", &host_and_port[..colon]));
        }
        Some(_) => {}
        None => variants.push(format!("{before}{host_and_port}:{default_port}{after}")),
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Twilio's documentation example (token `12345`). The expected value was
    /// recomputed independently with Python:
    /// `base64.b64encode(hmac.new(b"12345", (url + "".join(k + p[k] for k in sorted(p))).encode(), hashlib.sha1).digest())`.
    #[test]
    fn known_answer_twilio_docs_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            sign_form(url, &params, "12345"),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(validate_form(
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
            "12345"
        ));
    }

    /// Repeated names, unsorted input, non-ASCII and markup in values, a
    /// non-ASCII token. Expected value computed with Python's hmac/hashlib over
    /// the string `url + "CallSid…CallStatuscompletedNameZoë & <co>NoteappleNotezebra"`
    /// (names sorted, values of `Note` sorted), UTF-8 encoded.
    #[test]
    fn known_answer_repeated_names() {
        let url = "https://outcall.example.com/webhooks/twilio/status?c=1";
        let params = pairs(&[
            ("CallSid", "CA0123456789abcdef0123456789abcdef"),
            ("CallStatus", "completed"),
            ("Note", "zebra"),
            ("Note", "apple"),
            ("Name", "Zoë & <co>"),
        ]);
        let expected = "aOuo3mYnG55MNFyVs+zo5kgnZ+Q=";
        assert_eq!(sign_form(url, &params, "secret-token-ü"), expected);
        let mut shuffled = params.clone();
        shuffled.reverse();
        assert!(validate_form(url, &shuffled, expected, "secret-token-ü"));
    }

    fn status_form() -> (String, Vec<(String, String)>) {
        (
            "https://outcall.example.com/webhooks/twilio/status".to_owned(),
            pairs(&[
                ("CallSid", "CAabc"),
                ("CallStatus", "ringing"),
                ("SequenceNumber", "1"),
            ]),
        )
    }

    #[test]
    fn rejects_wrong_token_and_tampering() {
        let (url, params) = status_form();
        let sig = sign_form(&url, &params, "token");
        assert!(validate_form(&url, &params, &sig, "token"));
        assert!(validate_form(&url, &params, &format!(" {sig} "), "token"));
        assert!(!validate_form(&url, &params, &sig, "other"));
        assert!(!validate_form(&url, &params, "", "token"));

        let mut modified = params.clone();
        modified[1].1 = "completed".into();
        assert!(!validate_form(&url, &modified, &sig, "token"));

        let mut added = params.clone();
        added.push(("CallDuration".into(), "1".into()));
        assert!(!validate_form(&url, &added, &sig, "token"));

        let mut removed = params.clone();
        removed.pop();
        assert!(!validate_form(&url, &removed, &sig, "token"));

        assert!(!validate_form(
            &format!("{url}?x=1"),
            &params,
            &sig,
            "token"
        ));
        assert!(!validate_form(
            "http://outcall.example.com/webhooks/twilio/status",
            &params,
            &sig,
            "token"
        ));
    }

    #[test]
    fn accepts_default_port_added_or_removed() {
        let (url, params) = status_form();
        let with_port = "https://outcall.example.com:443/webhooks/twilio/status";
        // Twilio signed without the port; we see it with, and vice versa.
        let sig = sign_form(&url, &params, "t");
        assert!(validate_form(with_port, &params, &sig, "t"));
        let sig = sign_form(with_port, &params, "t");
        assert!(validate_form(&url, &params, &sig, "t"));

        let http = "http://127.0.0.1/cb?x=1";
        let sig = sign_form("http://127.0.0.1:80/cb?x=1", &params, "t");
        assert!(validate_form(http, &params, &sig, "t"));

        // Only the scheme's default port is interchangeable.
        let sig = sign_form(
            "https://outcall.example.com:8443/webhooks/twilio/status",
            &params,
            "t",
        );
        assert!(!validate_form(&url, &params, &sig, "t"));
        let sig = sign_form(
            "https://outcall.example.com:80/webhooks/twilio/status",
            &params,
            "t",
        );
        assert!(!validate_form(&url, &params, &sig, "t"));
    }

    #[test]
    fn url_variants_cover_userinfo_and_ipv6() {
        assert_eq!(
            url_variants("https://u:p@h.example/x"),
            ["https://u:p@h.example/x", "https://u:p@h.example:443/x"]
        );
        assert_eq!(
            url_variants("http://[::1]:80?a=b"),
            ["http://[::1]:80?a=b", "http://[::1]?a=b"]
        );
        assert_eq!(
            url_variants("http://[::1]"),
            ["http://[::1]", "http://[::1]:80"]
        );
        assert_eq!(url_variants("wss://h/x"), ["wss://h/x"]);
        assert_eq!(url_variants("not a url"), ["not a url"]);
    }

    /// Expected values computed with Python: `hashlib.sha256(body).hexdigest()`
    /// and the HMAC-SHA1 (token `12345`) of the URL with `bodySHA256` appended.
    #[test]
    fn json_known_answer_and_tampering() {
        let body = br#"{"a":1,"b":"x"}"#;
        let hash = "ecf9e98ec0641e23113ff3ce8bdc78d0ddd249886517fd4a7f68cc83d4e65667";
        assert_eq!(body_hash(body), hash);
        let (url, sig) = sign_json("https://outcall.example.com/hook", body, "12345");
        assert_eq!(
            url,
            format!("https://outcall.example.com/hook?bodySHA256={hash}")
        );
        assert_eq!(sig, "H9ddNMBA+Qa/BhS2XQUiEikHr0s=");
        assert!(validate_json(&url, body, &sig, "12345"));
        assert!(validate_json(
            &url.replace("example.com/", "example.com:443/"),
            body,
            &sig,
            "12345"
        ));

        assert!(!validate_json(&url, br#"{"a":2,"b":"x"}"#, &sig, "12345"));
        assert!(!validate_json(&url, body, &sig, "wrong"));
        // A forged hash matching a forged body fails on the signature.
        let forged_body = br#"{"a":2}"#;
        let forged_url = format!(
            "https://outcall.example.com/hook?bodySHA256={}",
            body_hash(forged_body)
        );
        assert!(!validate_json(&forged_url, forged_body, &sig, "12345"));
        // No hash in the URL: nothing covers the body.
        let bare_sig = sign_form("https://outcall.example.com/hook", &[], "12345");
        assert!(!validate_json(
            "https://outcall.example.com/hook",
            body,
            &bare_sig,
            "12345"
        ));

        let (url2, sig2) = sign_json("https://h/x?a=1", b"{}", "k");
        assert!(url2.starts_with("https://h/x?a=1&bodySHA256="));
        assert!(validate_json(&url2, b"{}", &sig2, "k"));
    }
}

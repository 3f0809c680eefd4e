//! The per-call token that authenticates Twilio's media-stream connection and carries
//! what the stream needs to start: the agent and a nonce, bound to the call sid.
//!
//! The server puts it in the TwiML it answers for the call (a `<Parameter>` that comes
//! back in the stream's `start.customParameters`), so only a stream for a call this
//! server set up can open an agent conversation, and the stream can open it without
//! reading the call record first. It is an HMAC of the call sid, the agent id and the
//! nonce under a key derived from the Twilio auth token: every outcall process of one
//! account computes and checks the same tokens, and nobody without the auth token can.
//!
//! Format: `v2.<nonce hex>.<agent id as hex, empty for the default agent>.<mac hex>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v2";

/// What an authentic token says about its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The agent the call talks to; `None`: the configured default agent.
    pub agent_id: Option<String>,
    pub nonce: String,
}

fn mac(auth_token: &str, call_sid: &str, agent_hex: &str, nonce: &str) -> Vec<u8> {
    let mut key =
        HmacSha256::new_from_slice(auth_token.as_bytes()).expect("BUG: HMAC takes any key length");
    key.update(b"outcall media-stream token v2");
    let derived = key.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&derived).expect("BUG: HMAC takes any key length");
    // Each part is followed by a separator no part contains (hex, a call sid).
    for part in [call_sid, agent_hex, nonce] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac.finalize().into_bytes().to_vec()
}

/// The token for a stream of `call_sid` talking to `agent_id`, with a fresh nonce.
pub fn issue_for(auth_token: &str, call_sid: &str, agent_id: Option<&str>) -> String {
    let nonce = hex::encode(rand::random::<[u8; 12]>());
    let agent_hex = agent_id.map(hex::encode).unwrap_or_default();
    let mac = hex::encode(mac(auth_token, call_sid, &agent_hex, &nonce));
    format!("{VERSION}.{nonce}.{agent_hex}.{mac}")
}

/// The token for `call_sid` and the default agent.
pub fn issue(auth_token: &str, call_sid: &str) -> String {
    issue_for(auth_token, call_sid, None)
}

/// The token's claims if it is authentic for `call_sid` (MAC compared in constant time).
pub fn verify(auth_token: &str, call_sid: &str, token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (Some(VERSION), Some(nonce), Some(agent_hex), Some(given), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let given = hex::decode(given).ok()?;
    if !bool::from(mac(auth_token, call_sid, agent_hex, nonce).ct_eq(&given)) {
        return None;
    }
    let agent_id = match agent_hex {
        "" => None,
        hex => Some(String::from_utf8(hex::decode(hex).ok()?).ok()?),
    };
    Some(Claims {
        agent_id,
        nonce: nonce.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_the_call_the_agent_and_the_account() {
        let t = issue_for("secret", "CA1", Some("agent_7"));
        let claims = verify("secret", "CA1", &t).expect("authentic");
        assert_eq!(claims.agent_id.as_deref(), Some("agent_7"));
        assert_eq!(claims.nonce.len(), 24);
        assert!(verify("secret", "CA2", &t).is_none(), "another call");
        assert!(verify("other", "CA1", &t).is_none(), "another account");
        // Another agent under the same MAC is a forgery.
        let swapped = t.replace(&hex::encode("agent_7"), &hex::encode("agent_8"));
        assert!(verify("secret", "CA1", &swapped).is_none(), "agent swapped");
        assert!(verify("secret", "CA1", "zz").is_none(), "not a token");
        assert!(verify("secret", "CA1", "").is_none(), "empty");
        assert!(
            verify("secret", "CA1", &format!("{t}.x")).is_none(),
            "extra part"
        );
    }

    #[test]
    fn the_default_agent_and_fresh_nonces() {
        let (a, b) = (issue("secret", "CA1"), issue("secret", "CA1"));
        assert_ne!(a, b, "each token has its own nonce");
        assert_eq!(verify("secret", "CA1", &a).expect("ok").agent_id, None);
        assert!(verify("secret", "CA1", &b).is_some());
    }
}

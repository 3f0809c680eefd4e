//! The per-call token that authenticates Twilio's media-stream connection.
//!
//! The server puts it in the TwiML it answers for the call (a `<Parameter>` that comes
//! back in the stream's `start.customParameters`), so only a stream for a call this
//! server set up can open an agent conversation. It is an HMAC of the call sid under
//! a key derived from the Twilio auth token: every outcall process of one account
//! computes the same token, and nobody without the auth token can.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

fn mac(auth_token: &str, call_sid: &str) -> Vec<u8> {
    let mut key =
        HmacSha256::new_from_slice(auth_token.as_bytes()).expect("BUG: HMAC takes any key length");
    key.update(b"outcall media-stream token v1");
    let derived = key.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&derived).expect("BUG: HMAC takes any key length");
    mac.update(call_sid.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The token for `call_sid`, as hex.
pub fn issue(auth_token: &str, call_sid: &str) -> String {
    hex::encode(mac(auth_token, call_sid))
}

/// Whether `token` is the one [`issue`] gives for `call_sid`, compared in constant time.
pub fn verify(auth_token: &str, call_sid: &str, token: &str) -> bool {
    let Ok(given) = hex::decode(token) else {
        return false;
    };
    bool::from(mac(auth_token, call_sid).ct_eq(&given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_the_call_and_the_account() {
        let t = issue("secret", "CA1");
        assert!(verify("secret", "CA1", &t));
        assert!(!verify("secret", "CA2", &t), "another call");
        assert!(!verify("other", "CA1", &t), "another account");
        assert!(!verify("secret", "CA1", "zz"), "not hex");
        assert!(!verify("secret", "CA1", ""), "empty");
    }
}

//! `ObjectId`: the 12-byte id MongoDB gives every document, written as 24 hex
//! digits in JSON. Both stores use it so a database moves between them unchanged.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id: expected 24 hexadecimal characters")]
pub struct InvalidObjectId;

/// Per-process random part and counter, as MongoDB's ObjectId specification lays out:
/// 4 bytes of seconds, 5 random bytes fixed per process, 3 bytes of counter.
fn process_state() -> &'static ([u8; 5], AtomicU32) {
    static STATE: OnceLock<([u8; 5], AtomicU32)> = OnceLock::new();
    STATE.get_or_init(|| (rand::random(), AtomicU32::new(rand::random())))
}

impl ObjectId {
    /// A new id, unique across processes with overwhelming probability and
    /// increasing with time within one process.
    pub fn new() -> Self {
        let secs = chrono::Utc::now().timestamp() as u32;
        let (random, counter) = process_state();
        let count = counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..9].copy_from_slice(random);
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> [u8; 12] {
        self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for ObjectId {
    type Err = InvalidObjectId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 24 {
            return Err(InvalidObjectId);
        }
        let mut bytes = [0u8; 12];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| InvalidObjectId)?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_hex_and_json() {
        let id = ObjectId::new();
        assert_eq!(id.to_hex().parse::<ObjectId>(), Ok(id));
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{}\"", id.to_hex()));
        assert_eq!(serde_json::from_str::<ObjectId>(&json).expect("parse"), id);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "abc",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
            "0123456789abcdef012345678",
        ] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ids_are_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| ObjectId::new()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}

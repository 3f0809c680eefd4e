//! Phone numbers, always stored and compared in E.164 (`+` and digits).
//! National formats are read with a default region (`DEFAULT_REGION`).

use std::fmt;

use phonenumber::country::Id as Country;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid phone number in E.164 form, e.g. `+14155550123`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("{0}")]
    Unparseable(String),
    #[error("not a valid number for its country")]
    Invalid,
    #[error("unknown region code {0:?}: use a two-letter country code such as US or GB")]
    UnknownRegion(String),
}

/// The region used for numbers written without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(Country);

impl Region {
    pub fn parse(code: &str) -> Result<Self, PhoneError> {
        code.trim()
            .to_ascii_uppercase()
            .parse::<Country>()
            .map(Region)
            .map_err(|_| PhoneError::UnknownRegion(code.to_string()))
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(Country::US)
    }
}

impl PhoneNumber {
    /// Parses any common written form (`+1 415-555-0123`, `(415) 555 0123` with region US,
    /// `00 44 20 7946 0958`) and keeps only valid numbers, normalised to E.164.
    pub fn parse(input: &str, region: Region) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > 64 {
            return Err(PhoneError::Unparseable(trimmed.chars().take(64).collect()));
        }
        let parsed = phonenumber::parse(Some(region.0), trimmed)
            .map_err(|e| PhoneError::Unparseable(e.to_string()))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Wraps a string already known to be E.164 (read back from a store).
    pub fn from_e164_unchecked(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    /// Stored numbers are trusted as written; input from users goes through `parse`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Region {
        Region::parse("US").expect("US")
    }

    #[test]
    fn normalises_common_written_forms() {
        for input in [
            "+1 415-555-2671",
            "(415) 555-2671",
            "415.555.2671",
            "+14155552671",
            "011 1 415 555 2671",
        ] {
            assert_eq!(
                PhoneNumber::parse(input, us()).expect(input).as_str(),
                "+14155552671"
            );
        }
    }

    #[test]
    fn national_format_uses_the_default_region() {
        let gb = Region::parse("gb").expect("GB");
        assert_eq!(
            PhoneNumber::parse("020 7946 0958", gb)
                .expect("uk")
                .as_str(),
            "+442079460958"
        );
        let au = Region::parse("AU").expect("AU");
        assert_eq!(
            PhoneNumber::parse("0412 345 678", au).expect("au").as_str(),
            "+61412345678"
        );
    }

    #[test]
    fn rejects_garbage_and_invalid_numbers() {
        for bad in [
            "",
            "hello",
            "123",
            "+1 555",
            "+999 1234567",
            &"9".repeat(80),
        ] {
            assert!(PhoneNumber::parse(bad, us()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn rejects_unknown_regions() {
        assert!(Region::parse("XX").is_err());
        assert!(Region::parse("").is_err());
    }
}

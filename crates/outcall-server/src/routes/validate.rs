//! Checks shared by the routes: sids, phone numbers, lengths.

use outcall_domain::phone::{PhoneNumber, Region};
use outcall_domain::validate::Validator;

use crate::error::{ApiError, ApiResult};

/// A provider sid (`CA…`, `RE…`) or any id-like key: 1–64 of `[A-Za-z0-9_-]`.
pub fn sid(field: &str, value: &str) -> ApiResult<()> {
    if is_sid(value) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "must be 1 to 64 letters, digits, '_' or '-'",
        ))
    }
}

pub fn is_sid(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a phone number into E.164, recording the error on `v` if it is not one.
pub fn phone(v: &mut Validator, field: &str, value: &str, region: Region) -> Option<PhoneNumber> {
    match PhoneNumber::parse(value, region) {
        Ok(p) => Some(p),
        Err(e) => {
            v.error(field, format!("not a valid phone number ({e})"));
            None
        }
    }
}

/// Records an error on `v` if `value` is given and not a sid.
pub fn optional_sid(v: &mut Validator, field: &str, value: Option<&str>) {
    if let Some(s) = value
        && !is_sid(s)
    {
        v.error(field, "must be 1 to 64 letters, digits, '_' or '-'");
    }
}

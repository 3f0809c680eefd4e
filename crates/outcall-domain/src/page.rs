//! Pagination and sorting shared by every list: `page` from 1, `limit` 1..=100
//! (default 20), `sort` as `field` or `-field` on an indexed field.

use serde::Serialize;

use crate::validate::ValidationError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// One sort key, already checked against the fields a list may sort on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub field: &'static str,
    pub order: SortOrder,
}

impl Sort {
    /// Parses `field` or `-field`, accepting only the names in `allowed`.
    pub fn parse(input: &str, allowed: &[&'static str]) -> Result<Self, ValidationError> {
        let (name, order) = match input.strip_prefix('-') {
            Some(rest) => (rest, SortOrder::Desc),
            None => (input.strip_prefix('+').unwrap_or(input), SortOrder::Asc),
        };
        allowed
            .iter()
            .find(|f| **f == name)
            .map(|field| Sort { field, order })
            .ok_or_else(|| {
                ValidationError::field(
                    "sort",
                    format!(
                        "cannot sort by {name:?}; sortable fields: {}",
                        allowed.join(", ")
                    ),
                )
            })
    }

    pub fn desc(field: &'static str) -> Self {
        Self {
            field,
            order: SortOrder::Desc,
        }
    }

    pub fn asc(field: &'static str) -> Self {
        Self {
            field,
            order: SortOrder::Asc,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
    pub sort: Sort,
}

impl PageRequest {
    /// Validates raw `page` and `limit` values as a user typed them.
    pub fn new(page: Option<i64>, limit: Option<i64>, sort: Sort) -> Result<Self, ValidationError> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(DEFAULT_LIMIT as i64);
        if !(1..=1_000_000).contains(&page) {
            return Err(ValidationError::field(
                "page",
                "must be a whole number from 1",
            ));
        }
        if !(1..=MAX_LIMIT as i64).contains(&limit) {
            return Err(ValidationError::field(
                "limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            ));
        }
        Ok(Self {
            page: page as u32,
            limit: limit as u32,
            sort,
        })
    }

    pub fn offset(&self) -> u64 {
        (self.page as u64 - 1) * self.limit as u64
    }
}

/// One page of results and the totals a client needs to page on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub limit: u32,
    pub total: u64,
    /// Stored documents of this page left out because they could not be read (see
    /// `outcall_store::undecodable`); they still count in `total`.
    pub skipped: u64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.limit.max(1) as u64)
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            limit: self.limit,
            total: self.total,
            skipped: self.skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["createdAt", "status"];

    #[test]
    fn parses_sort_direction() {
        assert_eq!(
            Sort::parse("-createdAt", FIELDS).expect("ok"),
            Sort::desc("createdAt")
        );
        assert_eq!(
            Sort::parse("status", FIELDS).expect("ok"),
            Sort::asc("status")
        );
        assert!(Sort::parse("to", FIELDS).is_err());
    }

    #[test]
    fn validates_page_and_limit() {
        let s = Sort::desc("createdAt");
        assert!(PageRequest::new(Some(0), None, s.clone()).is_err());
        assert!(PageRequest::new(None, Some(101), s.clone()).is_err());
        assert!(PageRequest::new(None, Some(0), s.clone()).is_err());
        let p = PageRequest::new(Some(3), Some(10), s).expect("ok");
        assert_eq!(p.offset(), 20);
    }

    #[test]
    fn counts_pages() {
        let page = Page::<u8> {
            items: vec![],
            page: 1,
            limit: 20,
            total: 41,
            skipped: 0,
        };
        assert_eq!(page.pages(), 3);
    }
}

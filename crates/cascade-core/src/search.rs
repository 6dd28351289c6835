//! Search over trackings (`POST /failover/tracking`): the query model and its parsing.
//!
//! [`parse_search`] turns the request's query parameters and JSON body into a
//! [`SearchQuery`], reporting every problem by field path (`size`, `dateStart`,
//! `filters[1].searchOperator`). What it returns is already checked and canonical, so a
//! store only translates it: channel and status terms are enum values, free-text terms
//! are lower case, the page size is within its bounds, the date range is ordered, and
//! the text operators (`contains`, `starts_with`, `ends_with`) can only be expressed for
//! the `to` field.

use std::collections::HashMap;

use serde_json::Value;

use crate::channel::Channel;
use crate::fields::Presence::{Optional, Required};
use crate::fields::{FieldReader, JsonObject, ValidationErrors};
use crate::ids::FlowId;
use crate::machines::FlowStatus;
use crate::time::Timestamp;

/// Page size when `size` is absent.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Largest `size` accepted.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The last page number accepted: Spring's `page` is a Java `int`, and the API document
/// declares it as a 32-bit integer.
pub const MAX_PAGE: u32 = i32::MAX as u32;
/// Most filters one request may carry (each becomes a clause of the store's query).
pub const MAX_FILTERS: usize = 32;
/// Longest free-text `searchTerm`, in characters.
pub const MAX_TERM_CHARS: usize = 256;

/// A checked search request. Built only by [`parse_search`] (or field by field in tests
/// of the stores); every combination of its fields is a valid query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// `createdAt >= date_start` (inclusive).
    pub date_start: Option<Timestamp>,
    /// `createdAt < date_end` (exclusive). Never before `date_start` when both are set.
    pub date_end: Option<Timestamp>,
    /// 0-based page number.
    pub page: u32,
    pub size: PageSize,
    pub sort: Sort,
    /// Every filter must hold (AND).
    pub filters: Vec<Filter>,
}

impl SearchQuery {
    /// How many results the pages before this one hold: `page * size`.
    pub fn offset(&self) -> u64 {
        u64::from(self.page) * u64::from(self.size.get())
    }
}

impl Default for SearchQuery {
    /// The first page of 10, newest first, no date range, no filter.
    fn default() -> Self {
        Self {
            date_start: None,
            date_end: None,
            page: 0,
            size: PageSize::default(),
            sort: Sort::default(),
            filters: Vec::new(),
        }
    }
}

/// A page size in `1..=MAX_PAGE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageSize(u32);

impl PageSize {
    /// `Some` when `n` is in `1..=MAX_PAGE_SIZE`.
    pub fn new(n: u32) -> Option<PageSize> {
        (1..=MAX_PAGE_SIZE).contains(&n).then_some(PageSize(n))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        PageSize(DEFAULT_PAGE_SIZE)
    }
}

/// The order of results. Ties on the timestamp are broken by trackingId in the same
/// direction, so the order is total and paging is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Default for Sort {
    /// `createdAt,desc`: newest first.
    fn default() -> Self {
        Self {
            field: SortField::CreatedAt,
            descending: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
}

/// `is` or `is_not`: the operators every field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Equality {
    Is,
    IsNot,
}

/// The operators of the `to` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOperator {
    Is,
    IsNot,
    Contains,
    StartsWith,
    EndsWith,
}

/// One condition on a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The flow has (`Is`) or has no (`IsNot`) step of this channel.
    Type { op: Equality, channel: Channel },
    /// Some step's recipient matches (`Is`, `Contains`, `StartsWith`, `EndsWith`), or no
    /// step's recipient equals the term (`IsNot`).
    To { op: TextOperator, term: SearchText },
    /// The flow's overall status.
    Status { op: Equality, status: FlowStatus },
    /// The channel of the last attempted step; a flow with none attempted matches every
    /// `IsNot` and no `Is`.
    TerminationChannel { op: Equality, channel: Channel },
    /// The flow's trackingId.
    TrackingId { op: Equality, id: FlowId },
}

/// A free-text search term: non-empty, at most [`MAX_TERM_CHARS`] characters, trimmed
/// and lower case (recipients are stored lower case, so matching is case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchText(String);

impl SearchText {
    /// # Errors
    /// A description of what is wrong when the text is empty (after trimming) or too long.
    pub fn parse(text: &str) -> Result<SearchText, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if text.chars().count() > MAX_TERM_CHARS {
            return Err(format!("must be at most {MAX_TERM_CHARS} characters"));
        }
        Ok(SearchText(text.to_lowercase()))
    }
}

impl AsRef<str> for SearchText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Parse a search request: `query_params` are the URL's query parameters (unknown ones
/// are ignored), `body` the JSON body (`Value::Null` when the body was empty).
///
/// Query: `dateStart`, `dateEnd` (RFC 3339, minutes-only form accepted), `page` (≥ 0,
/// default 0), `size` (1–1000, default 10), `sort` (`createdAt,desc` default,
/// `createdAt,asc`, `updatedAt,asc`, `updatedAt,desc`; case-insensitive). Body: null, a
/// filter object, or an array of them; a filter is `{"fieldName", "searchOperator"
/// (default "is"), "searchTerm"}` with unknown members ignored.
///
/// # Errors
/// Every problem found, keyed by path: `dateStart`, `dateEnd` (also when it is before
/// `dateStart`), `page`, `size`, `sort`, `filters` (the body's shape, too many filters),
/// `filters[i]`, `filters[i].fieldName`, `filters[i].searchOperator`,
/// `filters[i].searchTerm`.
pub fn parse_search(
    query_params: &HashMap<String, String>,
    body: &Value,
) -> Result<SearchQuery, ValidationErrors> {
    let mut r = FieldReader::new();
    let param = |name: &str| query_params.get(name).map(String::as_str);

    let mut date = |name: &str| {
        let text = param(name)?;
        match Timestamp::parse(text) {
            Ok(t) => Some(t),
            Err(_) => r.fail(
                name,
                "must be an RFC 3339 date-time such as 2026-05-05T15:00:00Z or 2026-05-05T15:00Z",
            ),
        }
    };
    let date_start = date("dateStart");
    let date_end = date("dateEnd");
    if let (Some(start), Some(end)) = (date_start, date_end)
        && end < start
    {
        r.report("dateEnd", "must not be before dateStart");
    }

    let page = match param("page") {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|page| *page <= MAX_PAGE)
            .unwrap_or_else(|| {
                r.report(
                    "page",
                    format!("must be a whole number from 0 to {MAX_PAGE}"),
                );
                0
            }),
    };
    let size = match param("size") {
        None => PageSize::default(),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(PageSize::new)
            .unwrap_or_else(|| {
                r.report(
                    "size",
                    format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                );
                PageSize::default()
            }),
    };
    let sort = match param("sort") {
        None => Sort::default(),
        Some(text) => parse_sort(text).unwrap_or_else(|| {
            r.report(
                "sort",
                "must be createdAt,desc, createdAt,asc, updatedAt,desc or updatedAt,asc",
            );
            Sort::default()
        }),
    };

    let filters = parse_filters(body, &mut r);

    r.finish()?;
    Ok(SearchQuery {
        date_start,
        date_end,
        page,
        size,
        sort,
        filters,
    })
}

/// `<field>,<direction>`, both case-insensitive, spaces around either ignored.
fn parse_sort(text: &str) -> Option<Sort> {
    let (field, direction) = text.split_once(',')?;
    let field = match field.trim() {
        f if f.eq_ignore_ascii_case("createdAt") => SortField::CreatedAt,
        f if f.eq_ignore_ascii_case("updatedAt") => SortField::UpdatedAt,
        _ => return None,
    };
    let descending = match direction.trim() {
        d if d.eq_ignore_ascii_case("desc") => true,
        d if d.eq_ignore_ascii_case("asc") => false,
        _ => return None,
    };
    Some(Sort { field, descending })
}

/// The body: null (no filter), one filter object, or an array of filter objects.
fn parse_filters(body: &Value, r: &mut FieldReader) -> Vec<Filter> {
    let items: Vec<&Value> = match body {
        Value::Null => Vec::new(),
        Value::Object(_) => vec![body],
        Value::Array(items) if items.len() > MAX_FILTERS => {
            r.report(
                "filters",
                format!("must hold at most {MAX_FILTERS} filters"),
            );
            return Vec::new();
        }
        Value::Array(items) => items.iter().collect(),
        _ => {
            r.report(
                "filters",
                "the body must be a JSON array of filters, a single filter object, or empty",
            );
            return Vec::new();
        }
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let filter = r.object_with_rule(
                item,
                format!("filters[{i}]"),
                "must be an object with fieldName, searchOperator and searchTerm",
            )?;
            parse_filter(&filter, r)
        })
        .collect()
}

/// What a filter is about, before its term is read: `to`, which takes every operator,
/// or one of the fields that take only `is` / `is_not`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldName {
    To,
    Exact(ExactField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExactField {
    Type,
    Status,
    TerminationChannel,
    TrackingId,
}

impl FieldName {
    const ALL: [(FieldName, &'static str); 5] = [
        (FieldName::Exact(ExactField::Type), "type"),
        (FieldName::To, "to"),
        (FieldName::Exact(ExactField::Status), "status"),
        (
            FieldName::Exact(ExactField::TerminationChannel),
            "terminationChannel",
        ),
        (FieldName::Exact(ExactField::TrackingId), "trackingId"),
    ];

    fn parse(text: &str) -> Option<FieldName> {
        Self::ALL
            .into_iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(text.trim()))
            .map(|(field, _)| field)
    }
}

fn parse_operator(text: &str) -> Option<TextOperator> {
    let text = text.trim();
    [
        (TextOperator::Is, "is"),
        (TextOperator::IsNot, "is_not"),
        (TextOperator::Contains, "contains"),
        (TextOperator::StartsWith, "starts_with"),
        (TextOperator::EndsWith, "ends_with"),
    ]
    .into_iter()
    .find(|(_, name)| name.eq_ignore_ascii_case(text))
    .map(|(op, _)| op)
}

/// One filter object; `None` (with the problems reported) when any member is wrong.
fn parse_filter(filter: &JsonObject<'_>, r: &mut FieldReader) -> Option<Filter> {
    const OPERATOR: &str = "searchOperator";
    let field = r.string(filter, "fieldName", Required).and_then(|name| {
        FieldName::parse(name).or_else(|| {
            r.fail(
                filter.at("fieldName"),
                "must be one of type, to, status, terminationChannel, trackingId",
            )
        })
    });
    let op = match filter.get(OPERATOR) {
        None => Some(TextOperator::Is),
        Some(_) => r.string(filter, OPERATOR, Optional).and_then(|name| {
            parse_operator(name).or_else(|| {
                r.fail(
                    filter.at(OPERATOR),
                    "must be one of is, is_not, contains, starts_with, ends_with",
                )
            })
        }),
    };
    let term = r.string_or_integer(filter, "searchTerm", Required);

    let (field, op) = (field?, op?);
    let parsed = match field {
        FieldName::To => {
            let term = term?;
            SearchText::parse(&term).map(|term| Filter::To { op, term })
        }
        FieldName::Exact(field) => {
            // Checked before the term, so both problems are reported together.
            let op = match op {
                TextOperator::Is => Equality::Is,
                TextOperator::IsNot => Equality::IsNot,
                TextOperator::Contains | TextOperator::StartsWith | TextOperator::EndsWith => {
                    return r.fail(
                        filter.at(OPERATOR),
                        "contains, starts_with and ends_with apply to the to field only; use is or is_not",
                    );
                }
            };
            exact_filter(field, op, &term?)
        }
    };
    parsed
        .map_err(|message| r.report(filter.at("searchTerm"), message))
        .ok()
}

/// A filter on a field that takes only `is` / `is_not`; `Err` says what is wrong with
/// the term.
fn exact_filter(field: ExactField, op: Equality, term: &str) -> Result<Filter, String> {
    const NOT_A_CHANNEL: &str = "must be a channel: Sms, Viber or Voice";
    match field {
        ExactField::Type => Channel::parse(term)
            .map(|channel| Filter::Type { op, channel })
            .ok_or_else(|| NOT_A_CHANNEL.to_owned()),
        ExactField::TerminationChannel => Channel::parse(term)
            .map(|channel| Filter::TerminationChannel { op, channel })
            .ok_or_else(|| NOT_A_CHANNEL.to_owned()),
        ExactField::Status => FlowStatus::parse(term)
            .map(|status| Filter::Status { op, status })
            .ok_or_else(|| {
                "must be a flow status: Queued, InProgress, Succeeded or Failed".to_owned()
            }),
        ExactField::TrackingId => FlowId::parse(term.trim())
            .map(|id| Filter::TrackingId { op, id })
            .map_err(|_| "must be a trackingId (a UUID)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse(pairs: &[(&str, &str)], body: Value) -> Result<SearchQuery, ValidationErrors> {
        parse_search(&params(pairs), &body)
    }

    fn filters(body: Value) -> Vec<Filter> {
        parse(&[], body).expect("valid filters").filters
    }

    fn text(s: &str) -> SearchText {
        SearchText::parse(s).expect("a valid term")
    }

    const ID: &str = "01a21b5d-8202-735b-9b3f-84365d5f78d1";

    #[test]
    fn nothing_given_is_the_first_page_of_ten_newest_first() {
        let q = parse(&[], Value::Null).unwrap();
        assert_eq!(q, SearchQuery::default());
        assert_eq!(q.size.get(), 10);
        assert_eq!(
            q.sort,
            Sort {
                field: SortField::CreatedAt,
                descending: true
            }
        );
        assert_eq!(q.offset(), 0);
        assert_eq!(parse(&[], json!([])).unwrap(), SearchQuery::default());
    }

    #[test]
    fn query_parameters_in_every_accepted_form() {
        let q = parse(
            &[
                ("dateStart", "2026-05-05T15:00Z"),
                ("dateEnd", "2026-05-06T15:00:00.000+02:00"),
                ("page", "3"),
                ("size", "1000"),
                ("sort", "UPDATEDAT, Asc"),
                ("unrelated", "ignored"),
            ],
            Value::Null,
        )
        .unwrap();
        assert_eq!(q.date_start, Timestamp::parse("2026-05-05T15:00:00Z").ok());
        assert_eq!(q.date_end, Timestamp::parse("2026-05-06T13:00:00Z").ok());
        assert_eq!(q.page, 3);
        assert_eq!(q.size.get(), 1000);
        assert_eq!(q.offset(), 3000);
        assert_eq!(
            q.sort,
            Sort {
                field: SortField::UpdatedAt,
                descending: false
            }
        );
        for (text, field, descending) in [
            ("createdAt,desc", SortField::CreatedAt, true),
            ("createdat,ASC", SortField::CreatedAt, false),
            ("updatedAt,desc", SortField::UpdatedAt, true),
            ("updatedAt,asc", SortField::UpdatedAt, false),
        ] {
            let q = parse(&[("sort", text)], Value::Null).unwrap();
            assert_eq!(q.sort, Sort { field, descending }, "{text}");
        }
        let q = parse(&[("size", "1"), ("page", "0")], Value::Null).unwrap();
        assert_eq!(q.size.get(), 1);
        assert_eq!(q.page, 0);
    }

    #[test]
    fn an_empty_date_range_is_allowed() {
        let q = parse(
            &[
                ("dateStart", "2026-05-05T15:00Z"),
                ("dateEnd", "2026-05-05T15:00Z"),
            ],
            Value::Null,
        )
        .unwrap();
        assert_eq!(q.date_start, q.date_end);
        assert!(
            parse(&[("dateEnd", "2026-05-05T15:00Z")], Value::Null)
                .unwrap()
                .date_start
                .is_none()
        );
    }

    #[test]
    fn every_field_and_operator_parses_to_its_canonical_filter() {
        let body = json!([
            {"fieldName": "type", "searchOperator": "is", "searchTerm": "sms"},
            {"fieldName": "TYPE", "searchOperator": "IS_NOT", "searchTerm": "Viber"},
            {"fieldName": "to", "searchTerm": " +30691234567 "},
            {"fieldName": "to", "searchOperator": "is_not", "searchTerm": "+30691234567"},
            {"fieldName": "to", "searchOperator": "contains", "searchTerm": "SIP:Bob"},
            {"fieldName": "to", "searchOperator": "Starts_With", "searchTerm": "+3069"},
            {"fieldName": "to", "searchOperator": "ends_with", "searchTerm": 5678},
            {"fieldName": "status", "searchTerm": "inprogress"},
            {"fieldName": "Status", "searchOperator": "is_not", "searchTerm": "FAILED"},
            {"fieldName": "terminationchannel", "searchTerm": "VOICE"},
            {"fieldName": "terminationChannel", "searchOperator": "is_not", "searchTerm": "sms"},
            {"fieldName": "trackingId", "searchOperator": null, "searchTerm": ID.to_uppercase()},
            {"fieldName": "TRACKINGID", "searchOperator": "is_not", "searchTerm": ID, "extra": 1},
        ]);
        let id = FlowId::parse(ID).unwrap();
        assert_eq!(
            filters(body),
            vec![
                Filter::Type {
                    op: Equality::Is,
                    channel: Channel::Sms
                },
                Filter::Type {
                    op: Equality::IsNot,
                    channel: Channel::Viber
                },
                Filter::To {
                    op: TextOperator::Is,
                    term: text("+30691234567")
                },
                Filter::To {
                    op: TextOperator::IsNot,
                    term: text("+30691234567")
                },
                Filter::To {
                    op: TextOperator::Contains,
                    term: text("sip:bob")
                },
                Filter::To {
                    op: TextOperator::StartsWith,
                    term: text("+3069")
                },
                Filter::To {
                    op: TextOperator::EndsWith,
                    term: text("5678")
                },
                Filter::Status {
                    op: Equality::Is,
                    status: FlowStatus::InProgress
                },
                Filter::Status {
                    op: Equality::IsNot,
                    status: FlowStatus::Failed
                },
                Filter::TerminationChannel {
                    op: Equality::Is,
                    channel: Channel::Voice
                },
                Filter::TerminationChannel {
                    op: Equality::IsNot,
                    channel: Channel::Sms
                },
                Filter::TrackingId {
                    op: Equality::Is,
                    id
                },
                Filter::TrackingId {
                    op: Equality::IsNot,
                    id
                },
            ]
        );
    }

    #[test]
    fn a_single_filter_object_is_one_filter() {
        assert_eq!(
            filters(json!({"fieldName": "status", "searchTerm": "Queued"})),
            vec![Filter::Status {
                op: Equality::Is,
                status: FlowStatus::Queued
            }]
        );
    }

    #[test]
    fn search_text_is_trimmed_lower_case_and_bounded() {
        assert_eq!(text("  AbC ").as_ref(), "abc");
        assert_eq!(text("ΑΒΓ").as_ref(), "αβγ", "not only ASCII");
        assert!(SearchText::parse(" ").is_err());
        assert!(SearchText::parse(&"x".repeat(MAX_TERM_CHARS)).is_ok());
        assert!(SearchText::parse(&"x".repeat(MAX_TERM_CHARS + 1)).is_err());
    }

    #[test]
    fn bad_inputs_are_reported_at_their_path() {
        let f = |field: &str, op: &str, term: Value| json!([{"fieldName": field, "searchOperator": op, "searchTerm": term}]);
        let many: Vec<Value> = (0..=MAX_FILTERS)
            .map(|_| json!({"fieldName": "type", "searchTerm": "Sms"}))
            .collect();
        // (what is wrong, query parameters, body, the one path reported)
        type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value, &'a str);
        #[rustfmt::skip]
        let rows: Vec<Row> = vec![
            ("dateStart garbage", vec![("dateStart", "yesterday")], Value::Null, "dateStart"),
            ("dateStart without time", vec![("dateStart", "2026-05-05")], Value::Null, "dateStart"),
            ("dateStart without offset", vec![("dateStart", "2026-05-05T15:00")], Value::Null, "dateStart"),
            ("dateStart empty", vec![("dateStart", "")], Value::Null, "dateStart"),
            ("dateEnd bad month", vec![("dateEnd", "2026-13-05T15:00Z")], Value::Null, "dateEnd"),
            ("dateEnd before dateStart", vec![("dateStart", "2026-05-05T15:00Z"), ("dateEnd", "2026-05-05T14:59:59.999Z")], Value::Null, "dateEnd"),
            ("page negative", vec![("page", "-1")], Value::Null, "page"),
            ("page fractional", vec![("page", "1.5")], Value::Null, "page"),
            ("page a word", vec![("page", "first")], Value::Null, "page"),
            ("page empty", vec![("page", "")], Value::Null, "page"),
            ("page too large", vec![("page", "4294967296")], Value::Null, "page"),
            ("page past a 32-bit int", vec![("page", "2147483648")], Value::Null, "page"),
            ("size zero", vec![("size", "0")], Value::Null, "size"),
            ("size over the maximum", vec![("size", "1001")], Value::Null, "size"),
            ("size negative", vec![("size", "-10")], Value::Null, "size"),
            ("size a word", vec![("size", "ten")], Value::Null, "size"),
            ("sort unknown field", vec![("sort", "status,desc")], Value::Null, "sort"),
            ("sort unknown direction", vec![("sort", "createdAt,down")], Value::Null, "sort"),
            ("sort without direction", vec![("sort", "createdAt")], Value::Null, "sort"),
            ("sort with three parts", vec![("sort", "createdAt,desc,id")], Value::Null, "sort"),
            ("sort empty", vec![("sort", "")], Value::Null, "sort"),
            ("body a string", vec![], json!("type"), "filters"),
            ("body a number", vec![], json!(1), "filters"),
            ("too many filters", vec![], Value::Array(many), "filters"),
            ("filter not an object", vec![], json!(["type"]), "filters[0]"),
            ("second filter null", vec![], json!([{"fieldName": "type", "searchTerm": "Sms"}, null]), "filters[1]"),
            ("fieldName missing", vec![], json!([{"searchTerm": "Sms"}]), "filters[0].fieldName"),
            ("fieldName unknown", vec![], f("channel", "is", json!("Sms")), "filters[0].fieldName"),
            ("fieldName not a string", vec![], json!([{"fieldName": 1, "searchTerm": "Sms"}]), "filters[0].fieldName"),
            ("single object without fieldName", vec![], json!({"searchTerm": "Sms"}), "filters[0].fieldName"),
            ("operator unknown", vec![], f("to", "equals", json!("+3069")), "filters[0].searchOperator"),
            ("operator not a string", vec![], json!([{"fieldName": "to", "searchOperator": 1, "searchTerm": "1"}]), "filters[0].searchOperator"),
            ("contains on type", vec![], f("type", "contains", json!("Sms")), "filters[0].searchOperator"),
            ("starts_with on status", vec![], f("status", "starts_with", json!("Fail")), "filters[0].searchOperator"),
            ("ends_with on terminationChannel", vec![], f("terminationChannel", "ends_with", json!("s")), "filters[0].searchOperator"),
            ("contains on trackingId", vec![], f("trackingId", "contains", json!("01a2")), "filters[0].searchOperator"),
            ("term missing", vec![], json!([{"fieldName": "to"}]), "filters[0].searchTerm"),
            ("term null", vec![], f("to", "is", Value::Null), "filters[0].searchTerm"),
            ("term an object", vec![], f("to", "is", json!({"a": 1})), "filters[0].searchTerm"),
            ("term a fraction", vec![], f("to", "is", json!(1.5)), "filters[0].searchTerm"),
            ("to term empty", vec![], f("to", "is", json!("  ")), "filters[0].searchTerm"),
            ("to term too long", vec![], f("to", "contains", json!("1".repeat(MAX_TERM_CHARS + 1))), "filters[0].searchTerm"),
            ("type not a channel", vec![], f("type", "is", json!("Email")), "filters[0].searchTerm"),
            ("terminationChannel not a channel", vec![], f("terminationChannel", "is_not", json!("Fax")), "filters[0].searchTerm"),
            ("status unknown", vec![], f("status", "is", json!("Delivered")), "filters[0].searchTerm"),
            ("trackingId not a UUID", vec![], f("trackingId", "is", json!("abc")), "filters[0].searchTerm"),
        ];
        for (what, query, body, path) in rows {
            let errors = match parse(&query, body) {
                Ok(q) => panic!("{what}: accepted as {q:?}"),
                Err(e) => e,
            };
            assert!(
                errors.get(path).is_some(),
                "{what}: expected {path}, got {errors:?}"
            );
            assert_eq!(errors.len(), 1, "{what}: only {path}, got {errors:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = parse(
            &[("size", "0"), ("page", "-1"), ("sort", "x")],
            json!([
                {"fieldName": "type", "searchTerm": "Sms"},
                {"fieldName": "nope", "searchOperator": "nope"},
            ]),
        )
        .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|(k, _)| k).collect();
        assert_eq!(
            paths,
            [
                "filters[1].fieldName",
                "filters[1].searchOperator",
                "filters[1].searchTerm",
                "page",
                "size",
                "sort"
            ]
        );
    }

    /// `text` with each ASCII letter's case chosen by `mask`.
    fn mixed_case(text: &str, mask: u64) -> String {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn any_valid_paging_and_sort_parses_back(
            page in 0..=MAX_PAGE,
            size in 1u32..=MAX_PAGE_SIZE,
            updated in any::<bool>(),
            descending in any::<bool>(),
            mask in any::<u64>(),
        ) {
            let sort = format!(
                "{},{}",
                if updated { "updatedAt" } else { "createdAt" },
                if descending { "desc" } else { "asc" }
            );
            let (page_text, size_text) = (page.to_string(), size.to_string());
            let sort_text = mixed_case(&sort, mask);
            let q = parse(
                &[("page", page_text.as_str()), ("size", size_text.as_str()), ("sort", sort_text.as_str())],
                Value::Null,
            )
            .unwrap();
            prop_assert_eq!(q.page, page);
            prop_assert_eq!(q.size.get(), size);
            prop_assert_eq!(q.offset(), u64::from(page) * u64::from(size));
            let field = if updated { SortField::UpdatedAt } else { SortField::CreatedAt };
            prop_assert_eq!(q.sort, Sort { field, descending });
        }

        #[test]
        fn any_to_term_is_kept_lower_case(term in "[ ]{0,2}[+a-zA-Z0-9:@.]{1,40}[ ]{0,2}", mask in any::<u64>()) {
            let op = mixed_case("starts_with", mask);
            let got = filters(json!({"fieldName": mixed_case("to", mask), "searchOperator": op, "searchTerm": term}));
            prop_assert_eq!(
                got,
                vec![Filter::To { op: TextOperator::StartsWith, term: SearchText(term.trim().to_lowercase()) }]
            );
        }
    }
}

//! Reading a JSON request one field at a time, collecting every problem under the path of
//! the field it concerns (`flow[2].message.text`, `filters[0].searchTerm`, `rateLimit`),
//! so that a client learns everything wrong with a request from one answer.
//!
//! [`JsonObject`] is an object of the request together with its path; [`FieldReader`]
//! reads typed fields out of such objects and keeps the problems as [`ValidationErrors`].
//! The conventions every reader here shares:
//!
//! - JSON `null` counts as an absent field (except through [`JsonObject::raw`]);
//! - unknown fields are ignored;
//! - a primitive reports at most one problem for the field it reads and then returns
//!   `None`, as it does for an absent optional field. Callers read every field they want
//!   checked first and combine the results with `?` afterwards, so that one bad field does
//!   not hide the problems of the next.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde::Serialize;
use serde_json::{Map, Value};

/// Everything wrong with a request, keyed by field path (`flow[1].ttl`,
/// `flow[0].message.body`, `callback.url`). Several problems with one field are joined
/// with `"; "`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(BTreeMap<String, String>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let message = message.into();
        self.0
            .entry(path.into())
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(&message);
            })
            .or_insert(message);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A one-line summary for `developerMessage`.
    pub fn summary(&self) -> String {
        match self.0.len() {
            0 => "Validation failed.".to_owned(),
            1 => format!(
                "Validation failed: {} is invalid.",
                self.0.keys().next().map_or("", String::as_str)
            ),
            n => format!("Validation failed: {n} fields are invalid."),
        }
    }
}

/// Whether a field must be given. A required field that is absent or `null` is reported
/// as `"is required"`; an optional one is simply not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
}
use Presence::Required;

const REQUIRED: &str = "is required";
const NOT_EMPTY: &str = "must not be empty";
const NOT_A_STRING: &str = "must be a string";
const NOT_AN_OBJECT: &str = "must be an object";

/// A JSON object of a request and the path it sits at (`""` for the body itself).
#[derive(Debug, Clone)]
pub struct JsonObject<'v> {
    map: &'v Map<String, Value>,
    path: String,
}

impl<'v> JsonObject<'v> {
    pub fn new(map: &'v Map<String, Value>, path: impl Into<String>) -> Self {
        Self {
            map,
            path: path.into(),
        }
    }

    /// Where this object sits in the request.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path of one of this object's fields: `key` itself at the top level,
    /// `path.key` below it.
    pub fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A field's value; JSON `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A field's value as sent, `null` included, for the few fields where an explicit
    /// `null` is an error rather than "not given".
    pub fn raw(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key)
    }

    /// Whether a field is given: present, not `null`, not an empty string.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.as_str() != Some(""))
    }
}

/// Reads fields of [`JsonObject`]s, checks them and collects every problem under its
/// path. Every reading method returns `None` both when it reported a problem and when an
/// optional field is absent; [`FieldReader::finish`] says whether anything was reported.
#[derive(Debug, Default)]
pub struct FieldReader {
    errors: ValidationErrors,
}

impl FieldReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a problem found by the caller's own rules.
    pub fn report(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.add(path, message);
    }

    /// Record a problem; returns `None` so a reader can end with `return self.fail(..)`.
    pub fn fail<T>(&mut self, path: impl Into<String>, message: impl Into<String>) -> Option<T> {
        self.report(path, message);
        None
    }

    /// # Errors
    /// Every problem reported so far, when there is one.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }

    /// The problems reported so far (possibly none).
    pub fn into_errors(self) -> ValidationErrors {
        self.errors
    }

    // ---- shapes ----

    /// `value` as an object found at `path`; anything else is reported as
    /// `"must be an object"`.
    pub fn object<'v>(
        &mut self,
        value: &'v Value,
        path: impl Into<String>,
    ) -> Option<JsonObject<'v>> {
        self.object_with_rule(value, path, NOT_AN_OBJECT)
    }

    /// [`FieldReader::object`] with the caller's wording for a value that is not an
    /// object (`"must be an object {perSecond, burst}"`).
    pub fn object_with_rule<'v>(
        &mut self,
        value: &'v Value,
        path: impl Into<String>,
        rule: &str,
    ) -> Option<JsonObject<'v>> {
        let path = path.into();
        match value.as_object() {
            Some(map) => Some(JsonObject::new(map, path)),
            None => self.fail(path, rule),
        }
    }

    /// A field of any type. Reports `"is required"` when a required field is absent or
    /// `null`.
    pub fn field<'v>(
        &mut self,
        obj: &JsonObject<'v>,
        key: &str,
        presence: Presence,
    ) -> Option<&'v Value> {
        let value = obj.get(key);
        if value.is_none() && presence == Required {
            self.report(obj.at(key), REQUIRED);
        }
        value
    }

    /// A field holding an object.
    pub fn object_field<'v>(
        &mut self,
        obj: &JsonObject<'v>,
        key: &str,
        presence: Presence,
    ) -> Option<JsonObject<'v>> {
        let value = self.field(obj, key, presence)?;
        self.object(value, obj.at(key))
    }

    /// A field holding an array (of any length); anything else is reported with `rule`.
    pub fn array<'v>(
        &mut self,
        obj: &JsonObject<'v>,
        key: &str,
        presence: Presence,
        rule: &str,
    ) -> Option<&'v [Value]> {
        match self.field(obj, key, presence)? {
            Value::Array(items) => Some(items),
            _ => self.fail(obj.at(key), rule),
        }
    }

    // ---- strings ----

    /// Any string, the empty string included; anything else is reported as
    /// `"must be a string"`.
    pub fn string<'v>(
        &mut self,
        obj: &JsonObject<'v>,
        key: &str,
        presence: Presence,
    ) -> Option<&'v str> {
        let value = self.field(obj, key, presence)?;
        match value.as_str() {
            Some(text) => Some(text),
            None => self.fail(obj.at(key), NOT_A_STRING),
        }
    }

    /// A non-empty string. An empty string is reported as `"must not be empty"` when the
    /// field is required and counts as absent when it is optional (clients often send `""`
    /// for "not set").
    pub fn str_field<'v>(
        &mut self,
        obj: &JsonObject<'v>,
        key: &str,
        presence: Presence,
    ) -> Option<&'v str> {
        match self.string(obj, key, presence)? {
            "" if presence == Required => self.fail(obj.at(key), NOT_EMPTY),
            "" => None,
            text => Some(text),
        }
    }

    /// A [`FieldReader::str_field`] of at most `max` Unicode characters; a longer one is
    /// reported as `"must be at most {max} characters"`.
    pub fn text(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        max: usize,
    ) -> Option<String> {
        let text = self.str_field(obj, key, presence)?;
        if text.chars().count() > max {
            return self.fail(obj.at(key), format!("must be at most {max} characters"));
        }
        Some(text.to_owned())
    }

    /// Any string (the empty one included) of at most `max_chars` Unicode characters.
    /// Unlike [`FieldReader::text`], every problem (not a string, too long) is reported
    /// with the one `rule` the caller gives.
    pub fn bounded_string<'v>(
        &mut self,
        obj: &JsonObject<'v>,
        key: &str,
        presence: Presence,
        max_chars: usize,
        rule: &str,
    ) -> Option<&'v str> {
        let value = self.field(obj, key, presence)?;
        match value.as_str() {
            Some(text) if text.chars().count() <= max_chars => Some(text),
            _ => self.fail(obj.at(key), rule),
        }
    }

    /// A [`FieldReader::str_field`] turned into a value by `parse`, whose error message
    /// is reported as it is.
    pub fn parsed<T>(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        parse: impl FnOnce(&str) -> Result<T, &'static str>,
    ) -> Option<T> {
        let text = self.str_field(obj, key, presence)?;
        match parse(text) {
            Ok(value) => Some(value),
            Err(message) => self.fail(obj.at(key), message),
        }
    }

    /// A string, or a JSON integer taken as its decimal digits (a phone number sent as a
    /// number is still a phone number). The empty string is returned as it is; anything
    /// else, a fraction included, is reported as `"must be a string"`.
    pub fn string_or_integer(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
    ) -> Option<String> {
        match self.field(obj, key, presence)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
            _ => self.fail(obj.at(key), NOT_A_STRING),
        }
    }

    /// One of a fixed set of names, matched case-insensitively and ignoring surrounding
    /// spaces. Anything else, a non-string included, is reported as
    /// `"must be one of {names}"`.
    pub fn choice<T: Copy>(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        options: &[(&str, T)],
    ) -> Option<T> {
        let value = self.field(obj, key, presence)?;
        let found = value.as_str().and_then(|text| {
            let text = text.trim();
            options
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(text))
        });
        match found {
            Some(&(_, item)) => Some(item),
            None => {
                let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
                self.fail(obj.at(key), format!("must be one of {}", names.join(", ")))
            }
        }
    }

    // ---- booleans and numbers ----

    /// A boolean defaulting to false; anything but `true`, `false` or `null` is reported
    /// as `"must be true or false"`.
    pub fn flag(&mut self, obj: &JsonObject<'_>, key: &str) -> bool {
        match obj.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => self
                .fail(obj.at(key), "must be true or false")
                .unwrap_or(false),
        }
    }

    /// An integer in `range` that fits `T`. A whole number written with a decimal point
    /// (`5.0`) is accepted; a fraction, a string or a number out of range is reported
    /// with `rule`.
    pub fn integer<T: TryFrom<i64>>(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        range: RangeInclusive<i64>,
        rule: &str,
    ) -> Option<T> {
        let value = self.field(obj, key, presence)?;
        let whole = value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        });
        match whole
            .filter(|n| range.contains(n))
            .and_then(|n| T::try_from(n).ok())
        {
            Some(n) => Some(n),
            None => self.fail(obj.at(key), rule),
        }
    }

    /// A non-negative JSON integer in `range` that fits `T`. Stricter than
    /// [`FieldReader::integer`]: a number written with a decimal point (`5.0`) is refused
    /// like a fraction, a negative number or a string, all reported with `rule`.
    pub fn unsigned<T: TryFrom<u64>>(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        range: RangeInclusive<u64>,
        rule: &str,
    ) -> Option<T> {
        let value = self.field(obj, key, presence)?;
        match value
            .as_u64()
            .filter(|n| range.contains(n))
            .and_then(|n| T::try_from(n).ok())
        {
            Some(n) => Some(n),
            None => self.fail(obj.at(key), rule),
        }
    }

    /// Any JSON number that `accept` turns into a value; a non-number, or a number
    /// `accept` refuses, is reported with `rule`.
    pub fn number<T>(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        presence: Presence,
        rule: &str,
        accept: impl FnOnce(f64) -> Option<T>,
    ) -> Option<T> {
        let value = self.field(obj, key, presence)?;
        match value.as_f64().and_then(accept) {
            Some(x) => Some(x),
            None => self.fail(obj.at(key), rule),
        }
    }

    /// A required number greater than 0 and at most `max`, reported otherwise as
    /// `"must be a number of {unit} greater than 0 and at most {max}"`.
    pub fn positive_number(
        &mut self,
        obj: &JsonObject<'_>,
        key: &str,
        max: f64,
        unit: &str,
    ) -> Option<f64> {
        let rule = format!("must be a number of {unit} greater than 0 and at most {max}");
        self.number(obj, key, Required, &rule, |x| {
            (x > 0.0 && x <= max).then_some(x)
        })
    }
}

#[cfg(test)]
mod tests;

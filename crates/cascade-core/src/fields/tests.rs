//! What each primitive of [`FieldReader`] accepts, and the exact message and path of what
//! it refuses.

use serde_json::json;

use super::Presence::{Optional, Required};
use super::*;

/// What one primitive made of a field: the value read (`None`: absent, nothing
/// reported) or the one message it reported.
type Outcome<T> = Result<Option<T>, String>;

/// Runs `read` on the field `v` of an object at path `req`: `{"v": value}`, or `{}`
/// when `value` is `None`. Checks that a problem is reported at `req.v` and nowhere
/// else, and that a primitive which reports returns nothing.
fn run<T: std::fmt::Debug>(
    value: Option<Value>,
    read: impl FnOnce(&mut FieldReader, &JsonObject<'_>) -> Option<T>,
) -> Outcome<T> {
    let mut map = Map::new();
    if let Some(value) = value {
        map.insert("v".to_owned(), value);
    }
    let obj = JsonObject::new(&map, "req");
    let mut reader = FieldReader::new();
    let got = read(&mut reader, &obj);
    let errors = reader.into_errors();
    if errors.is_empty() {
        return Ok(got);
    }
    let reported: Vec<(&str, &str)> = errors.iter().collect();
    assert!(got.is_none(), "{got:?} returned along with {reported:?}");
    match reported[..] {
        [("req.v", message)] => Err(message.to_owned()),
        _ => panic!("one problem at req.v expected, got {reported:?}"),
    }
}

/// Every `(input, expected)` row through `read`; `None` as input means "absent".
fn check<T: std::fmt::Debug + PartialEq>(
    name: &str,
    rows: Vec<(Option<Value>, Outcome<T>)>,
    read: impl Fn(&mut FieldReader, &JsonObject<'_>) -> Option<T>,
) {
    for (input, want) in rows {
        let got = run(input.clone(), &read);
        assert_eq!(got, want, "{name} on {input:?}");
    }
}

fn ok<T>(value: T) -> Outcome<T> {
    Ok(Some(value))
}

fn err<T>(message: &str) -> Outcome<T> {
    Err(message.to_owned())
}

const ABSENT: Option<Value> = None;

fn given(value: Value) -> Option<Value> {
    Some(value)
}

#[test]
fn paths_and_null() {
    let map = json!({"a": null, "b": "", "c": 1})
        .as_object()
        .cloned()
        .unwrap();
    let root = JsonObject::new(&map, "");
    assert_eq!(root.at("a"), "a");
    assert_eq!(JsonObject::new(&map, "flow[0].to").at("a"), "flow[0].to.a");
    assert_eq!(root.get("a"), None, "null counts as absent");
    assert_eq!(root.raw("a"), Some(&Value::Null), "raw keeps null");
    assert_eq!(root.raw("z"), None);
    assert_eq!(
        [root.has("a"), root.has("b"), root.has("c"), root.has("z")],
        [false, false, true, false]
    );
}

#[test]
fn field_and_shapes() {
    check(
        "field required",
        vec![
            (ABSENT, err("is required")),
            (given(Value::Null), err("is required")),
            (given(json!(false)), ok(json!(false))),
            (given(json!("")), ok(json!(""))),
        ],
        |r, o| r.field(o, "v", Required).cloned(),
    );
    check(
        "field optional",
        vec![(ABSENT, Ok(None)), (given(Value::Null), Ok(None))],
        |r, o| r.field(o, "v", Optional).cloned(),
    );
    check(
        "object_field",
        vec![
            (ABSENT, err("is required")),
            (given(json!({"x": 1})), ok("req.v".to_owned())),
            (given(json!([])), err("must be an object")),
            (given(json!("{}")), err("must be an object")),
        ],
        |r, o| {
            r.object_field(o, "v", Required)
                .map(|v| v.path().to_owned())
        },
    );
    check(
        "object_with_rule",
        vec![
            (given(json!({})), ok(0)),
            (given(json!(1)), err("must be an object {a, b}")),
        ],
        |r, o| {
            let value = o.get("v")?;
            r.object_with_rule(value, o.at("v"), "must be an object {a, b}")
                .map(|v| v.map.len())
        },
    );
    check(
        "array",
        vec![
            (ABSENT, Ok(None)),
            (given(json!([])), ok(0)),
            (given(json!([1, "a"])), ok(2)),
            (given(json!({})), err("must be a list")),
            (given(json!("a,b")), err("must be a list")),
        ],
        |r, o| {
            r.array(o, "v", Optional, "must be a list")
                .map(<[Value]>::len)
        },
    );
}

#[test]
fn strings() {
    let own = |t: Option<&str>| t.map(str::to_owned);
    check(
        "string",
        vec![
            (ABSENT, err("is required")),
            (given(json!("")), ok(String::new())),
            (given(json!(" a ")), ok(" a ".to_owned())),
            (given(json!(1)), err("must be a string")),
            (given(json!(["a"])), err("must be a string")),
        ],
        |r, o| own(r.string(o, "v", Required)),
    );
    check(
        "str_field required",
        vec![
            (ABSENT, err("is required")),
            (given(Value::Null), err("is required")),
            (given(json!("")), err("must not be empty")),
            (given(json!(" ")), ok(" ".to_owned())),
            (given(json!(true)), err("must be a string")),
        ],
        |r, o| own(r.str_field(o, "v", Required)),
    );
    check(
        "str_field optional",
        vec![
            (ABSENT, Ok(None)),
            (given(Value::Null), Ok(None)),
            (given(json!("")), Ok(None)),
            (given(json!("a")), ok("a".to_owned())),
            (given(json!(1)), err("must be a string")),
        ],
        |r, o| own(r.str_field(o, "v", Optional)),
    );
    check(
        "text",
        vec![
            (given(json!("ééé")), ok("ééé".to_owned())),
            (given(json!("éééé")), err("must be at most 3 characters")),
            (given(json!("")), Ok(None)),
            (given(json!(1)), err("must be a string")),
        ],
        |r, o| r.text(o, "v", Optional, 3),
    );
    check(
        "bounded_string",
        vec![
            (ABSENT, Ok(None)),
            (given(Value::Null), Ok(None)),
            (given(json!("")), ok(String::new())),
            (given(json!("ééé")), ok("ééé".to_owned())),
            (given(json!("éééé")), err("a short string")),
            (given(json!(3)), err("a short string")),
        ],
        |r, o| own(r.bounded_string(o, "v", Optional, 3, "a short string")),
    );
    check(
        "parsed",
        vec![
            (given(json!("42")), ok(42)),
            (given(json!("x")), err("not a number")),
            (given(json!("")), err("must not be empty")),
            (given(json!(42)), err("must be a string")),
        ],
        |r, o| {
            r.parsed(o, "v", Required, |t| {
                t.parse::<u8>().map_err(|_| "not a number")
            })
        },
    );
    check(
        "string_or_integer",
        vec![
            (ABSENT, err("is required")),
            (given(Value::Null), err("is required")),
            (given(json!("")), ok(String::new())),
            (given(json!("+30")), ok("+30".to_owned())),
            (given(json!(306_912)), ok("306912".to_owned())),
            (given(json!(-5)), ok("-5".to_owned())),
            (given(json!(1.5)), err("must be a string")),
            (given(json!(5.0)), err("must be a string")),
            (given(json!({})), err("must be a string")),
        ],
        |r, o| r.string_or_integer(o, "v", Required),
    );
    check(
        "choice",
        vec![
            (given(json!("Red")), ok(1)),
            (given(json!(" BLUE ")), ok(2)),
            (given(json!("green")), err("must be one of red, blue")),
            (given(json!("")), err("must be one of red, blue")),
            (given(json!(1)), err("must be one of red, blue")),
            (ABSENT, Ok(None)),
        ],
        |r, o| r.choice(o, "v", Optional, &[("red", 1), ("blue", 2)]),
    );
}

#[test]
fn flag_defaults_to_false() {
    let must = Some("must be true or false");
    for (input, want, problem) in [
        (ABSENT, false, None),
        (given(Value::Null), false, None),
        (given(json!(true)), true, None),
        (given(json!(false)), false, None),
        (given(json!("true")), false, must),
        (given(json!(1)), false, must),
    ] {
        let map: Map<String, Value> = input.iter().map(|v| ("v".to_owned(), v.clone())).collect();
        let mut reader = FieldReader::new();
        assert_eq!(
            reader.flag(&JsonObject::new(&map, "req"), "v"),
            want,
            "{input:?}"
        );
        let errors = reader.into_errors();
        assert_eq!(errors.get("req.v"), problem, "{input:?}");
        assert!(errors.len() <= 1);
    }
}

#[test]
fn numbers() {
    check(
        "integer",
        vec![
            (given(json!(1)), ok(1_u8)),
            (given(json!(10)), ok(10)),
            (given(json!(5.0)), ok(5)),
            (given(json!(0)), err("1 to 10")),
            (given(json!(11)), err("1 to 10")),
            (given(json!(1.5)), err("1 to 10")),
            (given(json!("5")), err("1 to 10")),
            (ABSENT, Ok(None)),
        ],
        |r, o| r.integer::<u8>(o, "v", Optional, 1..=10, "1 to 10"),
    );
    check(
        "integer that must fit its type",
        vec![(given(json!(300)), err("a byte"))],
        |r, o| r.integer::<u8>(o, "v", Optional, 0..=1000, "a byte"),
    );
    check(
        "unsigned",
        vec![
            (given(json!(0)), ok(0_u32)),
            (given(json!(255)), ok(255)),
            (given(json!(256)), err("0 to 255")),
            (given(json!(-1)), err("0 to 255")),
            (given(json!(5.0)), err("0 to 255")),
            (given(json!(1.5)), err("0 to 255")),
            (given(json!("5")), err("0 to 255")),
            (ABSENT, Ok(None)),
            (given(Value::Null), Ok(None)),
        ],
        |r, o| r.unsigned::<u32>(o, "v", Optional, 0..=255, "0 to 255"),
    );
    check(
        "unsigned that must fit its type",
        vec![
            (given(json!(4_294_967_295_u64)), ok(u32::MAX)),
            (given(json!(4_294_967_296_u64)), err("a u32")),
        ],
        |r, o| r.unsigned::<u32>(o, "v", Optional, 0..=u64::MAX, "a u32"),
    );
    check(
        "number",
        vec![
            (given(json!(2)), ok(4.0)),
            (given(json!(-1.5)), ok(-3.0)),
            (given(json!(1e300)), err("a small number")),
            (given(json!("2")), err("a small number")),
            (ABSENT, err("is required")),
        ],
        |r, o| {
            r.number(o, "v", Required, "a small number", |x| {
                (x.abs() < 1e6).then_some(x * 2.0)
            })
        },
    );
    let positive = "must be a number of seconds greater than 0 and at most 60";
    check(
        "positive_number",
        vec![
            (given(json!(0.5)), ok(0.5)),
            (given(json!(60)), ok(60.0)),
            (given(json!(0)), err(positive)),
            (given(json!(60.5)), err(positive)),
            (given(json!("30")), err(positive)),
            (ABSENT, err("is required")),
        ],
        |r, o| r.positive_number(o, "v", 60.0, "seconds"),
    );
}

#[test]
fn problems_are_collected_and_joined() {
    let map = json!({"a": 1, "b": "x"}).as_object().cloned().unwrap();
    let obj = JsonObject::new(&map, "");
    let mut reader = FieldReader::new();
    assert_eq!(reader.string(&obj, "a", Required), None);
    assert_eq!(reader.string(&obj, "b", Required), Some("x"));
    assert_eq!(reader.string(&obj, "c", Optional), None);
    reader.report("a", "is odd");
    assert_eq!(reader.fail::<u8>("d", "is wrong"), None);
    let errors = reader.finish().expect_err("problems were reported");
    assert_eq!(
        errors.iter().collect::<Vec<_>>(),
        [("a", "must be a string; is odd"), ("d", "is wrong")]
    );
    assert_eq!(errors.summary(), "Validation failed: 2 fields are invalid.");
    assert_eq!(FieldReader::new().finish(), Ok(()));
}

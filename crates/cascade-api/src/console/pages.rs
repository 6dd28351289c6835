//! The console's pages: trackings (the search of `POST /failover/tracking` as a form),
//! one flow (its tracking object and timeline), and the operators' page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cascade_core::FlowId;
use cascade_core::callbacks::CallbackState;
use cascade_core::search::parse_search;
use cascade_core::tracking::render_tracking;
use cascade_store::CallbackFilter;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::session::{Session, Who};
use super::timeline::{self, Lane};
use super::{Console, PageError, document, flow_id, form_of, html_response};

/// The query string as a map; a malformed one reads as empty.
fn params(raw: Option<String>) -> HashMap<String, String> {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok())
        .unwrap_or_default()
}

/// `key=value&…` for links that keep a form's fields.
fn query_of(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default()
}

/// The fields of the search form, in the order they are shown and kept in links.
const FORM_FIELDS: [&str; 11] = [
    "account",
    "to_op",
    "to",
    "status",
    "type",
    "terminationChannel",
    "trackingId",
    "dateStart",
    "dateEnd",
    "sort",
    "size",
];

const STATUSES: [&str; 4] = ["Queued", "InProgress", "Succeeded", "Failed"];
const CHANNELS: [&str; 3] = ["Sms", "Viber", "Voice"];
const TEXT_OPERATORS: [(&str, &str); 5] = [
    ("is", "is"),
    ("is_not", "is not"),
    ("starts_with", "starts with"),
    ("ends_with", "ends with"),
    ("contains", "contains"),
];
const SORTS: [&str; 4] = [
    "createdAt,desc",
    "createdAt,asc",
    "updatedAt,desc",
    "updatedAt,asc",
];

/// A `datetime-local` value (no zone) reads as UTC; anything else is passed on as typed.
fn as_utc(value: &str) -> String {
    let v = value.trim();
    let has_zone =
        v.ends_with('Z') || v.ends_with('z') || v.rfind(['+', '-']).is_some_and(|i| i > 10);
    if v.is_empty() || has_zone {
        v.to_owned()
    } else {
        format!("{v}Z")
    }
}

/// The search's query parameters and filter body from the form's fields.
fn search_request(form: &HashMap<String, String>) -> (HashMap<String, String>, Value) {
    let get = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or_default();
    let mut query = HashMap::new();
    for key in ["sort", "size", "page"] {
        if !get(key).is_empty() {
            query.insert(key.to_owned(), get(key).to_owned());
        }
    }
    for key in ["dateStart", "dateEnd"] {
        if !get(key).is_empty() {
            query.insert(key.to_owned(), as_utc(get(key)));
        }
    }
    let mut filters = Vec::new();
    if !get("to").is_empty() {
        let op = if get("to_op").is_empty() {
            "is"
        } else {
            get("to_op")
        };
        filters.push(json!({"fieldName": "to", "searchOperator": op, "searchTerm": get("to")}));
    }
    for field in ["status", "type", "terminationChannel", "trackingId"] {
        if !get(field).is_empty() {
            filters.push(
                json!({"fieldName": field, "searchOperator": "is", "searchTerm": get(field)}),
            );
        }
    }
    (query, Value::Array(filters))
}

/// `GET /console/trackings`: the search form and a page of results.
pub(crate) async fn trackings(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let session = console.session(&headers).await?;
    let form = params(raw);
    let accounts = match &session.who {
        Who::Operator => console.api.store.accounts(1000).await?,
        Who::App { .. } => Vec::new(),
    };
    let account = match &session.who {
        Who::App { account, .. } => Some(account.clone()),
        Who::Operator => form
            .get("account")
            .filter(|a| !a.is_empty())
            .cloned()
            .or_else(|| accounts.first().map(|a| a.id.clone())),
    };
    let (query, body) = search_request(&form);
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut results = None;
    match parse_search(&query, &body) {
        Err(e) => {
            errors = e
                .iter()
                .map(|(p, m)| (p.to_owned(), m.to_owned()))
                .collect()
        }
        Ok(search) => {
            if let Some(account) = &account {
                let page = console.api.store.search(account, &search).await?;
                results = Some((search, page));
            }
        }
    }
    let keep: Vec<(&str, String)> = FORM_FIELDS
        .iter()
        .map(|&k| (k, form.get(k).cloned().unwrap_or_default()))
        .collect();
    let link_to_page = |page: u32| {
        let mut pairs = keep.clone();
        pairs.push(("page", page.to_string()));
        format!("/console/trackings?{}", query_of(&pairs))
    };
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let csrf = console.keys.csrf(&session);
    let body = html! {
        h1 { "Trackings" }
        form method="get" action="/console/trackings" class="search" id="search" {
            @if session.is_operator() {
                label { "Account"
                    select name="account" {
                        @for a in &accounts {
                            option value=(a.id) selected[account.as_deref() == Some(a.id.as_str())] { (a.id) " — " (a.name) }
                        }
                    }
                }
            }
            label { "To"
                span class="pair" {
                    select name="to_op" aria-label="How the recipient matches" {
                        @for (value, words) in TEXT_OPERATORS {
                            option value=(value) selected[field("to_op") == value] { (words) }
                        }
                    }
                    input name="to" value=(field("to")) placeholder="+3069…";
                }
            }
            (choice("Status", "status", &STATUSES, &field("status")))
            (choice("First channel", "type", &CHANNELS, &field("type")))
            (choice("Ended on", "terminationChannel", &CHANNELS, &field("terminationChannel")))
            label { "Tracking id" input name="trackingId" value=(field("trackingId")) size="38"; }
            label { "Created from (UTC)" input name="dateStart" type="datetime-local" value=(field("dateStart")); }
            label { "to (UTC)" input name="dateEnd" type="datetime-local" value=(field("dateEnd")); }
            label { "Order"
                select name="sort" {
                    @for s in SORTS { option value=(s) selected[field("sort") == s] { (s) } }
                }
            }
            label { "Per page" input name="size" type="number" min="1" max="1000" value=(form.get("size").cloned().unwrap_or_else(|| cascade_core::search::DEFAULT_PAGE_SIZE.to_string())); }
            button type="submit" { "Search" }
        }
        @if !errors.is_empty() {
            ul class="error" role="alert" id="search-errors" {
                @for (path, message) in &errors { li { code { (path) } ": " (message) } }
            }
        }
        @if account.is_none() && errors.is_empty() {
            p { "There are no accounts yet." }
        }
        @if let Some((search, page)) = &results {
            @let size = u64::from(search.size.get());
            @let pages = page.total.div_ceil(size);
            p class="summary" id="result-count" {
                (page.total) " flows"
                @if pages > 1 { " · page " (search.page + 1) " of " (pages) }
            }
            table class="results" id="results" {
                thead { tr { th { "Tracking id" } th { "Created (UTC)" } th { "Status" } th { "Steps" } th { "To" } th { "Ended on" } th { "Price" } } }
                tbody {
                    @for f in &page.flows {
                        @let t = render_tracking(&f.definition, &f.state);
                        @let id = f.definition.tracking_id.to_string();
                        tr {
                            td { a href=(flow_link(&session, &id, &f.definition.account_id)) class="flow-link" { code { (id) } } }
                            td { (f.definition.created_at.format_utc("%Y-%m-%d %H:%M:%S")) }
                            td { span class={ "status " (timeline::tone(f.state.status.name())) } { (f.state.status.name()) } }
                            td { (f.definition.steps.iter().map(|s| s.channel().name()).collect::<Vec<_>>().join(" → ")) }
                            td { (f.definition.steps.first().map(|s| s.recipient()).unwrap_or_default()) }
                            td { (t["terminationChannel"].as_str().unwrap_or("—")) }
                            td { (price_text(&t["totalPrice"])) }
                        }
                    }
                }
            }
            nav class="pager" {
                @if search.page > 0 { a href=(link_to_page(search.page - 1)) rel="prev" { "← Newer page" } }
                @if u64::from(search.page) + 1 < pages { a href=(link_to_page(search.page + 1)) rel="next" { "Next page →" } }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        document("Trackings", Some((&session, &csrf)), body),
    ))
}

fn choice(label: &str, name: &str, values: &[&str], selected: &str) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                option value="" { "any" }
                @for v in values { option value=(v) selected[selected.eq_ignore_ascii_case(v)] { (v) } }
            }
        }
    }
}

fn price_text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flow_link(session: &Session, id: &str, account: &str) -> String {
    if session.is_operator() {
        format!(
            "/console/flows/{id}?{}",
            query_of(&[("account", account.to_owned())])
        )
    } else {
        format!("/console/flows/{id}")
    }
}

/// The account whose flow `id` the session may see.
async fn account_for(
    console: &Console,
    session: &Session,
    id: FlowId,
) -> Result<String, PageError> {
    match &session.who {
        Who::App { account, .. } => Ok(account.clone()),
        Who::Operator => console
            .api
            .store
            .flow_account(id)
            .await?
            .ok_or(PageError::NotFound("No such flow.")),
    }
}

/// `GET /console/flows/{id}`: a flow's tracking object and its timeline.
pub(crate) async fn flow(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let session = console.session(&headers).await?;
    let notice = params(raw).get("notice").cloned();
    let id = flow_id(&raw_id)?;
    let account = account_for(&console, &session, id).await?;
    let store = &console.api.store;
    let flow = store
        .flow(&account, id)
        .await?
        .ok_or(PageError::NotFound("No such flow."))?;
    let entries = store.timeline(&account, id).await?.unwrap_or_default();
    let callbacks = if session.is_operator() {
        store
            .callbacks(&CallbackFilter {
                state: None,
                flow_id: Some(id),
                limit: 200,
            })
            .await?
    } else {
        Vec::new()
    };
    let tracking = render_tracking(&flow.definition, &flow.state);
    let lanes: Vec<Lane> = flow
        .definition
        .steps
        .iter()
        .map(|s| Lane {
            order: s.order,
            channel: s.channel(),
            ttl_ms: s.ttl_ms,
        })
        .collect();
    let now = console.api.runtime.clock().now();
    let t0 = entries.first().map_or(flow.definition.created_at, |e| e.at);
    let csrf = console.keys.csrf(&session);
    let pretty = serde_json::to_string_pretty(&tracking).unwrap_or_default();
    let dead = callbacks
        .iter()
        .filter(|c| c.state == CallbackState::Dead)
        .count();
    let body = html! {
        h1 { "Flow " code id="tracking-id" { (id) } }
        @if notice.as_deref() == Some("redelivered") {
            p class="notice" role="status" { "The dead callbacks will be delivered again." }
        }
        dl class="facts" {
            dt { "Status" } dd { span id="flow-status" class={ "status " (timeline::tone(flow.state.status.name())) } { (flow.state.status.name()) } }
            dt { "Ended on" } dd { (tracking["terminationChannel"].as_str().unwrap_or("—")) }
            dt { "Account" } dd { (flow.definition.account_id) }
            dt { "Application" } dd { (flow.definition.application_id) }
            dt { "Created (UTC)" } dd { (flow.definition.created_at.format_utc("%Y-%m-%d %H:%M:%S%.3f")) }
            dt { "Total price" } dd { (price_text(&tracking["totalPrice"])) }
        }
        h2 { "Timeline" }
        figure id="timeline" {
            (timeline::picture(&lanes, &entries, now))
            figcaption class="legend" {
                span class="key step ok" { "step ended well" } " "
                span class="key step bad" { "step failed (failover)" } " "
                span class="key mark" { "▼ submitted · ● report · ✕ TTL ran out · ◆ callback · ┆ TTL deadline" }
            }
        }
        h2 { "Steps" }
        table class="results" id="messages" {
            thead { tr { th { "Step" } th { "Channel" } th { "To" } th { "Status" } th { "Reason" } th { "Price" } } }
            tbody {
                @for m in tracking["messages"].as_array().into_iter().flatten() {
                    tr {
                        td { (m["order"]) }
                        td { (m["type"].as_str().unwrap_or_default()) }
                        td { (m["to"].as_str().unwrap_or_default()) }
                        td { (m["status"]["name"].as_str().unwrap_or_default()) }
                        td { (m["status"]["reason"]["description"].as_str().unwrap_or_default()) }
                        td { (price_text(&m["price"])) }
                    }
                }
            }
        }
        h2 { "Events" }
        table class="results" id="events" {
            thead { tr { th { "When" } th { "At (UTC)" } th { "What" } } }
            tbody {
                @for e in &entries {
                    tr data-kind=(e.kind.as_str()) {
                        td { (timeline::offset_label(e.at.millis_since(t0))) }
                        td { (e.at.format_utc("%H:%M:%S%.3f")) }
                        td { (timeline::describe(e)) }
                    }
                }
            }
        }
        @if session.is_operator() {
            h2 { "Callbacks" }
            @if callbacks.is_empty() {
                p { "This flow has no callbacks." }
            } @else {
                (callback_table(&callbacks, &csrf, Some(id)))
                @if dead > 0 {
                    form method="post" action={ "/console/flows/" (id) "/callbacks/redeliver" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" id="redeliver-flow" { "Deliver this flow's " (dead) " dead callbacks again" }
                    }
                }
            }
        }
        h2 { "Tracking object" }
        p class="hint" { "As " code { "GET /failover/tracking/" (id) } " returns it." }
        pre id="tracking-json" { (pretty) }
    };
    Ok(html_response(
        StatusCode::OK,
        document(&format!("Flow {id}"), Some((&session, &csrf)), body),
    ))
}

fn callback_table(
    records: &[cascade_store::CallbackRecord],
    csrf: &str,
    flow: Option<FlowId>,
) -> Markup {
    html! {
        table class="results callbacks" {
            thead { tr { th { "Id" } th { "Flow" } th { "Seq" } th { "URL" } th { "State" } th { "Attempts" } th { "Last error" } th {} } }
            tbody {
                @for c in records {
                    tr data-callback=(c.id) {
                        td { (c.id) }
                        td { a href={ "/console/flows/" (c.flow_id) } { code { (c.flow_id.to_string().get(..8).unwrap_or_default()) "…" } } }
                        td { (c.seq) }
                        td class="url" { (c.url) }
                        td { span class={ "status " (timeline::tone(c.state.name())) } { (c.state.name()) } }
                        td { (c.attempts) }
                        td { (c.last_error.as_deref().unwrap_or("")) }
                        td {
                            @if c.state == CallbackState::Dead {
                                form method="post" action={ "/console/callbacks/" (c.id) "/redeliver" } class="inline" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    @if let Some(flow) = flow { input type="hidden" name="back" value=(flow); }
                                    button type="submit" class="redeliver" { "Redeliver" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/operators`: accounts, nodes, providers, the outbox, sandbox scenarios.
pub(crate) async fn operators(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let session = console.session(&headers).await?;
    if !session.is_operator() {
        return Err(PageError::Forbidden);
    }
    let notice = params(raw).get("notice").cloned();
    let api = &console.api;
    let store = &api.store;
    let now = api.runtime.clock().now();
    let accounts = store.accounts(1000).await?;
    let mut applications = Vec::with_capacity(accounts.len());
    for a in &accounts {
        applications.push(store.applications(&a.id).await?);
    }
    let nodes = store.nodes(now, api.settings.lease_ms).await?;
    let providers = api.runtime.provider_states();
    let outbox = store.outbox_stats().await?;
    let dead = store
        .callbacks(&CallbackFilter {
            state: Some(CallbackState::Dead),
            flow_id: None,
            limit: 100,
        })
        .await?;
    let scenarios = store.scenarios().await?;
    let csrf = console.keys.csrf(&session);
    let body = html! {
        h1 { "Operators" }
        @if notice.as_deref() == Some("redelivered") {
            p class="notice" role="status" { "The callback will be delivered again." }
        }
        h2 { "Providers on this node (" (api.settings.node_id) ")" }
        @if providers.is_empty() { p { "No providers are configured." } }
        @else {
            table class="results" id="providers" {
                thead { tr { th { "Channel" } th { "Provider" } th { "Ready" } th { "Held here" } th { "Circuit" } th { "Detail" } } }
                tbody {
                    @for (channel, p) in &providers {
                        tr {
                            td { (channel.name()) } td { (p.name) }
                            td { span class={ "status " @if p.ready { "ok" } @else { "bad" } } { @if p.ready { "yes" } @else { "no" } } }
                            td { @if p.held_here { "yes" } @else { "no (another node)" } }
                            td { (p.circuit.unwrap_or("—")) }
                            td { (p.detail) }
                        }
                    }
                }
            }
        }
        h2 { "Nodes" }
        table class="results" id="nodes" {
            thead { tr { th { "Node" } th { "Started (UTC)" } th { "Last heartbeat" } th { "Jobs" } th { "Callbacks" } th { "SMSC binds held" } } }
            tbody {
                @if nodes.is_empty() {
                    tr { td { (api.settings.node_id) " (this server)" } td colspan="5" { "one server on SQLite" } }
                }
                @for n in &nodes {
                    tr {
                        td { (n.id) @if n.id == api.settings.node_id { " (this node)" } }
                        td { (n.started_at.format_utc("%Y-%m-%d %H:%M:%S")) }
                        td { (timeline::offset_label(n.heartbeat.millis_since(now))) }
                        td { (n.jobs) } td { (n.callbacks) }
                        td { (n.leases.iter().filter(|l| l.starts_with("smsc:")).cloned().collect::<Vec<_>>().join(", ")) }
                    }
                }
            }
        }
        h2 { "Callback outbox" }
        dl class="facts" id="outbox" {
            dt { "Pending" } dd { (outbox.pending) }
            dt { "Oldest pending" } dd { (outbox.oldest_pending.map_or_else(|| "—".to_owned(), |t| timeline::offset_label(t.millis_since(now)))) }
            dt { "Dead letters" } dd id="dead-count" { (outbox.dead) }
        }
        @if dead.is_empty() { p { "No dead callbacks." } }
        @else { (callback_table(&dead, &csrf, None)) }
        h2 { "Accounts and applications" }
        table class="results" id="accounts" {
            thead { tr { th { "Account" } th { "Name" } th { "Balance" } th { "Applications" } } }
            tbody {
                @for (a, apps) in accounts.iter().zip(&applications) {
                    tr {
                        td { a href={ "/console/trackings?" (query_of(&[("account", a.id.clone())])) } { (a.id) } }
                        td { (a.name) }
                        td { (format!("{:.2}", a.balance.to_f64())) " " (a.currency) }
                        td {
                            @for app in apps {
                                div { code { (app.id) } " " (app.name) " · " (app.scopes.join(" ")) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Sandbox scenarios" }
        @if scenarios.is_empty() { p { "No scenarios: the sandbox delivers everything." } }
        @else {
            table class="results" id="scenarios" {
                thead { tr { th { "Id" } th { "Channel" } th { "To" } th { "Sends left" } th { "Rule" } } }
                tbody {
                    @for s in &scenarios {
                        tr {
                            td { (s.id) } td { (s.channel.name()) } td { (s.to) }
                            td { (s.times_left.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())) }
                            td { code { (s.rule) } }
                        }
                    }
                }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        document("Operators", Some((&session, &csrf)), body),
    ))
}

/// `POST /console/callbacks/{id}/redeliver` (operator): a dead callback goes out again.
pub(crate) async fn redeliver_callback(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = form_of(&body);
    let session = console.form_session(&headers, &form).await?;
    if !session.is_operator() {
        return Err(PageError::Forbidden);
    }
    let id: i64 = raw_id
        .parse()
        .map_err(|_| PageError::NotFound("No such dead callback."))?;
    let now = console.api.runtime.clock().now();
    if !console.api.store.redeliver_callback(id, now).await? {
        return Err(PageError::NotFound("No such dead callback."));
    }
    console.api.runtime.wake_callbacks();
    tracing::info!(callback_id = id, "console: dead callback redelivered");
    let back = form
        .get("back")
        .and_then(|f| FlowId::parse(f).ok())
        .map_or_else(
            || "/console/operators?notice=redelivered".to_owned(),
            |f| format!("/console/flows/{f}?notice=redelivered"),
        );
    Ok(Redirect::to(&back).into_response())
}

/// `POST /console/flows/{id}/callbacks/redeliver` (operator): all of a flow's dead
/// callbacks.
pub(crate) async fn redeliver_flow_callbacks(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let session = console.form_session(&headers, &form_of(&body)).await?;
    if !session.is_operator() {
        return Err(PageError::Forbidden);
    }
    let id = flow_id(&raw_id)?;
    let now = console.api.runtime.clock().now();
    let n = console.api.store.redeliver_flow_callbacks(id, now).await?;
    console.api.runtime.wake_callbacks();
    tracing::info!(flow_id = %id, redelivered = n, "console: a flow's dead callbacks redelivered");
    Ok(Redirect::to(&format!("/console/flows/{id}?notice=redelivered")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_search_api_request() {
        let form: HashMap<String, String> = [
            ("to", " +3069 "),
            ("to_op", "starts_with"),
            ("status", "Failed"),
            ("type", ""),
            ("dateStart", "2026-12-05T10:00"),
            ("dateEnd", "2026-12-06T10:00:00+02:00"),
            ("size", "50"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (query, body) = search_request(&form);
        assert_eq!(query["dateStart"], "2026-12-05T10:00Z");
        assert_eq!(query["dateEnd"], "2026-12-06T10:00:00+02:00");
        assert_eq!(query["size"], "50");
        assert_eq!(
            body,
            json!([
                {"fieldName": "to", "searchOperator": "starts_with", "searchTerm": "+3069"},
                {"fieldName": "status", "searchOperator": "is", "searchTerm": "Failed"},
            ])
        );
        let parsed = parse_search(&query, &body).expect("a valid search");
        assert_eq!(parsed.filters.len(), 2);
    }

    #[test]
    fn a_bad_form_gets_the_api_errors() {
        let form: HashMap<String, String> = [("size", "0"), ("to_op", "contains"), ("to", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let (query, body) = search_request(&form);
        let errors = parse_search(&query, &body).expect_err("size 0 is refused");
        assert!(errors.iter().any(|(p, _)| p == "size"));
    }
}

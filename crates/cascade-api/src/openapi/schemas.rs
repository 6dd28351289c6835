//! The API's wire shapes as Rust types, for the OpenAPI document only.
//!
//! Handlers read bodies as `serde_json::Value` (so validation can name every bad field)
//! and write answers with `json!`; these types describe what those bodies look like on the
//! wire, field by field, as `docs/openapi.json` publishes them. They are never built:
//! a change to a handler's output must be mirrored here, and Schemathesis
//! (`tests/api/openapi.rs`) checks every answer against them.
#![allow(dead_code, clippy::large_enum_variant)] // never built, only described

use utoipa::ToSchema;

/// A time: RFC 3339 in UTC with a `Z` and milliseconds, e.g. `2026-03-01T09:15:02.113Z`.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-03-01T09:15:02.113Z")]
pub struct Time(String);

/// An amount of money, exact to 6 decimals, written as a JSON number.
#[derive(Debug, ToSchema)]
#[schema(value_type = f64, example = 0.045)]
pub struct Money(f64);

// ---- errors ---------------------------------------------------------------------------

/// The API's error body. `code` is nine digits: the HTTP status, the module (`000`
/// generic, `022` failover) and a counter.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ApiErrorBody {
    #[schema(pattern = "^[0-9]{9}$", example = "400022001")]
    code: String,
    /// What went wrong, in words for the developer.
    developer_message: String,
    /// For validation errors (`400022001`, `400000001`): what is wrong with each field,
    /// by field path (`flow[1].ttl`).
    #[schema(nullable = false)]
    properties: Option<std::collections::BTreeMap<String, String>>,
}

/// The OAuth 2.0 error body of `POST /oauth/token` (RFC 6749 §5.2).
#[derive(Debug, ToSchema)]
pub struct OAuthErrorBody {
    error: OAuthErrorCode,
    error_description: String,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    UnsupportedGrantType,
    InvalidScope,
    TemporarilyUnavailable,
    ServerError,
}

// ---- OAuth ----------------------------------------------------------------------------

/// `application/x-www-form-urlencoded`. The client authenticates with HTTP Basic
/// (`applicationId:secret`), or with `client_id` and `client_secret` in the form.
#[derive(Debug, ToSchema)]
pub struct TokenRequest {
    grant_type: GrantType,
    /// Space-separated scopes narrowing the token to a subset of the application's.
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
}

#[derive(Debug, ToSchema)]
pub struct TokenResponse {
    /// Opaque; send it as `Authorization: Bearer <access_token>`.
    access_token: String,
    #[schema(example = "bearer")]
    token_type: String,
    /// Seconds until the token expires (the application's token lifetime).
    #[schema(minimum = 0)]
    expires_in: u64,
    /// The token's scopes, space-separated.
    #[schema(example = "failover sms viber voice account")]
    scope: String,
    /// The permissions the scopes grant (`MT_ROLE_FAILOVER`, …).
    permissions: Vec<String>,
}

// ---- POST /failover -------------------------------------------------------------------

/// A flow to send: its steps run in ascending `order`, each failing over to the next.
#[derive(Debug, ToSchema)]
#[schema(example = json!({
    "flow": [
        {"type": "Sms", "order": 1, "from": "Cascade", "to": "+306912345678",
         "message": {"body": "Your code is 1234"}},
        {"type": "Voice", "order": 2, "from": "+306900000000", "to": "+306912345678",
         "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Your code is 1 2 3 4"}}]}}
    ]
}))]
pub struct FlowRequest {
    #[schema(min_items = 1, max_items = 10)]
    flow: Vec<StepRequest>,
    callback: Option<Callback>,
}

/// One step. `type` is case-insensitive on input and echoed as written here.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum StepRequest {
    Sms(SmsStep),
    Viber(ViberStep),
    Voice(VoiceStep),
}

/// `failoverOnStatuses`: status names (case-insensitive), or one comma-separated string.
/// Absent or empty: the channel's default (Sms: Undelivered, Failed; Viber: Expired,
/// Failed, Undelivered; Voice: Busy, NoAnswer).
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum FailoverOn {
    List(Vec<String>),
    CommaSeparated(String),
}

#[derive(Debug, ToSchema)]
pub enum SmsType {
    Sms,
}

#[derive(Debug, ToSchema)]
pub enum ViberType {
    Viber,
}

#[derive(Debug, ToSchema)]
pub enum VoiceType {
    Voice,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SmsStep {
    #[schema(rename = "type")]
    kind: SmsType,
    /// Positive, unique within the flow.
    #[schema(minimum = 1, maximum = 4_294_967_295_u32)]
    order: u32,
    failover_on_statuses: Option<FailoverOn>,
    /// Sender id: up to 11 alphanumeric characters, or up to 16 digits with an optional `+`.
    #[schema(example = "Cascade")]
    from: String,
    /// E.164.
    #[schema(example = "+306912345678")]
    to: String,
    /// Minutes, 1 to 1440 (default 1200).
    #[schema(minimum = 1, maximum = 1440)]
    ttl: Option<u32>,
    /// An absolute http(s) URL for replies.
    inbound_url: Option<String>,
    message: SmsMessage,
}

#[derive(Debug, ToSchema)]
pub struct SmsMessage {
    #[schema(min_length = 1)]
    body: String,
    flash: Option<bool>,
    #[schema(max_length = 350)]
    label: Option<String>,
    /// Replace characters outside GSM 03.38 by look-alikes so the text goes as GSM-7.
    transcode: Option<bool>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ViberStep {
    #[schema(rename = "type")]
    kind: ViberType,
    #[schema(minimum = 1, maximum = 4_294_967_295_u32)]
    order: u32,
    failover_on_statuses: Option<FailoverOn>,
    /// A Viber sender registered to the account.
    sender_info_tracking_id: String,
    /// E.164.
    #[schema(example = "+306912345678")]
    to: String,
    /// Minutes, 0.5 to 1440 with at most one decimal (default 10).
    #[schema(minimum = 0.5, maximum = 1440, multiple_of = 0.1)]
    ttl: Option<f64>,
    expire_on_delivery: Option<bool>,
    #[schema(max_length = 350)]
    label: Option<String>,
    /// An absolute http(s) URL for replies.
    inbound_url: Option<String>,
    message: ViberContent,
}

/// At least one of `text`, `imageUrl`, `viberFile`, `viberVideo`; a file or a video goes
/// alone (text is allowed with a video).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ViberContent {
    #[schema(max_length = 1000)]
    text: Option<String>,
    /// https, at most 1000 characters.
    #[schema(max_length = 1000)]
    image_url: Option<String>,
    action: Option<ViberAction>,
    viber_file: Option<ViberFile>,
    viber_video: Option<ViberVideo>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ViberAction {
    #[schema(min_length = 1, max_length = 30)]
    caption: String,
    /// https, at most 1000 characters.
    #[schema(max_length = 1000)]
    target_url: String,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ViberFile {
    #[schema(max_length = 25)]
    file_name: String,
    /// doc, docx, rtf, dot, dotx, odt, odf, fodt, txt, info, pdf, xps, pdax, eps, xls,
    /// xlsx, ods, fods, csv, xlsm or xltx.
    file_type: String,
    /// https, at most 1000 characters.
    #[schema(max_length = 1000)]
    file_url: String,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ViberVideo {
    /// https.
    video_url: String,
    /// https.
    video_thumbnail: String,
    /// Megabytes, more than 0 and at most 200.
    #[schema(exclusive_minimum = 0, maximum = 200)]
    file_size: f64,
    /// Seconds, more than 0 and at most 600.
    #[schema(exclusive_minimum = 0, maximum = 600)]
    duration: f64,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct VoiceStep {
    #[schema(rename = "type")]
    kind: VoiceType,
    #[schema(minimum = 1, maximum = 4_294_967_295_u32)]
    order: u32,
    failover_on_statuses: Option<FailoverOn>,
    /// Caller id (a phone number).
    from: String,
    to: VoiceTo,
    /// Also accepted as `dialPlans` or `dialplan`; echoed as `dialPlan`.
    dial_plan: DialPlan,
    machine_detection: Option<MachineDetection>,
}

/// An E.164 string (meaning `{"phone": ...}`), or the destinations object.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum VoiceTo {
    Phone(String),
    Destinations(VoiceDestinations),
}

/// At least one non-empty member (empty strings count as absent).
#[derive(Debug, ToSchema)]
pub struct VoiceDestinations {
    /// E.164.
    phone: Option<String>,
    /// E.164.
    viber: Option<String>,
    /// `user@host[:port]`.
    sip: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct DialPlan {
    #[schema(min_items = 1, max_items = 10)]
    verbs: Vec<Verb>,
}

#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum Verb {
    Say(SayVerb),
    Play(PlayVerb),
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SayType {
    Say,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PlayType {
    Play,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SayVerb {
    #[schema(rename = "type")]
    kind: SayType,
    message: SayMessage,
    #[schema(minimum = 0, maximum = 10)]
    repeat: Option<u32>,
    barge_in: Option<bool>,
}

#[derive(Debug, ToSchema)]
pub struct SayMessage {
    #[schema(max_length = 4000)]
    text: String,
    /// en-US (default), en-GB, de-DE, fr-FR, it-IT, pt-BR, es-ES, es-LA, el-GR, bg-BG,
    /// pl-PL, hu-HU, sv-SE or ru-RU.
    language: Option<String>,
    gender: Option<Gender>,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PlayVerb {
    #[schema(rename = "type")]
    kind: PlayType,
    /// An http(s) URL of the audio file.
    #[schema(rename = "fileURL")]
    file_url: String,
    #[schema(minimum = 0, maximum = 10)]
    repeat: Option<u32>,
    barge_in: Option<bool>,
}

#[derive(Debug, ToSchema)]
pub struct MachineDetection {
    strategy: MachineStrategy,
}

#[derive(Debug, ToSchema)]
pub enum MachineStrategy {
    Hangup,
    Continue,
}

/// Where the tracking object is posted: on every change (`OnChange`, alias `OnStep`) or
/// once when the flow ends (`OnCompletion`).
#[derive(Debug, ToSchema)]
pub struct Callback {
    strategy: CallbackStrategy,
    /// An absolute http(s) URL, not on a loopback, private, link-local or multicast
    /// address (unless the server allows private callbacks).
    url: String,
}

#[derive(Debug, ToSchema)]
pub enum CallbackStrategy {
    OnChange,
    OnStep,
    OnCompletion,
}

/// The flow as accepted: the request echoed with defaults filled in, `type` in its
/// canonical casing, `dialPlan` under that name.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct FlowAccepted {
    tracking_id: String,
    created_at: Time,
    flow: Vec<StepRequest>,
    #[schema(nullable = false)]
    callback: Option<Callback>,
}

// ---- tracking -------------------------------------------------------------------------

/// The tracking object: a flow's state, one entry in `messages` per attempted step (per
/// part for SMS), ordered by `order` then `part`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Tracking {
    tracking_id: String,
    messages: Vec<TrackedMessage>,
    /// The channel of the last step attempted; null while nothing was attempted.
    termination_channel: Option<ChannelName>,
    status: FlowStatus,
    /// Why the flow failed (`0` internal error, `1` balance, `2` every step failed over,
    /// `3` a status outside `failoverOnStatuses`); null unless it failed.
    status_code: Option<StatusCode>,
    total_price: Money,
    /// Always `failover`.
    originating_service: String,
    application_id: String,
    created_at: Time,
    updated_at: Time,
}

#[derive(Debug, ToSchema)]
pub enum ChannelName {
    Sms,
    Viber,
    Voice,
}

#[derive(Debug, ToSchema)]
pub enum FlowStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, ToSchema)]
pub enum StatusCode {
    #[serde(rename = "0")]
    Internal,
    #[serde(rename = "1")]
    Balance,
    #[serde(rename = "2")]
    Exhausted,
    #[serde(rename = "3")]
    NotListed,
}

#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum TrackedMessage {
    Sms(TrackedSms),
    Viber(TrackedViber),
    Voice(TrackedVoice),
}

/// A message's status: the channel's status name (Viber's in upper case) and the
/// provider's words.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct MessageStatus {
    name: String,
    reason: StatusReason,
    updated_date: Time,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct StatusReason {
    detailed_status: Option<String>,
    description: Option<String>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct TrackedSms {
    #[schema(rename = "type")]
    kind: SmsType,
    order: u32,
    failover_on_statuses: Vec<String>,
    created_at: Time,
    message_id: String,
    sms_id: String,
    from: String,
    to: String,
    /// This part's text.
    body: String,
    country: Option<String>,
    operator: String,
    status: MessageStatus,
    #[schema(minimum = 1)]
    part: u32,
    #[schema(minimum = 1)]
    parts: u32,
    /// Milliseconds from send to final report; null until final.
    latency: Option<i64>,
    price: Money,
    label: Option<String>,
    ttl: u32,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct TrackedViber {
    #[schema(rename = "type")]
    kind: ViberType,
    order: u32,
    failover_on_statuses: Vec<String>,
    created_at: Time,
    /// This message's own id.
    tracking_id: String,
    /// The sender's name.
    from: String,
    to: String,
    body: ViberContent,
    status: MessageStatus,
    country: Option<String>,
    price: Money,
    inbound_url: Option<String>,
    label: Option<String>,
    ttl: f64,
    expire_on_delivery: bool,
    /// Present only when `expireOnDelivery` was true and the message expired.
    #[schema(nullable = false)]
    expired_on_delivery_at: Option<Time>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct TrackedVoice {
    #[schema(rename = "type")]
    kind: VoiceType,
    order: u32,
    failover_on_statuses: Vec<String>,
    created_at: Time,
    message_id: String,
    from: String,
    /// The phone, viber or sip destination used.
    to: String,
    country: Option<String>,
    status: MessageStatus,
    /// Seconds; null until the call ends.
    duration: Option<u64>,
    price: Money,
    answered_by: Option<AnsweredBy>,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnsweredBy {
    Human,
    Machine,
    Unknown,
}

/// A flow's history, in order.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Timeline {
    tracking_id: String,
    events: Vec<TimelineEvent>,
}

/// One thing that happened to a flow. Members that do not apply are left out.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct TimelineEvent {
    at: Time,
    #[schema(rename = "type")]
    kind: TimelineKind,
    #[schema(nullable = false)]
    order: Option<u32>,
    #[schema(nullable = false)]
    part: Option<u32>,
    #[schema(nullable = false)]
    status: Option<String>,
    #[schema(nullable = false)]
    detail: Option<String>,
    /// What a call's report says in words.
    #[schema(nullable = false)]
    description: Option<String>,
    /// The provider's message ids.
    #[schema(nullable = false)]
    provider_ids: Option<Vec<String>>,
    #[schema(nullable = false)]
    provider: Option<String>,
    /// What the provider says it charged (informational).
    #[schema(nullable = false)]
    provider_price: Option<String>,
    /// The node that wrote the entry.
    #[schema(nullable = false)]
    node: Option<String>,
    #[schema(nullable = false)]
    duplicate: Option<bool>,
    #[schema(nullable = false)]
    late: Option<bool>,
    #[schema(nullable = false)]
    ignored: Option<bool>,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Accepted,
    StepStarted,
    FundsRefused,
    Submitted,
    SubmitFailed,
    Report,
    TtlExpired,
    InternalError,
    StepCompleted,
    FlowCompleted,
    Rejected,
    Callback,
    ProviderAttempt,
    ProviderPrice,
    Inbound,
}

// ---- search ---------------------------------------------------------------------------

/// The filters, ANDed: an array, a single filter, or nothing.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum SearchRequest {
    Filters(Vec<SearchFilter>),
    Filter(SearchFilter),
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SearchFilter {
    field_name: SearchField,
    /// Default `is`; `contains`, `starts_with` and `ends_with` apply to `to` only.
    search_operator: Option<SearchOperator>,
    search_term: SearchTerm,
}

/// What a filter looks for: a string, or an integer taken as its decimal digits (a phone
/// number written as a JSON number).
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum SearchTerm {
    Text(String),
    Integer(i64),
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SearchField {
    Type,
    To,
    Status,
    TerminationChannel,
    TrackingId,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchOperator {
    Is,
    IsNot,
    Contains,
    StartsWith,
    EndsWith,
}

/// One page of tracking objects (Spring's page shape).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct TrackingPage {
    content: Vec<Tracking>,
    #[schema(minimum = 0)]
    total_pages: u64,
    #[schema(minimum = 0)]
    total_elements: u64,
    /// The page number, from 0.
    #[schema(minimum = 0)]
    number: u64,
    #[schema(minimum = 1, maximum = 1000)]
    size: u64,
    #[schema(minimum = 0)]
    number_of_elements: u64,
    first: bool,
    /// Also true past the end, and when there are no results.
    last: bool,
}

// ---- accounts -------------------------------------------------------------------------

#[derive(Debug, ToSchema)]
pub struct Balance {
    balance: Money,
    currency: Currency,
}

#[derive(Debug, ToSchema)]
pub struct Currency {
    /// ISO 4217.
    #[schema(example = "EUR")]
    code: String,
    #[schema(example = "Euro")]
    name: String,
    #[schema(example = "€")]
    sign: String,
}

// ---- administration -------------------------------------------------------------------

#[derive(Debug, ToSchema)]
pub struct NewAccount {
    /// 1 to 100 characters once trimmed.
    #[schema(max_length = 100, pattern = r"[^\s\x85]")]
    name: String,
    /// Default 0.
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 9.0e12)]
    balance: Option<Money>,
    /// ISO 4217, default EUR (case-insensitive).
    currency: Option<CurrencyCode>,
}

/// The currencies an account may hold.
#[derive(Debug, ToSchema)]
pub enum CurrencyCode {
    EUR,
    USD,
    GBP,
    CHF,
    SEK,
    NOK,
    DKK,
    PLN,
    HUF,
    CZK,
    RON,
    BGN,
    TRY,
    JPY,
    CAD,
    AUD,
    INR,
    BRL,
    AED,
    ZAR,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Account {
    account_id: String,
    name: String,
    balance: Money,
    currency: String,
    currency_details: Currency,
    created_at: Time,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewApplication {
    /// 1 to 100 characters once trimmed.
    #[schema(max_length = 100, pattern = r"[^\s\x85]")]
    name: String,
    /// Chosen by the server when absent.
    #[schema(pattern = "^[A-Za-z0-9._-]{3,64}$")]
    application_id: Option<String>,
    /// Default: all five.
    scopes: Option<Vec<Scope>>,
    /// Default 3600; at most a week.
    #[schema(minimum = 1, maximum = 604_800)]
    token_lifetime_seconds: Option<u32>,
    /// Overrides the server's default rate limit.
    rate_limit: Option<RateLimit>,
}

/// What a token may do (case-insensitive on input).
#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Failover,
    Sms,
    Viber,
    Voice,
    Account,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests per second; 0 turns the limit off.
    #[schema(minimum = 0, maximum = 4_294_967_295_u32)]
    per_second: u32,
    /// At least `perSecond`; default `perSecond`.
    #[schema(minimum = 0, maximum = 4_294_967_295_u32)]
    burst: Option<u32>,
}

/// A new application, with both secrets — shown this once.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CreatedApplication {
    application_id: String,
    account_id: String,
    name: String,
    scopes: Vec<String>,
    token_lifetime_seconds: u32,
    rate_limit: Option<RateLimit>,
    secret: String,
    webhook_secret: String,
    created_at: Time,
}

#[derive(Debug, ToSchema)]
pub struct NewBalance {
    #[schema(value_type = f64, minimum = 0, maximum = 9.0e12)]
    balance: Money,
}

#[derive(Debug, ToSchema)]
pub struct NewViberSender {
    /// 1 to 50 characters once trimmed.
    #[schema(max_length = 50, pattern = r"[^\s\x85]")]
    name: String,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ViberSender {
    sender_info_tracking_id: String,
    name: String,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct WebhookSecret {
    application_id: String,
    webhook_secret: String,
}

#[derive(Debug, ToSchema)]
pub struct CallbackList {
    callbacks: Vec<CallbackRecord>,
}

/// One callback of the outbox.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CallbackRecord {
    callback_id: i64,
    event_id: String,
    tracking_id: String,
    /// Per flow, increasing.
    sequence: i64,
    application_id: String,
    url: String,
    state: CallbackState,
    attempts: u32,
    /// Set while pending.
    next_attempt_at: Option<Time>,
    last_error: Option<String>,
    created_at: Time,
}

#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallbackState {
    Pending,
    Delivered,
    Dead,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Redelivered {
    callback_id: i64,
    redelivered: u64,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct FlowRedelivered {
    tracking_id: String,
    /// How many dead callbacks go out again.
    redelivered: u64,
}

#[derive(Debug, ToSchema)]
pub struct InboundList {
    inbound: Vec<InboundMessage>,
}

/// A reply from a recipient, matched to a flow's message or not.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct InboundMessage {
    id: i64,
    #[schema(rename = "type")]
    kind: ChannelName,
    from: String,
    to: String,
    text: String,
    received_at: Time,
    provider: String,
    /// The flow it answers; null when unmatched.
    tracking_id: Option<String>,
    message_tracking_id: Option<String>,
    /// Whether it was posted to the step's `inboundUrl`.
    forwarded: bool,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NodeList {
    nodes: Vec<Node>,
    /// How long a node counts as live after its last heartbeat.
    lease_ms: i64,
    /// The nodes this one divides the rate limits by.
    rate_limit_nodes: u64,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Node {
    id: String,
    /// This node.
    #[schema(rename = "self")]
    this: bool,
    /// Null for a store without node rows (SQLite).
    started_at: Option<Time>,
    last_heartbeat: Time,
    /// Null for a store without node rows (SQLite).
    holds: Option<NodeHolds>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NodeHolds {
    jobs: u64,
    callbacks: u64,
    sandbox_reports: u64,
    /// SMSC bind leases (`smsc:…`).
    binds: Vec<String>,
}

// ---- webhooks, health -----------------------------------------------------------------

/// What a provider's webhook recorded.
#[derive(Debug, ToSchema)]
pub struct WebhookOutcome {
    applied: u32,
    held: u32,
    inbound: u32,
    ignored: u32,
}

#[derive(Debug, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: String,
}

// ---- sandbox --------------------------------------------------------------------------

/// A rule scripting the sandbox provider of a channel for a recipient.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct NewScenario {
    channel: ChannelName,
    /// An E.164 number, or `*` for every recipient.
    to: String,
    /// The provider's reports; an empty list means it never reports.
    #[schema(max_items = 20)]
    events: Option<Vec<ScenarioEvent>>,
    #[schema(max_length = 200)]
    operator: Option<String>,
    /// Voice.
    answered_by: Option<AnsweredBy>,
    /// Voice.
    #[schema(minimum = 0, maximum = 86400)]
    duration_seconds: Option<u32>,
    /// Sms: refuse the submission with this SMPP error status (a number or a name such as
    /// `ESME_RINVDSTADR`).
    reject_with: Option<SmppStatus>,
    /// Sms: refuse submissions beyond this many per second with a throttling status.
    #[schema(minimum = 0, maximum = 100)]
    throttle: Option<u32>,
    /// Applies to the next N sends only; unlimited when absent.
    #[schema(minimum = 1, maximum = 4_294_967_295_u32)]
    times: Option<u32>,
}

#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum SmppStatus {
    Number(u32),
    Name(String),
}

/// A status report, or an inbound reply (`inbound`, Sms and Viber), `afterMs` after the
/// send.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ScenarioEvent {
    #[schema(minimum = 0, maximum = 86_400_000, nullable = false)]
    after_ms: Option<u64>,
    /// A status of the channel other than the queued one.
    #[schema(nullable = false)]
    status: Option<String>,
    #[schema(max_length = 1000, nullable = false)]
    inbound: Option<String>,
    #[schema(max_length = 200, nullable = false)]
    detailed_status: Option<String>,
    #[schema(max_length = 200, nullable = false)]
    description: Option<String>,
    /// Sms: the part the report is about.
    #[schema(minimum = 1, maximum = 255, nullable = false)]
    part: Option<u32>,
}

#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Scenario {
    scenario_id: i64,
    channel: ChannelName,
    to: String,
    events: Option<Vec<ScenarioEventShown>>,
    operator: Option<String>,
    answered_by: Option<AnsweredBy>,
    duration_seconds: Option<u32>,
    reject_with: Option<u32>,
    throttle: Option<u32>,
    /// Null: unlimited.
    times_left: Option<u32>,
    created_at: Time,
}

/// An event as listed: a status (with `detailedStatus`, `description`, `part` possibly
/// null) or an inbound reply.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ScenarioEventShown {
    after_ms: u64,
    #[schema(nullable = false)]
    inbound: Option<String>,
    status: Option<String>,
    detailed_status: Option<String>,
    description: Option<String>,
    part: Option<u32>,
}

#[derive(Debug, ToSchema)]
pub struct ScenarioList {
    scenarios: Vec<Scenario>,
}

#[derive(Debug, ToSchema)]
pub struct ScenariosDeleted {
    deleted: u64,
}

#[derive(Debug, ToSchema)]
pub struct SandboxMessageList {
    messages: Vec<SandboxMessage>,
}

/// A message a sandbox provider received.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SandboxMessage {
    channel: ChannelName,
    provider: String,
    provider_message_ids: Vec<String>,
    client_ref: String,
    to: String,
    /// What the provider was asked to send, in its own shape.
    content: serde_json::Value,
    scenario_id: Option<i64>,
    received_at: Time,
}

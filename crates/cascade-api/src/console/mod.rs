//! The web console at `/console`: server-rendered pages over the same store and rules as
//! the API, with no script at all.
//!
//! - An application signs in with its id and secret and sees its account's trackings; the
//!   operator signs in with the admin token and sees every account, plus the operators'
//!   page (accounts, nodes, providers, the callback outbox, sandbox scenarios).
//! - Pages escape everything they show (maud escapes by construction; flow bodies are the
//!   sender's text), forms that change something carry a CSRF token, and every response
//!   sets a strict Content-Security-Policy: nothing but the console's own stylesheet loads.
//!
//! [`session`] signs the cookies, [`timeline`] draws a flow's story, [`pages`] renders.

mod pages;
pub mod session;
pub mod timeline;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cascade_core::FlowId;
use cascade_service::credentials::verify_secret;
use maud::{DOCTYPE, Markup, html};

use crate::ApiState;
use session::{Keys, LOGIN_COOKIE, SESSION_COOKIE, SESSION_MS, Session, Who};

/// What every console page asks of the browser.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLESHEET: &str = include_str!("console.css");
const FAVICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><path d='M2 3h12l-4 5 4 5H2l4-5z' fill='#2d5bd7'/></svg>";

/// The console's state: the API's, and the session keys.
#[derive(Debug)]
pub struct Console {
    pub(crate) api: Arc<ApiState>,
    pub(crate) keys: Keys,
}

/// The routes under `/console`.
pub fn router(api: Arc<ApiState>) -> Router {
    let keys = Keys::new(&api.admin);
    let console = Arc::new(Console { api, keys });
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/trackings") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/trackings") }),
        )
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/trackings", get(pages::trackings))
        .route("/console/flows/{tracking_id}", get(pages::flow))
        .route("/console/operators", get(pages::operators))
        .route(
            "/console/callbacks/{callback_id}/redeliver",
            post(pages::redeliver_callback),
        )
        .route(
            "/console/flows/{tracking_id}/callbacks/redeliver",
            post(pages::redeliver_flow_callbacks),
        )
        .route("/console/console.css", get(stylesheet))
        .route("/console/favicon.svg", get(favicon))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

/// Security headers of every console response. The referrer policy is `same-origin`, not
/// `no-referrer`: with the latter browsers send `Origin: null` on form posts, and the
/// origin check could not tell the console's own forms from a forged one.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A page as it leaves: an HTML document with the console's navigation.
pub(crate) fn document(title: &str, signed_in: Option<(&Session, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Cascade console" }
                link rel="stylesheet" href="/console/console.css";
                link rel="icon" href="/console/favicon.svg";
            }
            body {
                header class="top" {
                    a class="brand" href="/console/trackings" { "Cascade" }
                    @if let Some((session, csrf)) = signed_in {
                        nav {
                            a href="/console/trackings" { "Trackings" }
                            @if session.is_operator() {
                                a href="/console/operators" { "Operators" }
                            }
                        }
                        span class="who" {
                            @match &session.who {
                                Who::Operator => "operator (every account)",
                                Who::App { application, account, .. } => {
                                    "application " (application) " · account " (account)
                                }
                            }
                        }
                        form method="post" action="/console/logout" class="inline" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An HTML answer with `status`.
pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// Where a page that needs a session sends a visitor without one.
fn to_login() -> Response {
    Redirect::to("/console/login").into_response()
}

/// A console error page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No session (or an expired or revoked one): sign in.
    SignIn,
    /// The session may not see this.
    Forbidden,
    NotFound(&'static str),
    /// A form without its CSRF token, or from another site.
    BadForm,
    /// The store cannot be read now.
    Unavailable,
}

impl From<cascade_store::StoreError> for PageError {
    fn from(e: cascade_store::StoreError) -> Self {
        tracing::error!(error = %e, "console: store failure");
        PageError::Unavailable
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, what) = match self {
            PageError::SignIn => return to_login(),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Only the operator may see this page.",
            ),
            PageError::NotFound(what) => (StatusCode::NOT_FOUND, what),
            PageError::BadForm => (
                StatusCode::FORBIDDEN,
                "The form was not sent from this console (missing or stale CSRF token). Reload the page and try again.",
            ),
            PageError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The store cannot be read now. Try again in a moment.",
            ),
        };
        html_response(
            status,
            document(
                "Error",
                None,
                html! { h1 { (status.as_u16()) } p class="error" { (what) } p { a href="/console/trackings" { "Back to the console" } } },
            ),
        )
    }
}

impl Console {
    /// The request's session, still valid: an application's must still exist with the
    /// secret it signed in with.
    pub(crate) async fn session(&self, headers: &HeaderMap) -> Result<Session, PageError> {
        let now = self.api.runtime.clock().now();
        let session = session::cookie(headers, SESSION_COOKIE)
            .and_then(|v| self.keys.unseal(v, now))
            .ok_or(PageError::SignIn)?;
        if let Who::App {
            application,
            secret,
            ..
        } = &session.who
        {
            let app = self
                .api
                .store
                .application(application)
                .await?
                .ok_or(PageError::SignIn)?;
            if session::secret_fingerprint(&app.secret_hash) != *secret {
                return Err(PageError::SignIn);
            }
        }
        Ok(session)
    }

    /// The session of a form that changes something: same origin and its CSRF token.
    pub(crate) async fn form_session(
        &self,
        headers: &HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<Session, PageError> {
        let session = self.session(headers).await?;
        if !session::same_origin(headers)
            || !form
                .get("csrf")
                .is_some_and(|t| self.keys.csrf_ok(&session, t))
        {
            return Err(PageError::BadForm);
        }
        Ok(session)
    }

    fn secure(&self, headers: &HeaderMap) -> bool {
        self.api.public_url.starts_with("https://")
            || headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    }
}

/// A form body (`application/x-www-form-urlencoded`); anything else reads as empty.
pub(crate) fn form_of(body: &Bytes) -> HashMap<String, String> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

async fn login_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if console.session(&headers).await.is_ok() {
        return Redirect::to("/console/trackings").into_response();
    }
    login_form(&console, &headers, StatusCode::OK, None)
}

fn login_form(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let token = session::random_token();
    let body = html! {
        h1 { "Sign in" }
        @if let Some(error) = error { p class="error" role="alert" { (error) } }
        div class="cards" {
            form method="post" action="/console/login" class="card" id="app-login" {
                h2 { "Application" }
                p class="hint" { "The trackings of the application's account." }
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="mode" value="app";
                label { "Application id" input name="application_id" required autocomplete="username"; }
                label { "Secret" input name="secret" type="password" required autocomplete="current-password"; }
                button type="submit" { "Sign in" }
            }
            form method="post" action="/console/login" class="card" id="operator-login" {
                h2 { "Operator" }
                p class="hint" { "Every account, and the operators' page." }
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="mode" value="operator";
                label { "Admin token" input name="admin_token" type="password" required autocomplete="current-password"; }
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut response = html_response(status, document("Sign in", None, body));
    let cookie = session::set_cookie(LOGIN_COOKIE, &token, 3600, console.secure(headers));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn login(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_of(&body);
    let expected = session::cookie(&headers, LOGIN_COOKIE);
    let presented = form.get("csrf").map(String::as_str);
    if !session::same_origin(&headers)
        || expected.is_none()
        || !expected
            .zip(presented)
            .is_some_and(|(a, b)| cascade_service::credentials::constant_time_eq(a, b))
    {
        return PageError::BadForm.into_response();
    }
    let now = console.api.runtime.clock().now();
    let field = |name: &str| form.get(name).map(|s| s.trim()).unwrap_or_default();
    let who = match field("mode") {
        "operator" => console
            .api
            .admin
            .accepts(field("admin_token"))
            .then_some(Who::Operator),
        "app" => match app_who(&console, field("application_id"), field("secret")).await {
            Ok(who) => who,
            Err(e) => return e.into_response(),
        },
        _ => None,
    };
    let Some(who) = who else {
        tracing::info!(mode = field("mode"), "console: sign-in refused");
        return login_form(
            &console,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("Those credentials were not accepted."),
        );
    };
    let sealed = console.keys.seal(&console.keys.open(who, now));
    let secure = console.secure(&headers);
    let mut response = Redirect::to("/console/trackings").into_response();
    for cookie in [
        session::set_cookie(SESSION_COOKIE, &sealed, SESSION_MS / 1000, secure),
        session::set_cookie(LOGIN_COOKIE, "", 0, secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// An application's session identity when `secret` is its secret.
async fn app_who(console: &Console, id: &str, secret: &str) -> Result<Option<Who>, PageError> {
    if id.is_empty() || secret.is_empty() {
        return Ok(None);
    }
    let Some(app) = console.api.store.application(id).await? else {
        return Ok(None);
    };
    let (secret, hash) = (secret.to_owned(), app.secret_hash.clone());
    let verified = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .unwrap_or(false);
    Ok(verified.then(|| Who::App {
        application: app.id.clone(),
        account: app.account_id.clone(),
        secret: session::secret_fingerprint(&app.secret_hash),
    }))
}

async fn logout(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = console.form_session(&headers, &form_of(&body)).await {
        return e.into_response();
    }
    let mut response = Redirect::to("/console/login").into_response();
    let cookie = session::set_cookie(SESSION_COOKIE, "", 0, console.secure(&headers));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// A tracking id from a path, or the 404 page.
pub(crate) fn flow_id(raw: &str) -> Result<FlowId, PageError> {
    FlowId::parse(raw).map_err(|_| PageError::NotFound("No such flow."))
}

//! The OpenAPI 3.1 description of the API, built from the handlers' `#[utoipa::path]`
//! annotations as [`crate::router`] registers them (a route cannot be served without
//! its description), plus the shared parts here: the security schemes, the error
//! responses and the wire shapes of [`schemas`].
//!
//! Served at `GET /openapi.json` with Swagger UI at `GET /docs`; `cascade openapi` prints
//! it, and `docs/openapi.json` is its committed copy.

pub mod schemas;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi, ToResponse};

/// The security scheme of application routes: an OAuth 2.0 client-credentials token.
pub const APP: &str = "oauth2";
/// The security scheme of `/admin`, `/sandbox` and `/metrics`: the admin token.
pub const ADMIN: &str = "adminToken";
/// HTTP Basic with an application's id and secret, on `POST /oauth/token`.
pub const CLIENT: &str = "clientBasic";

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Cascade",
        description = "Self-hosted omnichannel failover messaging (Viber, SMS, Voice), wire-compatible with Routee's Failover API, plus administration and the sandbox. Errors use the body `{\"code\", \"developerMessage\", \"properties\"}` (see `ApiErrorBody`); `POST /oauth/token` answers errors in the OAuth shape.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "auth", description = "OAuth 2.0 client credentials."),
        (name = "failover", description = "Send flows, track and search them."),
        (name = "account", description = "The caller's account."),
        (name = "admin", description = "The operator's API (admin token)."),
        (name = "sandbox", description = "Scripted sandbox providers (admin token)."),
        (name = "webhooks", description = "Reports and replies from providers."),
        (name = "health", description = "Liveness, readiness and metrics."),
    ),
    components(schemas(schemas::ApiErrorBody), responses(
        BadRequest, Unauthorized, Forbidden, NotFound, TrackingNotFound, Conflict,
        PayloadTooLarge, UnsupportedMediaType, TooManyRequests, Internal, Unavailable
    )),
    modifiers(&Security),
)]
pub struct ApiDoc;

/// The security schemes, which the derive cannot express (the OAuth scopes come from
/// [`cascade_service::tenancy::SCOPES`]).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scopes: Scopes = cascade_service::tenancy::SCOPES
            .iter()
            .map(|(scope, permission)| (*scope, *permission))
            .collect();
        components.add_security_scheme(
            APP,
            SecurityScheme::OAuth2(
                OAuth2::with_description(
                    [Flow::ClientCredentials(ClientCredentials::new(
                        "/oauth/token",
                        scopes,
                    ))],
                    "A token from `POST /oauth/token`, sent as `Authorization: Bearer <token>`. Each scope grants the permission named after it; a flow needs `failover` and the scope of each channel it uses.",
                ),
            ),
        );
        components.add_security_scheme(
            ADMIN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token (`CASCADE_ADMIN_TOKEN`, or the one the first run printed).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            CLIENT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("`applicationId:secret` of an application."))
                    .build(),
            ),
        );
    }
}

/// A response with the API's error body and, optionally, a header.
fn error_response(description: &str, header: Option<(&str, &str)>) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ApiErrorBody")))
            .build(),
    );
    if let Some((name, text)) = header {
        response = response.header(
            name,
            HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new().schema_type(Type::String),
                ))
                .description(Some(text))
                .build(),
        );
    }
    response.build().into()
}

/// Declares the error responses the paths refer to by name (`response = Unauthorized`).
macro_rules! error_responses {
    ($($name:ident => $description:literal $(, $header:literal : $text:literal)?;)*) => {$(
        #[doc = $description]
        #[derive(Debug)]
        pub struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<Response>) {
                (stringify!($name), error_response($description, None$(.or(Some(($header, $text))))?))
            }
        }
    )*};
}

error_responses! {
    BadRequest => "The request is malformed (`400000000`: not JSON, a bad query) or invalid (`400022001` for flows and searches, `400000001` for administration and the sandbox; `properties` names each bad field).";
    Unauthorized => "No, unknown or expired token (`401000000`).", "WWW-Authenticate": "`Bearer`";
    Forbidden => "The token lacks a scope the request needs (`403000000`).";
    NotFound => "No such resource (`404000000`).";
    TrackingNotFound => "No such tracking in the caller's account (`404022001`); another account's id answers the same.";
    Conflict => "The resource exists already (`409000000`), or the `Idempotency-Key` is in flight or was used with another body (`409022001`).";
    PayloadTooLarge => "The body is larger than the limit (`413000000`; 1 MiB by default).";
    UnsupportedMediaType => "The body is not `application/json` (`415000000`).";
    TooManyRequests => "The application's rate limit (`429000000`).", "Retry-After": "Seconds to wait.";
    Internal => "Internal error (`500000000`); nothing internal is described.";
    Unavailable => "The store is unavailable (`503000000`); retry.", "Retry-After": "Seconds to wait.";
}

/// The whole document, as `GET /openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = crate::api_routes().into_openapi();
    doc.merge(crate::routes::sandbox::routes().into_openapi());
    doc
}

/// Declares a group of the error responses above, for `responses(...)` lists.
macro_rules! response_groups {
    ($($(#[$doc:meta])* $group:ident => [$($status:literal => $name:ident),*];)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $group;

        impl utoipa::IntoResponses for $group {
            fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
                [$(($status.to_owned(), Ref::from_response_name(stringify!($name)).into())),*]
                    .into_iter()
                    .collect()
            }
        }
    )*};
}

response_groups! {
    /// What any route behind an application token may answer besides its own results.
    AppErrors => ["401" => Unauthorized, "403" => Forbidden, "429" => TooManyRequests,
                  "500" => Internal, "503" => Unavailable];
    /// What any route behind the admin token may answer besides its own results.
    AdminErrors => ["401" => Unauthorized, "500" => Internal, "503" => Unavailable];
    /// What reading a JSON body may answer.
    JsonErrors => ["400" => BadRequest, "413" => PayloadTooLarge, "415" => UnsupportedMediaType];
}

/// The document as `cascade openapi` prints it and `docs/openapi.json` holds it.
pub fn to_json() -> String {
    document()
        .to_pretty_json()
        .expect("the document serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository holds the reference: `docs/openapi.json` must be what the code
    /// generates.
    #[test]
    fn committed_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed.trim_end() == to_json(),
            "docs/openapi.json differs from the code's description; regenerate it with \
             `cargo run -q -- openapi > docs/openapi.json`"
        );
    }

    #[test]
    fn is_openapi_3_1_with_every_security_scheme() {
        let doc: serde_json::Value = serde_json::from_str(&to_json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let schemes = &doc["components"]["securitySchemes"];
        for name in [APP, ADMIN, CLIENT] {
            assert!(schemes[name].is_object(), "{name} missing");
        }
        let flow = &schemes[APP]["flows"]["clientCredentials"];
        assert_eq!(flow["tokenUrl"], "/oauth/token");
        for (scope, _) in cascade_service::tenancy::SCOPES {
            assert!(flow["scopes"][scope].is_string(), "scope {scope} missing");
        }
    }

    /// Every operation says who may call it, and what it answers when refused.
    #[test]
    fn every_operation_has_security_and_error_responses() {
        let doc: serde_json::Value = serde_json::from_str(&to_json()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 24, "{} paths", paths.len());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["security"].is_array(), "{method} {path}: no security");
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path}: no success response"
                );
                let open = op["security"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == &serde_json::json!({}));
                if !open {
                    assert!(responses.contains_key("401"), "{method} {path}: no 401");
                }
            }
        }
    }
}

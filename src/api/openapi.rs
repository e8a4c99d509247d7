//! The API's OpenAPI description. [`ApiDoc`] holds what is said once (the
//! title, the bearer-token scheme, the tags); each route's operation comes
//! from its handler's `#[utoipa::path]`, gathered by utoipa-axum as the
//! router is built, so a route cannot be served without being described
//! or described without being served. [`finish`] adds what every
//! operation shares (the error answer). The result is served at
//! `/api/v1/openapi.json` and rendered at `/api/docs` ([`super::docs`]).

use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::Modify;

use super::wire::ErrorBody;

/// The description's fixed part.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Fulcrum API",
        description = "Bootenvs, networks, nodes and their lifecycle, the noderole engine, DNS, tokens and the \
                       audit log of a Fulcrum provisioning appliance. Every call takes an API token as a bearer \
                       token (`Authorization: Bearer ...`) unless it says otherwise; a machine's own routes take \
                       its node token too. Every error is answered as `ErrorBody`, naming the field at fault."
    ),
    security(("token" = [])),
    modifiers(&BearerToken),
    components(schemas(ErrorBody)),
    tags(
        (name = "nodes", description = "Machines: registration, changes, bootenv, lifecycle verbs, explain and trace"),
        (name = "machines", description = "What machines call about themselves, with their node token"),
        (name = "power", description = "Power and boot device, through each node's driver"),
        (name = "networks", description = "Served networks: subnets, ranges, IPv6 prefixes, DHCP policy"),
        (name = "leases", description = "DHCPv4 and DHCPv6 leases"),
        (name = "bootenvs", description = "Boot environments, and making them from distribution ISOs"),
        (name = "roles", description = "Roles of the noderole engine"),
        (name = "deployments", description = "Deployments: proposed, committed"),
        (name = "noderoles", description = "Roles bound to nodes, their runs, and annealing"),
        (name = "dns", description = "Operator DNS records, zones, and what the server would answer"),
        (name = "tokens", description = "API tokens (admin) and the audit log"),
        (name = "status", description = "Health, status, metrics and the change feed"),
    )
)]
pub(crate) struct ApiDoc;

/// The `token` security scheme: an API or node token as a bearer token.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, api: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API token (`fulcrum token create`), or a machine's own node token on its routes"))
            .build();
        api.components.get_or_insert_with(Default::default).add_security_scheme("token", SecurityScheme::Http(scheme));
    }
}

/// Every operation of the description, with its path and method, in the
/// description's order.
pub(crate) fn operations(api: &OpenApi) -> Vec<(&str, &'static str, &Operation)> {
    let mut all = Vec::new();
    for (path, item) in &api.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
            ("HEAD", &item.head),
            ("OPTIONS", &item.options),
            ("TRACE", &item.trace),
        ];
        all.extend(ops.into_iter().filter_map(|(method, op)| op.as_ref().map(|op| (path.as_str(), method, op))));
    }
    all
}

/// Completes the gathered description: every operation may answer an
/// error, as [`ErrorBody`] with its status.
pub(crate) fn finish(api: &mut OpenApi) {
    let error = ResponseBuilder::new()
        .description("An error: its status says the kind (400 malformed, 401 no token, 403 not allowed, 404 unknown, 409 conflict or refused transition, 413 too large, 422 invalid value, 503 stopping); the body what went wrong and which field.")
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
        .build();
    for item in api.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for op in ops.into_iter().flatten() {
            op.responses.responses.entry("default".to_string()).or_insert_with(|| RefOr::T(error.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::operations;
    use crate::auth::access::{need, Need};

    #[test]
    fn every_operation_is_tagged_summarised_and_needs_a_token_unless_the_front_door_says_not() {
        let (_, api) = crate::api::described();
        let all = operations(&api);
        for (path, method, op) in &all {
            assert!(op.tags.as_ref().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
            assert!(op.summary.as_ref().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
            // An operation that says it needs no token is one the front
            // door lets in without one, and the other way round.
            let open = op.security.as_ref().is_some_and(|s| serde_json::to_string(s).is_ok_and(|j| j == "[{}]"));
            assert_eq!(open, need(method, path) == Need::Nothing, "{method} {path}: security says {open}");
        }
        let n = all.len();
        assert!(n >= 60, "{n} operations");
        let json = api.to_json().expect("json");
        assert!(json.contains("\"token\"") && json.contains("\"bearer\""), "no bearer scheme");
    }
}

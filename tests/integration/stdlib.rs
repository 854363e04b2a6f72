//! The stdlib modules declare the claims DESIGN §7.9 lists, with those types, and compose.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use edgeward::catalog::Catalog;
use edgeward::input::{ClaimDecl, ClaimType};

fn claims_of(uses: &str) -> Vec<(String, ClaimType, bool)> {
    let catalog = Catalog::from_yaml_str("empty", "").unwrap().catalog;
    let source = format!("policy p\n{uses}\nroute GET \"/\" {{\n  allow all\n}}\n");
    let program = edgeward::compile("p.ward", &source, Some(&catalog))
        .unwrap()
        .program;
    program
        .claims
        .into_iter()
        .map(|ClaimDecl { name, ty, optional }| (name, ty, optional))
        .collect()
}

fn c(name: &str, ty: ClaimType, optional: bool) -> (String, ClaimType, bool) {
    (name.to_string(), ty, optional)
}

#[test]
fn cloudflare_access_declares_the_access_token_claims() {
    use ClaimType::*;
    assert_eq!(
        claims_of("use std::cloudflare_access"),
        vec![
            c("aud", Set, false),
            c("email", String, true),
            c("exp", Time, false),
            c("iat", Time, false),
            c("nbf", Time, true),
            c("iss", String, false),
            c("sub", String, false),
            c("type", String, false),
            c("identity_nonce", String, true),
            c("country", String, true),
            c("common_name", String, true),
        ]
    );
}

#[test]
fn identity_provider_modules_add_their_claims() {
    use ClaimType::*;
    assert_eq!(
        claims_of("use std::okta"),
        vec![
            c("groups", Set, true),
            c("amr", Set, true),
            c("preferred_username", String, true)
        ]
    );
    assert_eq!(
        claims_of("use std::entra"),
        vec![
            c("oid", String, true),
            c("tid", String, true),
            c("roles", Set, true),
            c("groups", Set, true),
            c("upn", String, true),
        ]
    );
    assert_eq!(claims_of("use std::google"), vec![c("hd", String, true)]);
    // okta and entra both declare `groups: set<string>?`: one claim, no conflict.
    let both = claims_of("use std::okta\nuse std::entra");
    assert_eq!(both.iter().filter(|(n, _, _)| n == "groups").count(), 1);
}

#[test]
fn a_claim_declared_twice_with_another_type_is_an_error() {
    let source = "policy p\nuse std::okta\nclaims {\n  groups: string?\n}\nroute GET \"/\" {\n  allow all\n}\n";
    let r = edgeward::check_source("p.ward", source, None);
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.code == "edgeward::claim_conflict"),
        "{:?}",
        r.diagnostics
    );
}

#[test]
fn backstage_roles_need_a_principal_and_a_target() {
    let catalog = Catalog::from_yaml_str(
        "c.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: { name: jane }\nspec: { profile: { email: jane@acme.dev }, memberOf: [team] }\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: { name: team }\nspec: { type: team, children: [] }\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: { name: api }\nspec: { type: service, lifecycle: production, owner: team }\n",
    )
    .unwrap()
    .catalog;
    let ok = "policy p\nuse std::cloudflare_access\nuse std::backstage\nprincipal = user where spec.profile.email == claims.email\nroute GET \"/x/{name}\" -> component:default/{name} {\n  allow owners when target_owner or target_team\n}\n";
    let program = edgeward::compile("p.ward", ok, Some(&catalog))
        .unwrap()
        .program;
    let mut req = edgeward::input::Request {
        method: "GET".into(),
        host: "h".into(),
        path: "/x/api".into(),
        time: 0,
        ip: None,
        country: None,
        claims: std::sync::Arc::new(
            [(
                "email".to_string(),
                edgeward::input::ClaimValue::String("jane@acme.dev".into()),
            )]
            .into(),
        ),
    };
    assert_eq!(
        edgeward::interp::decide(&program, &req).outcome.as_str(),
        "allow"
    );
    req.claims_mut().clear();
    assert_eq!(
        edgeward::interp::decide(&program, &req).outcome.as_str(),
        "default"
    );
    // Used where the route has no target: an error at the use.
    let no_target = "policy p\nuse std::cloudflare_access\nuse std::backstage\nprincipal = user where spec.profile.email == claims.email\nroute GET \"/x\" {\n  allow owners when target_owner\n}\n";
    let r = edgeward::check_source("p.ward", no_target, Some(&catalog));
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.code == "edgeward::no_target"),
        "{:?}",
        r.diagnostics
    );
}

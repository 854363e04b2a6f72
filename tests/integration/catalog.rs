//! Catalog model tests: Backstage's example catalog, the conformance catalog, ref defaults, API JSON and bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgeward::catalog::{Catalog, EntityId, EntityRef, Loaded};

mod bad_input;

/// `shared/`, found by walking up from the crate until a folder holds `shared/conformance`.
fn shared() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared"))
        .find(|s| s.join("conformance").is_dir())
        .expect("a `shared/conformance` folder above the crate")
}

fn examples() -> PathBuf {
    shared().join("data/backstage-examples")
}

fn id(c: &Catalog, r: &str) -> EntityId {
    c.lookup(&EntityRef::parse(r, None, "default").unwrap())
        .unwrap_or_else(|| panic!("`{r}` not in the catalog"))
}

fn kinds(c: &Catalog) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in c.ids() {
        *m.entry(c.entity(i).unwrap().kind.clone()).or_default() += 1;
    }
    m
}

fn codes(l: &Loaded) -> Vec<String> {
    l.warnings.iter().map(|w| w.code_str()).collect()
}

const EXPECTED_KINDS: [(&str, usize); 9] = [
    ("API", 11),
    ("AiResource", 3),
    ("Component", 13),
    ("Domain", 3),
    ("Group", 9),
    ("Location", 8),
    ("Resource", 1),
    ("System", 3),
    ("User", 17),
];

fn assert_example_model(l: &Loaded) {
    let c = &l.catalog;
    assert_eq!(c.len(), 68);
    let want: BTreeMap<String, usize> = EXPECTED_KINDS
        .iter()
        .map(|(k, n)| (k.to_string(), *n))
        .collect();
    assert_eq!(kinds(c), want);
    let users: Vec<_> = c.of_kind("user").collect();
    assert_eq!(users.len(), 17);
    assert_eq!(
        users
            .iter()
            .filter(|u| c.entity(**u).unwrap().namespace == "development")
            .count(),
        1
    );
}

#[test]
fn example_folder_has_the_readme_counts() {
    let l = Catalog::load(&examples()).unwrap();
    assert_example_model(&l);
    let fields: Vec<(&str, usize)> = l
        .catalog
        .ref_field_counts()
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        fields,
        [
            ("spec.children", 7),
            ("spec.consumesApis", 1),
            ("spec.dependsOn", 1),
            ("spec.domain", 3),
            ("spec.memberOf", 17),
            ("spec.owner", 34),
            ("spec.parent", 8),
            ("spec.providesApis", 5),
            ("spec.subcomponentOf", 2),
            ("spec.subdomainOf", 1),
            ("spec.system", 10),
        ]
    );
    // the two fields the README lists that are no Backstage relation, read from the raw documents
    let c = &l.catalog;
    let raw_count = |path: &[&str]| -> usize {
        c.ids()
            .filter_map(|i| c.field(i, path))
            .map(|v| v.as_array().map_or(1, Vec::len))
            .sum()
    };
    assert_eq!(raw_count(&["spec", "apiConsumedBy"]), 1);
    assert_eq!(raw_count(&["spec", "skills"]), 2);
    let total: usize = c.ref_field_counts().values().sum::<usize>() + 3;
    assert_eq!(total, 92);

    // resolved relations, both ways: one owner (`owner: guest` → group:default/guest) dangles
    let s = edgeward::catalog::summary(&l);
    let rel = |k: &str| s.relations.get(k).copied().unwrap_or(0);
    assert_eq!((rel("ownedBy"), rel("ownerOf")), (33, 33));
    assert_eq!((rel("memberOf"), rel("hasMember")), (17, 17));
    assert_eq!((rel("childOf"), rel("parentOf")), (8, 8));
    assert_eq!((rel("partOf"), rel("hasPart")), (16, 16));
    assert_eq!((rel("dependsOn"), rel("dependencyOf")), (1, 1));
    assert_eq!((rel("providesApi"), rel("apiProvidedBy")), (5, 5));
    assert_eq!((rel("consumesApi"), rel("apiConsumedBy")), (1, 1));
    assert_eq!(c.relations().len(), 162);
    assert_eq!(s.dangling_refs, 1);

    let mut w = codes(&l);
    w.sort();
    assert_eq!(
        w,
        [
            "edgeward::catalog::dangling_ref",
            "edgeward::catalog::shared_email", // guest@example.com on both guests
            "edgeward::catalog::skipped_file", // apis/petstore-webhook.oas.yaml
            "edgeward::catalog::unknown_kind",
            "edgeward::catalog::unknown_kind",
            "edgeward::catalog::unknown_kind",
        ]
    );
    let dangling = l
        .warnings
        .iter()
        .find(|w| w.code_str().ends_with("dangling_ref"))
        .unwrap();
    let (file, line, entity) = dangling.site();
    assert!(
        file.ends_with("components/playback-order-component.yaml"),
        "{file}"
    );
    assert_eq!(line, 12);
    assert_eq!(entity, Some("component:default/playback-order"));
    assert!(dangling.to_string().contains("`group:default/guest`"));
    let text = edgeward::catalog::render_text(&s);
    assert!(text.contains("68 entities"), "{text}");
}

#[test]
fn example_entry_points_follow_locations_and_load_each_file_once() {
    let root = examples();
    let l = Catalog::load_all(&[&root.join("all.yaml"), &root.join("acme/org.yaml")]).unwrap();
    assert_example_model(&l);
    let folder = Catalog::load(&root).unwrap();
    assert_eq!(l.catalog.hash(), folder.catalog.hash());
    // a file reached a second time (directly and through all.yaml) loads once: no duplicate errors
    let again = Catalog::load_all(&[
        &root.join("all-apis.yaml"),
        &root.join("all.yaml"),
        &root.join("acme/org.yaml"),
    ])
    .unwrap();
    assert_eq!(again.catalog.len(), 68);
    assert_eq!(again.catalog.hash(), folder.catalog.hash());
    // only the entry point all.yaml: no users, groups
    let part = Catalog::load(&root.join("all.yaml")).unwrap();
    assert_eq!(part.catalog.of_kind("User").count(), 0);
    assert_eq!(part.catalog.of_kind("Location").count(), 7);
}

#[test]
fn example_membership_closure_and_ownership() {
    let l = Catalog::load(&examples()).unwrap();
    let c = &l.catalog;
    let members = |g: &str| -> Vec<String> {
        let g = id(c, g);
        let mut v: Vec<String> = c
            .of_kind("user")
            .filter(|u| c.in_group(*u, g))
            .map(|u| c.entity(u).unwrap().entity_ref().to_string())
            .collect();
        v.sort();
        v
    };
    let direct = |g: &str| {
        c.of_kind("user")
            .filter(|u| c.direct_groups(*u).contains(&id(c, g)))
            .count()
    };
    assert_eq!(
        members("group:team-a"),
        [
            "user:default/breanna.davison",
            "user:default/guest",
            "user:default/janelle.dawe",
            "user:default/nigel.manning",
            "user:development/guest"
        ]
    );
    assert_eq!(
        (
            direct("group:team-b"),
            direct("group:team-c"),
            direct("group:team-d"),
            direct("group:team-e")
        ),
        (5, 5, 2, 0)
    );
    assert_eq!(members("group:backstage").len(), 10);
    assert_eq!(members("group:boxoffice").len(), 7);
    assert_eq!(members("group:infrastructure").len(), 17);
    assert_eq!(members("group:acme-corp").len(), 17);
    assert!(members("group:team-e").is_empty());
    // team-e is a child of boxoffice through its own spec.parent although boxoffice does not list it
    assert!(c.in_group(id(c, "group:team-e"), id(c, "group:boxoffice")));
    assert!(c.in_group(id(c, "group:team-e"), id(c, "group:acme-corp")));
    assert!(!c.in_group(id(c, "group:boxoffice"), id(c, "group:team-e")));
    assert!(!c.in_group(id(c, "user:breanna.davison"), id(c, "group:boxoffice")));

    let owns = |p: &str, e: &str| c.owns(id(c, p), id(c, e));
    assert!(owns("user:breanna.davison", "component:artist-lookup"));
    assert!(owns("user:development/guest", "component:artist-lookup")); // through team-a
    assert!(!owns("user:breanna.davison", "component:petstore")); // team-c's
    assert!(owns("user:calum.leavy", "component:petstore"));
    assert!(owns("user:guest", "component:searcher")); // `owner: user:guest`
    assert!(!owns("user:development/guest", "component:searcher")); // the ref defaults to searcher's namespace
    assert!(owns("user:frank.tiernan", "domain:playback"));
    assert!(owns("group:team-a", "component:www-artist"));
    // owns is direct membership only: acme-corp owns the audio domain, its transitive members do not
    assert!(owns("group:acme-corp", "domain:audio"));
    assert!(!owns("user:breanna.davison", "domain:audio"));
    // the dangling `owner: guest` (a Group ref) resolves to nothing
    let po = id(c, "component:playback-order");
    assert!(c.has_owner_field(po));
    assert_eq!(c.owner(po), None);
    assert!(!owns("user:guest", "component:playback-order"));
    assert_eq!(c.owner(id(c, "api:petstore")), Some(id(c, "group:team-c")));

    // part_of: component → system → domain → parent domain, and subcomponentOf
    let part = |e: &str, s: &str| c.part_of(id(c, e), id(c, s));
    assert!(part(
        "component:artist-lookup",
        "system:artist-engagement-portal"
    ));
    assert!(part("component:artist-lookup", "domain:artists"));
    assert!(part("component:artist-lookup", "domain:audio"));
    assert!(part(
        "component:wayback-archive-storage",
        "component:wayback-archive"
    ));
    assert!(part("component:playback-sdk", "domain:playback"));
    assert!(!part("component:petstore", "domain:playback"));
    assert_eq!(
        c.system(id(c, "resource:artists-db")),
        Some(id(c, "system:artist-engagement-portal"))
    );
    assert_eq!(
        c.system(id(c, "airesource:code-review-plugin")),
        Some(id(c, "system:artist-engagement-portal"))
    );
}

#[test]
fn every_ref_default() {
    let yaml = r"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: parent-g, namespace: ns1}
spec: {type: team, children: [child-g], members: [u2]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: child-g, namespace: ns1}
spec: {type: team, parent: parent-g, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: u1, namespace: ns1}
spec: {memberOf: [child-g]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: u2, namespace: ns1}
spec: {}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: d1, namespace: ns1}
spec: {owner: parent-g}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: d2, namespace: ns1}
spec: {owner: parent-g, subdomainOf: d1}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: s1, namespace: ns1}
spec: {owner: child-g, domain: d2}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: a1, namespace: ns1}
spec: {type: openapi, lifecycle: production, owner: child-g, definition: x}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db, namespace: ns1}
spec: {type: database, owner: child-g}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: c1, namespace: ns1}
spec: {type: service, lifecycle: production, owner: child-g, system: s1, providesApis: [a1], dependsOn: ['resource:db']}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: c2, namespace: ns1}
spec: {type: service, lifecycle: production, owner: 'user:u1', subcomponentOf: c1, consumesApis: [a1]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: c3}
spec: {type: service, lifecycle: production, owner: child-g}
";
    let l = Catalog::from_yaml_str("refs.yaml", yaml).unwrap();
    let c = &l.catalog;
    let rel = |from: &str, kind: &str| -> Vec<String> {
        c.relations_of(id(c, from))
            .iter()
            .filter(|r| r.kind.name() == kind)
            .map(|r| c.entity(r.target).unwrap().entity_ref().to_string())
            .collect()
    };
    assert_eq!(rel("component:ns1/c1", "ownedBy"), ["group:ns1/child-g"]); // spec.owner → Group
    assert_eq!(rel("user:ns1/u1", "memberOf"), ["group:ns1/child-g"]); // spec.memberOf → Group
    assert_eq!(rel("group:ns1/parent-g", "hasMember"), ["user:ns1/u2"]); // spec.members → User
    assert_eq!(rel("group:ns1/child-g", "childOf"), ["group:ns1/parent-g"]); // spec.parent → Group
    assert_eq!(rel("group:ns1/parent-g", "parentOf"), ["group:ns1/child-g"]); // spec.children → Group
    assert_eq!(rel("component:ns1/c1", "partOf"), ["system:ns1/s1"]); // spec.system → System
    assert_eq!(rel("system:ns1/s1", "partOf"), ["domain:ns1/d2"]); // spec.domain → Domain
    assert_eq!(rel("domain:ns1/d2", "partOf"), ["domain:ns1/d1"]); // spec.subdomainOf → Domain
    assert_eq!(rel("component:ns1/c2", "partOf"), ["component:ns1/c1"]); // spec.subcomponentOf → Component
    assert_eq!(rel("component:ns1/c1", "providesApi"), ["api:ns1/a1"]); // spec.providesApis → API
    assert_eq!(rel("component:ns1/c2", "consumesApi"), ["api:ns1/a1"]); // spec.consumesApis → API
    assert_eq!(rel("component:ns1/c1", "dependsOn"), ["resource:ns1/db"]); // kind written, namespace defaulted
    assert_eq!(rel("component:ns1/c2", "ownedBy"), ["user:ns1/u1"]); // kind written
    assert!(c.part_of(id(c, "component:ns1/c2"), id(c, "domain:ns1/d1")));
    // the user in group parent-g both through members and, transitively, through child-g
    assert_eq!(
        c.direct_groups(id(c, "user:ns1/u2")),
        [id(c, "group:ns1/parent-g")]
    );
    assert!(c.in_group(id(c, "user:ns1/u1"), id(c, "group:ns1/parent-g")));
    // c3 is in namespace default: its bare owner means group:default/child-g, which dangles
    assert_eq!(c.owner(id(c, "component:default/c3")), None);
    let w = l
        .warnings
        .iter()
        .find(|w| w.code_str().ends_with("dangling_ref"))
        .unwrap();
    assert!(w.to_string().contains("`group:default/child-g`"));
    let edgeward::catalog::CatalogWarning::DanglingRef(d) = w else {
        panic!()
    };
    assert_eq!(
        d.suggestion.as_deref(),
        Some("did you mean `group:ns1/child-g`?")
    );
    assert_eq!(
        c.suggest(&EntityRef::parse("group:ns1/chlid-g", None, "default").unwrap())
            .unwrap()
            .to_string(),
        "group:ns1/child-g"
    );
    // lookups are case-insensitive
    assert_eq!(
        c.lookup(&EntityRef {
            kind: "Component".into(),
            namespace: "NS1".into(),
            name: "C1".into()
        }),
        Some(id(c, "component:ns1/c1"))
    );

    // dependsOn has no default kind: a bare ref is an error
    let bad = yaml.replace("dependsOn: ['resource:db']", "dependsOn: [db]");
    let e = Catalog::from_yaml_str("refs.yaml", &bad).unwrap_err();
    assert_eq!(e.code_str(), "edgeward::catalog::invalid_ref");
    assert_eq!(e.site().unwrap().1, 50);
}

#[test]
fn api_json_gives_the_yaml_model() {
    let yaml = Catalog::load(&examples()).unwrap();
    let json = serde_json::to_string_pretty(&yaml.catalog.to_api_json()).unwrap();
    let api = Catalog::from_api_json("entities.json", &json).unwrap();
    let (a, b) = (&yaml.catalog, &api.catalog);
    assert_eq!(a.len(), b.len());
    assert_eq!(a.hash(), b.hash());
    assert_eq!(kinds(a), kinds(b));
    let refs = |c: &Catalog| -> Vec<(String, &str, String)> {
        let r = |i: EntityId| c.entity(i).unwrap().entity_ref().to_string();
        let mut v: Vec<_> = c
            .relations()
            .iter()
            .map(|x| (r(x.source), x.kind.name(), r(x.target)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(refs(a), refs(b));
    for u in a.of_kind("user") {
        let u2 = b.lookup(&a.entity(u).unwrap().entity_ref()).unwrap();
        for g in a.of_kind("group") {
            let g2 = b.lookup(&a.entity(g).unwrap().entity_ref()).unwrap();
            assert_eq!(a.in_group(u, g), b.in_group(u2, g2));
        }
    }
    // the server's own fields and relations are ignored; relations may be absent
    let text = r#"[
  {"apiVersion": "backstage.io/v1alpha1", "kind": "Group",
   "metadata": {"name": "team", "namespace": "default", "uid": "1b2c", "etag": "abc"},
   "spec": {"type": "team", "children": []},
   "relations": [{"type": "ownerOf", "targetRef": "component:default/svc"}]},
  {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
   "metadata": {"name": "svc", "uid": "3d4e", "etag": "def"},
   "spec": {"type": "service", "lifecycle": "production", "owner": "team"}}
]"#;
    let from_json = Catalog::from_api_json("api.json", text).unwrap();
    let from_yaml = Catalog::from_yaml_str(
        "c.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\nspec:\n  type: service\n  lifecycle: production\n  owner: team\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team\n  namespace: default\nspec:\n  type: team\n  children: []\n",
    )
    .unwrap();
    assert_eq!(from_json.catalog.hash(), from_yaml.catalog.hash());
    let svc = id(&from_json.catalog, "component:svc");
    assert_eq!(
        from_json.catalog.owner(svc),
        Some(id(&from_json.catalog, "group:team"))
    );
    assert_eq!(from_json.catalog.entity(svc).unwrap().source.line, 6);
    // a JSON file through `load` is detected, a byte order mark opening it or not
    let bom = tempfile::tempdir().unwrap();
    let p = bom.path().join("entities.json");
    std::fs::write(&p, format!("\u{feff}{text}")).unwrap();
    assert_eq!(
        Catalog::load(&p).unwrap().catalog.hash(),
        from_yaml.catalog.hash()
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("entities.json");
    std::fs::write(&p, text).unwrap();
    assert_eq!(
        Catalog::load(&p).unwrap().catalog.hash(),
        from_yaml.catalog.hash()
    );
}

#[test]
fn conformance_catalog() {
    let l = Catalog::load(&shared().join("conformance/catalog")).unwrap();
    let c = &l.catalog;
    let names = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = c
            .of_kind(kind)
            .map(|i| c.entity(i).unwrap().entity_ref().to_string())
            .collect();
        v.sort();
        v
    };
    let strip = |v: Vec<String>, kind: &str| -> Vec<String> {
        v.into_iter()
            .map(|s| s.trim_start_matches(&format!("{kind}:")).to_string())
            .collect()
    };
    assert_eq!(
        strip(names("group"), "group"),
        [
            "billing/billing-team",
            "default/acme",
            "default/contractors",
            "default/customer-support",
            "default/engineering",
            "default/payments",
            "default/platform",
            "default/platform-admins",
            "default/platform-oncall",
            "default/sre",
            "default/suspended",
            "default/team-payments"
        ]
    );
    assert_eq!(
        strip(names("user"), "user"),
        [
            "default/bob",
            "default/carlos",
            "default/dana",
            "default/dana-admin",
            "default/jane",
            "default/juergen",
            "default/kim",
            "default/lucy",
            "default/mei",
            "default/nina",
            "default/omar",
            "default/raj",
            "default/sam"
        ]
    );
    assert_eq!(
        strip(names("component"), "component"),
        [
            "billing/invoice-service",
            "default/billing-bridge",
            "default/fraud-model",
            "default/ledger",
            "default/legacy-exporter",
            "default/legacy-exporter-v2",
            "default/orphan-service",
            "default/payments-api",
            "default/payments-reconciler",
            "default/payments-web",
            "default/settlement-batches",
            "default/status-page"
        ]
    );
    assert_eq!(names("system"), ["system:default/payments"]);
    assert_eq!(names("domain"), ["domain:default/finance"]);
    assert_eq!(c.len(), 39);

    // warnings: the dangling ghost-team owner, and dana@acme.dev on two users
    let mut w = codes(&l);
    w.sort();
    assert_eq!(
        w,
        [
            "edgeward::catalog::dangling_ref",
            "edgeward::catalog::shared_email"
        ]
    );
    let dangling = &l
        .warnings
        .iter()
        .find(|w| w.code_str().ends_with("dangling_ref"))
        .unwrap();
    assert!(dangling.to_string().contains("`group:default/ghost-team`"));
    assert_eq!(dangling.site().2, Some("component:default/orphan-service"));
    assert!(dangling.site().0.ends_with("components.yaml"));
    let shared = l
        .warnings
        .iter()
        .find(|w| w.code_str().ends_with("shared_email"))
        .unwrap();
    assert!(shared.to_string().contains("`dana@acme.dev`"), "{shared}");
    assert_eq!(
        c.users_by_email("dana@acme.dev"),
        [id(c, "user:dana"), id(c, "user:dana-admin")]
    );
    assert_eq!(c.users_by_email("KIM.LEE@acme.DEV"), [id(c, "user:kim")]);
    assert!(c.users_by_email("JÜRGEN@acme.dev").is_empty());
    assert_eq!(c.users_by_email("jürgen@ACME.dev"), [id(c, "user:juergen")]);

    // cross-namespace refs
    let bt = id(c, "group:billing/billing-team");
    assert_eq!(
        c.owner(id(c, "component:billing/invoice-service")),
        Some(bt)
    ); // bare owner in namespace billing
    assert_eq!(c.owner(id(c, "component:billing-bridge")), Some(bt));
    assert!(c.in_group(id(c, "user:bob"), bt));
    assert!(c.in_group(id(c, "user:bob"), id(c, "group:engineering"))); // billing-team → payments → engineering
    assert!(c.in_group(bt, id(c, "group:payments")));
    assert!(c.owns(id(c, "user:bob"), id(c, "component:billing-bridge")));
    assert!(
        c.lookup(&EntityRef::parse("component:default/invoice-service", None, "default").unwrap())
            .is_none()
    );

    // closure and ownership the policies rely on
    let admins = id(c, "group:platform-admins");
    assert!(c.in_group(id(c, "user:mei"), admins));
    assert!(c.in_group(id(c, "user:raj"), admins));
    assert!(!c.in_group(id(c, "user:jane"), admins));
    assert!(c.in_group(id(c, "user:sam"), id(c, "group:acme")));
    assert!(c.in_group(id(c, "user:sam"), id(c, "group:suspended")));
    assert!(!c.in_group(id(c, "user:nina"), id(c, "group:acme")));
    assert!(c.owns(id(c, "user:jane"), id(c, "component:payments-api")));
    assert!(!c.owns(id(c, "user:mei"), id(c, "component:payments-api")));
    assert!(c.owns(id(c, "user:jane"), id(c, "component:status-page"))); // owner: user:jane
    assert!(!c.owns(id(c, "user:carlos"), id(c, "component:status-page")));
    let orphan = id(c, "component:orphan-service");
    assert!(c.has_owner_field(orphan) && c.owner(orphan).is_none());
    assert!(c.owns(
        id(c, "component:payments-reconciler"),
        id(c, "component:settlement-batches")
    ));
    assert!(
        c.all_groups(id(c, "component:payments-reconciler"))
            .is_empty()
    );
    assert!(c.part_of(id(c, "component:payments-api"), id(c, "domain:finance")));
    assert_eq!(
        c.field(
            id(c, "component:payments-reconciler"),
            &["metadata", "annotations", "cloudflare.com/access-client-id"]
        )
        .and_then(|v| v.as_str()),
        Some("3c1f5a7e9b2d4c6e8f0a1b3c5d7e9f21.access")
    );
    assert_eq!(
        c.field(
            id(c, "component:ledger"),
            &["metadata", "labels", "acme.dev/deploys"]
        ),
        None
    );
    assert_eq!(
        c.field(id(c, "component:ledger"), &["spec", "lifecycle"])
            .and_then(|v| v.as_str()),
        Some("experimental")
    );
}

#[test]
fn hash_ignores_order_and_formatting() {
    let a = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g}\nspec: {type: team, children: []}\n---\napiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: u}\nspec: {memberOf: [g]}\n";
    let b = "# users first\nkind: User\napiVersion: backstage.io/v1alpha1\nmetadata:\n  name: u\nspec:\n  memberOf:\n    - g\n---\nkind: Group\napiVersion: \"backstage.io/v1alpha1\"\nmetadata:\n  name: g\nspec:\n  children: []\n  type: team\n";
    let ha = Catalog::from_yaml_str("a.yaml", a).unwrap().catalog.hash();
    let hb = Catalog::from_yaml_str("b.yaml", b).unwrap().catalog.hash();
    assert_eq!(ha, hb);
    assert!(ha.starts_with("sha256:") && ha.len() == 7 + 64);
    let hc = Catalog::from_yaml_str("c.yaml", &a.replace("type: team", "type: squad"))
        .unwrap()
        .catalog
        .hash();
    assert_ne!(ha, hc);
}

/// Groups whose parents lead back to themselves load (membership still follows every parent) with
/// one `group_cycle` warning per cycle, naming its groups in reference order at the first one's
/// link; a group below a cycle is not part of it.
#[test]
fn group_parent_cycles_are_warned_of_once_each() {
    let group = |name: &str, link: &str| {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: {name}\nspec:\n  type: team\n  {link}\n---\n"
        )
    };
    let text = [
        group("platform", "parent: infra\n  children: []"),
        group("infra", "parent: sre\n  children: []"),
        group("sre", "parent: platform\n  children: []"),
        group("loner", "children: [loner]"),
        group("below", "parent: infra\n  children: []"),
        group("top", "children: []"),
        // a cycle whose first group's own parent is outside it: shown at a link inside it
        group("a1", "parent: top\n  children: []"),
        group("a2", "parent: a1\n  children: [a1]"),
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: ann\nspec:\n  memberOf: [below]\n".to_string(),
    ]
    .concat();
    let l = Catalog::from_yaml_str("groups.yaml", &text).unwrap();
    let cycles: Vec<String> = l
        .warnings
        .iter()
        .filter(|w| w.code_str() == "edgeward::catalog::group_cycle")
        .map(|w| format!("{}:{} {w}", w.site().1, w.site().2.unwrap_or("")))
        .collect();
    assert_eq!(
        cycles,
        [
            "16:group:default/infra group parents form a cycle through `group:default/infra`, `group:default/platform`, `group:default/sre`",
            "34:group:default/loner group parents form a cycle through `group:default/loner`",
            "68:group:default/a2 group parents form a cycle through `group:default/a1`, `group:default/a2`",
        ]
    );
    assert_eq!(l.warnings.len(), 3, "{:?}", l.warnings);
    // membership still follows the parents, cycle and all
    let c = &l.catalog;
    let ann = id(c, "user:ann");
    for g in ["below", "infra", "sre", "platform"] {
        assert!(c.in_group(ann, id(c, &format!("group:{g}"))), "{g}");
    }
    assert!(!c.in_group(ann, id(c, "group:loner")));
    assert!(!c.in_group(ann, id(c, "group:top")));
}

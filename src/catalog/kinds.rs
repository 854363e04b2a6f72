//! What Backstage's built-in kinds require, and which spec fields are relations (catalog-model's kind schemas).

use serde::Serialize;

/// A kind that Backstage's catalog-model defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Component,
    Api,
    Resource,
    System,
    Domain,
    Group,
    User,
    Location,
}

impl Kind {
    /// The built-in kind named `kind` (case-insensitive), if any.
    pub fn from_name(kind: &str) -> Option<Kind> {
        Some(match kind.to_ascii_lowercase().as_str() {
            "component" => Kind::Component,
            "api" => Kind::Api,
            "resource" => Kind::Resource,
            "system" => Kind::System,
            "domain" => Kind::Domain,
            "group" => Kind::Group,
            "user" => Kind::User,
            "location" => Kind::Location,
            _ => return None,
        })
    }

    /// Spec fields that must hold a non-empty string.
    pub(crate) fn required_strings(self) -> &'static [&'static str] {
        match self {
            Kind::Component => &["type", "lifecycle", "owner"],
            Kind::Api => &["type", "lifecycle", "owner"],
            Kind::Resource => &["type", "owner"],
            Kind::System | Kind::Domain => &["owner"],
            Kind::Group => &["type"],
            Kind::User | Kind::Location => &[],
        }
    }

    /// Spec fields that must be present with any value. API `definition` is not among them:
    /// Backstage's own examples describe MCP servers with `remotes` and no definition.
    pub(crate) fn required_present(self) -> &'static [&'static str] {
        match self {
            Kind::Group => &["children"],
            _ => &[],
        }
    }

    /// Whether the kind needs a `spec` mapping at all.
    pub(crate) fn needs_spec(self) -> bool {
        self != Kind::User
    }
}

/// A relation between two entities, named as Backstage names it; every relation has an inverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RelationType {
    OwnedBy,
    OwnerOf,
    MemberOf,
    HasMember,
    ParentOf,
    ChildOf,
    PartOf,
    HasPart,
    DependsOn,
    DependencyOf,
    ProvidesApi,
    ApiProvidedBy,
    ConsumesApi,
    ApiConsumedBy,
}

impl RelationType {
    /// Every relation type, in a fixed order.
    pub const ALL: [RelationType; 14] = [
        RelationType::OwnedBy,
        RelationType::OwnerOf,
        RelationType::MemberOf,
        RelationType::HasMember,
        RelationType::ParentOf,
        RelationType::ChildOf,
        RelationType::PartOf,
        RelationType::HasPart,
        RelationType::DependsOn,
        RelationType::DependencyOf,
        RelationType::ProvidesApi,
        RelationType::ApiProvidedBy,
        RelationType::ConsumesApi,
        RelationType::ApiConsumedBy,
    ];

    /// Backstage's name, e.g. `ownedBy`.
    pub fn name(self) -> &'static str {
        match self {
            RelationType::OwnedBy => "ownedBy",
            RelationType::OwnerOf => "ownerOf",
            RelationType::MemberOf => "memberOf",
            RelationType::HasMember => "hasMember",
            RelationType::ParentOf => "parentOf",
            RelationType::ChildOf => "childOf",
            RelationType::PartOf => "partOf",
            RelationType::HasPart => "hasPart",
            RelationType::DependsOn => "dependsOn",
            RelationType::DependencyOf => "dependencyOf",
            RelationType::ProvidesApi => "providesApi",
            RelationType::ApiProvidedBy => "apiProvidedBy",
            RelationType::ConsumesApi => "consumesApi",
            RelationType::ApiConsumedBy => "apiConsumedBy",
        }
    }

    /// The relation seen from the other end.
    pub fn inverse(self) -> RelationType {
        use RelationType as R;
        match self {
            R::OwnedBy => R::OwnerOf,
            R::OwnerOf => R::OwnedBy,
            R::MemberOf => R::HasMember,
            R::HasMember => R::MemberOf,
            R::ParentOf => R::ChildOf,
            R::ChildOf => R::ParentOf,
            R::PartOf => R::HasPart,
            R::HasPart => R::PartOf,
            R::DependsOn => R::DependencyOf,
            R::DependencyOf => R::DependsOn,
            R::ProvidesApi => R::ApiProvidedBy,
            R::ApiProvidedBy => R::ProvidesApi,
            R::ConsumesApi => R::ApiConsumedBy,
            R::ApiConsumedBy => R::ConsumesApi,
        }
    }
}

/// A spec field that holds entity refs, its default kind, and the relation it makes (from the entity).
#[derive(Debug, Clone, Copy)]
pub struct RefField {
    pub field: &'static str,
    pub many: bool,
    pub default_kind: Option<&'static str>,
    pub relation: RelationType,
}

const fn one(field: &'static str, kind: &'static str, relation: RelationType) -> RefField {
    RefField {
        field,
        many: false,
        default_kind: Some(kind),
        relation,
    }
}

const fn many(field: &'static str, kind: Option<&'static str>, relation: RelationType) -> RefField {
    RefField {
        field,
        many: true,
        default_kind: kind,
        relation,
    }
}

use RelationType as R;
const OWNER: RefField = one("owner", "group", R::OwnedBy);
const SYSTEM: RefField = one("system", "system", R::PartOf);
const DEPENDS_ON: RefField = many("dependsOn", None, R::DependsOn);
const DEPENDENCY_OF: RefField = many("dependencyOf", None, R::DependencyOf);

const COMPONENT: &[RefField] = &[
    OWNER,
    SYSTEM,
    one("subcomponentOf", "component", R::PartOf),
    many("providesApis", Some("api"), R::ProvidesApi),
    many("consumesApis", Some("api"), R::ConsumesApi),
    DEPENDS_ON,
    DEPENDENCY_OF,
];
const API: &[RefField] = &[OWNER, SYSTEM];
const RESOURCE: &[RefField] = &[OWNER, SYSTEM, DEPENDS_ON, DEPENDENCY_OF];
const SYSTEM_FIELDS: &[RefField] = &[OWNER, one("domain", "domain", R::PartOf)];
const DOMAIN: &[RefField] = &[OWNER, one("subdomainOf", "domain", R::PartOf)];
const GROUP: &[RefField] = &[
    one("parent", "group", R::ChildOf),
    many("children", Some("group"), R::ParentOf),
    many("members", Some("user"), R::HasMember),
];
const USER: &[RefField] = &[many("memberOf", Some("group"), R::MemberOf)];
/// Kinds Backstage does not define keep the fields every kind shares.
const UNKNOWN: &[RefField] = &[OWNER, SYSTEM, DEPENDS_ON, DEPENDENCY_OF];

/// The relation fields of a kind (`None`: a kind Backstage does not define).
pub fn ref_fields(kind: Option<Kind>) -> &'static [RefField] {
    match kind {
        Some(Kind::Component) => COMPONENT,
        Some(Kind::Api) => API,
        Some(Kind::Resource) => RESOURCE,
        Some(Kind::System) => SYSTEM_FIELDS,
        Some(Kind::Domain) => DOMAIN,
        Some(Kind::Group) => GROUP,
        Some(Kind::User) => USER,
        Some(Kind::Location) => &[],
        None => UNKNOWN,
    }
}

/// Backstage's rule for `metadata.name`: 1–63 characters `[A-Za-z0-9]` separated by `-_.`.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 63 {
        return Some("it must be 1 to 63 characters long");
    }
    let ok = |c: char| c.is_ascii_alphanumeric();
    if !name.starts_with(ok) || !name.ends_with(ok) {
        return Some(
            "it must start and end with an ASCII letter or digit (`a`-`z`, `A`-`Z`, `0`-`9`)",
        );
    }
    if !name.chars().all(|c| ok(c) || matches!(c, '-' | '_' | '.')) {
        return Some("it may hold only ASCII letters, digits, `-`, `_` and `.`");
    }
    None
}

/// Backstage's rule for `metadata.namespace`: a DNS label, lowercase letters and digits joined by `-`.
pub fn namespace_problem(ns: &str) -> Option<&'static str> {
    if ns.is_empty() || ns.len() > 63 {
        return Some("it must be 1 to 63 characters long");
    }
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !ns.starts_with(ok) || !ns.ends_with(ok) || !ns.chars().all(|c| ok(c) || c == '-') {
        return Some("it must be lowercase letters and digits, joined by `-`");
    }
    None
}

/// Backstage's rule for `kind`: a letter, then letters and digits, at most 63.
pub fn kind_problem(kind: &str) -> Option<&'static str> {
    let mut chars = kind.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || kind.len() > 63 || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return Some("it must be a letter followed by letters and digits, at most 63");
    }
    None
}

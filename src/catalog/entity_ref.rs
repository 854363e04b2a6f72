//! Backstage entity references `[kind:][namespace/]name`: parsing, defaults and normal form.

use std::fmt;

use serde::Serialize;

/// A reference to an entity, normalised to lowercase; shown as `kind:namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct EntityRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// Why a string is not an entity reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum RefError {
    #[error("empty entity reference")]
    #[diagnostic(code(edgeward::catalog::bad_ref))]
    Empty,
    #[error("entity reference `{0}` needs a kind (`kind:namespace/name`)")]
    #[diagnostic(
        code(edgeward::catalog::bad_ref),
        help("write the kind, for example `component:{0}`")
    )]
    MissingKind(String),
    #[error("entity reference `{0}` has an empty kind, namespace or name")]
    #[diagnostic(code(edgeward::catalog::bad_ref))]
    EmptyPart(String),
}

impl EntityRef {
    /// A reference from its three parts, lowercased.
    pub fn new(kind: &str, namespace: &str, name: &str) -> EntityRef {
        EntityRef {
            kind: kind.to_lowercase(),
            namespace: namespace.to_lowercase(),
            name: name.to_lowercase(),
        }
    }

    /// Parses `[kind:][namespace/]name` as Backstage's `parseEntityRef` does: a `/` before the
    /// first `:` means there is no kind; a left-out kind or namespace takes the defaults.
    pub fn parse(
        s: &str,
        default_kind: Option<&str>,
        default_namespace: &str,
    ) -> Result<EntityRef, RefError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        let slash = s.find('/');
        let colon = s.find(':').filter(|c| slash.is_none_or(|sl| sl > *c));
        let kind = colon.and_then(|c| s.get(..c));
        let namespace = slash.and_then(|sl| s.get(colon.map_or(0, |c| c + 1)..sl));
        let name_start = colon.map_or(0, |c| c + 1).max(slash.map_or(0, |sl| sl + 1));
        let name = s.get(name_start..).unwrap_or_default();
        if kind == Some("") || namespace == Some("") || name.is_empty() {
            return Err(RefError::EmptyPart(s.to_string()));
        }
        let Some(kind) = kind.or(default_kind) else {
            return Err(RefError::MissingKind(s.to_string()));
        };
        Ok(EntityRef::new(
            kind,
            namespace.unwrap_or(default_namespace),
            name,
        ))
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.kind, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    #[test]
    fn parses_every_form() {
        let r = EntityRef::parse("Component:Prod/Foo", None, "default").unwrap();
        assert_eq!(r.to_string(), "component:prod/foo");
        let r = EntityRef::parse("team-a", Some("Group"), "ns").unwrap();
        assert_eq!(r.to_string(), "group:ns/team-a");
        let r = EntityRef::parse("other/team-a", Some("group"), "ns").unwrap();
        assert_eq!(r.to_string(), "group:other/team-a");
        let r = EntityRef::parse("user:guest", Some("group"), "ns").unwrap();
        assert_eq!(r.to_string(), "user:ns/guest");
        // a slash before the colon: no kind, the colon belongs to the name
        let r = EntityRef::parse("ns/a:b", Some("group"), "x").unwrap();
        assert_eq!(r.to_string(), "group:ns/a:b");
    }

    #[test]
    fn rejects_bad_refs() {
        assert_eq!(EntityRef::parse("", None, "default"), Err(RefError::Empty));
        assert!(matches!(
            EntityRef::parse("foo", None, "default"),
            Err(RefError::MissingKind(_))
        ));
        assert!(matches!(
            EntityRef::parse(":foo", None, "default"),
            Err(RefError::EmptyPart(_))
        ));
        assert!(matches!(
            EntityRef::parse("a:/foo", None, "default"),
            Err(RefError::EmptyPart(_))
        ));
        assert!(matches!(
            EntityRef::parse("a:ns/", None, "default"),
            Err(RefError::EmptyPart(_))
        ));
    }
}

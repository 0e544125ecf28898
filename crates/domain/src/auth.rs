//! API keys, scopes and what each scope permits.

use crate::ValidationError;

/// Prefix of every secret key, so people and secret scanners recognise one.
pub const SECRET_KEY_PREFIX: &str = "sk_";

/// What a request needs to be allowed to do. Routes declare one; scopes grant a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read any resource of the workspace.
    Read,
    /// Create, change or delete resources of the workspace.
    Write,
    /// Operate the workspace itself: keys, dead letters, replays.
    Admin,
}

/// A key's scope. Later capabilities add scopes (a publishable storefront key, a customer-portal
/// session) by adding a variant and saying what it grants; nothing else needs to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Admin,
    ReadOnly,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Admin, Scope::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::ReadOnly => "read_only",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                ValidationError::invalid(
                    "scope",
                    format!(
                        "Unknown scope '{value}'; expected one of: {}.",
                        known.join(", ")
                    ),
                )
            })
    }

    pub fn allows(self, permission: Permission) -> bool {
        match self {
            Scope::Admin => true,
            Scope::ReadOnly => matches!(permission, Permission::Read),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_reads_but_never_writes() {
        assert!(Scope::ReadOnly.allows(Permission::Read));
        assert!(!Scope::ReadOnly.allows(Permission::Write));
        assert!(!Scope::ReadOnly.allows(Permission::Admin));
        assert!(Scope::Admin.allows(Permission::Write));
    }

    #[test]
    fn scopes_round_trip_and_unknown_ones_are_refused() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()).unwrap(), scope);
        }
        assert_eq!(Scope::parse("root").unwrap_err().param, "scope");
    }
}

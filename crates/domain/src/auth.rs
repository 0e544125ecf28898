//! API keys, scopes and what each scope permits.

use crate::ValidationError;

/// Prefix of every secret key, so people and secret scanners recognise one; then `live_` or
/// `test_`, the mode of the key's workspace.
pub const SECRET_KEY_PREFIX: &str = "sk_";

/// Whether a workspace moves real money. A sandbox has the test provider (and, later, the test
/// bank and couriers) and never real money; a live workspace needs real connections, and
/// nothing test-only can be reached from it. A workspace's mode never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WorkspaceMode {
    /// Real money: the safe default.
    #[default]
    Live,
    Sandbox,
}

impl WorkspaceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceMode::Live => "live",
            WorkspaceMode::Sandbox => "sandbox",
        }
    }

    /// The stored form back; anything unknown is live (the mode that permits less).
    pub fn from_stored(text: &str) -> Self {
        match text {
            "sandbox" => WorkspaceMode::Sandbox,
            _ => WorkspaceMode::Live,
        }
    }

    /// How the workspace's secret keys begin: `sk_live_` or `sk_test_`.
    pub fn key_prefix(self) -> &'static str {
        match self {
            WorkspaceMode::Live => "sk_live_",
            WorkspaceMode::Sandbox => "sk_test_",
        }
    }
}

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

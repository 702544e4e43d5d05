//! Who is calling and what they may do: the principal a credential stands for (an OAuth client, the API
//! key, anonymous) and its scopes. Below both adapters: HTTP puts the principal into each request, MCP checks
//! it on every tool, prompt and resource, and neither knows the other.

/// What a credential allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// Who is calling, and what they may do. Put into the request's extensions by `authenticate`.
#[derive(Clone, Debug)]
pub struct Principal {
    pub client_id: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether the principal may do what needs `scope`: admin covers write, and write covers read.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|held| *held >= scope)
    }
}

/// The scopes named in an OAuth scope string (offline_access and unknown names grant nothing here).
pub fn scopes_of(scope: &str) -> Vec<Scope> {
    scope
        .split_whitespace()
        .filter_map(|name| match name {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        })
        .collect()
}

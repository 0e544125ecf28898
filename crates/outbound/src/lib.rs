//! Requests to URLs a tenant chose (webhook endpoints, a payment provider's `api_base`, later
//! bank and courier adapters) reach only public addresses.
//!
//! A [`Guard`] checks a URL when it is registered ([`Guard::check`]: scheme, no credentials,
//! every address its host resolves to) and again at every connection: the clients it builds
//! ([`Guard::client`]) resolve names through the same checks (so a name re-pointed at a
//! private address after registration, DNS rebinding, reaches nothing), and
//! [`Guard::check_target`] refuses literal addresses before a request is sent. Those clients
//! follow no redirects, time out, and [`read_capped`] bounds what is read of an answer.
//! Loopback is refused too unless the operator allows it for development and tests
//! ([`Policy::allow_loopback`]).

pub mod address;
pub mod resolver;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub use address::{classify, Class};
pub use reqwest::Url;
pub use resolver::{Resolver, SystemResolver};

/// What outbound requests may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Whether loopback addresses (`127.0.0.0/8`, `::1`, `localhost`) may be reached: for a
    /// developer's machine and the tests, never the default.
    pub allow_loopback: bool,
}

impl Policy {
    /// Whether `ip` may be reached, or why not.
    pub fn permits(&self, ip: IpAddr) -> Result<(), &'static str> {
        match classify(ip) {
            Class::Public => Ok(()),
            Class::Loopback if self.allow_loopback => Ok(()),
            Class::Loopback => Err("loopback"),
            Class::Special(name) => Err(name),
        }
    }
}

/// Why an outbound URL or address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("is not a valid URL ({0})")]
    InvalidUrl(String),
    #[error("must use http or https")]
    Scheme,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("has no host")]
    NoHost,
    #[error("points at {address}, a {class} address; only public addresses can be reached")]
    Forbidden {
        address: IpAddr,
        class: &'static str,
    },
    #[error("has a host that does not resolve ({0})")]
    Unresolved(String),
}

/// Checks outbound URLs and builds the clients that send to them.
#[derive(Clone)]
pub struct Guard {
    policy: Policy,
    resolver: Arc<dyn Resolver>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Guard {
    /// A guard resolving names with the system's resolver.
    pub fn new(policy: Policy) -> Self {
        Self::with_resolver(policy, Arc::new(SystemResolver))
    }

    /// A guard resolving names with `resolver` (tests give a stub, so no packet leaves).
    pub fn with_resolver(policy: Policy, resolver: Arc<dyn Resolver>) -> Self {
        Guard { policy, resolver }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Checks a URL being registered: its form, and every address its host resolves to.
    pub async fn check(&self, url: &str) -> Result<Url, OutboundError> {
        let url = Url::parse(url).map_err(|e| OutboundError::InvalidUrl(e.to_string()))?;
        let host = self.check_target(&url)?;
        if let Target::Name(name) = host {
            let port = url.port_or_known_default().unwrap_or(443);
            let addresses = self
                .resolver
                .lookup(&name, port)
                .await
                .map_err(|e| OutboundError::Unresolved(e.to_string()))?;
            self.check_addresses(addresses.iter().map(|a| a.ip()))?;
        }
        Ok(url)
    }

    /// Checks a URL about to be requested, without resolving it (the client's resolver checks
    /// names at connection time): scheme, credentials, a literal address's class, `localhost`.
    pub fn check_target(&self, url: &Url) -> Result<Target, OutboundError> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(OutboundError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Credentials);
        }
        let host = url.host_str().ok_or(OutboundError::NoHost)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            self.check_addresses([ip])?;
            return Ok(Target::Address(ip));
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            // RFC 6761: always loopback, whatever a resolver says.
            self.check_addresses([IpAddr::from([127, 0, 0, 1])])?;
        }
        Ok(Target::Name(name))
    }

    /// Refuses unless every address is permitted (a name that resolves to a mix of public and
    /// private addresses is refused whole) and there is at least one.
    fn check_addresses(
        &self,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), OutboundError> {
        let mut any = false;
        for address in addresses {
            any = true;
            self.policy
                .permits(address)
                .map_err(|class| OutboundError::Forbidden { address, class })?;
        }
        if any {
            Ok(())
        } else {
            Err(OutboundError::Unresolved("no address".into()))
        }
    }

    /// A client for tenant-chosen URLs: names resolved through this guard's checks at every
    /// connection, no redirects, no proxies from the environment, and the given timeouts.
    pub fn client(&self, timeouts: Timeouts, user_agent: &str) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver::Checked(self.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .user_agent(user_agent)
            .build()
    }

    async fn resolve_checked(
        &self,
        name: &str,
    ) -> Result<Vec<std::net::SocketAddr>, OutboundError> {
        let addresses = self
            .resolver
            .lookup(name, 0)
            .await
            .map_err(|e| OutboundError::Unresolved(e.to_string()))?;
        self.check_addresses(addresses.iter().map(|a| a.ip()))?;
        Ok(addresses)
    }
}

/// What a checked URL's host is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Address(IpAddr),
    Name(String),
}

/// How long a connection and a whole request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// The most of an answer's body read from a tenant-chosen URL.
pub const BODY_CAP: usize = 64 * 1024;

/// Reads at most `cap` bytes of a response's body; the rest is never read. Returns the bytes
/// and whether the body was longer.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> reqwest::Result<(Vec<u8>, bool)> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

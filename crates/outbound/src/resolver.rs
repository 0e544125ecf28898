//! Name resolution for outbound requests: the [`Resolver`] the guard asks (the system's, or a
//! stub in tests) and the adapter that puts the guard's checks into every connection a client
//! makes.

use std::io;
use std::net::SocketAddr;

use futures::future::BoxFuture;

use crate::Guard;

/// Resolves a host name to addresses.
pub trait Resolver: Send + Sync + 'static {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// reqwest's resolver hook: every name a client connects to goes through the guard's checks,
/// at connection time.
pub(crate) struct Checked(pub(crate) Guard);

impl reqwest::dns::Resolve for Checked {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = guard
                .resolve_checked(&name)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

//! `bursar bench api`: create-customer requests over HTTP from concurrent clients.

use bursar_store::{Backend, Db, PoolSettings};

use crate::server::Server;

use super::measure::*;

pub async fn run(backend: Backend, args: &CommonArgs) -> anyhow::Result<Figure> {
    let (location, _guard) = bench_location(backend, args.database_url.as_deref()).await?;
    let db = Db::open(&location, &PoolSettings::default()).await?;
    let (_, _, secret) =
        crate::bootstrap::create_workspace(&db, "bench", bursar_domain::auth::Scope::Admin).await?;
    let server = Server::start(
        bursar_core::App::new(db, bursar_core::Config::default()),
        super::http_config(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let url = format!("{}/v1/customers", server.base_url());
    let clients = args.clients.unwrap_or(32);
    let load = http_load(
        args,
        clients,
        &url,
        secret.expose(),
        |client_index, sequence| {
            let body = serde_json::json!({
                "email": format!("c{client_index}-{sequence}@bench.example"),
                "name": format!("Bench customer {client_index}-{sequence}"),
                "metadata": {"source": "bench"}
            });
            (body, Some(format!("bench-{client_index}-{sequence}")))
        },
    )
    .await;
    server.shutdown().await?;
    let (latencies_us, errors, seconds) = load?;
    Ok(figure(
        "api",
        format!("create-customer-c{clients}"),
        backend,
        latencies_us,
        errors,
        seconds,
    ))
}

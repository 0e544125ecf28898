/// Declares a test that runs once per backend, as `name::sqlite` and `name::postgres`.
///
/// * `async fn name(backend: Backend) { … }`: the body gets the backend.
/// * `async fn name(app: App = spawn) { … }`: the body gets `spawn(backend).await`.
/// * `async fn name(app: App = spawn, clock: ManualClock = "2026-03-01T00:00:00Z") { … }`: the
///   body gets `spawn(backend, clock.clone()).await` and the clock (an `Arc<ManualClock>`),
///   which the test moves itself.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident: Backend) $body:block) => {
        $(#[$meta])*
        async fn $name($backend: $crate::TestBackend) $body

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::TestBackend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::TestBackend::Postgres).await;
            }
        }
    };
    ($(#[$meta:meta])* async fn $name:ident($app:ident: $app_type:ty = $spawn:path) $body:block) => {
        $(#[$meta])*
        async fn $name($app: $app_type) $body

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $spawn($crate::TestBackend::Sqlite).await;
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $spawn($crate::TestBackend::Postgres).await;
                super::$name(app).await;
            }
        }
    };
    ($(#[$meta:meta])* async fn $name:ident(
        $app:ident: $app_type:ty = $spawn:path,
        $clock:ident: ManualClock = $at:literal $(,)?
    ) $body:block) => {
        $(#[$meta])*
        async fn $name(
            $app: $app_type,
            $clock: std::sync::Arc<$crate::ManualClock>,
        ) $body

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let clock = $crate::clock_at($at);
                let app = $spawn($crate::TestBackend::Sqlite, clock.clone()).await;
                super::$name(app, clock).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let clock = $crate::clock_at($at);
                let app = $spawn($crate::TestBackend::Postgres, clock.clone()).await;
                super::$name(app, clock).await;
            }
        }
    };
}

//! PostgreSQL: the durable record of every job ([`jobs`]), and our own store of geocoded
//! addresses ([`geocodes`]).
//!
//! Redis holds the hot path with a TTL; this is what stays. The schema lives in `migrations/` as
//! SQL files, embedded here at compile time (no database is needed to build) and applied by
//! `routeq-recorder migrate` (or `--migrate` at start). Queries are checked at run time.

pub mod geocodes;
pub mod jobs;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use geocodes::{StoredGeocode, geocode_get, geocode_put, normalise_address};
pub use jobs::{WriteReport, get_job, sanitise, write_records, write_records_isolating};

/// The schema, embedded from `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A PostgreSQL URL; its `Debug` and `Display` hide any password.
#[derive(Clone)]
pub struct DbUrl(String);

impl std::str::FromStr for DbUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = crate::secrets::reveal(s).map_err(|e| e.to_string())?;
        let s = s.as_str();
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return Err(
                "not a PostgreSQL URL (postgres://user[:password]@host[:port]/db)".to_string(),
            );
        }
        s.parse::<PgConnectOptions>().map_err(|_| {
            "not a PostgreSQL URL (postgres://user[:password]@host[:port]/db)".to_string()
        })?;
        Ok(DbUrl(s.to_string()))
    }
}

impl DbUrl {
    pub fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}***{}", &self.0[..scheme_end + 3], &self.0[at..])
            }
            _ => self.0.clone(),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Database settings shared by the binaries.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// PostgreSQL URL of the durable record (`postgres://user[:password]@host/db`). Without it,
    /// nothing is recorded or read from PostgreSQL.
    #[arg(long = "database-url", env = "ROUTEQ_DATABASE_URL", hide_env_values = true, value_parser = crate::secrets::Redacted::<DbUrl>::new())]
    pub database_url: Option<DbUrl>,

    /// File holding the database URL (Docker/Kubernetes secrets); wins over --database-url.
    #[arg(long = "database-url-file", env = "ROUTEQ_DATABASE_URL_FILE")]
    pub database_url_file: Option<std::path::PathBuf>,

    /// Most connections this process opens to PostgreSQL.
    #[arg(
        long = "db-max-connections",
        hide_short_help = true,
        env = "ROUTEQ_DB_MAX_CONNECTIONS",
        default_value_t = 4
    )]
    pub max_connections: u32,

    /// How long to wait for a PostgreSQL connection before failing, in ms (a down database must
    /// fail fast, never hang a request).
    #[arg(
        long = "db-acquire-timeout-ms",
        hide_short_help = true,
        env = "ROUTEQ_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 500
    )]
    pub acquire_timeout_ms: u64,

    /// The longest one query on a job's or a request's path may take, in ms (the geocode
    /// store's lookup and write, the gateway's history read): a slow database is skipped or
    /// answered as unavailable, never allowed to hold a job past its budget.
    #[arg(
        long = "db-query-timeout-ms",
        env = "ROUTEQ_DB_QUERY_TIMEOUT_MS",
        default_value_t = 500
    )]
    pub query_timeout_ms: u64,
}

impl DbArgs {
    /// A lazy pool (the process starts while the database is down), or `None` when unconfigured.
    pub fn pool(&self) -> Option<Result<PgPool, sqlx::Error>> {
        let url = match &self.database_url_file {
            Some(path) => match crate::secrets::from_file(path)
                .map_err(|e| e.to_string())
                .and_then(|u| u.parse::<DbUrl>())
            {
                Ok(url) => url,
                Err(e) => return Some(Err(sqlx::Error::Configuration(e.into()))),
            },
            None => self.database_url.clone()?,
        };
        Some(url.expose().parse::<PgConnectOptions>().map(|opts| {
            PgPoolOptions::new()
                .max_connections(self.max_connections.max(1))
                .acquire_timeout(Duration::from_millis(self.acquire_timeout_ms.max(1)))
                .connect_lazy_with(opts)
        }))
    }
}

/// Applies every migration not yet applied; applying twice is a no-op.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_never_print() {
        let url: DbUrl = "postgres://routeq:s3cret-canary@db:5432/routeq"
            .parse()
            .expect("url");
        assert!(!format!("{url:?}{url}").contains("s3cret-canary"));
        assert!("mysql://x".parse::<DbUrl>().is_err());
    }
}

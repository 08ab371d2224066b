//! A PostgreSQL database of a test's own, created on the machine's server and dropped at the end.

use std::net::SocketAddr;

/// A PostgreSQL database of its own, created on the machine's server and dropped at the end.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!(
            "routeq_t_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .expect("PostgreSQL must run on 127.0.0.1:5432 (scripts/setup.sh)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create db");
        admin.close().await;
        TestDb { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// The same database reached through another address (a proxy the test controls).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        format!("postgres://postgres@{addr}/{}", self.name)
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url())
            .await
            .expect("connect test db")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

//! What the stations tests share: a PostgreSQL database of their own (created with every
//! migration, dropped at the end), files of their own, and import shorthands.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use routeq_stations::feed::Format;
use routeq_stations::generate::GenStation;
use routeq_stations::import::{ImportOptions, ImportReport};
use sqlx::PgPool;
use uuid::Uuid;

/// A database of the test's own on the machine's PostgreSQL (PostGIS installed by
/// scripts/setup.sh), with every migration applied; dropped at the end.
pub struct TestDb {
    pub name: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("routeq_st_{}", &Uuid::new_v4().simple().to_string()[..12]);
        let admin = PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .expect("PostgreSQL must run on 127.0.0.1:5432 (scripts/setup.sh)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("create db");
        admin.close().await;
        let pool = PgPool::connect(&format!("postgres://postgres@127.0.0.1:5432/{name}"))
            .await
            .expect("connect test db");
        routeq_shared::db::migrate(&pool)
            .await
            .expect("migrations (is PostGIS installed?)");
        TestDb { name, pool }
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

/// A file of the test's own, removed at the end.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(ext: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!(
            "routeq-stations-test-{}.{ext}",
            Uuid::new_v4().simple()
        )))
    }

    pub fn with(ext: &str, text: &str) -> TempFile {
        let f = TempFile::new(ext);
        std::fs::write(&f.0, text).expect("write test file");
        f
    }

    pub fn records(records: &[GenStation], format: Format) -> TempFile {
        let f = TempFile::new(match format {
            Format::Json => "json",
            Format::Csv => "csv",
        });
        routeq_stations::generate::write::write(records, &f.0, format).expect("write records");
        f
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub async fn import(pool: &PgPool, file: &TempFile, full: bool) -> ImportReport {
    let mut opts = ImportOptions::new("keco");
    opts.full = full;
    routeq_stations::import::import(pool, file.path(), &opts)
        .await
        .expect("import")
}

/// Our station id behind each station key the source delivered.
pub async fn ids_by_key(pool: &PgPool) -> HashMap<String, Uuid> {
    let rows: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT ext_station_id, station_id FROM external_keys
         WHERE source = 'keco' AND ext_charger_id = ''",
    )
    .fetch_all(pool)
    .await
    .expect("keys");
    rows.into_iter().collect()
}

/// The header of a CSV file of the public format.
pub const CSV_HEADER: &str = "statId,chgerId,statNm,addr,lat,lng,chgerType,output,stat,statUpdDt,busiId,busiNm,useTime,zcode,delYn";

//! `routeq-stations`: charging stations under our own ids.
//!
//! ```text
//! routeq-stations migrate
//! routeq-stations import FILE [--source keco] [--full] [--format json|csv] [--json]
//! routeq-stations status FILE [--source keco] [--format json|csv]
//! routeq-stations review list [--all] [--json]
//! routeq-stations review resolve ID (--as STATION_ID | --new)
//! routeq-stations generate --stations N --seed S --out FILE [--format json|csv]
//! routeq-stations reload --from FILE --out FILE2 --seed S [--format json|csv]
//! ```
//!
//! The database commands take the same `--database-url` / `ROUTEQ_DATABASE_URL` (or `_FILE`)
//! as the other binaries; `generate` and `reload` need no database.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use routeq_shared::db::DbArgs;
use routeq_shared::telemetry::LogArgs;
use routeq_stations::feed::Format;
use routeq_stations::generate::{self, reload::Rates};
use routeq_stations::import::{ImportOptions, ImportReport};
use routeq_stations::matching::MatchConfig;
use routeq_stations::review::{self, Resolution};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "routeq-stations",
    version,
    about = "Charging stations under our own ids: import, status feeds, review, generated data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the database migrations (idempotent; the same as `routeq-recorder migrate`).
    Migrate,
    /// Import a file of the public charger data in one transaction.
    Import {
        file: PathBuf,
        #[command(flatten)]
        source: SourceArgs,
        /// The file is everything the source has: retire its stations that are absent.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        matching: MatchArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply a status feed (statId, chgerId, stat, statUpdDt) through the aliases.
    Status {
        file: PathBuf,
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long)]
        json: bool,
    },
    /// The review queue of stations the importer would not decide alone.
    Review {
        #[command(subcommand)]
        action: ReviewAction,
    },
    /// Write a realistic national file in the public format.
    Generate {
        /// Stations (about 3.5 chargers each).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        stations: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// The file's shape; from the extension of --out when absent.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Write the next delivery of a file: keys reshuffled, stations moved, removed, added, traps.
    Reload {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The shape of both files; from their extensions when absent.
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
}

#[derive(Debug, Args)]
struct SourceArgs {
    /// Whose data it is (keys and full reloads are per source).
    #[arg(long, env = "ROUTEQ_STATIONS_SOURCE", default_value = "keco")]
    source: String,
    /// The file's shape; from its extension when absent.
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Debug, Args)]
struct MatchArgs {
    /// How far an incoming station may be from ours and still be it, metres.
    #[arg(long, default_value_t = MatchConfig::default().match_distance_m)]
    match_distance_m: f64,
    /// Name/address/operator score (0-1) from which a nearby station agrees.
    #[arg(long, default_value_t = MatchConfig::default().agree_score)]
    agree_score: f64,
    /// Within this distance a station has not moved, metres.
    #[arg(long, default_value_t = MatchConfig::default().same_place_m)]
    same_place_m: f64,
}

#[derive(Debug, Subcommand)]
enum ReviewAction {
    /// List the open reviews (oldest first).
    List {
        /// Resolved ones too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Decide a review: it is one of our stations, or a new one.
    Resolve {
        id: i64,
        /// It is this station of ours.
        #[arg(
            long = "as",
            value_name = "STATION_ID",
            required_unless_present = "new",
            conflicts_with = "new"
        )]
        station: Option<Uuid>,
        /// It is a station we do not have.
        #[arg(long)]
        new: bool,
    },
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    routeq_shared::telemetry::init_logging(&cli.log);
    let mut out = std::io::stdout().lock();
    let pool = || -> anyhow::Result<sqlx::PgPool> {
        cli.db
            .pool()
            .context("--database-url (or ROUTEQ_DATABASE_URL) is required")?
            .context("database settings")
    };
    match cli.command {
        Command::Migrate => {
            routeq_shared::db::migrate(&pool()?)
                .await
                .context("applying migrations")?;
            writeln!(out, "database schema is up to date")?;
        }
        Command::Import {
            file,
            source,
            full,
            matching,
            json,
        } => {
            let opts = ImportOptions {
                source: source.source,
                full,
                format: source.format,
                matching: MatchConfig {
                    match_distance_m: matching.match_distance_m,
                    agree_score: matching.agree_score,
                    same_place_m: matching.same_place_m,
                },
            };
            let report = routeq_stations::import::import(&pool()?, &file, &opts)
                .await
                .with_context(|| format!("importing {}", file.display()))?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                print_import(&mut out, &file, &report)?;
            }
        }
        Command::Status { file, source, json } => {
            let r = routeq_stations::status::apply(&pool()?, &file, &source.source, source.format)
                .await
                .with_context(|| format!("applying {}", file.display()))?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                writeln!(
                    out,
                    "{}: {} rows, {} applied, {} stale, {} unknown keys, {} rejected ({} ms)",
                    file.display(),
                    r.rows_read,
                    r.applied,
                    r.stale,
                    r.unknown,
                    r.rejected,
                    r.elapsed_ms
                )?;
                for (stat_id, chger_id) in &r.unknown_keys {
                    writeln!(out, "  unknown key {stat_id}/{chger_id}")?;
                }
                for rej in &r.rejections {
                    writeln!(out, "  rejected {rej}")?;
                }
            }
        }
        Command::Review { action } => review_command(&pool()?, action, &mut out).await?,
        Command::Generate {
            stations,
            seed,
            out: path,
            format,
        } => {
            let format = Format::resolve(format, &path)?;
            let d = generate::generate(stations as usize, seed);
            generate::write::write(&d.stations, &path, format)
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "{}: {} stations, {} chargers",
                path.display(),
                d.stations.len(),
                d.rows()
            )?;
        }
        Command::Reload {
            from,
            out: path,
            seed,
            format,
        } => {
            let d = generate::write::read(&from, format).await?;
            let r = generate::reload::reload(&d, seed, &Rates::default());
            let format = Format::resolve(format, &path)?;
            generate::write::write(&r.records, &path, format)
                .with_context(|| format!("writing {}", path.display()))?;
            let c = &r.changes;
            writeln!(
                out,
                "{}: {} records ({} chargers) from {} stations: {} removed, {} moved, {} added, {} edited, \
                 neighbour trap {}, split trap {}; every key reshuffled",
                path.display(),
                r.records.len(),
                r.records.iter().map(|s| s.chargers.len()).sum::<usize>(),
                d.stations.len(),
                c.removed.len(),
                c.moved.len(),
                c.added.len(),
                c.edited.len(),
                if c.neighbour.is_some() {
                    "placed"
                } else {
                    "none"
                },
                c.split
                    .as_ref()
                    .map(|s| format!("{} + {}", s.1[0], s.1[1]))
                    .unwrap_or_else(|| "none".into()),
            )?;
        }
    }
    Ok(())
}

fn print_import(
    out: &mut impl Write,
    file: &std::path::Path,
    r: &ImportReport,
) -> anyhow::Result<()> {
    if let Some(id) = r.unchanged_since {
        writeln!(
            out,
            "{}: the same file as import #{id}; nothing changed",
            file.display()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{}: import #{} ({}): {} rows, {} deleted, {} rejected; {} stations: {} kept, {} moved, {} new, \
         {} revived, {} retired, {} to review ({} ms)",
        file.display(),
        r.import_id.unwrap_or_default(),
        if r.full { "full reload" } else { "partial" },
        r.rows_read,
        r.rows_deleted,
        r.rejected,
        r.stations_read,
        r.kept,
        r.moved,
        r.new,
        r.revived,
        r.retired,
        r.ambiguous,
        r.elapsed_ms
    )?;
    for rej in &r.rejections {
        writeln!(out, "  rejected {rej}")?;
    }
    if r.rejected > r.rejections.len() as u64 {
        writeln!(
            out,
            "  ... and {} more",
            r.rejected - r.rejections.len() as u64
        )?;
    }
    Ok(())
}

async fn review_command(
    pool: &sqlx::PgPool,
    action: ReviewAction,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match action {
        ReviewAction::List {
            all,
            source,
            limit,
            json,
        } => {
            let reviews = review::list(pool, source.as_deref(), all, limit).await?;
            for r in &reviews {
                if json {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                    continue;
                }
                let i = &r.incoming;
                writeln!(
                    out,
                    "#{} [{}{}] {} \"{}\" {} ({:.6}, {:.6}), {} chargers, import #{}",
                    r.id,
                    r.reason,
                    if r.status == "open" {
                        String::new()
                    } else {
                        format!(", {}", r.resolution.as_deref().unwrap_or("resolved"))
                    },
                    i.stat_id,
                    i.stat_nm,
                    i.addr,
                    i.lat,
                    i.lng,
                    i.chargers.len(),
                    r.import_id
                )?;
                writeln!(out, "    {}", r.detail)?;
                for c in &r.candidates {
                    writeln!(
                        out,
                        "    candidate {} \"{}\" {} at {:.1} m{}",
                        c.id,
                        c.name,
                        c.address,
                        c.distance_m,
                        if c.retired { " (retired)" } else { "" }
                    )?;
                }
            }
            if !json {
                writeln!(out, "{} review(s)", reviews.len())?;
            }
        }
        ReviewAction::Resolve { id, station, new } => {
            let resolution = match (station, new) {
                (Some(s), false) => Resolution::Station(s),
                _ => Resolution::New,
            };
            let station = review::resolve(pool, id, resolution).await?;
            writeln!(out, "review #{id} resolved: station {station}")?;
        }
    }
    Ok(())
}

//! The matcher against the database: candidates for each incoming station found with
//! `ST_DWithin` on the GiST index, a chunk of incoming stations per query, decided by
//! [`crate::matching::decide`], and the claims of one station by several incoming ones contested.

use std::collections::BTreeMap;

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::matching::{Candidate, Decision, MatchConfig, decide};
use crate::similarity::{self, Facts};

/// Incoming stations matched per query.
const CHUNK: i32 = 2000;

/// A candidate row: the incoming station's facts, and one of ours (absent when none is near).
#[derive(sqlx::FromRow)]
struct Row {
    idx: i32,
    stat_nm: String,
    addr: String,
    busi_id: String,
    busi_nm: String,
    id: Option<Uuid>,
    name: Option<String>,
    address: Option<String>,
    operator_id: Option<String>,
    operator_name: Option<String>,
    retired: Option<bool>,
    distance_m: Option<f64>,
    key_match: Option<bool>,
}

/// Decides for every incoming station (`st_incoming` → `st_decision`), a chunk per query.
/// New stations get their id here (UUID v7).
pub async fn decide_all(
    tx: &mut Transaction<'_, Postgres>,
    source: &str,
    cfg: &MatchConfig,
) -> Result<(), sqlx::Error> {
    let (max,): (Option<i32>,) = sqlx::query_as("SELECT max(idx) FROM st_incoming")
        .fetch_one(&mut **tx)
        .await?;
    let max = max.unwrap_or(0);
    let mut lo = 0;
    while lo < max {
        let hi = lo.saturating_add(CHUNK);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT i.idx, i.stat_nm, i.addr, i.busi_id, i.busi_nm,
                    c.id, c.name, c.address, c.operator_id, c.operator_name, c.retired,
                    c.distance_m, (k.station_id IS NOT NULL AND k.station_id = c.id) AS key_match
             FROM st_incoming i
             -- LATERAL with LIMIT (so that it is not flattened): one probe of the unique index
             -- per incoming station, whatever the planner believes about the table.
             LEFT JOIN LATERAL (
                 SELECT k.station_id FROM external_keys k
                 WHERE k.source = $1 AND k.ext_station_id = i.stat_id AND k.ext_charger_id = ''
                 LIMIT 1
             ) k ON true
             LEFT JOIN LATERAL (
                 SELECT s.id, s.name, s.address, s.operator_id, s.operator_name,
                        s.retired_at IS NOT NULL AS retired,
                        ST_Distance(s.location, i.location) AS distance_m
                 FROM stations s
                 WHERE ST_DWithin(s.location, i.location, $2)
             ) c ON true
             WHERE i.idx > $3 AND i.idx <= $4
             ORDER BY i.idx, c.distance_m, c.id",
        )
        .bind(source)
        .bind(cfg.match_distance_m)
        .bind(lo)
        .bind(hi)
        .fetch_all(&mut **tx)
        .await?;
        let mut by_idx: BTreeMap<i32, Vec<Candidate>> = BTreeMap::new();
        for r in &rows {
            let list = by_idx.entry(r.idx).or_default();
            let (Some(id), Some(distance_m)) = (r.id, r.distance_m) else {
                continue;
            };
            let ours = Facts {
                name: r.name.as_deref().unwrap_or(""),
                address: r.address.as_deref().unwrap_or(""),
                operator_id: r.operator_id.as_deref().unwrap_or(""),
                operator_name: r.operator_name.as_deref().unwrap_or(""),
            };
            let theirs = Facts {
                name: &r.stat_nm,
                address: &r.addr,
                operator_id: &r.busi_id,
                operator_name: &r.busi_nm,
            };
            list.push(Candidate {
                station: id,
                distance_m,
                key_match: r.key_match.unwrap_or(false),
                retired: r.retired.unwrap_or(false),
                similarity: similarity::compare(&theirs, &ours),
            });
        }
        write_decisions(tx, &by_idx, cfg).await?;
        lo = hi;
    }
    sqlx::query("ANALYZE st_decision")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn write_decisions(
    tx: &mut Transaction<'_, Postgres>,
    by_idx: &BTreeMap<i32, Vec<Candidate>>,
    cfg: &MatchConfig,
) -> Result<(), sqlx::Error> {
    let n = by_idx.len();
    let (mut idx, mut kind, mut station, mut distance) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut by_key, mut revived, mut reason, mut candidates, mut detail) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (i, cands) in by_idx {
        idx.push(*i);
        let d = decide(cands, cfg);
        let (k, s, dist, bk, rv, re, ca, de) = match d {
            Decision::Same {
                station,
                distance_m,
                by_key,
                revived,
            } => (
                "same",
                Some(station),
                Some(distance_m),
                by_key,
                revived,
                None,
                None,
                String::new(),
            ),
            Decision::New => (
                "new",
                Some(Uuid::now_v7()),
                None,
                false,
                false,
                None,
                None,
                String::new(),
            ),
            Decision::Review {
                reason,
                candidates,
                detail,
            } => {
                let list = candidates
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                (
                    "review",
                    None,
                    None,
                    false,
                    false,
                    Some(reason.as_str()),
                    Some(list),
                    detail,
                )
            }
        };
        kind.push(k);
        station.push(s);
        distance.push(dist);
        by_key.push(bk);
        revived.push(rv);
        reason.push(re);
        candidates.push(ca);
        detail.push(de);
    }
    sqlx::query(
        "INSERT INTO st_decision (idx, kind, station_id, distance_m, by_key, revived, reason,
                                  candidates, detail)
         SELECT idx, kind, station_id, distance_m, by_key, revived, reason,
                string_to_array(candidates, ',')::uuid[], detail
         FROM UNNEST($1::int4[], $2::text[], $3::uuid[], $4::float8[], $5::bool[], $6::bool[],
                     $7::text[], $8::text[], $9::text[])
              AS d(idx, kind, station_id, distance_m, by_key, revived, reason, candidates, detail)",
    )
    .bind(&idx)
    .bind(&kind)
    .bind(&station)
    .bind(&distance)
    .bind(&by_key)
    .bind(&revived)
    .bind(&reason)
    .bind(&candidates)
    .bind(&detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One station of ours claimed by several incoming stations: all claims go to review
/// (`contested`), unless exactly one claims it by key (that one keeps it). Returns how many
/// claims were sent to review.
pub async fn contest(tx: &mut Transaction<'_, Postgres>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "WITH claims AS (
             SELECT d.station_id, count(*) FILTER (WHERE d.by_key) AS by_key,
                    string_agg(i.stat_id, ', ' ORDER BY i.stat_id) AS keys, count(*) AS n
             FROM st_decision d JOIN st_incoming i USING (idx)
             WHERE d.kind = 'same'
             GROUP BY d.station_id HAVING count(*) > 1)
         UPDATE st_decision d
         SET kind = 'review', reason = 'contested', candidates = ARRAY[d.station_id],
             detail = format('%s is claimed by %s incoming stations: %s', c.station_id, c.n, c.keys),
             station_id = NULL, by_key = false, revived = false
         FROM claims c
         WHERE d.kind = 'same' AND d.station_id = c.station_id AND NOT (c.by_key = 1 AND d.by_key)",
    )
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

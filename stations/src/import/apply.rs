//! Writing what the matcher decided, set-based from the working tables: stations, chargers,
//! aliases, the review queue, and retirement of what a full reload no longer delivers.

use sqlx::{Postgres, Transaction};

/// What an application of decisions writes under.
pub struct Ctx<'a> {
    pub source: &'a str,
    /// The import the keys are seen in.
    pub import_id: i64,
    /// The delivered chargers are all of a station's: retire the others. Off when a review is
    /// resolved onto a station (one station split across two keys brings half of its chargers
    /// under each).
    pub retire_missing_chargers: bool,
}

/// Decisions counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub kept: u64,
    pub moved: u64,
    pub new: u64,
    pub revived: u64,
    pub ambiguous: u64,
}

/// Creates the new stations and brings the recognised ones up to date (place included, and no
/// longer retired).
pub async fn stations(
    tx: &mut Transaction<'_, Postgres>,
    ctx: &Ctx<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stations (id, name, address, location, operator_id, operator_name, use_time,
                               zcode, source, first_seen, last_seen)
         SELECT d.station_id, i.stat_nm, i.addr, i.location, i.busi_id, i.busi_nm, i.use_time,
                i.zcode, $1, now(), now()
         FROM st_decision d JOIN st_incoming i USING (idx)
         WHERE d.kind = 'new'",
    )
    .bind(ctx.source)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE stations s
         SET name = i.stat_nm, address = i.addr, location = i.location, operator_id = i.busi_id,
             operator_name = i.busi_nm, use_time = i.use_time, zcode = i.zcode, source = $1,
             last_seen = now(), retired_at = NULL
         FROM st_decision d JOIN st_incoming i USING (idx)
         WHERE d.kind = 'same' AND s.id = d.station_id",
    )
    .bind(ctx.source)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Pairs delivered chargers with ours by their number within the station; a status newer than
/// the delivered one (from a status feed) is kept.
pub async fn chargers(
    tx: &mut Transaction<'_, Postgres>,
    ctx: &Ctx<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO chargers (station_id, ext_charger_id, charger_type, output_kw, status,
                               status_at, first_seen, last_seen)
         SELECT d.station_id, r.chger_id, r.chger_type, r.output_kw, r.stat, r.stat_upd, now(), now()
         FROM st_row r JOIN st_incoming i USING (stat_id) JOIN st_decision d USING (idx)
         WHERE d.kind IN ('same', 'new')
         ON CONFLICT (station_id, ext_charger_id) DO UPDATE SET
             charger_type = EXCLUDED.charger_type,
             output_kw = EXCLUDED.output_kw,
             status = CASE WHEN EXCLUDED.status_at < chargers.status_at THEN chargers.status
                           ELSE EXCLUDED.status END,
             status_at = GREATEST(chargers.status_at, EXCLUDED.status_at),
             last_seen = now(),
             retired_at = NULL",
    )
    .execute(&mut **tx)
    .await?;
    if ctx.retire_missing_chargers {
        sqlx::query(
            "UPDATE chargers c SET retired_at = now()
             FROM st_decision d
             WHERE d.kind = 'same' AND c.station_id = d.station_id
               AND c.retired_at IS NULL AND c.last_seen < now()",
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Records the delivered keys as aliases of our ids. A key the source now uses for another
/// station moves to it (and counts as first seen again); keys of the delivered statIds that
/// were not delivered again (a reused statId's other chargers, the keys of stations sent to
/// review) are dropped, so a status feed never reaches a station through a stale key.
pub async fn keys(tx: &mut Transaction<'_, Postgres>, ctx: &Ctx<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO external_keys (source, ext_station_id, ext_charger_id, station_id, charger_id,
                                    first_import, last_import, first_seen, last_seen)
         SELECT $1, i.stat_id, '', d.station_id, NULL::bigint, $2, $2, now(), now()
         FROM st_decision d JOIN st_incoming i USING (idx)
         WHERE d.kind IN ('same', 'new')
         UNION ALL
         SELECT $1, r.stat_id, r.chger_id, d.station_id, c.id, $2, $2, now(), now()
         FROM st_row r JOIN st_incoming i USING (stat_id) JOIN st_decision d USING (idx)
         JOIN chargers c ON c.station_id = d.station_id AND c.ext_charger_id = r.chger_id
         WHERE d.kind IN ('same', 'new')
         ON CONFLICT (source, ext_station_id, ext_charger_id) DO UPDATE SET
             first_import = CASE WHEN external_keys.station_id = EXCLUDED.station_id
                                  AND external_keys.charger_id IS NOT DISTINCT FROM EXCLUDED.charger_id
                                 THEN external_keys.first_import ELSE EXCLUDED.first_import END,
             first_seen = CASE WHEN external_keys.station_id = EXCLUDED.station_id
                                AND external_keys.charger_id IS NOT DISTINCT FROM EXCLUDED.charger_id
                               THEN external_keys.first_seen ELSE EXCLUDED.first_seen END,
             station_id = EXCLUDED.station_id,
             charger_id = EXCLUDED.charger_id,
             last_import = EXCLUDED.last_import,
             last_seen = EXCLUDED.last_seen",
    )
    .bind(ctx.source)
    .bind(ctx.import_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM external_keys k USING st_incoming i
         WHERE k.source = $1 AND k.ext_station_id = i.stat_id
           AND k.last_import IS DISTINCT FROM $2",
    )
    .bind(ctx.source)
    .bind(ctx.import_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Queues the undecided stations for review, after closing the open reviews this import makes
/// stale (all of the source's on a full reload, those of the delivered statIds otherwise).
pub async fn reviews(
    tx: &mut Transaction<'_, Postgres>,
    ctx: &Ctx<'_>,
    full: bool,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE station_reviews r
         SET status = 'resolved', resolution = 'superseded', resolved_at = now()
         WHERE r.source = $1 AND r.status = 'open'
           AND ($2 OR EXISTS (SELECT 1 FROM st_incoming i WHERE i.stat_id = r.ext_station_id))",
    )
    .bind(ctx.source)
    .bind(full)
    .execute(&mut **tx)
    .await?;
    let done = sqlx::query(
        "INSERT INTO station_reviews (import_id, source, ext_station_id, incoming, candidates,
                                      reason, detail)
         SELECT $2, $1, i.stat_id,
                jsonb_build_object(
                    'statId', i.stat_id, 'statNm', i.stat_nm, 'addr', i.addr,
                    'lat', i.lat, 'lng', i.lng, 'busiId', i.busi_id, 'busiNm', i.busi_nm,
                    'useTime', i.use_time, 'zcode', i.zcode,
                    'chargers', (SELECT jsonb_agg(jsonb_build_object(
                                     'pos', r.pos, 'chgerId', r.chger_id,
                                     'chgerType', r.chger_type, 'output', r.output_kw,
                                     'stat', r.stat, 'statUpdDt', r.stat_upd) ORDER BY r.pos)
                                 FROM st_row r WHERE r.stat_id = i.stat_id)),
                d.candidates, d.reason, d.detail
         FROM st_decision d JOIN st_incoming i USING (idx)
         WHERE d.kind = 'review'",
    )
    .bind(ctx.source)
    .bind(ctx.import_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Retires the source's stations that this full reload did not deliver. A station that an
/// undecided incoming one could be stays: retiring it would be a guess too.
pub async fn retire_absent(
    tx: &mut Transaction<'_, Postgres>,
    ctx: &Ctx<'_>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE stations s SET retired_at = now()
         WHERE s.source = $1 AND s.retired_at IS NULL
           -- Two hashed sets: the planner's estimates of freshly written tables are no
           -- guide, and a nested-loop anti join over them is quadratic.
           AND s.id NOT IN (SELECT d.station_id FROM st_decision d
                            WHERE d.station_id IS NOT NULL)
           AND s.id NOT IN (SELECT unnest(d.candidates) FROM st_decision d
                            WHERE d.kind = 'review')",
    )
    .bind(ctx.source)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Counts the decisions.
pub async fn counts(
    tx: &mut Transaction<'_, Postgres>,
    same_place_m: f64,
) -> Result<Counts, sqlx::Error> {
    let (kept, moved, new, revived, ambiguous): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE kind = 'same' AND distance_m <= $1),
                count(*) FILTER (WHERE kind = 'same' AND distance_m > $1),
                count(*) FILTER (WHERE kind = 'new'),
                count(*) FILTER (WHERE kind = 'same' AND revived),
                count(*) FILTER (WHERE kind = 'review')
         FROM st_decision",
    )
    .bind(same_place_m)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Counts {
        kept: kept as u64,
        moved: moved as u64,
        new: new as u64,
        revived: revived as u64,
        ambiguous: ambiguous as u64,
    })
}

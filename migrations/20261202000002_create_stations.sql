-- Charging stations under our own ids. The public data's keys (statId, chgerId) are not promised to
-- survive a reload, so they are only aliases (external_keys); a station is recognised across
-- reloads by where it is and what it is. Stations are never deleted: a station missing from a full
-- reload is retired (retired_at), and favourites keep pointing at it.
CREATE TABLE stations (
    id            uuid                   PRIMARY KEY,          -- ours (UUID v7), never reused
    name          text                   NOT NULL,             -- statNm as last delivered
    address       text                   NOT NULL DEFAULT '',  -- addr
    location      geography(Point, 4326) NOT NULL,             -- lng/lat
    operator_id   text                   NOT NULL DEFAULT '',  -- busiId
    operator_name text                   NOT NULL DEFAULT '',  -- busiNm
    use_time      text                   NOT NULL DEFAULT '',  -- useTime, free text ("24시간")
    zcode         text                   NOT NULL DEFAULT '',  -- region (시도) code
    source        text                   NOT NULL,             -- who delivers it (a full reload of that source retires it when absent)
    first_seen    timestamptz            NOT NULL,
    last_seen     timestamptz            NOT NULL,
    retired_at    timestamptz                                  -- NULL while the source delivers it
);

-- Nearest-station search and the importer's candidate search (ST_DWithin, <->).
CREATE INDEX stations_location_gist ON stations USING gist (location);

-- One row per charger of a station. ext_charger_id is the source's charger number within its
-- station (chgerId), used to pair chargers across reloads of the same station.
CREATE TABLE chargers (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id     uuid        NOT NULL REFERENCES stations (id),
    ext_charger_id text        NOT NULL,
    charger_type   text        NOT NULL,  -- chgerType code: 01 DC차데모, 02 AC완속, 04 DC콤보, ...
    output_kw      real,                  -- NULL when the source does not say
    status         smallint    NOT NULL,  -- stat: 1 comm. error, 2 available, 3 charging, 4 suspended, 5 maintenance, 9 unknown
    status_at      timestamptz,           -- statUpdDt
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    retired_at     timestamptz
);

-- A station's chargers, and the pairing of a delivered charger with the one we know.
CREATE UNIQUE INDEX chargers_station_ext_idx ON chargers (station_id, ext_charger_id);

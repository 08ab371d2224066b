-- One row per import of a public-data file, and the source's keys as aliases of our ids.
CREATE TABLE station_imports (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source        text        NOT NULL,            -- e.g. 'keco' (Korea Environment Corporation)
    file_digest   text        NOT NULL,            -- sha256 of the file's bytes, hex
    full_reload   boolean     NOT NULL,            -- stations absent from it were retired
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    rows_read     integer     NOT NULL DEFAULT 0,  -- charger rows in the file
    stations_read integer     NOT NULL DEFAULT 0,  -- distinct statId among the valid rows
    kept          integer     NOT NULL DEFAULT 0,  -- same station, same place
    new           integer     NOT NULL DEFAULT 0,  -- stations created
    moved         integer     NOT NULL DEFAULT 0,  -- same station, coordinates updated
    revived       integer     NOT NULL DEFAULT 0,  -- retired stations delivered again (also in kept/moved)
    retired       integer     NOT NULL DEFAULT 0,  -- stations absent from a full reload
    ambiguous     integer     NOT NULL DEFAULT 0,  -- incoming stations sent to the review queue
    rejected      integer     NOT NULL DEFAULT 0   -- invalid rows
);

-- "Was this file the last one imported from this source?" (a re-run is a no-op).
CREATE INDEX station_imports_source_idx ON station_imports (source, id DESC);

-- The source's keys. ext_charger_id = '' is the station's own key (statId); other rows map a
-- charger key (statId, chgerId) to our charger. A key the source reuses for another station is
-- moved to that station.
CREATE TABLE external_keys (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text        NOT NULL,
    ext_station_id text        NOT NULL,
    ext_charger_id text        NOT NULL DEFAULT '',
    station_id     uuid        NOT NULL REFERENCES stations (id),
    charger_id     bigint      REFERENCES chargers (id),
    -- station_imports ids. Not foreign keys: a full reload rewrites every key's last_import,
    -- and two more row triggers per key were a third of the import's time.
    first_import   bigint      NOT NULL,
    last_import    bigint      NOT NULL,
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    UNIQUE (source, ext_station_id, ext_charger_id),
    CHECK ((ext_charger_id = '') = (charger_id IS NULL))
);

CREATE INDEX external_keys_station_idx ON external_keys (station_id);

-- Incoming stations the importer would not decide alone: several candidates agree, a near
-- candidate disagrees (same place, another name), or several incoming keys claim one station.
-- Resolved by `routeq-stations review resolve <id> --as <station-id> | --new`.
CREATE TABLE station_reviews (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id        bigint      NOT NULL REFERENCES station_imports (id),
    source           text        NOT NULL,
    ext_station_id   text        NOT NULL,
    incoming         jsonb       NOT NULL,  -- the station and its chargers as delivered
    candidates       uuid[]      NOT NULL,  -- our stations it could be
    reason           text        NOT NULL CHECK (reason IN ('ambiguous', 'disagrees', 'contested')),
    detail           text        NOT NULL DEFAULT '',
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution       text        CHECK (resolution IN ('station', 'new', 'superseded')),
    resolved_station uuid        REFERENCES stations (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz
);

CREATE INDEX station_reviews_open_idx ON station_reviews (source, id) WHERE status = 'open';

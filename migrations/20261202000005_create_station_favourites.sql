-- A user's favourite stations, per tenant. They point at our ids, which survive every reload; a
-- retired station stays a favourite (the API says it is retired).
CREATE TABLE station_favourites (
    tenant     text        NOT NULL,
    user_id    text        NOT NULL,
    station_id uuid        NOT NULL REFERENCES stations (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, user_id, station_id)
);

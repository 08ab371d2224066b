-- Addresses we resolved, under our own keys. Providers change their identifiers when they refresh
-- their data; ours never change. The provider's identifiers are plain attributes.
CREATE TABLE geocodes (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address_norm      text             NOT NULL UNIQUE,   -- trimmed, spaces collapsed, lower case
    address           text             NOT NULL,          -- as first asked for
    lat               double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon               double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    provider          text             NOT NULL,          -- simulator, nominatim, kakao
    provider_place_id text             NOT NULL DEFAULT '',
    display_name      text             NOT NULL DEFAULT '',
    created_at        timestamptz      NOT NULL DEFAULT now(),
    updated_at        timestamptz      NOT NULL DEFAULT now()
);

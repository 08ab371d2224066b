-- PostGIS: station locations are geography points, searched by distance with a GiST index.
-- Needs Debian's postgresql-<major>-postgis-3 on the server (scripts/setup.sh installs it). PostGIS
-- is not a trusted extension: migrate as a superuser, or have one create it in the database first
-- (then this is a no-op).
CREATE EXTENSION IF NOT EXISTS postgis;

-- The durable record of every job routeq accepted: one row per job, written by the recorder from the
-- records stream (acceptance first, then completion; either may arrive first or twice).
CREATE TABLE jobs (
    id              uuid        PRIMARY KEY,          -- our job id (UUID v7, time-ordered)
    tenant          text        NOT NULL,
    request_id      text        NOT NULL DEFAULT '',
    idempotency_key text        NOT NULL DEFAULT '',
    request         jsonb       NOT NULL,             -- the validated, canonical route request
    state           text        NOT NULL,             -- queued | running | succeeded | fallback | failed | expired | cancelled
    code            text        NOT NULL,             -- the catalogue code (ROUTE_OK, PROVIDER_TIMEOUT, ...)
    outcome         jsonb,                            -- detail, result or fallback, timings; NULL until finished
    provider        text        NOT NULL DEFAULT '',  -- who computed the answer (simulator, osrm, kakao, estimate)
    attempts        integer     NOT NULL DEFAULT 0,   -- deliveries to workers
    worker          text        NOT NULL DEFAULT '',  -- the consumer that finished it
    submitted_at    timestamptz NOT NULL,
    deadline_at     timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

-- A tenant's history, newest first (support questions, GET after the Redis TTL is by id).
CREATE INDEX jobs_tenant_submitted_idx ON jobs (tenant, submitted_at DESC);
-- Outcome analytics over time windows.
CREATE INDEX jobs_finished_code_idx ON jobs (finished_at, code) WHERE finished_at IS NOT NULL;
-- Finding a job by the client's request id or idempotency key.
CREATE INDEX jobs_request_id_idx ON jobs (request_id) WHERE request_id <> '';
CREATE INDEX jobs_tenant_idempotency_idx ON jobs (tenant, idempotency_key) WHERE idempotency_key <> '';

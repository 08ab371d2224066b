// Shared helpers of the routeq k6 scenarios: parameters from the environment, job bodies, the
// headers every request carries (API key, request id), the submit → finished-result flow (poll,
// long-poll or Prefer: wait) against routeq or the direct baseline, the custom metrics and the
// thresholds. The end-of-test summary is in summary.js.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Trend, Counter, Rate } from 'k6/metrics';

export const env = (name, dflt) => (__ENV[name] === undefined || __ENV[name] === '' ? dflt : __ENV[name]);
export const num = (name, dflt) => Number(env(name, dflt));

export const BASE_URL = env('BASE_URL', 'http://127.0.0.1:8080');
// `routeq` (202 + result later) or `direct` (the synchronous baseline: 200 or a failure at once).
export const TARGET = env('TARGET', 'routeq');
// How a routeq client waits: `poll` (GET every POLL_MS), `longpoll` (POST, then GET ?wait=WAIT_S),
// `wait` (POST with Prefer: wait=WAIT_S, then GET ?wait=WAIT_S while still 202).
export const MODE = env('MODE', 'longpoll');
export const WAIT_S = num('WAIT_S', 30);
export const POLL_MS = num('POLL_MS', 250);
export const DEADLINE_MS = num('DEADLINE_MS', 30000);
// Fleet capacity in jobs/s (workers × concurrency ÷ mean provider latency); rates derive from it.
export const CAPACITY = num('CAPACITY', 100);
// Give up on a job (count it failed) after this long: deadline plus slack.
export const GIVE_UP_MS = num('GIVE_UP_MS', DEADLINE_MS + 15000);
export const HTTP_TIMEOUT = `${Math.max(WAIT_S + 10, 30)}s`;
// Sent as `Authorization: Bearer` when set (scripts/loadtest.sh creates one for a gateway run with
// --auth keys); AUTH=keys tells the smoke that requests without it must be refused.
export const API_KEY = env('API_KEY', '');
export const AUTH = env('AUTH', API_KEY ? 'keys' : 'open');
// The end-to-end threshold: e2e p95 below the slowest provider call the simulator makes plus an
// overhead budget (plus the poll interval when clients poll), unless E2E_P95_MS names the bound.
export const PROVIDER_MAX_MS = num('PROVIDER_MAX_MS', 250);
export const E2E_OVERHEAD_MS = num('E2E_OVERHEAD_MS', 250);
export const E2E_P95_MS = num('E2E_P95_MS', PROVIDER_MAX_MS + E2E_OVERHEAD_MS + (MODE === 'poll' ? POLL_MS : 0));

// submit → finished result, as the client saw it (ms). Only jobs that ended 200 ROUTE_OK.
export const e2e = new Trend('e2e_ms', true);
// e2e minus the provider time the job reports (timings.provider_us): routeq's own overhead.
export const overhead = new Trend('overhead_ms', true);
export const providerTime = new Trend('provider_ms', true);
// The POST's own latency (routeq answers 202 at once unless Prefer: wait).
export const submitTime = new Trend('submit_ms', true);
export const arrivals = new Counter('jobs_arrived');
export const done = new Counter('jobs_ok');
export const failedJobs = new Counter('jobs_failed');
export const jobFailed = new Rate('job_failed');
export const statusCodes = {};

let seq = 0;
// Unique coordinates per job (no cache hits, no coalescing), around Seoul.
export function jobBody(extra) {
  seq += 1;
  const j = (__VU * 1000003 + seq * 7919) % 1000000;
  const body = {
    origin: { lat: 37.45 + (j % 1000) / 10000, lon: 126.9 + Math.floor(j / 1000) / 10000 },
    destination: { lat: 37.55 + Math.random() / 10, lon: 127.0 + Math.random() / 10 },
    deadline_ms: DEADLINE_MS,
  };
  return JSON.stringify(Object.assign(body, extra || {}));
}

export const JSON_HEADERS = { 'content-type': 'application/json' };

// Request ids: `<scenario>-<VU>-<iteration>-<n>`, n counting the requests of one iteration from 1,
// so a job's POST and polls share a prefix (the workers log the POST's id as the job's request_id).
let ridIter = -1;
let ridN = 0;
export function requestId() {
  const it = exec.vu.iterationInScenario;
  if (it !== ridIter) {
    ridIter = it;
    ridN = 0;
  }
  ridN += 1;
  const scenario = env('SCENARIO', exec.scenario.name).replace(/[^A-Za-z0-9_.:-]/g, '_');
  return `${scenario}-${exec.vu.idInTest}-${it}-${ridN}`;
}

// The headers of one request: its own request id, the API key when there is one, then `extra`
// (an `authorization` of null there sends none).
export function headers(extra) {
  const h = { 'x-request-id': requestId() };
  if (API_KEY) h.authorization = `Bearer ${API_KEY}`;
  Object.assign(h, extra || {});
  for (const k of Object.keys(h)) if (h[k] === null) delete h[k];
  return h;
}
export const jsonHeaders = (extra) => headers(Object.assign({}, JSON_HEADERS, extra || {}));

// k6 request params with fresh headers; `tags` names the request in the metrics.
export const params = (extra, more) => Object.assign({ headers: jsonHeaders(extra) }, more || {});

function finish(t0, res, ok) {
  if (ok) {
    const ms = Date.now() - t0;
    e2e.add(ms);
    done.add(1);
    jobFailed.add(false);
    let prov = 0;
    try {
      prov = (res.json('timings.provider_us') || 0) / 1000;
    } catch (_) {
      prov = 0;
    }
    providerTime.add(prov);
    overhead.add(Math.max(0, ms - prov));
  } else {
    failedJobs.add(1, { status: String(res ? res.status : 0) });
    jobFailed.add(true);
  }
  return ok;
}

// One job, submit → finished result. Returns true when it ended 200 ROUTE_OK.
export function runJob(opts) {
  const o = opts || {};
  const extra = Object.assign({}, o.headers || {});
  const body = o.body || jobBody();
  arrivals.add(1);
  const t0 = Date.now();
  if (TARGET === 'direct') {
    const res = http.post(`${BASE_URL}/v1/routes`, body, params(extra, { timeout: HTTP_TIMEOUT, tags: { name: 'POST /v1/routes' } }));
    submitTime.add(res.timings.duration);
    return finish(t0, res, res.status === 200);
  }
  if (MODE === 'wait') extra.prefer = `wait=${WAIT_S}`;
  const post = params(extra, { timeout: HTTP_TIMEOUT, tags: { name: 'POST /v1/routes' } });
  let res = http.post(`${BASE_URL}/v1/routes`, body, post);
  submitTime.add(res.timings.duration, { mode: MODE });
  check(res, { 'POST echoes its X-Request-Id': (r) => r.headers['X-Request-Id'] === post.headers['x-request-id'] });
  if (res.status !== 202 && res.status !== 200) return finish(t0, res, false);
  const id = res.json('id');
  const url = `${BASE_URL}/v1/routes/${id}`;
  while (res.status === 202) {
    if (Date.now() - t0 > GIVE_UP_MS) return finish(t0, res, false);
    if (MODE === 'poll') {
      sleep(POLL_MS / 1000);
      res = http.get(url, { headers: headers(), timeout: HTTP_TIMEOUT, tags: { name: 'GET /v1/routes/{id}' } });
    } else {
      res = http.get(`${url}?wait=${WAIT_S}`, { headers: headers(), timeout: HTTP_TIMEOUT, tags: { name: 'GET /v1/routes/{id}?wait' } });
    }
  }
  const ok = res.status === 200 && res.json('code') === 'ROUTE_OK';
  check(res, { 'job ended ROUTE_OK': () => ok });
  return finish(t0, res, ok);
}

// Thresholds every load scenario shares: the e2e p95 bound (E2E_P95_MS), and E2E_P99_MS when set.
// `direct` runs are the baseline, so failures are measured there, not asserted.
export function loadThresholds(extra) {
  const t = { e2e_ms: [`p(95)<${E2E_P95_MS}`] };
  if (env('E2E_P99_MS', '') !== '') t.e2e_ms.push(`p(99)<${num('E2E_P99_MS', 0)}`);
  if (TARGET !== 'direct') {
    t.job_failed = ['rate==0'];
    t.submit_ms = [`p(99)<${num('SUBMIT_P99_MS', MODE === 'wait' ? DEADLINE_MS : 50)}`];
  }
  return Object.assign(t, extra || {});
}

// The statistics of every trend in the summary data (summary.js prints them in this order).
export const SUMMARY_TREND_STATS = ['count', 'avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'];

// The options of a constant-arrival-rate scenario named `name`: RATE jobs/s (default `share` of
// CAPACITY) for DURATION (default `duration`), with no dropped iteration allowed. In flight at
// once ≈ rate × e2e, so VUS defaults to one per job/s with room (MAX_VUS) for queueing.
export function constantArrival(name, share, duration) {
  const rate = num('RATE', Math.max(1, Math.round(CAPACITY * share)));
  const vus = num('VUS', Math.max(20, Math.ceil(rate * 1.0)));
  return {
    scenarios: {
      [name]: {
        executor: 'constant-arrival-rate',
        rate,
        timeUnit: '1s',
        duration: env('DURATION', duration),
        preAllocatedVUs: vus,
        maxVUs: num('MAX_VUS', vus * 4),
        gracefulStop: env('GRACEFUL_STOP', '60s'),
      },
    },
    thresholds: loadThresholds({ dropped_iterations: ['count==0'] }),
    summaryTrendStats: SUMMARY_TREND_STATS,
  };
}

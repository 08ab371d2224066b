// Shared helpers of the routeq k6 scenarios: parameters from the environment, job bodies, the
// submit → finished-result flow (poll, long-poll or Prefer: wait) against routeq or the direct
// baseline, the custom metrics, and a self-contained handleSummary (no remote imports).
import http from 'k6/http';
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
  const headers = Object.assign({}, JSON_HEADERS, o.headers || {});
  const body = o.body || jobBody();
  arrivals.add(1);
  const t0 = Date.now();
  if (TARGET === 'direct') {
    const res = http.post(`${BASE_URL}/v1/routes`, body, { headers, timeout: HTTP_TIMEOUT, tags: { name: 'POST /v1/routes' } });
    submitTime.add(res.timings.duration);
    return finish(t0, res, res.status === 200);
  }
  if (MODE === 'wait') headers.prefer = `wait=${WAIT_S}`;
  let res = http.post(`${BASE_URL}/v1/routes`, body, { headers, timeout: HTTP_TIMEOUT, tags: { name: 'POST /v1/routes' } });
  submitTime.add(res.timings.duration, { mode: MODE });
  if (res.status !== 202 && res.status !== 200) return finish(t0, res, false);
  const id = res.json('id');
  const url = `${BASE_URL}/v1/routes/${id}`;
  while (res.status === 202) {
    if (Date.now() - t0 > GIVE_UP_MS) return finish(t0, res, false);
    if (MODE === 'poll') {
      sleep(POLL_MS / 1000);
      res = http.get(url, { timeout: HTTP_TIMEOUT, tags: { name: 'GET /v1/routes/{id}' } });
    } else {
      res = http.get(`${url}?wait=${WAIT_S}`, { timeout: HTTP_TIMEOUT, tags: { name: 'GET /v1/routes/{id}?wait' } });
    }
  }
  const ok = res.status === 200 && res.json('code') === 'ROUTE_OK';
  check(res, { 'job ended ROUTE_OK': () => ok });
  return finish(t0, res, ok);
}

// Thresholds every load scenario shares; `direct` runs are the baseline, so failures are measured
// there, not asserted.
export function loadThresholds(extra) {
  const t = {
    e2e_ms: [`p(99)<${num('E2E_P99_MS', DEADLINE_MS)}`],
  };
  if (TARGET !== 'direct') {
    t.job_failed = ['rate==0'];
    t.submit_ms = [`p(99)<${num('SUBMIT_P99_MS', MODE === 'wait' ? DEADLINE_MS : 50)}`];
  }
  return Object.assign(t, extra || {});
}

// ---- summary (self-written: jslib's textSummary is a remote import and does not load offline)

function fmt(v) {
  return typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3)) : String(v);
}

export function summaryText(data) {
  const lines = [`scenario ${env('SCENARIO', '?')} target=${TARGET} mode=${MODE} base=${BASE_URL}`];
  const names = Object.keys(data.metrics).sort();
  for (const name of names) {
    const m = data.metrics[name];
    const vals = Object.entries(m.values).map(([k, v]) => `${k}=${fmt(v)}`).join(' ');
    let mark = '';
    if (m.thresholds) {
      mark = Object.values(m.thresholds).some((t) => !t.ok) ? ' ✗' : ' ✓';
    }
    lines.push(`  ${name}${mark}: ${vals}`);
  }
  return lines.join('\n') + '\n';
}

export function handleSummary(data) {
  const out = { stdout: summaryText(data) };
  const path = env('SUMMARY_JSON', '');
  if (path) out[path] = JSON.stringify(data, null, 1);
  return out;
}

export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'count'];

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

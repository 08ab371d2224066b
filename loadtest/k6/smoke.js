// smoke: a few jobs through every endpoint and every error path a client can reach, each checked
// for its status and `code`; with AUTH=keys also the refusals of a missing or unknown API key.
// Every request carries an X-Request-Id (and the API_KEY when set). One VU, one pass; any failed
// check, failed job or an e2e p95 above E2E_P95_MS fails the run.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 [-e API_KEY=... -e AUTH=keys] [-e E2E_P95_MS=500] loadtest/k6/smoke.js
import http from 'k6/http';
import { check, sleep } from 'k6';
import { AUTH, BASE_URL, E2E_P95_MS, headers, jobBody, params, runJob, SUMMARY_TREND_STATS } from './lib.js';
export { handleSummary } from './summary.js';

export const options = {
  vus: 1,
  iterations: 1,
  thresholds: { checks: ['rate==1'], job_failed: ['rate==0'], e2e_ms: [`p(95)<${E2E_P95_MS}`] },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

const is = (res, status, code) => {
  const ok = res.status === status && (code === undefined || res.json('code') === code);
  if (!ok) console.error(`expected ${status} ${code || ''}, got ${res.status} ${res.body && res.body.slice(0, 300)}`);
  return ok;
};
const problemJson = (r) => String(r.headers['Content-Type'] || '').startsWith('application/problem+json');
const post = (body, extra) => http.post(`${BASE_URL}/v1/routes`, body, params(extra));
const get = (url, extra) => http.get(url, { headers: headers(extra) });
const del = (url) => http.del(url, null, { headers: headers() });

export default function () {
  // Operational endpoints.
  check(get(`${BASE_URL}/healthz`), { 'GET /healthz 200': (r) => r.status === 200 });
  check(get(`${BASE_URL}/readyz`), { 'GET /readyz 200': (r) => r.status === 200 });
  check(get(`${BASE_URL}/metrics`), {
    'GET /metrics has queue gauges': (r) => r.status === 200 && r.body.includes('routeq_queue_length'),
  });

  // Happy paths: poll, long-poll and Prefer: wait (each counted in e2e_ms).
  const sent = params();
  const sub = http.post(`${BASE_URL}/v1/routes`, jobBody(), sent);
  check(sub, {
    'POST 202 JOB_QUEUED': (r) => is(r, 202, 'JOB_QUEUED'),
    'POST has Location and Retry-After': (r) => !!r.headers['Location'] && !!r.headers['Retry-After'],
    'POST echoes its X-Request-Id': (r) => r.headers['X-Request-Id'] === sent.headers['x-request-id'],
  });
  const loc = `${BASE_URL}${sub.headers['Location']}`;
  let r = get(loc);
  check(r, { 'GET job 202 or 200': (x) => x.status === 202 || x.status === 200 });
  r = get(`${loc}?wait=10`);
  check(r, { 'GET ?wait=10 → 200 ROUTE_OK': (x) => is(x, 200, 'ROUTE_OK') && x.json('state') === 'succeeded' });
  check(r, { 'finished job has timings.provider_us': (x) => x.json('timings.provider_us') > 0 });
  const w = post(jobBody(), { prefer: 'wait=10' });
  check(w, { 'POST Prefer: wait=10 → 200 ROUTE_OK': (x) => is(x, 200, 'ROUTE_OK') });
  for (let i = 0; i < 3; i++) runJob();

  // Addresses: a known one succeeds, an unknown one ends ADDRESS_NOT_FOUND (422).
  const addr = post(JSON.stringify({ origin: { address: 'Gangnam Station' }, destination: { address: 'Seoul Station' } }), { prefer: 'wait=10' });
  check(addr, { 'address job → 200 ROUTE_OK': (x) => is(x, 200, 'ROUTE_OK') });
  const nf = post(JSON.stringify({ origin: { address: 'Nowhere Street 999 k6' }, destination: { lat: 37.55, lon: 126.97 } }), { prefer: 'wait=10' });
  check(nf, { 'unknown address → 422 ADDRESS_NOT_FOUND': (x) => is(x, 422, 'ADDRESS_NOT_FOUND') && problemJson(x) });

  // Cancel: a job far enough back in a burst is still queued (204), or already running (409).
  const burst = [];
  for (let i = 0; i < 5; i++) burst.push(post(jobBody()));
  const last = burst[burst.length - 1].json('id');
  const cancel = del(`${BASE_URL}/v1/routes/${last}`);
  check(cancel, { 'DELETE → 204 or 409 JOB_NOT_CANCELLABLE': (x) => x.status === 204 || is(x, 409, 'JOB_NOT_CANCELLABLE') });
  if (cancel.status === 204) {
    check(del(`${BASE_URL}/v1/routes/${last}`), { 'DELETE again → 204 (idempotent)': (x) => x.status === 204 });
    check(get(`${BASE_URL}/v1/routes/${last}`), { 'cancelled job → 410 JOB_CANCELLED': (x) => is(x, 410, 'JOB_CANCELLED') });
  }
  sleep(1);
  const finished = burst[0].json('id');
  get(`${BASE_URL}/v1/routes/${finished}?wait=10`);
  check(del(`${BASE_URL}/v1/routes/${finished}`), { 'DELETE finished → 409 JOB_NOT_CANCELLABLE': (x) => is(x, 409, 'JOB_NOT_CANCELLABLE') });

  // Idempotency: same key + body → same job; same key + other body → 422.
  const key = `smoke-${Date.now()}-${Math.random()}`;
  const body = jobBody();
  const a = post(body, { 'idempotency-key': key });
  const b = post(body, { 'idempotency-key': key });
  check(b, { 'idempotent retry → same id': (x) => (x.status === 202 || x.status === 200) && x.json('id') === a.json('id') });
  check(post(jobBody(), { 'idempotency-key': key }), { 'key reused with other body → 422 IDEMPOTENCY_KEY_REUSED': (x) => is(x, 422, 'IDEMPOTENCY_KEY_REUSED') });
  check(post(jobBody(), { 'idempotency-key': 'x'.repeat(1000) }), { 'bad Idempotency-Key → 400 INVALID_PARAMETER': (x) => is(x, 400, 'INVALID_PARAMETER') });

  // Every client error path of the submit.
  check(post('{"origin": '), { 'truncated JSON → 400 MALFORMED_JSON': (x) => is(x, 400, 'MALFORMED_JSON') && problemJson(x) });
  check(http.post(`${BASE_URL}/v1/routes`, jobBody(), { headers: headers({ 'content-type': 'text/plain' }) }), {
    'text/plain → 415 UNSUPPORTED_MEDIA_TYPE': (x) => is(x, 415, 'UNSUPPORTED_MEDIA_TYPE'),
  });
  check(post(JSON.stringify({ origin: { address: 'x'.repeat(20000) }, destination: { lat: 1, lon: 1 } })), {
    'huge body → 413 PAYLOAD_TOO_LARGE': (x) => is(x, 413, 'PAYLOAD_TOO_LARGE'),
  });
  const inv = post(JSON.stringify({ origin: { lat: 91, lon: 0 }, destination: {}, color: 'red' }));
  check(inv, {
    'invalid fields → 422 INVALID_FIELD listing each': (x) => is(x, 422, 'INVALID_FIELD') && x.json('errors').length >= 3,
  });
  check(post(JSON.stringify({ origin: { lat: 1, lon: 1 }, destination: { lat: 2, lon: 2 }, deadline_ms: 1 })), {
    'deadline below minimum → 422 INVALID_FIELD': (x) => is(x, 422, 'INVALID_FIELD'),
  });
  check(get(`${loc}?wait=abc`), { 'bad ?wait → 400 INVALID_PARAMETER': (x) => is(x, 400, 'INVALID_PARAMETER') });
  check(get(`${BASE_URL}/v1/routes/nope`), { 'unknown id → 404 JOB_NOT_FOUND': (x) => is(x, 404, 'JOB_NOT_FOUND') && problemJson(x) });
  check(get(`${BASE_URL}/v2/nothing`), { 'unknown endpoint → 404 ENDPOINT_NOT_FOUND': (x) => is(x, 404, 'ENDPOINT_NOT_FOUND') });
  check(http.put(`${BASE_URL}/v1/routes`, jobBody(), params()), {
    'PUT /v1/routes → 405 METHOD_NOT_ALLOWED': (x) => is(x, 405, 'METHOD_NOT_ALLOWED'),
  });
  check(get(`${BASE_URL}/v1/routes/nope`, { 'x-big': 'y'.repeat(20000) }), {
    'huge headers → 431 HEADERS_TOO_LARGE': (x) => x.status === 431,
  });

  // API keys: with --auth keys a request without one, or with an unknown one, is refused.
  if (AUTH === 'keys') {
    check(post(jobBody(), { authorization: null }), {
      'no API key → 401 UNAUTHORIZED': (x) => is(x, 401, 'UNAUTHORIZED') && problemJson(x),
    });
    check(get(`${loc}`, { authorization: 'Bearer not-a-key' }), {
      'unknown API key → 401 UNAUTHORIZED': (x) => is(x, 401, 'UNAUTHORIZED'),
    });
  }
}

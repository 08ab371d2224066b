// idempotent: clients that retry. Each job is POSTed with an Idempotency-Key, then RETRIES more
// times with the same key and body (as a client whose answer was lost would); every answer must
// name the same job, and the job must finish once. RATE jobs/s (default 50 % of CAPACITY).
//   k6 run -e BASE_URL=... -e CAPACITY=100 [-e RATE=50] [-e RETRIES=2] [-e DURATION=30s] loadtest/k6/idempotent.js
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { env, num, BASE_URL, CAPACITY, params, jobBody, runJob, loadThresholds, SUMMARY_TREND_STATS } from './lib.js';
export { handleSummary } from './summary.js';

const RATE = num('RATE', Math.max(1, Math.round(CAPACITY * 0.5)));
const RETRIES = num('RETRIES', 2);
const mismatched = new Counter('idempotency_mismatch');

export const options = {
  scenarios: {
    idempotent: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: env('DURATION', '30s'),
      preAllocatedVUs: Math.max(20, RATE),
      maxVUs: Math.max(80, RATE * 4),
      gracefulStop: '60s',
    },
  },
  thresholds: loadThresholds({ idempotency_mismatch: ['count==0'], checks: ['rate==1'] }),
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export default function () {
  const key = `k6-${__VU}-${__ITER}-${Date.now()}`;
  const body = jobBody();
  const headers = { 'idempotency-key': key };
  const first = http.post(`${BASE_URL}/v1/routes`, body, params(headers));
  const id = first.json('id');
  // The retries (lost answers); then the client waits for the job the usual way, with the same key.
  for (let i = 0; i < RETRIES; i++) {
    const again = http.post(`${BASE_URL}/v1/routes`, body, params(headers));
    const same = again.json('id') === id;
    if (!same) mismatched.add(1);
    check(again, { 'retry names the same job': () => same });
  }
  runJob({ body, headers });
}

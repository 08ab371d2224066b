// submit: JOBS submissions from VUS closed-loop clients as fast as they go, without waiting for
// results (every answer must be 202). Measures a gateway's submissions/s and fills a backlog.
//   k6 run -e BASE_URL=... [-e JOBS=100000] [-e VUS=64] [-e DEADLINE_MS=600000] loadtest/k6/submit.js
import http from 'k6/http';
import { check } from 'k6';
import { num, BASE_URL, jobBody, params, submitTime, arrivals, SUMMARY_TREND_STATS } from './lib.js';
export { handleSummary } from './summary.js';

export const options = {
  scenarios: {
    submit: {
      executor: 'shared-iterations',
      vus: num('VUS', 64),
      iterations: num('JOBS', 100000),
      maxDuration: `${num('MAX_S', 300)}s`,
    },
  },
  thresholds: { checks: ['rate==1'] },
  summaryTrendStats: SUMMARY_TREND_STATS,
  discardResponseBodies: true,
};

export default function () {
  const res = http.post(`${BASE_URL}/v1/routes`, jobBody(), params({}, { tags: { name: 'POST /v1/routes' } }));
  arrivals.add(1);
  submitTime.add(res.timings.duration);
  check(res, { 'accepted 202': (r) => r.status === 202 });
}

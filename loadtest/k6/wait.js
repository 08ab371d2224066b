// wait: the steady scenario with clients that wait in one call (`Prefer: wait=WAIT_S`, then
// `GET ?wait=WAIT_S` while still 202). Same variables as steady.js; MODE is forced to `wait`.
//   k6 run -e BASE_URL=... -e CAPACITY=100 [-e RATE=70] [-e WAIT_S=30] loadtest/k6/wait.js
import { env, num, CAPACITY, runJob, loadThresholds, SUMMARY_TREND_STATS, MODE } from './lib.js';
export { handleSummary } from './lib.js';

if (MODE !== 'wait') throw new Error('wait.js: run it with -e MODE=wait (scripts/loadtest.sh does)');
const RATE = num('RATE', Math.max(1, Math.round(CAPACITY * 0.7)));
const VUS = num('VUS', Math.max(20, Math.ceil(RATE * 1.0)));

export const options = {
  scenarios: {
    wait: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: env('DURATION', '60s'),
      preAllocatedVUs: VUS,
      maxVUs: num('MAX_VUS', VUS * 4),
      gracefulStop: env('GRACEFUL_STOP', '60s'),
    },
  },
  thresholds: loadThresholds({ dropped_iterations: ['count==0'] }),
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export default function () {
  runJob();
}

// soak: a moderate constant arrival rate (default 50 % of CAPACITY) for DURATION (default 1h).
// The CI variant is the same script with -e DURATION=60s (scripts/loadtest.sh --scenario soak-ci).
//   k6 run -e BASE_URL=... -e CAPACITY=100 [-e RATE=50] [-e DURATION=1h] loadtest/k6/soak.js
import { env, num, CAPACITY, runJob, loadThresholds, SUMMARY_TREND_STATS } from './lib.js';
export { handleSummary } from './lib.js';

const RATE = num('RATE', Math.max(1, Math.round(CAPACITY * 0.5)));
const VUS = num('VUS', Math.max(20, Math.ceil(RATE * 1.0)));

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: env('DURATION', '1h'),
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

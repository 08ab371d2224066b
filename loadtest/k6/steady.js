// steady: constant arrival rate at RATE jobs/s (default 70 % of CAPACITY) for DURATION.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e CAPACITY=100 [-e RATE=70] [-e DURATION=60s]
//          [-e MODE=longpoll|poll|wait] [-e TARGET=routeq|direct] loadtest/k6/steady.js
import { env, num, CAPACITY, runJob, loadThresholds, SUMMARY_TREND_STATS } from './lib.js';
export { handleSummary } from './lib.js';

const RATE = num('RATE', Math.max(1, Math.round(CAPACITY * 0.7)));
const DURATION = env('DURATION', '60s');
// In flight at once ≈ rate × e2e; leave room for queueing.
const VUS = num('VUS', Math.max(20, Math.ceil(RATE * 1.0)));

export const options = {
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: num('MAX_VUS', VUS * 4),
      gracefulStop: env('GRACEFUL_STOP', '60s'),
    },
  },
  thresholds: loadThresholds({ dropped_iterations: ['count==0'] }),
  summaryTrendStats: SUMMARY_TREND_STATS,
  discardResponseBodies: false,
};

export default function () {
  runJob();
}

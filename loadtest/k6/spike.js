// spike: arrival rate ramping from 0 to MULTIPLIER × CAPACITY over RAMP_S seconds (then HOLD_S at
// the peak, default 0), then 0; every client waits (MODE, default long-poll) until its job is done.
// DEADLINE_MS must cover the drain time (scripts/loadtest.sh sizes it); GRACEFUL_STOP lets the
// clients of the last arrivals wait for their results.
//   k6 run -e BASE_URL=... -e CAPACITY=100 -e MULTIPLIER=10 [-e RAMP_S=10] [-e DEADLINE_MS=120000]
//          [-e TARGET=routeq|direct] loadtest/k6/spike.js
import { env, num, CAPACITY, runJob, loadThresholds, SUMMARY_TREND_STATS } from './lib.js';
export { handleSummary } from './summary.js';

const PEAK = Math.round(num('MULTIPLIER', 10) * CAPACITY);
const RAMP_S = num('RAMP_S', 10);
const HOLD_S = num('HOLD_S', 0);
// Every arrival holds a VU until its job is done: at most all of them.
const EXPECTED = Math.ceil(PEAK * (RAMP_S / 2 + HOLD_S + 0.5));
const VUS = num('VUS', EXPECTED + 50);

const stages = [{ duration: `${RAMP_S}s`, target: PEAK }];
if (HOLD_S > 0) stages.push({ duration: `${HOLD_S}s`, target: PEAK });
stages.push({ duration: '1s', target: 0 });

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      stages,
      preAllocatedVUs: VUS,
      maxVUs: VUS,
      gracefulStop: env('GRACEFUL_STOP', '180s'),
    },
  },
  thresholds: loadThresholds({ dropped_iterations: ['count==0'] }),
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export default function () {
  runJob();
}

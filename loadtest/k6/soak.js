// soak: a moderate constant arrival rate (default 50 % of CAPACITY) for DURATION (default 1h).
// The CI variant is the same script with -e DURATION=60s (scripts/loadtest.sh --scenario soak-ci).
//   k6 run -e BASE_URL=... -e CAPACITY=100 [-e RATE=50] [-e DURATION=1h] loadtest/k6/soak.js
import { runJob, constantArrival } from './lib.js';
export { handleSummary } from './summary.js';

export const options = constantArrival('soak', 0.5, '1h');

export default function () {
  runJob();
}

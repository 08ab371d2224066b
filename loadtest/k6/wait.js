// wait: the steady scenario with clients that wait in one call (`Prefer: wait=WAIT_S`, then
// `GET ?wait=WAIT_S` while still 202). Same variables as steady.js; MODE is forced to `wait`.
//   k6 run -e BASE_URL=... -e CAPACITY=100 [-e RATE=70] [-e WAIT_S=30] loadtest/k6/wait.js
import { runJob, constantArrival, MODE } from './lib.js';
export { handleSummary } from './summary.js';

if (MODE !== 'wait') throw new Error('wait.js: run it with -e MODE=wait (scripts/loadtest.sh does)');
export const options = constantArrival('wait', 0.7, '60s');

export default function () {
  runJob();
}

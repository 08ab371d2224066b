// steady: constant arrival rate at RATE jobs/s (default 70 % of CAPACITY) for DURATION.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e CAPACITY=100 [-e RATE=70] [-e DURATION=60s]
//          [-e MODE=longpoll|poll|wait] [-e TARGET=routeq|direct] loadtest/k6/steady.js
import { runJob, constantArrival } from './lib.js';
export { handleSummary } from './summary.js';

export const options = constantArrival('steady', 0.7, '60s');

export default function () {
  runJob();
}

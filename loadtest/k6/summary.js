// The end-of-test summary of every routeq scenario, self-written (jslib's textSummary is a remote
// import and does not load offline): the run's context with its git commit, then every metric
// sorted by name with its unit and a fixed order of statistics, then each threshold and check with
// pass/fail. SUMMARY_JSON=<path> also writes k6's summary data there, with the run's context under
// `routeq`, for scripts/loadtest.sh's report.
import { env, TARGET, MODE, BASE_URL, AUTH } from './lib.js';

const STATS = ['count', 'avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'];
const COUNT_UNITS = {
  http_reqs: 'requests', iterations: 'iterations', dropped_iterations: 'iterations',
  data_received: 'B', data_sent: 'B', idempotency_mismatch: 'jobs', vus: 'VUs', vus_max: 'VUs',
};

// The unit of a metric's values (loadtest/bench/loadtest/k6.py knows the same table).
export function unitOf(name, m) {
  if (m.type === 'rate') return '%';
  if (m.contains === 'time') return 'ms';
  if (m.contains === 'data') return 'B';
  if (name.startsWith('jobs_')) return 'jobs';
  return COUNT_UNITS[name] || '';
}

// A number in a width that fits its size; rates (fractions) as percent.
export function fmt(v, unit) {
  if (typeof v !== 'number') return '–';
  if (unit === '%') return `${(v * 100).toFixed(2)} %`;
  const a = Math.abs(v);
  const s = a >= 100 || Number.isInteger(v) ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
  return unit ? `${s} ${unit}` : s;
}

function metricLine(name, m) {
  const u = unitOf(name, m);
  const v = m.values;
  if (m.type === 'trend') {
    const parts = STATS.filter((s) => s in v).map((s) => `${s} ${fmt(v[s])}`);
    return `${u || '-'} · ${parts.join('  ')}`;
  }
  if (m.type === 'rate') return `% · ${fmt(v.rate, '%')} (${v.passes} of ${v.passes + v.fails})`;
  if (m.type === 'counter') return `${u || 'count'} · ${fmt(v.count)} (${fmt(v.rate)} ${u || 'count'}/s)`;
  return `${u || '-'} · ${fmt(v.value)} (min ${fmt(v.min)}, max ${fmt(v.max)})`;
}

const THRESHOLD = /^\s*([a-z]+(?:\([0-9.]+\))?)\s*(<=|>=|===|==|!=|<|>)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$/;

// Every threshold, sorted by metric then expression: the threshold in words, the value k6
// compared, and k6's own verdict.
export function thresholdRows(data) {
  const rows = [];
  for (const name of Object.keys(data.metrics).sort()) {
    const m = data.metrics[name];
    const u = unitOf(name, m);
    for (const expr of Object.keys(m.thresholds || {}).sort()) {
      const hit = THRESHOLD.exec(expr);
      rows.push({
        name,
        threshold: hit ? `${hit[1]} ${hit[2]} ${fmt(Number(hit[3]), u)}` : expr,
        observed: hit ? fmt(m.values[hit[1]], u) : '–',
        ok: m.thresholds[expr].ok,
      });
    }
  }
  return rows;
}

function checkRows(group, out) {
  for (const c of group.checks || []) out.push(c);
  for (const g of group.groups || []) checkRows(g, out);
  return out;
}

export function runInfo() {
  return {
    scenario: env('SCENARIO', '?'), target: TARGET, mode: MODE, auth: AUTH, base_url: BASE_URL,
    commit: env('GIT_COMMIT', 'unknown'),
  };
}

export function summaryText(data) {
  const r = runInfo();
  const lines = [`routeq ${r.scenario} · target ${r.target} · mode ${r.mode} · auth ${r.auth} · commit ${r.commit} · ${r.base_url}`,
    'metrics (sorted by name):'];
  const names = Object.keys(data.metrics).sort();
  const width = Math.max(...names.map((n) => n.length));
  for (const name of names) lines.push(`  ${name.padEnd(width)}  ${metricLine(name, data.metrics[name])}`);
  const th = thresholdRows(data);
  if (th.length) {
    lines.push('thresholds:');
    for (const t of th) lines.push(`  ${t.ok ? 'pass' : 'FAIL'}  ${t.name} ${t.threshold}  (observed ${t.observed})`);
  }
  const checks = checkRows(data.root_group || {}, []);
  if (checks.length) {
    lines.push('checks:');
    for (const c of checks) lines.push(`  ${c.fails === 0 ? 'pass' : 'FAIL'}  ${c.name}  (${c.passes} of ${c.passes + c.fails})`);
  }
  return lines.join('\n') + '\n';
}

export function handleSummary(data) {
  const out = { stdout: summaryText(data) };
  const path = env('SUMMARY_JSON', '');
  if (path) out[path] = JSON.stringify(Object.assign({ routeq: runInfo() }, data), null, 1);
  return out;
}

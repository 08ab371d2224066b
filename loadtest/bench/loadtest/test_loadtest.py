"""Tests of the runner's own logic (no fleet needed): chart axes, k6 durations and dashboard
periods, the thresholds and checks tables read from k6's summary data, and the spike model.
    python3 -m unittest discover -s loadtest/bench/loadtest -p 'test_*.py'"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import analysis  # noqa: E402
import compare  # noqa: E402
import k6  # noqa: E402
import report  # noqa: E402
import svg  # noqa: E402

# The shape of k6 v1.1.0's handleSummary data (metrics with thresholds, root_group checks).
SUMMARY = {
    "root_group": {"name": "", "checks": [{"name": "job ended ROUTE_OK", "passes": 9, "fails": 1}],
                   "groups": [{"name": "g", "checks": [{"name": "inner", "passes": 3, "fails": 0}], "groups": []}]},
    "metrics": {
        "e2e_ms": {"type": "trend", "contains": "time", "values": {"p(95)": 612.4, "med": 210.0},
                   "thresholds": {"p(95)<500": {"ok": False}}},
        "job_failed": {"type": "rate", "contains": "default", "values": {"rate": 0.1, "passes": 1, "fails": 9},
                       "thresholds": {"rate==0": {"ok": False}}},
        "dropped_iterations": {"type": "counter", "contains": "default", "values": {"count": 0, "rate": 0},
                               "thresholds": {"count==0": {"ok": True}}},
        "jobs_ok": {"type": "counter", "contains": "default", "values": {"count": 9, "rate": 2.5}},
    },
}


class Axes(unittest.TestCase):
    def check_fits(self, lo, hi, zero):
        a_lo, a_hi, ticks = svg.axis(lo, hi, zero=zero)
        self.assertLessEqual(a_lo, lo)
        self.assertGreater(a_hi, hi)
        # Headroom, not a doubled range: the data fill most of the axis.
        self.assertGreater((hi - (0 if a_lo == 0 else lo)) / (a_hi - a_lo), 0.8)
        self.assertTrue(3 <= len(ticks) <= 8, ticks)
        self.assertTrue(all(a_lo <= t <= a_hi for t in ticks), ticks)
        return a_lo, a_hi, ticks

    def test_counts_start_at_zero_and_end_just_above_the_data(self):
        a_lo, a_hi, ticks = self.check_fits(0, 47, zero=True)
        self.assertEqual((a_lo, ticks[0], ticks[-1]), (0.0, 0, 40))
        self.assertLess(a_hi, 55)

    def test_latency_axis_follows_the_data_range(self):
        a_lo, _, ticks = self.check_fits(195, 280, zero=False)
        self.assertGreater(a_lo, 150)
        self.assertEqual([svg.label(t, ticks[1] - ticks[0]) for t in ticks], ["200", "220", "240", "260", "280"])

    def test_data_near_zero_keep_the_zero_baseline(self):
        self.assertEqual(svg.axis(3, 45600, zero=False)[0], 0.0)

    def test_flat_data_get_a_window(self):
        a_lo, a_hi, ticks = svg.axis(3, 3, zero=False)
        self.assertTrue(a_lo < 3 < a_hi and ticks)

    def test_labels_carry_the_step_decimals(self):
        self.assertEqual(svg.label(17.5, 2.5), "17.5")
        self.assertEqual(svg.label(0.25, 0.25), "0.25")
        self.assertEqual(svg.label(40000, 10000), "40000")

    def test_long_millisecond_series_are_drawn_in_seconds(self):
        out = svg.chart([{"title": "e2e", "unit": "ms", "series": [("p99", "#000", False, [(0, 200), (10, 45000)])],
                          "line": ("p95 bound", 48000, "#f00")}], "t")
        self.assertIn(">s</text>", out)
        self.assertIn("p95 bound 48 s", out)


class K6Inputs(unittest.TestCase):
    def test_durations(self):
        self.assertEqual([k6.duration_s(x) for x in ("90", "45s", "1m30s", "1h", "500ms")], [90, 45, 90, 3600, 0.5])
        with self.assertRaises(ValueError):
            k6.duration_s("ten seconds")

    def test_dashboard_period_leaves_a_smoke_run_enough_points(self):
        self.assertEqual(k6.dashboard_period(3), "150ms")
        self.assertEqual(k6.dashboard_period(0.5), "100ms")
        self.assertEqual(k6.dashboard_period(3600), "1s")


class SummaryTables(unittest.TestCase):
    def test_thresholds_sorted_with_units_and_k6_verdicts(self):
        rows = k6.thresholds(SUMMARY)
        self.assertEqual([r["metric"] for r in rows], ["dropped_iterations", "e2e_ms", "job_failed"])
        e2e = rows[1]
        self.assertEqual((e2e["threshold"], e2e["shown"], e2e["ok"]), ("p(95) < 500 ms", "612 ms", False))
        self.assertEqual(rows[2]["shown"], "10.00 %")
        self.assertFalse(k6.thresholds_ok(SUMMARY))

    def test_markdown_tables_mark_failures(self):
        sm = {"thresholds": k6.thresholds(SUMMARY), "checks": k6.checks(SUMMARY), "thresholds_ok": False, "rc": 99}
        table = "\n".join(report.thresholds_table([("routeq", sm)]))
        self.assertIn("| `e2e_ms` | p(95) < 500 ms | **FAIL** · 612 ms |", table)
        self.assertIn("| `dropped_iterations` | count == 0 iterations | pass · 0 iterations |", table)
        self.assertIn("**FAIL** (k6 exit 99)", table)
        checks = "\n".join(report.checks_table([("routeq", sm)]))
        self.assertIn("| job ended ROUTE_OK | **FAIL** · 9/10 |", checks)
        self.assertIn("| inner | pass · 3/3 |", checks)


class SpikeModel(unittest.TestCase):
    def test_matches_the_measured_spikes(self):
        # Measured at 98–99 % of capacity 100/s (loadtest/reports/spike): e2e p95 1.13 s and 43.4 s.
        self.assertAlmostEqual(analysis.spike_wait_s(150, 10, 100), 0.9, delta=0.2)
        self.assertAlmostEqual(analysis.spike_wait_s(1000, 10, 100), 42.5, delta=1.5)

    def test_a_slower_drain_waits_longer(self):
        self.assertGreater(analysis.spike_wait_s(1000, 10, 90), analysis.spike_wait_s(1000, 10, 100) + 4)


class CompareParsing(unittest.TestCase):
    # Rows as routeq-bench prints them (loadtest/bench/src/report.rs), with --runs 1.
    BENCH = ("| metric | median | min – max | runs |\n| --- | ---: | ---: | ---: |\n"
             "| submissions/s (jobs ÷ first submit → last 202) | 5112 | 5112 – 5112 | 5112 |\n"
             "| **CPU per job, routeq (gateway + workers + Redis), µs** | 365.9 | 365.9 – 365.9 | 365.9 |\n"
             "|   ↳ gateway, µs | 85.5 | 85.5 – 85.5 | 85.5 |\n")

    def test_reads_the_median_of_a_named_row(self):
        self.assertEqual(compare.md_value(self.BENCH, "submissions/s"), 5112)
        self.assertEqual(compare.md_value(self.BENCH, "↳ gateway, µs"), 85.5)
        self.assertEqual(compare.md_value(self.BENCH, "CPU per job, routeq"), 365.9)
        self.assertIsNone(compare.md_value(self.BENCH, "no such row"))

    def test_formats_small_and_large_figures(self):
        self.assertEqual(compare.fmt(None), "–")
        self.assertEqual(compare.fmt(12804.4), "12804")
        self.assertEqual(compare.fmt(13.27), "13.3")
        self.assertEqual(compare.fmt(0.5214), "0.521")


if __name__ == "__main__":
    unittest.main()

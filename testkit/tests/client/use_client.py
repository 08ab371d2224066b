"""Calls a live gateway with the Python client generated from its OpenAPI document
(openapi-python-client), with typed models only: the test in testkit/tests/api.rs generates the
package, then runs this script once per mode and reads the JSON line it prints.

    python use_client.py <package dir> <base url> route|fallback
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

from routeq_client import Client  # noqa: E402
from routeq_client.api.routes import get_job, submit  # noqa: E402
from routeq_client.models import (  # noqa: E402
    FallbackEstimate,
    JobState,
    JobView,
    RouteRequest,
    RouteResult,
)

base, mode = sys.argv[2], sys.argv[3]
client = Client(base_url=base, raise_on_unexpected_status=True)
# A different trip per mode, so the fallback job is not answered from the route cache.
lat = 37.4979 if mode == "route" else 37.4012
body = RouteRequest.from_dict(
    {"origin": {"lat": lat, "lon": 127.0276}, "destination": {"lat": 37.5547, "lon": 126.9707}}
)

# Submit (202, a typed queued job), then wait on it until it says it is final.
res = submit.sync_detailed(client=client, body=body, x_request_id=f"client-{mode}")
job = res.parsed
assert res.status_code == 202, res
assert isinstance(job, JobView), type(job)
assert job.state in (JobState.QUEUED, JobState.RUNNING), job.state
assert res.headers["Location"] == f"/v1/routes/{job.id}"
polls = 0
while True:
    res = get_job.sync_detailed(job.id, client=client, wait=10)
    polls += 1
    job = res.parsed
    assert isinstance(job, JobView), (res.status_code, type(job))
    if res.headers.get("Job-Final") == "true":
        break
    assert polls < 10, "the job never finished"
assert job.final is True
assert "Retry-After" not in res.headers

out = {"status": int(res.status_code), "state": job.state.value, "code": job.code.value}
if mode == "route":
    assert isinstance(job.result, RouteResult), type(job.result)
    out["distance_m"] = job.result.distance_m
    out["duration_s"] = job.result.duration_s
    out["provider"] = job.result.provider
else:
    # A fallback job is answered 502/503/504: the typed client still gives the estimate.
    assert job.state == JobState.FALLBACK, (res.status_code, job.state)
    assert isinstance(job.fallback, FallbackEstimate), type(job.fallback)
    out["distance_m"] = job.fallback.distance_m
    out["duration_s"] = job.fallback.duration_s
    out["failed_provider"] = job.fallback.failed_provider
    out["method"] = job.fallback.method
print(json.dumps(out))

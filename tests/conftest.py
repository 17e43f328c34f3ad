"""Hypothesis settings for the whole suite.

`make test` runs on 2 shared cores: a per-example deadline or the too-slow health check then fails a
property on the machine's load, not on the code, so neither applies. Examples are derived from each
test's name (derandomize), so a run is reproducible: a failure found once is found again.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "arb",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("arb")

"""Suite-wide settings.

rfc3987_syntax: see below (a test-process import that costs seconds and checks nothing we use).

Hypothesis: the machines that run the suite are shared and run several workers; its wall-clock health
check and per-example deadline would fail a correct test on a busy moment, so both are off (the
properties stay; speed is measured in bench/, never asserted here).
"""

import sys

from hypothesis import HealthCheck, settings

# nbformat imports jsonschema, whose format checkers import `rfc3987_syntax` when it is installed
# (jupyter_events brings it): that import builds a Lark grammar, 2-4 s in every test process that
# reads a notebook. Notebooks never use the IRI formats it checks; without it jsonschema skips them.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")

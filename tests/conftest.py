"""Suite-wide settings.

Hypothesis: the machines that run the suite are shared and run two workers; its wall-clock health
check and per-example deadline would fail a correct test on a busy moment, so both are off (the
properties stay; speed is measured in bench/, never asserted here).
"""

from hypothesis import HealthCheck, settings

settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")

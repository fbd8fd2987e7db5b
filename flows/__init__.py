"""Prefect flows: scheduled forecasts, on-demand cluster runs and scenario comparisons.

Flows hold orchestration only (parameters, retries, logs, artifacts); the work is done by
``pipeline``. Importing this package sets Prefect's offline defaults unless the environment
already sets them: no telemetry (``DO_NOT_TRACK``, ``PREFECT_SERVER_ANALYTICS_ENABLED``) and
a 120 s start-up timeout for the ephemeral API server (the 20 s default is too short on a
loaded 2-core machine). See docs/flows.md.
"""

import logging
import os

OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
for _key, _value in OFFLINE_DEFAULTS.items():
    os.environ.setdefault(_key, _value)

# the embedded LocalCluster's INFO chatter (workers starting and closing) is not flow news
logging.getLogger("distributed").setLevel(logging.WARNING)

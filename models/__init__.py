"""The alliance-stability model: scenarios, uncertain inputs, samplers and the kernel."""

from alliance_risk.models import numerics  # noqa: F401  # first: pins numba's target before any compile

MODEL_VERSION = "2"  # bump when the kernel's equations change (stored with every run)

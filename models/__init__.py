"""The alliance-stability model: scenarios, uncertain inputs, samplers and the kernel."""

MODEL_VERSION = "1"  # bump when the kernel's equations change (stored with every run)

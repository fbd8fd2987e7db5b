"""The alliance-stability model: scenarios, uncertain inputs, samplers and the kernel."""

MODEL_VERSION = "2"  # bump when the kernel's equations change (stored with every run)

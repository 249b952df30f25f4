"""devlab: build GPU-aware TFLite variants, run them on phones, and attribute latency kernel by kernel."""

__version__ = "0.1.0"

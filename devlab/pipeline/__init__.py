"""Pipelines: several models run in order with tensors handed on (Stable Diffusion: text encoder, UNet steps, VAE
decoder), defined in TOML (devlab.pipeline.definition), run end to end on the host in one process
(devlab.pipeline.host_run) or composed from per-component runs on a phone (devlab.pipeline.run)."""

"""Numerics: does a variant on an accelerator compute what the fp32 reference computes on the host CPU?

metrics (the error figures and the verdict), model_io (a model's inputs/outputs, the inputs fed, raw output
bytes split by shape and dtype), reference (LiteRT's Interpreter on this machine's CPU, the fp32 reference),
fp16 (the simulated GPU delegate's fp16 storage, as a graph rewrite), probe (a model whose every op reads its
inputs from the reference, for bisect), check (the `--check-outputs` record of one row), bisect (the culprit finder).
"""

"""Only for the optional C scanner of the trace reader; everything else is in pyproject.toml.

`optional=True`: where no C compiler is present the install still succeeds and the reader uses upb alone
(devlab.trace.fastscan.available() says which).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("devlab.trace._fastscan", ["devlab/trace/_fastscan.c"], optional=True,
                             extra_compile_args=["-O3"])])

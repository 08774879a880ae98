"""The one compiled part: the decoder's fast path (consumers/events/_dmsjson.c). Everything
else is in pyproject.toml. Without a C compiler the package still works: consumers/events/fast.py
then sends every record through the Python decoder and says so once."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "consumers.events._dmsjson",
            ["consumers/events/_dmsjson.c"],
            extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)

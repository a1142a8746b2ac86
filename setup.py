"""Build of the native extensions (edwards25519 arithmetic, mpc_ml ring loops); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "threshold.groups._ed25519",
            sources=["threshold/groups/_ed25519.c"],
            extra_compile_args=["-O3", "-std=gnu11"],
        ),
        Extension(
            "mpc_ml._ring",
            sources=["mpc_ml/_ring.c"],
            extra_compile_args=["-O3", "-std=gnu11", "-fno-trapping-math"],  # lets the modular loops vectorize
        ),
    ]
)

"""Build of the one native extension (edwards25519 arithmetic); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "threshold.groups._ed25519",
            sources=["threshold/groups/_ed25519.c"],
            extra_compile_args=["-O3", "-std=gnu11"],
        )
    ]
)

"""Build of the native extensions (edwards25519 arithmetic, modp multi-exponentiation on OpenSSL, transcript hashing
on OpenSSL's SHA-256, mpc_ml ring loops);
everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "threshold.groups._ed25519",
            sources=["threshold/groups/_ed25519.c", "threshold/groups/_ed25519_x64.c"],  # the latter: the BMI2/ADX build
            extra_compile_args=["-O3", "-std=gnu11"],
        ),
        Extension(
            "threshold.groups._modp",
            sources=["threshold/groups/_modp.c"],
            libraries=["crypto"],  # OpenSSL 3 libcrypto (Debian: libssl-dev)
            extra_compile_args=["-O3", "-std=gnu11"],
        ),
        Extension(
            "threshold._hashing",
            sources=["threshold/_hashing.c"],
            libraries=["crypto"],  # SHA-256 of OpenSSL 3 libcrypto
            extra_compile_args=["-O3", "-std=gnu11"],
        ),
        Extension(
            "mpc_ml._ring",
            sources=["mpc_ml/_ring.c"],
            extra_compile_args=["-O3", "-std=gnu11", "-fno-trapping-math"],  # lets the modular loops vectorize
        ),
    ]
)

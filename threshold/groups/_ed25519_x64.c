/* The radix 2^64 (BMI2/ADX) build of _ed25519.c: the same source with ED_FE64 defined. It exports
 * ed25519_methods_adx / ed25519_init_adx, which PyInit__ed25519 installs when the CPU has BMI2 and
 * ADX. Off x86-64 (or with -DED25519_PORTABLE_ONLY) this unit is empty and the portable arithmetic
 * is the only one. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(ED25519_PORTABLE_ONLY)
#define ED_FE64 1
#include "_ed25519.c"
#else
typedef int ed25519_x64_empty_unit;
#endif

/*
 * Native edwards25519 arithmetic for threshold.groups.ed25519.
 *
 * Field: GF(2^255 - 19), in one of these arithmetics, chosen once at import:
 *   portable  radix 2^51 in C (five 64-bit limbs, unsigned __int128 products); every machine.
 *   adx       radix 2^64 (four limbs, values kept below 2^256 modulo 2^256 - 38), products in
 *             inline assembly with mulx/adcx/adox; x86-64 with BMI2 and ADX (CPUID checked).
 *   ifma      adx, and the fixed-base comb (comb_sum's full terms) in 8 AVX-512 IFMA lanes of
 *             radix-2^51 elements (see comb_lanes), and the variable-base scalar multiplications
 *             on 4-way points (one point per 256-bit vector: ct_scalarmult4, straus4, pippenger4);
 *             CPUs with AVX-512 F, VL and IFMA as well.
 *   (adx without IFMA, on a CPU with AVX2: the square roots of batched decodings in 2 x 4 AVX2 lanes of
 *             radix-2^25.5 elements, avx2_pow22523. The module's LANES attribute: "ifma", "avx2" or "none".)
 * This file is compiled twice: directly (portable, and the module's entry point) and from
 * _ed25519_x64.c with ED_FE64 defined (adx and ifma; an empty unit off x86-64). Everything below
 * the field layer is the same source in both; each build has its own method table and state, and
 * PyInit__ed25519 installs one. The environment variable QUORUM_ED25519_ARITH, read at import,
 * forces a choice: "portable", "adx", "ifma" (ImportError if unavailable) or "auto" (the default:
 * the best the CPU has). The module's ARITH attribute names the arithmetic in use. All are
 * constant time in the same sense (no branch or memory index on data in the field layer, the
 * lanes' selections blend every entry under masks).
 * Points: extended twisted Edwards coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z, with the
 * complete a = -1 formulas of Hisil-Wong-Carter-Dawson (as in ref10 / libsodium).
 *
 * Two kinds of scalar multiplication, kept apart on purpose:
 *
 *   CONSTANT TIME (secret scalars: keys, nonces, randomness, shares):
 *     ct_scalarmult   any point P, [e]P: 64 signed radix-16 digits, a table of 1P..8P built per
 *                     call, every digit selects its entry by scanning all 8 with conditional
 *                     moves (mask blends in the 4-way lanes); 4 doublings and one addition per
 *                     digit, whatever the digit.
 *     table_exp       a fixed base (g, or a long-lived public key K): ref10's comb of 32 rows
 *                     x 8 affine multiples; 64 constant-time selections and additions.
 *     table_exps      several products of such terms in one call: the terms of a product share
 *                     the comb's doublings; a term whose exponent has the public bound 2^16
 *                     (g^m for a vote) takes 5 selections and additions from two extra rows;
 *                     one field inversion (Montgomery's trick) encodes every result.
 *   Neither branches on nor indexes memory by any bit of the scalar.
 *
 *   VARIABLE TIME (public scalars only: verification equations, Lagrange coefficients of
 *   published shares, the group order L in membership tests):
 *     multi_exp       Straus with width-5 NAF for few points, Pippenger with signed
 *                     digits for many (multi_exp_torsion: whether the sum is in E[8]).
 *     member /        [L]P = O for one point, by halving (members: for several, their exponentiations
 *                     16 at a time in lanes);
 *     members_batch   random-subset sums of many points, each sum then tested (see docs/spec.md,
 *                     "edwards25519 membership").
 *
 * Decoding is canonical and checks the curve equation; it does NOT test subgroup membership
 * (callers do, with member/members_batch). Decoded points are kept in a small direct-mapped
 * cache keyed by their 32-byte encoding (index from a per-process random multiplier), so that an
 * element parsed by the verifier is not decompressed again by the multi-exponentiation.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(ED25519_PORTABLE_ONLY)  /* GCC, Clang: AT&T asm */
#define ED_HAVE_ADX 1
#else
#define ED_HAVE_ADX 0
#endif
#if defined(ED_FE64) && !ED_HAVE_ADX
#error "ED_FE64 needs x86-64 and GCC-style inline assembly"
#endif

typedef unsigned __int128 u128;

/* ------------------------------------------------------------------ field */

#ifdef ED_FE64
#define FE_LIMBS 4
#else
#define FE_LIMBS 5
#endif
typedef uint64_t fe[FE_LIMBS];

static inline void fe_0(fe h) { memset(h, 0, sizeof(fe)); }

/* 32 little-endian bytes as 4 64-bit limbs, and a zero fifth (for windows that run past bit 255), and back. No branch
 * on the value: the inversion reads its secret input through them. */
static void limbs64(uint64_t limb[5], const uint8_t a[32]) {
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int j = 7; j >= 0; j--) w = w << 8 | a[8 * i + j];
        limb[i] = w;
    }
    limb[4] = 0;
}

static void bytes64(uint8_t a[32], const uint64_t limb[4]) {
    for (int i = 0; i < 32; i++) a[i] = (uint8_t)(limb[i / 8] >> (8 * (i % 8)));
}

/* Zero secret data that is not read again: the barrier keeps the compiler from dropping the stores as dead. */
static void wipe(void *p, size_t n) {
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}
static inline void fe_1(fe h) { fe_0(h); h[0] = 1; }
static inline void fe_copy(fe h, const fe f) { memcpy(h, f, sizeof(fe)); }

#ifdef ED_FE64
/* Radix 2^64 (x86-64 with BMI2 and ADX; compiled from _ed25519_x64.c, chosen at import).
 * An element is four 64-bit limbs holding ANY integer 0 <= v < 2^256 that is congruent to the
 * value mod p: arithmetic is modulo 2^256 - 38 = 2p, so there is no limb bound to track. Every
 * function below accepts any such input (all 2^256 of them) and returns one; fe_carry has
 * nothing to do and only fe_tobytes reduces fully. Products use mulx with two carry chains
 * (adcx on CF, adox on OF); no branch and no memory index depends on any value. */
static const fe fe_d = {0x75eb4dca135978a3, 0x00700a4d4141d8ab, 0x8cc740797779e898, 0x52036cee2b6ffe73};
static const fe fe_d2 = {0xebd69b9426b2f159, 0x00e0149a8283b156, 0x198e80f2eef3d130, 0x2406d9dc56dffce7};
static const fe fe_sqrtm1 = {0xc4ee1b274a0ea0b0, 0x2f431806ad2fe478, 0x2b4d00993dfbd7a7, 0x2b8324804fc1df0b};

#define FE64_IN(p) "m"(*(const uint64_t(*)[4])(p))
#define FE64_OUT(p) "=m"(*(uint64_t(*)[4])(p))

/* f + g mod 2^256 - 38: a carry out of 2^256 is worth 38; a second carry leaves r0 < 38, so
 * adding 38 to r0 alone cannot carry again. */
static inline void fe_add(fe h, const fe f, const fe g) {
    uint64_t r0, r1, r2, r3, t;
    __asm__("movq   (%[f]), %[r0]\n\t"
            "movq   8(%[f]), %[r1]\n\t"
            "movq   16(%[f]), %[r2]\n\t"
            "movq   24(%[f]), %[r3]\n\t"
            "addq   (%[g]), %[r0]\n\t"
            "adcq   8(%[g]), %[r1]\n\t"
            "adcq   16(%[g]), %[r2]\n\t"
            "adcq   24(%[g]), %[r3]\n\t"
            "sbbq   %[t], %[t]\n\t"
            "andl   $38, %k[t]\n\t"
            "addq   %[t], %[r0]\n\t"
            "adcq   $0, %[r1]\n\t"
            "adcq   $0, %[r2]\n\t"
            "adcq   $0, %[r3]\n\t"
            "sbbq   %[t], %[t]\n\t"
            "andl   $38, %k[t]\n\t"
            "addq   %[t], %[r0]\n\t"
            : [r0] "=&r"(r0), [r1] "=&r"(r1), [r2] "=&r"(r2), [r3] "=&r"(r3), [t] "=&r"(t)
            : [f] "r"(f), [g] "r"(g), FE64_IN(f), FE64_IN(g)
            : "cc");
    h[0] = r0; h[1] = r1; h[2] = r2; h[3] = r3;
}

static inline void fe_carry(fe h) { (void)h; }

/* f - g mod 2^256 - 38: a borrow is worth -38 (2^256 = 38); after a second borrow
 * r0 >= 2^64 - 38, so subtracting 38 from r0 alone cannot borrow again. */
static inline void fe_sub(fe h, const fe f, const fe g) {
    uint64_t r0, r1, r2, r3, t;
    __asm__("movq   (%[f]), %[r0]\n\t"
            "movq   8(%[f]), %[r1]\n\t"
            "movq   16(%[f]), %[r2]\n\t"
            "movq   24(%[f]), %[r3]\n\t"
            "subq   (%[g]), %[r0]\n\t"
            "sbbq   8(%[g]), %[r1]\n\t"
            "sbbq   16(%[g]), %[r2]\n\t"
            "sbbq   24(%[g]), %[r3]\n\t"
            "sbbq   %[t], %[t]\n\t"
            "andl   $38, %k[t]\n\t"
            "subq   %[t], %[r0]\n\t"
            "sbbq   $0, %[r1]\n\t"
            "sbbq   $0, %[r2]\n\t"
            "sbbq   $0, %[r3]\n\t"
            "sbbq   %[t], %[t]\n\t"
            "andl   $38, %k[t]\n\t"
            "subq   %[t], %[r0]\n\t"
            : [r0] "=&r"(r0), [r1] "=&r"(r1), [r2] "=&r"(r2), [r3] "=&r"(r3), [t] "=&r"(t)
            : [f] "r"(f), [g] "r"(g), FE64_IN(f), FE64_IN(g)
            : "cc");
    h[0] = r0; h[1] = r1; h[2] = r2; h[3] = r3;
}

/* The 512-bit product t0..t7 (r8..r15) -> t0..t3 + 38 t4..t7 < 2^256 + 2^262, whose top word c
 * (at most 39) is folded again as 38 c; a carry out of that leaves r0 < 38 * 39 + 38 and
 * r1..r3 = 0, so the last +38 on r0 cannot carry. Output any value below 2^256. */
#define FE64_REDUCE                      \
    "movl   $38, %%edx\n\t"              \
    "xorl   %%eax, %%eax\n\t"            \
    "mulx   %%r12, %%rax, %%r12\n\t"     \
    "adcx   %%rax, %%r8\n\t"             \
    "adox   %%r12, %%r9\n\t"             \
    "mulx   %%r13, %%rax, %%r13\n\t"     \
    "adcx   %%rax, %%r9\n\t"             \
    "adox   %%r13, %%r10\n\t"            \
    "mulx   %%r14, %%rax, %%r14\n\t"     \
    "adcx   %%rax, %%r10\n\t"            \
    "adox   %%r14, %%r11\n\t"            \
    "mulx   %%r15, %%rax, %%r15\n\t"     \
    "adcx   %%rax, %%r11\n\t"            \
    "movl   $0, %%eax\n\t"               \
    "adox   %%rax, %%r15\n\t"            \
    "adcx   %%rax, %%r15\n\t"            \
    "imulq  $38, %%r15, %%r15\n\t"       \
    "addq   %%r15, %%r8\n\t"             \
    "adcq   %%rax, %%r9\n\t"             \
    "adcq   %%rax, %%r10\n\t"            \
    "adcq   %%rax, %%r11\n\t"            \
    "sbbq   %%rax, %%rax\n\t"            \
    "andl   $38, %%eax\n\t"              \
    "addq   %%rax, %%r8\n\t"             \
    "movq   %%r8, (%1)\n\t"              \
    "movq   %%r9, 8(%1)\n\t"             \
    "movq   %%r10, 16(%1)\n\t"           \
    "movq   %%r11, 24(%1)\n\t"

/* One row of the schoolbook product: t_i..t_{i+4} += f_i * g, t_{i+4} starting at 0 (the
 * zeroing xor also clears CF and OF); the low halves ride the CF chain, the high halves the OF
 * chain. Neither chain carries out of t_{i+4}: the partial sum is below 2^(64 (i + 5)). */
#define FE64_ROW(off, a, b, c, d, e)                  \
    "movq   " off "(%2), %%rdx\n\t"                    \
    "xorl   %%" e "d, %%" e "d\n\t"                    \
    "mulx   (%3), %%rax, %%rcx\n\t"                    \
    "adcx   %%rax, %%" a "\n\t"                        \
    "adox   %%rcx, %%" b "\n\t"                        \
    "mulx   8(%3), %%rax, %%rcx\n\t"                   \
    "adcx   %%rax, %%" b "\n\t"                        \
    "adox   %%rcx, %%" c "\n\t"                        \
    "mulx   16(%3), %%rax, %%rcx\n\t"                  \
    "adcx   %%rax, %%" c "\n\t"                        \
    "adox   %%rcx, %%" d "\n\t"                        \
    "mulx   24(%3), %%rax, %%rcx\n\t"                  \
    "adcx   %%rax, %%" d "\n\t"                        \
    "adox   %%rcx, %%" e "\n\t"                        \
    "movl   $0, %%eax\n\t"                             \
    "adcx   %%rax, %%" e "\n\t"

/* h may alias f or g: every input is read before h is written. */
static inline void fe_mul(fe h, const fe f, const fe g) {
    __asm__("movq   (%2), %%rdx\n\t"
            "mulx   (%3), %%r8, %%r9\n\t"
            "mulx   8(%3), %%rax, %%r10\n\t"
            "addq   %%rax, %%r9\n\t"
            "mulx   16(%3), %%rax, %%r11\n\t"
            "adcq   %%rax, %%r10\n\t"
            "mulx   24(%3), %%rax, %%r12\n\t"
            "adcq   %%rax, %%r11\n\t"
            "adcq   $0, %%r12\n\t"
            FE64_ROW("8", "r9", "r10", "r11", "r12", "r13")
            FE64_ROW("16", "r10", "r11", "r12", "r13", "r14")
            FE64_ROW("24", "r11", "r12", "r13", "r14", "r15")
            FE64_REDUCE
            : FE64_OUT(h)
            : "r"(h), "r"(f), "r"(g), FE64_IN(f), FE64_IN(g)
            : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "cc");
}

/* Squaring: the 6 products f_i f_j (i < j) once, doubled, plus the 4 squares f_i^2. */
static inline void fe_sq(fe h, const fe f) {
    __asm__("movq   (%2), %%rdx\n\t"
            "mulx   8(%2), %%r9, %%r10\n\t"
            "mulx   16(%2), %%rax, %%r11\n\t"
            "addq   %%rax, %%r10\n\t"
            "mulx   24(%2), %%rax, %%r12\n\t"
            "adcq   %%rax, %%r11\n\t"
            "adcq   $0, %%r12\n\t"
            "movq   8(%2), %%rdx\n\t"
            "xorl   %%r13d, %%r13d\n\t"
            "mulx   16(%2), %%rax, %%rcx\n\t"
            "adcx   %%rax, %%r11\n\t"
            "adox   %%rcx, %%r12\n\t"
            "mulx   24(%2), %%rax, %%rcx\n\t"
            "adcx   %%rax, %%r12\n\t"
            "adox   %%rcx, %%r13\n\t"
            "movl   $0, %%eax\n\t"
            "adcx   %%rax, %%r13\n\t"
            "movq   16(%2), %%rdx\n\t"
            "mulx   24(%2), %%rax, %%r14\n\t"
            "addq   %%rax, %%r13\n\t"
            "adcq   $0, %%r14\n\t"
            /* t1..t6 = sum f_i f_j 2^(64 (i + j)), i < j; now 2 t + sum f_i^2 2^(128 i) */
            "xorl   %%r15d, %%r15d\n\t"
            "movq   (%2), %%rdx\n\t"
            "mulx   %%rdx, %%r8, %%rcx\n\t"
            "adcx   %%r9, %%r9\n\t"
            "adox   %%rcx, %%r9\n\t"
            "movq   8(%2), %%rdx\n\t"
            "mulx   %%rdx, %%rax, %%rcx\n\t"
            "adcx   %%r10, %%r10\n\t"
            "adox   %%rax, %%r10\n\t"
            "adcx   %%r11, %%r11\n\t"
            "adox   %%rcx, %%r11\n\t"
            "movq   16(%2), %%rdx\n\t"
            "mulx   %%rdx, %%rax, %%rcx\n\t"
            "adcx   %%r12, %%r12\n\t"
            "adox   %%rax, %%r12\n\t"
            "adcx   %%r13, %%r13\n\t"
            "adox   %%rcx, %%r13\n\t"
            "movq   24(%2), %%rdx\n\t"
            "mulx   %%rdx, %%rax, %%rcx\n\t"
            "adcx   %%r14, %%r14\n\t"
            "adox   %%rax, %%r14\n\t"
            "adcx   %%r15, %%r15\n\t"
            "adox   %%rcx, %%r15\n\t"
            FE64_REDUCE
            : FE64_OUT(h)
            : "r"(h), "r"(f), FE64_IN(f)
            : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "cc");
}

static void fe_frombytes(fe h, const uint8_t s[32]) {
    memcpy(h, s, 32);  /* little-endian x86-64 */
    h[3] &= 0x7fffffffffffffffULL;  /* bit 255 dropped */
}

/* Canonical little-endian bytes (fully reduced mod p), without branches. */
static void fe_tobytes(uint8_t s[32], const fe f) {
    uint64_t h0 = f[0], h1 = f[1], h2 = f[2], h3 = f[3], q;
    u128 c;
    /* v = (v mod 2^255) + 19 (v >> 255) < 2^255 + 19 */
    c = (u128)h0 + 19 * (h3 >> 63); h3 &= 0x7fffffffffffffffULL;
    h0 = (uint64_t)c; c = (c >> 64) + h1;
    h1 = (uint64_t)c; c = (c >> 64) + h2;
    h2 = (uint64_t)c; h3 += (uint64_t)(c >> 64);
    /* q = 1 iff v >= p iff v + 19 >= 2^255; then v + 19 q mod 2^255 = v - p q */
    c = (u128)h0 + 19; c = (c >> 64) + h1; c = (c >> 64) + h2; c = (c >> 64) + h3;
    q = (uint64_t)c >> 63;
    c = (u128)h0 + 19 * q;
    h0 = (uint64_t)c; c = (c >> 64) + h1;
    h1 = (uint64_t)c; c = (c >> 64) + h2;
    h2 = (uint64_t)c; h3 = (h3 + (uint64_t)(c >> 64)) & 0x7fffffffffffffffULL;
    memcpy(s, &h0, 8); memcpy(s + 8, &h1, 8); memcpy(s + 16, &h2, 8); memcpy(s + 24, &h3, 8);
}

#else
/* Radix 2^51 (portable C, the fallback everywhere): five limbs, value sum h_i 2^(51 i); the limb
 * bounds each function accepts and returns are stated with it. In the point formulas below, every
 * fe_mul/fe_sq operand is a carried value, a product, or a sum of at most three of them (limbs
 * below 3 * (2^51 + 2^13) < 2^53), and every fe_sub subtrahend a carried value, a product or a
 * sum of two products (limbs below 2^52 + 2^14). */
#define MASK51 ((uint64_t)0x7ffffffffffff)

static const fe fe_d = {0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff};
static const fe fe_d2 = {0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff};
static const fe fe_sqrtm1 = {0x61b274a0ea0b0, 0xd5a5fc8f189d, 0x7ef5e9cbd0c60, 0x78595a6804c9e, 0x2b8324804fc1d};


/* No carry: limbs grow by one bit (limb sums; callers keep them within fe_mul's and fe_sub's
 * input bounds, see above). */
static inline void fe_add(fe h, const fe f, const fe g) {
    h[0] = f[0] + g[0]; h[1] = f[1] + g[1]; h[2] = f[2] + g[2]; h[3] = f[3] + g[3]; h[4] = f[4] + g[4];
}

/* Limbs below 2^63 in; out h0, h2, h3, h4 < 2^51 and h1 <= 2^51. */
static inline void fe_carry(fe h) {
    uint64_t c;
    c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
    c = h[1] >> 51; h[1] &= MASK51; h[2] += c;
    c = h[2] >> 51; h[2] &= MASK51; h[3] += c;
    c = h[3] >> 51; h[3] &= MASK51; h[4] += c;
    c = h[4] >> 51; h[4] &= MASK51; h[0] += 19 * c;
    c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
}

/* f - g + 4p, carried: f's limbs below 2^62, g's at most 4p's (2^53 - 76 for g0, 2^53 - 4 for the
 * others), so no limb goes negative. Out as fe_carry. */
static inline void fe_sub(fe h, const fe f, const fe g) {
    h[0] = (f[0] + 0x1fffffffffffb4ULL) - g[0];
    h[1] = (f[1] + 0x1ffffffffffffcULL) - g[1];
    h[2] = (f[2] + 0x1ffffffffffffcULL) - g[2];
    h[3] = (f[3] + 0x1ffffffffffffcULL) - g[3];
    h[4] = (f[4] + 0x1ffffffffffffcULL) - g[4];
    fe_carry(h);
}

/* Limbs of f and g below 2^54 each: then r0 < (1 + 4 * 19) 2^108 < 2^115, so every r_i >> 51
 * fits 64 bits, and 19 (r4 >> 51) < 2^64. Out: h0, h2, h3, h4 < 2^51, h1 < 2^51 + 2^13. */
static inline void fe_mul(fe h, const fe f, const fe g) {
    u128 r0, r1, r2, r3, r4;
    uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
    uint64_t g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3], g4 = g[4];
    uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
    r0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 + (u128)f3 * g2_19 + (u128)f4 * g1_19;
    r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 + (u128)f3 * g3_19 + (u128)f4 * g2_19;
    r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4_19 + (u128)f4 * g3_19;
    r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4_19;
    r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
    uint64_t c;
    r1 += (uint64_t)(r0 >> 51); h[0] = (uint64_t)r0 & MASK51;
    r2 += (uint64_t)(r1 >> 51); h[1] = (uint64_t)r1 & MASK51;
    r3 += (uint64_t)(r2 >> 51); h[2] = (uint64_t)r2 & MASK51;
    r4 += (uint64_t)(r3 >> 51); h[3] = (uint64_t)r3 & MASK51;
    c = (uint64_t)(r4 >> 51); h[4] = (uint64_t)r4 & MASK51;
    h[0] += c * 19;
    h[1] += h[0] >> 51; h[0] &= MASK51;
}

/* As fe_mul: limbs below 2^54 in (r0 < (1 + 2 * 38) 2^108), the same bounds out. */
static inline void fe_sq(fe h, const fe f) {
    u128 r0, r1, r2, r3, r4;
    uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
    uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1, f1_38 = 38 * f1, f2_38 = 38 * f2, f3_38 = 38 * f3, f3_19 = 19 * f3, f4_19 = 19 * f4;
    r0 = (u128)f0 * f0 + (u128)f1_38 * f4 + (u128)f2_38 * f3;
    r1 = (u128)f0_2 * f1 + (u128)f2_38 * f4 + (u128)f3_19 * f3;
    r2 = (u128)f0_2 * f2 + (u128)f1 * f1 + (u128)f3_38 * f4;
    r3 = (u128)f0_2 * f3 + (u128)f1_2 * f2 + (u128)f4_19 * f4;
    r4 = (u128)f0_2 * f4 + (u128)f1_2 * f3 + (u128)f2 * f2;
    uint64_t c;
    r1 += (uint64_t)(r0 >> 51); h[0] = (uint64_t)r0 & MASK51;
    r2 += (uint64_t)(r1 >> 51); h[1] = (uint64_t)r1 & MASK51;
    r3 += (uint64_t)(r2 >> 51); h[2] = (uint64_t)r2 & MASK51;
    r4 += (uint64_t)(r3 >> 51); h[3] = (uint64_t)r3 & MASK51;
    c = (uint64_t)(r4 >> 51); h[4] = (uint64_t)r4 & MASK51;
    h[0] += c * 19;
    h[1] += h[0] >> 51; h[0] &= MASK51;
}

static void fe_frombytes(fe h, const uint8_t s[32]) {
    uint64_t w0, w1, w2, w3;
    memcpy(&w0, s, 8); memcpy(&w1, s + 8, 8); memcpy(&w2, s + 16, 8); memcpy(&w3, s + 24, 8);
    h[0] = w0 & MASK51;
    h[1] = ((w0 >> 51) | (w1 << 13)) & MASK51;
    h[2] = ((w1 >> 38) | (w2 << 26)) & MASK51;
    h[3] = ((w2 >> 25) | (w3 << 39)) & MASK51;
    h[4] = (w3 >> 12) & MASK51;  /* bit 255 dropped */
}

/* Canonical little-endian bytes (fully reduced mod p). */
static void fe_tobytes(uint8_t s[32], const fe f) {
    fe h;
    uint64_t q;
    fe_copy(h, f);
    fe_carry(h);
    q = (h[0] + 19) >> 51;
    q = (h[1] + q) >> 51;
    q = (h[2] + q) >> 51;
    q = (h[3] + q) >> 51;
    q = (h[4] + q) >> 51;  /* q = 1 iff h >= p */
    h[0] += 19 * q;
    h[1] += h[0] >> 51; h[0] &= MASK51;
    h[2] += h[1] >> 51; h[1] &= MASK51;
    h[3] += h[2] >> 51; h[2] &= MASK51;
    h[4] += h[3] >> 51; h[3] &= MASK51;
    h[4] &= MASK51;
    uint64_t w0 = h[0] | (h[1] << 51);
    uint64_t w1 = (h[1] >> 13) | (h[2] << 38);
    uint64_t w2 = (h[2] >> 26) | (h[3] << 25);
    uint64_t w3 = (h[3] >> 39) | (h[4] << 12);
    memcpy(s, &w0, 8); memcpy(s + 8, &w1, 8); memcpy(s + 16, &w2, 8); memcpy(s + 24, &w3, 8);
}
#endif  /* radix 2^51 */

static inline void fe_neg(fe h, const fe f) { fe z; fe_0(z); fe_sub(h, z, f); }

static inline void fe_sqn(fe h, const fe f, int n) {
    fe_sq(h, f);
    for (int i = 1; i < n; i++) fe_sq(h, h);
}

static int fe_iszero(const fe f) {
    uint8_t s[32], d = 0;
    fe_tobytes(s, f);
    for (int i = 0; i < 32; i++) d |= s[i];
    return d == 0;
}

static int fe_isneg(const fe f) {
    uint8_t s[32];
    fe_tobytes(s, f);
    return s[0] & 1;
}

/* ------------------------------------------------------------------ inversion
 *
 * z^-1 mod p (0 for z = 0), constant time, by Bernstein and Yang's safegcd in the signed radix-2^62 form of
 * libsecp256k1's modinv64: ten rounds of 59 branch-free divsteps on the low limbs of (f, g) (590 divsteps, enough for
 * any modulus and input below 2^256), each round's 2 x 2 transition matrix (scaled by 2^62) then applied to (f, g)
 * exactly and to the Bezout coefficients (d, e) mod p. Every round runs whatever z is: no branch or memory index
 * depends on it. About half the time of z^(p-2) by 254 squarings. */
typedef __int128 i128;
typedef struct { int64_t v[5]; } s62;  /* sum v[i] 2^(62 i), limbs signed */
#define M62 (UINT64_MAX >> 2)
static const s62 P62 = {{-19, 0, 0, 0, 128}};  /* 2^255 - 19, sparse: only limbs 0 and 4 are non-zero */
#define P_INV62 0x39435e50d79435e5ULL        /* p^-1 mod 2^62 */

/* 59 divsteps from zeta = -(delta + 1/2) on the low 64 bits of f (odd) and g; t = (u, v, q, r) with
 * 2^62 (f', g') = (u f + v g, q f + r g). */
static int64_t divsteps_59(int64_t zeta, uint64_t f, uint64_t g, int64_t t[4]) {
    uint64_t u = 8, v = 0, q = 0, r = 8, x, y, z, swap, odd;
    volatile uint64_t c1, c2;  /* keeps the masks masks, not branches */
    for (int i = 3; i < 62; i++) {
        c1 = (uint64_t)(zeta >> 63);
        swap = c1;
        c2 = g & 1;
        odd = -c2;
        x = (f ^ swap) - swap; y = (u ^ swap) - swap; z = (v ^ swap) - swap;  /* -(f, u, v) if delta > 0 */
        g += x & odd; q += y & odd; r += z & odd;
        swap &= odd;                                                       /* delta > 0 and g odd */
        zeta = (zeta ^ (int64_t)swap) - 1;
        f += g & swap; u += q & swap; v += r & swap;
        g >>= 1; u <<= 1; v <<= 1;
    }
    t[0] = (int64_t)u; t[1] = (int64_t)v; t[2] = (int64_t)q; t[3] = (int64_t)r;
    return zeta;
}

/* (f, g) <- t (f, g) / 2^62, exactly (the low 62 bits of the products are zero). */
static void inv_update_fg(s62 *f, s62 *g, const int64_t t[4]) {
    const int64_t u = t[0], v = t[1], q = t[2], r = t[3];
    i128 cf = (i128)u * f->v[0] + (i128)v * g->v[0], cg = (i128)q * f->v[0] + (i128)r * g->v[0];
    cf >>= 62; cg >>= 62;
    for (int i = 1; i < 5; i++) {
        cf += (i128)u * f->v[i] + (i128)v * g->v[i];
        cg += (i128)q * f->v[i] + (i128)r * g->v[i];
        f->v[i - 1] = (int64_t)((uint64_t)cf & M62); cf >>= 62;
        g->v[i - 1] = (int64_t)((uint64_t)cg & M62); cg >>= 62;
    }
    f->v[4] = (int64_t)cf; g->v[4] = (int64_t)cg;
}

/* (d, e) <- (t (d, e) + p (md, me)) / 2^62, with md, me chosen to make the division exact and keep d, e in (-2p, p). */
static void inv_update_de(s62 *d, s62 *e, const int64_t t[4]) {
    const int64_t u = t[0], v = t[1], q = t[2], r = t[3];
    const int64_t sd = d->v[4] >> 63, se = e->v[4] >> 63;
    int64_t md = (u & sd) + (v & se), me = (q & sd) + (r & se);
    i128 cd = (i128)u * d->v[0] + (i128)v * e->v[0], ce = (i128)q * d->v[0] + (i128)r * e->v[0];
    md -= (int64_t)((P_INV62 * (uint64_t)cd + (uint64_t)md) & M62);
    me -= (int64_t)((P_INV62 * (uint64_t)ce + (uint64_t)me) & M62);
    cd += (i128)P62.v[0] * md; ce += (i128)P62.v[0] * me;
    cd >>= 62; ce >>= 62;
    for (int i = 1; i < 5; i++) {
        cd += (i128)u * d->v[i] + (i128)v * e->v[i];
        ce += (i128)q * d->v[i] + (i128)r * e->v[i];
        if (i == 4) { cd += (i128)P62.v[4] * md; ce += (i128)P62.v[4] * me; }
        d->v[i - 1] = (int64_t)((uint64_t)cd & M62); cd >>= 62;
        e->v[i - 1] = (int64_t)((uint64_t)ce & M62); ce >>= 62;
    }
    d->v[4] = (int64_t)cd; e->v[4] = (int64_t)ce;
}

/* r in (-2p, p), negated if sign < 0, into [0, p) with limbs in [0, 2^62). */
static void inv_normalize(s62 *r, int64_t sign) {
    int64_t *x = r->v, add, neg = sign >> 63;
    add = x[4] >> 63;
    for (int i = 0; i < 5; i++) x[i] += P62.v[i] & add;
    for (int i = 0; i < 5; i++) x[i] = (x[i] ^ neg) - neg;
    for (int i = 0; i < 4; i++) { x[i + 1] += x[i] >> 62; x[i] &= (int64_t)M62; }
    add = x[4] >> 63;
    for (int i = 0; i < 5; i++) x[i] += P62.v[i] & add;
    for (int i = 0; i < 4; i++) { x[i + 1] += x[i] >> 62; x[i] &= (int64_t)M62; }
}

static void fe_invert(fe out, const fe z) {
    uint8_t s[32];
    uint64_t w[5];
    fe_tobytes(s, z);
    limbs64(w, s);
    s62 d = {{0, 0, 0, 0, 0}}, e = {{1, 0, 0, 0, 0}}, f = P62,
        g = {{(int64_t)(w[0] & M62), (int64_t)((w[0] >> 62 | w[1] << 2) & M62), (int64_t)((w[1] >> 60 | w[2] << 4) & M62),
              (int64_t)((w[2] >> 58 | w[3] << 6) & M62), (int64_t)(w[3] >> 56)}};
    int64_t zeta = -1, t[4];
    for (int i = 0; i < 10; i++) {
        zeta = divsteps_59(zeta, (uint64_t)f.v[0], (uint64_t)g.v[0], t);
        inv_update_de(&d, &e, t);
        inv_update_fg(&f, &g, t);
    }
    inv_normalize(&d, f.v[4]);  /* f = +-1 (g = 0 and gcd(p, z) = 1), d = +-z^-1 */
    const uint64_t *x = (const uint64_t *)d.v;
    w[0] = x[0] | x[1] << 62; w[1] = x[1] >> 2 | x[2] << 60; w[2] = x[2] >> 4 | x[3] << 58; w[3] = x[3] >> 6 | x[4] << 56;
    bytes64(s, w);
    fe_frombytes(out, s);
    wipe(&d, sizeof d); wipe(&e, sizeof e); wipe(&f, sizeof f); wipe(&g, sizeof g); wipe(w, sizeof w); wipe(s, sizeof s);
    wipe(t, sizeof t);
}

/* z^((p-5)/8) = z^(2^252 - 3) by ref10's chain of 250 squarings and 11 products, for any product MUL(h, f, g)
 * and n-fold squaring SQN(h, f, n) (the scalar field here, IFMA lanes in lanes_pow22523). */
#define POW22523(MUL, SQN, out, z, t0, t1, t2)                                                                \
    do {                                                                                                      \
        SQN(t0, z, 1); SQN(t1, t0, 2); MUL(t1, z, t1); MUL(t0, t0, t1); SQN(t0, t0, 1); MUL(t0, t1, t0);        \
        SQN(t1, t0, 5); MUL(t0, t1, t0); SQN(t1, t0, 10); MUL(t1, t1, t0); SQN(t2, t1, 20); MUL(t1, t2, t1);    \
        SQN(t1, t1, 10); MUL(t0, t1, t0); SQN(t1, t0, 50); MUL(t1, t1, t0); SQN(t2, t1, 100); MUL(t1, t2, t1); \
        SQN(t1, t1, 50); MUL(t0, t1, t0); SQN(t0, t0, 2); MUL(out, t0, z);                                     \
    } while (0)

static void fe_pow22523(fe out, const fe z) {
    fe t0, t1, t2;
    POW22523(fe_mul, fe_sqn, out, z, t0, t1, t2);
}

/* ------------------------------------------------------------------ points */

typedef struct { fe X, Y, Z; } ge_p2;
typedef struct { fe X, Y, Z, T; } ge_p3;
typedef struct { fe X, Y, Z, T; } ge_p1p1;              /* ((X:Z), (Y:T)) */
typedef struct { fe YplusX, YminusX, Z, T2d; } ge_cached;
typedef struct { fe yplusx, yminusx, xy2d; } ge_precomp;  /* affine, Z = 1 */

static void ge_p3_0(ge_p3 *h) { fe_0(h->X); fe_1(h->Y); fe_1(h->Z); fe_0(h->T); }

static inline void ge_p1p1_to_p2(ge_p2 *r, const ge_p1p1 *p) {
    fe_mul(r->X, p->X, p->T); fe_mul(r->Y, p->Y, p->Z); fe_mul(r->Z, p->Z, p->T);
}

static inline void ge_p1p1_to_p3(ge_p3 *r, const ge_p1p1 *p) {
    fe_mul(r->X, p->X, p->T); fe_mul(r->Y, p->Y, p->Z); fe_mul(r->Z, p->Z, p->T); fe_mul(r->T, p->X, p->Y);
}

static inline void ge_p3_to_p2(ge_p2 *r, const ge_p3 *p) {
    fe_copy(r->X, p->X); fe_copy(r->Y, p->Y); fe_copy(r->Z, p->Z);
}

static inline void ge_p3_to_cached(ge_cached *r, const ge_p3 *p) {
    fe_add(r->YplusX, p->Y, p->X); fe_sub(r->YminusX, p->Y, p->X); fe_copy(r->Z, p->Z); fe_mul(r->T2d, p->T, fe_d2);
    fe_carry(r->YplusX);
}

static inline void ge_p2_dbl(ge_p1p1 *r, const ge_p2 *p) {
    fe t0;
    fe_sq(r->X, p->X);
    fe_sq(r->Z, p->Y);
    fe_sq(r->T, p->Z);
    fe_add(r->T, r->T, r->T);
    fe_add(r->Y, p->X, p->Y);
    fe_sq(t0, r->Y);
    fe_add(r->Y, r->Z, r->X);
    fe_sub(r->Z, r->Z, r->X);
    fe_sub(r->X, t0, r->Y);
    fe_sub(r->T, r->T, r->Z);
}

static inline void ge_p3_dbl(ge_p1p1 *r, const ge_p3 *p) {
    ge_p2 q;
    ge_p3_to_p2(&q, p);
    ge_p2_dbl(r, &q);
}

static inline void ge_add(ge_p1p1 *r, const ge_p3 *p, const ge_cached *q) {
    fe t0;
    fe_add(r->X, p->Y, p->X);
    fe_sub(r->Y, p->Y, p->X);
    fe_mul(r->Z, r->X, q->YplusX);
    fe_mul(r->Y, r->Y, q->YminusX);
    fe_mul(r->T, q->T2d, p->T);
    fe_mul(r->X, p->Z, q->Z);
    fe_add(t0, r->X, r->X);
    fe_sub(r->X, r->Z, r->Y);
    fe_add(r->Y, r->Z, r->Y);
    fe_add(r->Z, t0, r->T);
    fe_sub(r->T, t0, r->T);
}

static inline void ge_sub(ge_p1p1 *r, const ge_p3 *p, const ge_cached *q) {
    fe t0;
    fe_add(r->X, p->Y, p->X);
    fe_sub(r->Y, p->Y, p->X);
    fe_mul(r->Z, r->X, q->YminusX);
    fe_mul(r->Y, r->Y, q->YplusX);
    fe_mul(r->T, q->T2d, p->T);
    fe_mul(r->X, p->Z, q->Z);
    fe_add(t0, r->X, r->X);
    fe_sub(r->X, r->Z, r->Y);
    fe_add(r->Y, r->Z, r->Y);
    fe_sub(r->Z, t0, r->T);
    fe_add(r->T, t0, r->T);
}

static inline void ge_madd(ge_p1p1 *r, const ge_p3 *p, const ge_precomp *q) {
    fe t0;
    fe_add(r->X, p->Y, p->X);
    fe_sub(r->Y, p->Y, p->X);
    fe_mul(r->Z, r->X, q->yplusx);
    fe_mul(r->Y, r->Y, q->yminusx);
    fe_mul(r->T, q->xy2d, p->T);
    fe_add(t0, p->Z, p->Z);
    fe_sub(r->X, r->Z, r->Y);
    fe_add(r->Y, r->Z, r->Y);
    fe_add(r->Z, t0, r->T);
    fe_sub(r->T, t0, r->T);
}

static inline void ge_add_p3(ge_p3 *r, const ge_p3 *p, const ge_cached *q) {
    ge_p1p1 t; ge_add(&t, p, q); ge_p1p1_to_p3(r, &t);
}

static inline void ge_sub_p3(ge_p3 *r, const ge_p3 *p, const ge_cached *q) {
    ge_p1p1 t; ge_sub(&t, p, q); ge_p1p1_to_p3(r, &t);
}

static void ge_p3_tobytes(uint8_t s[32], const ge_p3 *h) {
    fe recip, x, y;
    fe_invert(recip, h->Z);
    fe_mul(x, h->X, recip);
    fe_mul(y, h->Y, recip);
    fe_tobytes(s, y);
    s[31] ^= (uint8_t)(fe_isneg(x) << 7);
}

/* Whether p is the neutral element: X = 0 and Y = Z. */
static int ge_p3_is_identity(const ge_p3 *p) {
    fe t;
    fe_sub(t, p->Y, p->Z);
    return fe_iszero(p->X) & fe_iszero(t);
}

enum { DEC_OK = 0, DEC_NONCANONICAL = 1, DEC_NOT_ON_CURVE = 2, DEC_BAD_SIGN = 3 };

/* Canonical decoding: y < p, on the curve, and no sign bit on x = 0. Variable time (public input). */
/* Decoding in two halves around its one exponentiation, so that several decodings can share that
 * step (decode_many: in AVX2 lanes; with IFMA, lanes_decode takes everything between dec_shape and
 * dec_settle). dec_start: the canonical check, y, and w = u v^7 whose power (p-5)/8 dec_finish takes. */
typedef struct { fe u, v, v3, w; int sign; } dec_state;

/* The checks that need no arithmetic: y < p (else DEC_NONCANONICAL); y into h (Z = 1) and x's sign bit into sign. */
static int dec_shape(ge_p3 *h, int *sign, const uint8_t s[32]) {
    *sign = s[31] >> 7;
    /* y >= p  <=>  bytes 1..30 all 0xff, byte 31 (sign cleared) 0x7f, byte 0 >= 0xed */
    int high = (s[31] & 0x7f) == 0x7f;
    for (int i = 30; i > 0 && high; i--) high = s[i] == 0xff;
    if (high && s[0] >= 0xed) return DEC_NONCANONICAL;
    fe_frombytes(h->Y, s);
    fe_1(h->Z);
    return DEC_OK;
}

/* After dec_shape: u, v, v^3 and w = u v^7 for y = h->Y. */
static void dec_prepare(const ge_p3 *h, dec_state *st) {
    fe_sq(st->u, h->Y);
    fe_mul(st->v, st->u, fe_d);
    fe_sub(st->u, st->u, h->Z);       /* u = y^2 - 1 */
    fe_add(st->v, st->v, h->Z);       /* v = d y^2 + 1 */
    fe_carry(st->v);
    fe_sq(st->v3, st->v);
    fe_mul(st->v3, st->v3, st->v);    /* v^3 */
    fe_sq(st->w, st->v3);
    fe_mul(st->w, st->w, st->v);
    fe_mul(st->w, st->w, st->u);      /* u v^7 */
}

static int dec_start(ge_p3 *h, dec_state *st, const uint8_t s[32]) {
    int rc = dec_shape(h, &st->sign, s);
    if (rc == DEC_OK) dec_prepare(h, st);
    return rc;
}

/* h->X = x = u v^3 (u v^7)^((p-5)/8) and vxx = v x^2 given: the curve equation v x^2 = +-u (x times sqrt(-1) for
 * -u), the sign, T. */
static int dec_settle(ge_p3 *h, const fe vxx, const fe u, int sign) {
    fe check;
    fe_sub(check, vxx, u);
    if (!fe_iszero(check)) {
        fe_add(check, vxx, u);
        fe_carry(check);
        if (!fe_iszero(check)) return DEC_NOT_ON_CURVE;
        fe_mul(h->X, h->X, fe_sqrtm1);
    }
    uint8_t xs[32], any = 0;
    fe_tobytes(xs, h->X);
    for (int i = 0; i < 32; i++) any |= xs[i];
    if (!any && sign) return DEC_BAD_SIGN;
    if ((xs[0] & 1) != sign) fe_neg(h->X, h->X);
    fe_mul(h->T, h->X, h->Y);
    return DEC_OK;
}

/* pw = w^((p-5)/8): x = u v^3 pw, v x^2, then dec_settle. */
static int dec_finish(ge_p3 *h, const dec_state *st, const fe pw) {
    fe vxx;
    fe_mul(h->X, pw, st->v3);
    fe_mul(h->X, h->X, st->u);        /* u v^3 (u v^7)^((p-5)/8) */
    fe_sq(vxx, h->X);
    fe_mul(vxx, vxx, st->v);
    return dec_settle(h, vxx, st->u, st->sign);
}

static int ge_frombytes(ge_p3 *h, const uint8_t s[32]) {
    dec_state st;
    fe pw;
    int rc = dec_start(h, &st, s);
    if (rc != DEC_OK) return rc;
    fe_pow22523(pw, st.w);
    return dec_finish(h, &st, pw);
}

/* ------------------------------------------------------------------ decode cache */

#define CACHE_BITS 15
typedef struct { uint8_t enc[32]; uint8_t used; ge_p3 p; } cache_entry;
static cache_entry *cache;
static uint64_t cache_mult = 0x9e3779b97f4a7c15ULL;

static inline size_t cache_index(const uint8_t s[32]) {
    uint64_t w0, w1;
    memcpy(&w0, s, 8); memcpy(&w1, s + 8, 8);
    return (size_t)(((w0 ^ (w1 * 0xff51afd7ed558ccdULL)) * cache_mult) >> (64 - CACHE_BITS));
}

/* Two-way sets: an encoding maps to the pair of entries at its even index, the first the more recently stored.
 * Direct mapping lost about a sixth of a 6,000-point batch to collisions on every pass. */
static inline cache_entry *cache_get(const uint8_t s[32]) {
    cache_entry *e = &cache[cache_index(s) & ~(size_t)1];
    if (e[0].used && memcmp(e[0].enc, s, 32) == 0) return &e[0];
    if (e[1].used && memcmp(e[1].enc, s, 32) == 0) return &e[1];
    return NULL;
}

static void cache_put(const uint8_t s[32], const ge_p3 *p) {
    cache_entry *e = &cache[cache_index(s) & ~(size_t)1];
    if (!(e[0].used && memcmp(e[0].enc, s, 32) == 0)) e[1] = e[0];  /* the older of the two leaves */
    memcpy(e[0].enc, s, 32);
    e[0].p = *p;
    e[0].used = 1;
}

static int decode(ge_p3 *p, const uint8_t s[32]) {
    const cache_entry *e = cache_get(s);
    if (e) {
        *p = e->p;
        return DEC_OK;
    }
    int rc = ge_frombytes(p, s);
    if (rc == DEC_OK) cache_put(s, p);
    return rc;
}

/* ------------------------------------------------------------------ constant-time helpers */

static inline uint64_t ct_equal(int8_t b, int8_t c) {
    uint8_t x = (uint8_t)b ^ (uint8_t)c;
    uint32_t y = x;
    y -= 1;
    return (uint64_t)(y >> 31);
}

static inline uint64_t ct_negative(int8_t b) {
    uint64_t x = (uint64_t)(int64_t)b;
    return x >> 63;
}

/* acc[0..w) = OR over the 8 entries j (w words each, consecutive from base) of entry j & m[j]:
 * every entry is read whatever the masks. Two words at a time in GCC/Clang vector types (SSE2
 * on x86-64, NEON on arm64; plain C elsewhere), each accumulator held in a register. */
typedef uint64_t u64x2 __attribute__((vector_size(16)));
static inline __attribute__((always_inline)) void ct_scan8(uint64_t *acc, const uint64_t *base, int w,
                                                           const uint64_t m[8]) {
    int k = 0;
    for (; k + 2 <= w; k += 2) {
        u64x2 a = {0, 0}, v;
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            memcpy(&v, base + j * w + k, sizeof v);
            a |= v & (u64x2){m[j], m[j]};
        }
        memcpy(acc + k, &a, sizeof a);
    }
    if (k < w) {
        uint64_t a = 0;
        for (int j = 0; j < 8; j++) a |= base[j * w + k] & m[j];
        acc[k] = a;
    }
}

/* Scan every entry; the one whose index equals |b| is OR-ed in under an all-ones mask (the
 * identity when b = 0), then conditionally negated. */
_Static_assert(sizeof(ge_precomp) == 3 * sizeof(fe) && sizeof(ge_cached) == 4 * sizeof(fe), "no padding");
static void select_precomp(ge_precomp *t, const ge_precomp row[8], int8_t b) {
    uint64_t bneg = ct_negative(b);
    int8_t babs = (int8_t)(b - (int8_t)((((int8_t)-(int8_t)bneg) & b) * 2));
    uint64_t acc[3 * FE_LIMBS], m[8];
    for (int j = 0; j < 8; j++) m[j] = (uint64_t)0 - ct_equal(babs, (int8_t)(j + 1));
    ct_scan8(acc, (const uint64_t *)row, 3 * FE_LIMBS, m);
    uint64_t zero = ct_equal(babs, 0);
    acc[0] |= zero; acc[FE_LIMBS] |= zero;  /* identity: y+x = y-x = 1, 2dxy = 0 */
    /* b < 0: swap y+x and y-x, negate 2dxy (masks, straight from the accumulator) */
    uint64_t nm = (uint64_t)0 - bneg, sw;
    fe nxy;
    fe_neg(nxy, acc + 2 * FE_LIMBS);
    for (int k = 0; k < FE_LIMBS; k++) {
        sw = (acc[k] ^ acc[FE_LIMBS + k]) & nm;
        t->yplusx[k] = acc[k] ^ sw;
        t->yminusx[k] = acc[FE_LIMBS + k] ^ sw;
        t->xy2d[k] = acc[2 * FE_LIMBS + k] ^ ((acc[2 * FE_LIMBS + k] ^ nxy[k]) & nm);
    }
}

static void select_cached(ge_cached *t, const ge_cached row[8], int8_t b) {
    uint64_t bneg = ct_negative(b);
    int8_t babs = (int8_t)(b - (int8_t)((((int8_t)-(int8_t)bneg) & b) * 2));
    uint64_t acc[4 * FE_LIMBS], m[8];
    for (int j = 0; j < 8; j++) m[j] = (uint64_t)0 - ct_equal(babs, (int8_t)(j + 1));
    ct_scan8(acc, (const uint64_t *)row, 4 * FE_LIMBS, m);
    uint64_t zero = ct_equal(babs, 0);
    acc[0] |= zero; acc[FE_LIMBS] |= zero; acc[2 * FE_LIMBS] |= zero;  /* identity: (1, 1, 1, 0) */
    /* b < 0: swap Y+X and Y-X, negate 2dT */
    uint64_t nm = (uint64_t)0 - bneg, sw;
    fe nt;
    fe_neg(nt, acc + 3 * FE_LIMBS);
    for (int k = 0; k < FE_LIMBS; k++) {
        sw = (acc[k] ^ acc[FE_LIMBS + k]) & nm;
        t->YplusX[k] = acc[k] ^ sw;
        t->YminusX[k] = acc[FE_LIMBS + k] ^ sw;
        t->Z[k] = acc[2 * FE_LIMBS + k];
        t->T2d[k] = acc[3 * FE_LIMBS + k] ^ ((acc[3 * FE_LIMBS + k] ^ nt[k]) & nm);
    }
}

/* 64 signed radix-16 digits in [-8, 8] of a scalar a < 2^255, without branches. */
static void recode16(int8_t e[64], const uint8_t a[32]) {
    int8_t carry = 0;
    for (int i = 0; i < 32; i++) { e[2 * i] = a[i] & 15; e[2 * i + 1] = (a[i] >> 4) & 15; }
    for (int i = 0; i < 63; i++) {
        e[i] += carry;
        carry = (int8_t)((e[i] + 8) >> 4);
        e[i] -= (int8_t)(carry * 16);
    }
    e[63] += carry;
}

#ifdef ED_FE64
static int use_ifma;  /* AVX-512 IFMA: set once at import */
static void ct_scalarmult4(ge_p3 *h, const ge_p3 *p, const int8_t e[64]);
#endif

/* [a]P, constant time in a (a < 2^255); on 4-way points where the CPU has IFMA (the same digits and schedule). */
static void ct_scalarmult(ge_p3 *h, const ge_p3 *p, const uint8_t a[32]) {
#ifdef ED_FE64
    if (use_ifma) {
        int8_t e[64];
        recode16(e, a);
        ct_scalarmult4(h, p, e);
        wipe(e, sizeof e);
        return;
    }
#endif
    ge_cached pi[8], t;
    ge_p3 tmp;
    ge_p1p1 r;
    ge_p2 s;
    int8_t e[64];
    ge_p3_to_cached(&pi[0], p);
    tmp = *p;
    for (int j = 1; j < 8; j++) {  /* pi[j] = (j+1) P */
        ge_add_p3(&tmp, &tmp, &pi[0]);
        ge_p3_to_cached(&pi[j], &tmp);
    }
    recode16(e, a);
    ge_p3_0(h);
    for (int i = 63; i > 0; i--) {
        select_cached(&t, pi, e[i]);
        ge_add(&r, h, &t);
        ge_p1p1_to_p2(&s, &r);
        ge_p2_dbl(&r, &s); ge_p1p1_to_p2(&s, &r);
        ge_p2_dbl(&r, &s); ge_p1p1_to_p2(&s, &r);
        ge_p2_dbl(&r, &s); ge_p1p1_to_p2(&s, &r);
        ge_p2_dbl(&r, &s); ge_p1p1_to_p3(h, &r);
    }
    select_cached(&t, pi, e[0]);
    ge_add_p3(h, h, &t);
    wipe(e, sizeof e); wipe(&t, sizeof t); wipe(&r, sizeof r); wipe(&s, sizeof s);
}

/* Fixed-base comb: row i holds (j+1) * 256^i * P for j = 0..7, affine; odd[i] holds
 * (j+1) * 16 * 256^i * P for i = 0, 1, so that an exponent below 2^16 (a vote, a count) takes
 * five selections and additions and no doubling (comb_sum, "small" terms). */
typedef struct {
    ge_precomp row[32][8];
    ge_precomp odd[2][8];
#ifdef ED_FE64
    uint64_t lanes[4][8][15][8];  /* the IFMA comb's copy of row (see comb_lanes), when in use */
#endif
} fb_table;
#ifdef ED_FE64
static int use_avx2;  /* without IFMA: the square roots of decode_many in AVX2 lanes (set once at import) */
#define AVX2_POW_MIN 5 /* misses that make the AVX2 lanes worth their cost (measured) */
static void table_lanes(fb_table *tb);
#endif
#define TABLE_POINTS (32 * 8 + 2 * 8)

static ge_precomp *table_entry(fb_table *tb, int k) {
    return k < 256 ? &tb->row[k / 8][k % 8] : &tb->odd[(k - 256) / 8][(k - 256) % 8];
}

static void multiples8(ge_p3 out[8], const ge_p3 *p) {
    ge_cached pc;
    ge_p3_to_cached(&pc, p);
    out[0] = *p;
    for (int j = 1; j < 8; j++) ge_add_p3(&out[j], &out[j - 1], &pc);
}

/* base <- 16 * base */
static void dbl4(ge_p3 *base) {
    ge_p1p1 r;
    ge_p2 s;
    ge_p3_to_p2(&s, base);
    for (int k = 0; k < 3; k++) { ge_p2_dbl(&r, &s); ge_p1p1_to_p2(&s, &r); }
    ge_p2_dbl(&r, &s); ge_p1p1_to_p3(base, &r);
}

static void table_build(fb_table *tb, const ge_p3 *p) {
    ge_p3 pts[TABLE_POINTS], base = *p;
    fe prod[TABLE_POINTS], inv, t;
    for (int i = 0; i < 32; i++) {
        multiples8(&pts[8 * i], &base);
        dbl4(&base);
        if (i < 2) multiples8(&pts[256 + 8 * i], &base);
        dbl4(&base);
    }
    /* batch inversion of the Z coordinates */
    fe_copy(prod[0], pts[0].Z);
    for (int k = 1; k < TABLE_POINTS; k++) fe_mul(prod[k], prod[k - 1], pts[k].Z);
    fe_invert(inv, prod[TABLE_POINTS - 1]);
    for (int k = TABLE_POINTS - 1; k >= 0; k--) {
        fe zi, x, y;
        if (k > 0) { fe_mul(zi, inv, prod[k - 1]); fe_mul(inv, inv, pts[k].Z); }
        else fe_copy(zi, inv);
        fe_mul(x, pts[k].X, zi);
        fe_mul(y, pts[k].Y, zi);
        ge_precomp *q = table_entry(tb, k);
        fe_add(q->yplusx, y, x); fe_carry(q->yplusx);
        fe_sub(q->yminusx, y, x);
        fe_mul(t, x, y);
        fe_mul(q->xy2d, t, fe_d2);
    }
#ifdef ED_FE64
    if (use_ifma) table_lanes(tb);
#endif
}

/* One term of a fixed-base product: a table and the signed radix-16 digits of its exponent.
 * small: the exponent is below 2^16 (a public bound), so only digits 0..4 can be non-zero. */
typedef struct { const fb_table *tb; int8_t e[64]; int small; } comb_term;

static inline void madd_p3(ge_p3 *h, const ge_precomp *t) {
    ge_p1p1 r;
    ge_madd(&r, h, t); ge_p1p1_to_p3(h, &r);
}

#ifdef ED_FE64
/* ------------------------------------------------------------------ AVX-512 IFMA comb (adx build)
 *
 * With AVX-512 IFMA (CPUID-checked at import; QUORUM_ED25519_ARITH=adx turns it off), the full
 * terms of comb_sum run in 8 lanes: lane l owns table rows 4l..4l+3 and accumulates, for
 * s = 0..3, the entries its odd digits e[2(4l+s)+1] select, four doublings, then those of its even
 * digits e[2(4l+s)]; the 8 lane sums are added at the end by a tree of three lane additions
 * (complete formulas). Lane field elements are radix 2^51, 5 limbs of 8 x 64-bit lanes;
 * vpmadd52lo/hi multiply the low 52 bits of each limb, so EVERY v_mul input has limbs below 2^52
 * (v_carry's outputs, at most 2^51, are the only mul inputs below). Each table keeps a lane-major copy of its rows (fb_table.lanes, radix
 * 2^51, fully reduced), so that a selection is 8 x 15 vector loads blended under masks: no branch
 * and no address depends on a digit. */
#include <immintrin.h>
#define VT __attribute__((target("avx512f,avx512ifma"))) static inline
typedef struct { __m512i v[5]; } v5;

/* Limbs below 2^63 in; out limbs at most 2^51 (h1 <= 2^51, the others < 2^51). */
VT void v_carry(v5 *h) {
    const __m512i m = _mm512_set1_epi64(0x7ffffffffffffLL);
    __m512i a0 = h->v[0], a1 = h->v[1], a2 = h->v[2], a3 = h->v[3], a4 = h->v[4], c;
    c = _mm512_srli_epi64(a0, 51); a0 = _mm512_and_si512(a0, m); a1 = _mm512_add_epi64(a1, c);
    c = _mm512_srli_epi64(a1, 51); a1 = _mm512_and_si512(a1, m); a2 = _mm512_add_epi64(a2, c);
    c = _mm512_srli_epi64(a2, 51); a2 = _mm512_and_si512(a2, m); a3 = _mm512_add_epi64(a3, c);
    c = _mm512_srli_epi64(a3, 51); a3 = _mm512_and_si512(a3, m); a4 = _mm512_add_epi64(a4, c);
    c = _mm512_srli_epi64(a4, 51); a4 = _mm512_and_si512(a4, m);
    c = _mm512_add_epi64(c, _mm512_add_epi64(_mm512_slli_epi64(c, 1), _mm512_slli_epi64(c, 4)));  /* 19 c < 2^17 */
    a0 = _mm512_add_epi64(a0, c);
    c = _mm512_srli_epi64(a0, 51); a0 = _mm512_and_si512(a0, m); a1 = _mm512_add_epi64(a1, c);
    h->v[0] = a0; h->v[1] = a1; h->v[2] = a2; h->v[3] = a3; h->v[4] = a4;
}

/* The columns z (low halves) and w (high halves, 2^52 apart) of a product into h: z + 2w, then the columns 5..9
 * folded onto 0..4 by 2^255 = 19 (19t as t + 2t + 16t). */
#define LANE_FOLD(V, P)                                                                                       \
    do {                                                                                                      \
        for (int k = 1; k < 10; k++) z[k] = P##_add_epi64(z[k], P##_slli_epi64(w[k], 1));                     \
        for (int k = 0; k < 5; k++) {                                                                         \
            V t = z[k + 5];                                                                                   \
            h->v[k] = P##_add_epi64(z[k], P##_add_epi64(t, P##_add_epi64(P##_slli_epi64(t, 1), P##_slli_epi64(t, 4)))); \
        }                                                                                                     \
    } while (0)

/* The lane-wise product's columns, reduced to 5 limbs (before carrying), for a vector type V whose intrinsics
 * start with P (_mm512 or _mm256). Limbs below 2^52 in (the multiplier's width). The product a b of two limbs
 * is lo + hi 2^52 = lo + 2 hi 2^51: lo sums go to limb i+j, doubled hi sums to i+j+1; each of the 10
 * columns is below 5 2^52 + 2 5 2^52 < 2^56, folding 2^255 = 19 keeps them below 2^61. */
#define LANE_PRODUCT(V, P, ZERO)                                                                              \
    do {                                                                                                      \
        V z[10], w[10];                                                                                       \
        for (int k = 0; k < 10; k++) z[k] = w[k] = ZERO;                                                      \
        for (int i = 0; i < 5; i++)                                                                           \
            for (int j = 0; j < 5; j++) {                                                                     \
                z[i + j] = P##_madd52lo_epu64(z[i + j], f->v[i], g->v[j]);                                    \
                w[i + j + 1] = P##_madd52hi_epu64(w[i + j + 1], f->v[i], g->v[j]);                            \
            }                                                                                                 \
        LANE_FOLD(V, P);                                                                                      \
    } while (0)

/* LANE_PRODUCT with g = f: the products f_i f_j (i < j) once, their column sums doubled, plus the 5 squares (15
 * multiplications for 25; the same columns, so the same bounds). */
#define LANE_SQUARE(V, P, ZERO)                                                                               \
    do {                                                                                                      \
        V z[10], w[10], zc[10], wc[10];                                                                       \
        for (int k = 0; k < 10; k++) z[k] = w[k] = zc[k] = wc[k] = ZERO;                                      \
        for (int i = 0; i < 5; i++) {                                                                         \
            z[2 * i] = P##_madd52lo_epu64(z[2 * i], f->v[i], f->v[i]);                                        \
            w[2 * i + 1] = P##_madd52hi_epu64(w[2 * i + 1], f->v[i], f->v[i]);                                \
            for (int j = i + 1; j < 5; j++) {                                                                 \
                zc[i + j] = P##_madd52lo_epu64(zc[i + j], f->v[i], f->v[j]);                                  \
                wc[i + j + 1] = P##_madd52hi_epu64(wc[i + j + 1], f->v[i], f->v[j]);                          \
            }                                                                                                 \
        }                                                                                                     \
        for (int k = 0; k < 10; k++) {                                                                        \
            z[k] = P##_add_epi64(z[k], P##_slli_epi64(zc[k], 1));                                             \
            w[k] = P##_add_epi64(w[k], P##_slli_epi64(wc[k], 1));                                             \
        }                                                                                                     \
        LANE_FOLD(V, P);                                                                                      \
    } while (0)

/* f * g in 8 lanes: limbs below 2^52 in; out as v_carry. */
VT void v_mul(v5 *h, const v5 *f, const v5 *g) {
    LANE_PRODUCT(__m512i, _mm512, _mm512_setzero_si512());
    v_carry(h);
}

/* f^2 in 8 lanes, as v_mul(h, f, f). */
VT void v_sq(v5 *h, const v5 *f) {
    LANE_SQUARE(__m512i, _mm512, _mm512_setzero_si512());
    v_carry(h);
}

VT void v_add(v5 *h, const v5 *f, const v5 *g) {  /* no carry */
    for (int k = 0; k < 5; k++) h->v[k] = _mm512_add_epi64(f->v[k], g->v[k]);
}

/* f + 4p - g, carried: f's limbs below 2^62, g's at most 2^53 - 76; out as v_carry. */
VT void v_sub(v5 *h, const v5 *f, const v5 *g) {
    const __m512i p4_0 = _mm512_set1_epi64(0x1fffffffffffb4LL), p4 = _mm512_set1_epi64(0x1ffffffffffffcLL);
    h->v[0] = _mm512_sub_epi64(_mm512_add_epi64(f->v[0], p4_0), g->v[0]);
    for (int k = 1; k < 5; k++) h->v[k] = _mm512_sub_epi64(_mm512_add_epi64(f->v[k], p4), g->v[k]);
    v_carry(h);
}

typedef struct { v5 X, Y, Z, T; } vp3;
typedef struct { v5 ypx, ymx, xy2d; } vprecomp;

/* Every lane's entry for signed digit d[l] in [-8, 8] from lanes[8][15][8] (entry j, limb, lane). */
VT void v_select(vprecomp *q, const uint64_t lanes[8][15][8], __m512i d) {
    __m512i acc[15], babs = _mm512_abs_epi64(d), one = _mm512_set1_epi64(1);
    __mmask8 neg = _mm512_cmplt_epi64_mask(d, _mm512_setzero_si512());
    for (int k = 0; k < 15; k++) acc[k] = _mm512_setzero_si512();
    for (int j = 0; j < 8; j++) {
        __mmask8 m = _mm512_cmpeq_epi64_mask(babs, _mm512_set1_epi64(j + 1));
        for (int k = 0; k < 15; k++) acc[k] = _mm512_mask_mov_epi64(acc[k], m, _mm512_loadu_si512(lanes[j][k]));
    }
    __mmask8 zero = _mm512_cmpeq_epi64_mask(babs, _mm512_setzero_si512());
    acc[0] = _mm512_mask_mov_epi64(acc[0], zero, one);  /* identity: y+x = y-x = 1, 2dxy = 0 */
    acc[5] = _mm512_mask_mov_epi64(acc[5], zero, one);
    /* negative digits: swap y+x and y-x, 2dxy -> 2p - 2dxy (limbs < 2^51 in, below 2^52 out) */
    const __m512i p2_0 = _mm512_set1_epi64(0xfffffffffffdaLL), p2 = _mm512_set1_epi64(0xffffffffffffeLL);
    for (int k = 0; k < 5; k++) {
        q->ypx.v[k] = _mm512_mask_blend_epi64(neg, acc[k], acc[5 + k]);
        q->ymx.v[k] = _mm512_mask_blend_epi64(neg, acc[5 + k], acc[k]);
        q->xy2d.v[k] = _mm512_mask_blend_epi64(neg, acc[10 + k], _mm512_sub_epi64(k ? p2 : p2_0, acc[10 + k]));
    }
}

/* h += q (mixed addition, then to extended coordinates): all of h's limbs at most 2^51 in and out. */
VT void v_madd(vp3 *h, const vprecomp *q) {
    v5 a, b, c, d, x3, y3, z3, t3;
    v_add(&a, &h->Y, &h->X); v_carry(&a);
    v_sub(&b, &h->Y, &h->X);
    v_mul(&a, &a, &q->ypx);
    v_mul(&b, &b, &q->ymx);
    v_mul(&c, &h->T, &q->xy2d);
    v_add(&d, &h->Z, &h->Z);          /* limbs <= 2^52: not a product's input */
    v_sub(&x3, &a, &b);
    v_add(&y3, &a, &b); v_carry(&y3);
    v_add(&z3, &d, &c); v_carry(&z3);
    v_sub(&t3, &d, &c);
    v_mul(&h->X, &x3, &t3);
    v_mul(&h->Y, &y3, &z3);
    v_mul(&h->Z, &z3, &t3);
    v_mul(&h->T, &x3, &y3);
}

/* h = 2^n h, n >= 1 (n doublings, ge_p2_dbl's formulas; T only at the end). */
VT void v_dbln(vp3 *h, int n) {
    v5 xx, yy, zz2, t, x1, y1, z1, t1;
    for (int i = 0; i < n; i++) {
        v_mul(&xx, &h->X, &h->X);
        v_mul(&yy, &h->Y, &h->Y);
        v_mul(&zz2, &h->Z, &h->Z); v_add(&zz2, &zz2, &zz2);
        v_add(&t, &h->X, &h->Y); v_carry(&t);
        v_mul(&t, &t, &t);
        v_add(&y1, &yy, &xx); v_carry(&y1);
        v_sub(&z1, &yy, &xx);
        v_sub(&x1, &t, &y1);
        v_sub(&t1, &zz2, &z1);
        v_mul(&h->X, &x1, &t1);
        v_mul(&h->Y, &y1, &z1);
        v_mul(&h->Z, &z1, &t1);
        if (i == n - 1) v_mul(&h->T, &x1, &y1);
    }
}

/* h = p + q, extended coordinates in both (ge_add's formulas with q not cached: 9 products). */
VT void v_add_p3(vp3 *h, const vp3 *p, const vp3 *q) {
    const uint64_t d2[5] = {0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff};
    v5 k, a, b, t, c, dd, e, f, g, hh;
    for (int i = 0; i < 5; i++) k.v[i] = _mm512_set1_epi64((long long)d2[i]);
    v_sub(&a, &p->Y, &p->X); v_sub(&t, &q->Y, &q->X); v_mul(&a, &a, &t);
    v_add(&b, &p->Y, &p->X); v_carry(&b); v_add(&t, &q->Y, &q->X); v_carry(&t); v_mul(&b, &b, &t);
    v_mul(&c, &p->T, &q->T); v_mul(&c, &c, &k);
    v_mul(&dd, &p->Z, &q->Z); v_add(&dd, &dd, &dd);    /* limbs <= 2^52: not a product's input */
    v_sub(&e, &b, &a);
    v_sub(&f, &dd, &c);
    v_add(&g, &dd, &c); v_carry(&g);
    v_add(&hh, &b, &a); v_carry(&hh);
    v_mul(&h->X, &e, &f);
    v_mul(&h->Y, &g, &hh);
    v_mul(&h->Z, &f, &g);
    v_mul(&h->T, &e, &hh);
}

/* Lanes 0..7 summed into lane 0 by a tree of three additions (lane permutations: public). */
VT void v_fold(vp3 *acc) {
    static const long long idx[3][8] = {{4, 5, 6, 7, 4, 5, 6, 7}, {2, 3, 2, 3, 2, 3, 2, 3}, {1, 1, 1, 1, 1, 1, 1, 1}};
    for (int level = 0; level < 3; level++) {
        __m512i ix = _mm512_loadu_si512(idx[level]);
        vp3 other;
        for (int k = 0; k < 5; k++) {
            other.X.v[k] = _mm512_permutexvar_epi64(ix, acc->X.v[k]);
            other.Y.v[k] = _mm512_permutexvar_epi64(ix, acc->Y.v[k]);
            other.Z.v[k] = _mm512_permutexvar_epi64(ix, acc->Z.v[k]);
            other.T.v[k] = _mm512_permutexvar_epi64(ix, acc->T.v[k]);
        }
        v_add_p3(acc, acc, &other);
    }
}

/* A radix-2^51 lane value (limbs at most 2^51 + 1) as a radix-2^64 field element (< 2^256). */
static void fe_from51(fe h, const uint64_t l[5]) {
    u128 t = (u128)l[0] + ((u128)l[1] << 51);
    h[0] = (uint64_t)t; t >>= 64;
    t += (u128)l[2] << 38; h[1] = (uint64_t)t; t >>= 64;
    t += (u128)l[3] << 25; h[2] = (uint64_t)t; t >>= 64;
    t += (u128)l[4] << 12; h[3] = (uint64_t)t;
}

/* A field element, fully reduced, as 5 limbs below 2^51. */
/* 32 little-endian bytes, bit 255 ignored, as 5 limbs below 2^51. */
static void limbs51(uint64_t l[5], const uint8_t s[32]) {
    uint64_t w0, w1, w2, w3;
    memcpy(&w0, s, 8); memcpy(&w1, s + 8, 8); memcpy(&w2, s + 16, 8); memcpy(&w3, s + 24, 8);
    l[0] = w0 & 0x7ffffffffffffULL;
    l[1] = ((w0 >> 51) | (w1 << 13)) & 0x7ffffffffffffULL;
    l[2] = ((w1 >> 38) | (w2 << 26)) & 0x7ffffffffffffULL;
    l[3] = ((w2 >> 25) | (w3 << 39)) & 0x7ffffffffffffULL;
    l[4] = (w3 >> 12) & 0x7ffffffffffffULL;
}

static void fe_to51(uint64_t l[5], const fe f) {
    uint8_t s[32];
    fe_tobytes(s, f);
    limbs51(l, s);
}

/* The lane-major copy of rows 0..31: lanes[s][j][limb][l] = limb of entry j of row 4l + s. */
static void table_lanes(fb_table *tb) {
    for (int r = 0; r < 32; r++)
        for (int j = 0; j < 8; j++) {
            const ge_precomp *e = &tb->row[r][j];
            uint64_t l[15];
            fe_to51(l, e->yplusx); fe_to51(l + 5, e->yminusx); fe_to51(l + 10, e->xy2d);
            for (int k = 0; k < 15; k++) tb->lanes[r % 4][j][k][r / 4] = l[k];
        }
}

/* The full terms' part of comb_sum, in lanes; constant time in every digit. */
__attribute__((target("avx512f,avx512ifma"))) static void comb_lanes(ge_p3 *h, const comb_term *terms, int n) {
    vp3 acc;
    vprecomp q;
    int64_t dig[8];
    for (int k = 0; k < 5; k++) {
        acc.X.v[k] = acc.T.v[k] = _mm512_setzero_si512();
        acc.Y.v[k] = acc.Z.v[k] = _mm512_set1_epi64(k == 0);
    }
    for (int half = 1; half >= 0; half--) {  /* odd digits, 4 doublings, even digits */
        for (int s = 0; s < 4; s++)
            for (int k = 0; k < n; k++) {
                if (terms[k].small) continue;
                for (int l = 0; l < 8; l++) dig[l] = terms[k].e[2 * (4 * l + s) + half];
                v_select(&q, (const uint64_t (*)[15][8])terms[k].tb->lanes[s], _mm512_loadu_si512(dig));
                v_madd(&acc, &q);
            }
        if (half) v_dbln(&acc, 4);
    }
    v_fold(&acc);
    uint64_t out[4][5][8], limbs[5];
    fe *coord[4] = {&h->X, &h->Y, &h->Z, &h->T};
    for (int k = 0; k < 5; k++) {
        _mm512_storeu_si512(out[0][k], acc.X.v[k]); _mm512_storeu_si512(out[1][k], acc.Y.v[k]);
        _mm512_storeu_si512(out[2][k], acc.Z.v[k]); _mm512_storeu_si512(out[3][k], acc.T.v[k]);
    }
    for (int m = 0; m < 4; m++) {
        for (int k = 0; k < 5; k++) limbs[k] = out[m][k][0];
        fe_from51(*coord[m], limbs);
    }
    wipe(dig, sizeof dig); wipe(out, sizeof out);
}
#endif

#ifdef ED_FE64
/* Two 8-lane values side by side: their chains are independent, so the CPU overlaps one's latency (each squaring
 * waits on the last) with the other's work. */
typedef struct { v5 a, b; } v5x2;

/* 16 values of 5 limbs each (limbs[k][l]: limb k of value l) into / out of two 8-lane vectors. */
__attribute__((target("avx512f,avx512ifma"))) static void lanes_load(v5x2 *z, uint64_t limbs[5][16]) {
    for (int k = 0; k < 5; k++) {
        z->a.v[k] = _mm512_loadu_si512(limbs[k]);
        z->b.v[k] = _mm512_loadu_si512(limbs[k] + 8);
    }
}

__attribute__((target("avx512f,avx512ifma"))) static void lanes_store(fe *out, const v5x2 *z, int m) {
    uint64_t limbs[5][16], l5[5];
    for (int k = 0; k < 5; k++) {
        _mm512_storeu_si512(limbs[k], z->a.v[k]);
        _mm512_storeu_si512(limbs[k] + 8, z->b.v[k]);
    }
    for (int l = 0; l < m; l++) {
        for (int k = 0; k < 5; k++) l5[k] = limbs[k][l];
        fe_from51(out[l], l5);
    }
}

#define V_MUL(h, f, g) do { v_mul(&(h).a, &(f).a, &(g).a); v_mul(&(h).b, &(f).b, &(g).b); } while (0)
#define V_SQN(h, f, n)                                                                                        \
    do {                                                                                                      \
        v_sq(&(h).a, &(f).a); v_sq(&(h).b, &(f).b);                                                           \
        for (int i_ = 1; i_ < (n); i_++) { v_sq(&(h).a, &(h).a); v_sq(&(h).b, &(h).b); }                      \
    } while (0)

/* out[l] = w[l]^((p-5)/8) for m <= 16 values at once: fe_pow22523's chain in 2 x 8 IFMA lanes. */
__attribute__((target("avx512f,avx512ifma"))) static void lanes_pow22523(fe *out, const fe *w, int m) {
    uint64_t limbs[5][16], l5[5];
    v5x2 z, t0, t1, t2;
    for (int l = 0; l < 16; l++) {
        if (l < m) fe_to51(l5, w[l]);
        else { memset(l5, 0, sizeof l5); l5[0] = 1; }
        for (int k = 0; k < 5; k++) limbs[k][l] = l5[k];
    }
    lanes_load(&z, limbs);
    POW22523(V_MUL, V_SQN, t0, z, t0, t1, t2);
    lanes_store(out, &t0, m);
}

/* For m <= 16 encodings that passed dec_shape, everything dec_settle needs, in 2 x 8 IFMA lanes: with y from the
 * encoding, u = y^2 - 1, v = d y^2 + 1, x = u v^3 (u v^7)^((p-5)/8) and vxx = v x^2. */
__attribute__((target("avx512f,avx512ifma"))) static void lanes_decode(fe *x, fe *vxx, fe *u, const uint8_t *const *enc,
                                                                      int m) {
    static const uint64_t d[5] = {0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff};
    uint64_t limbs[5][16], l5[5] = {1, 0, 0, 0, 0};
    v5x2 y, uu, vv, v3, w, t0, t1, t2, k;
    for (int l = 0; l < 16; l++) {
        if (l < m) limbs51(l5, enc[l]);  /* canonical (dec_shape): y itself; the padding lanes take y = 1 */
        for (int j = 0; j < 5; j++) limbs[j][l] = l5[j];
    }
    lanes_load(&y, limbs);
    for (int j = 0; j < 5; j++) k.a.v[j] = k.b.v[j] = _mm512_set1_epi64((long long)d[j]);
    V_SQN(t0, y, 1);                                       /* y^2 */
    V_MUL(vv, t0, k);
    for (int j = 0; j < 5; j++) k.a.v[j] = k.b.v[j] = _mm512_set1_epi64(j == 0);
    v_add(&vv.a, &vv.a, &k.a); v_carry(&vv.a);
    v_add(&vv.b, &vv.b, &k.b); v_carry(&vv.b);             /* v = d y^2 + 1 */
    v_sub(&uu.a, &t0.a, &k.a); v_sub(&uu.b, &t0.b, &k.b);  /* u = y^2 - 1 */
    V_SQN(t0, vv, 1); V_MUL(v3, t0, vv);                   /* v^3 */
    V_SQN(t0, v3, 1); V_MUL(t0, t0, vv); V_MUL(w, t0, uu); /* u v^7 */
    POW22523(V_MUL, V_SQN, t0, w, t0, t1, t2);
    V_MUL(t0, t0, v3); V_MUL(y, t0, uu);                   /* x */
    lanes_store(x, &y, m);
    V_SQN(t0, y, 1); V_MUL(t0, t0, vv);                    /* v x^2 */
    lanes_store(vxx, &t0, m);
    lanes_store(u, &uu, m);
}
#undef V_MUL
#undef V_SQN
#endif

#ifdef ED_FE64
/* ------------------------------------------------------------------ 2 x 4 AVX2 lanes for the square roots
 *
 * Without IFMA, the exponentiations of decode_many run in AVX2 lanes: two groups of four field elements, each
 * element in ten limbs of radix 2^25.5 (26 bits at even positions, 25 at odd, as ref10), one 64-bit lane per
 * limb, products by vpmuludq (32 x 32 -> 64 bits). Limb i weighs 2^ceil(25.5 i): a_i b_j lands on limb i + j,
 * doubled when i and j are both odd, times 19 past limb 9 (2^255 = 19). Carried limbs are below 2^26 (h1 and h5
 * below 2^25 + 2^15), so every operand of a product is below 2^32 (at most 4 x 2^26 or 19 x 2^26) and every
 * column sums at most ten products below 2^56.3, below 2^60. The two groups go through each step together,
 * which gives the out-of-order core two independent chains. */
#define A2 __attribute__((target("avx2"))) static inline
typedef struct { __m256i v[2][10]; } a10;

#define X19(x) _mm256_add_epi64(_mm256_add_epi64(x, _mm256_slli_epi64(x, 1)), _mm256_slli_epi64(x, 4))

/* Interleaved carries (two chains, ref10's order), then limbs as above. */
A2 void a10_carry(__m256i h[10]) {
    const __m256i m26 = _mm256_set1_epi64x((1 << 26) - 1), m25 = _mm256_set1_epi64x((1 << 25) - 1);
#define CARRY(i, bits, mask) do { h[(i) + 1] = _mm256_add_epi64(h[(i) + 1], _mm256_srli_epi64(h[i], bits)); \
                                  h[i] = _mm256_and_si256(h[i], mask); } while (0)
    CARRY(0, 26, m26); CARRY(4, 26, m26);
    CARRY(1, 25, m25); CARRY(5, 25, m25);
    CARRY(2, 26, m26); CARRY(6, 26, m26);
    CARRY(3, 25, m25); CARRY(7, 25, m25);
    CARRY(4, 26, m26); CARRY(8, 26, m26);
    __m256i c = _mm256_srli_epi64(h[9], 25);
    h[9] = _mm256_and_si256(h[9], m25);
    h[0] = _mm256_add_epi64(h[0], X19(c));
    CARRY(0, 26, m26);
#undef CARRY
}

#define MULU(a, b) _mm256_mul_epu32(a, b)

/* h = f g for each group and lane. */
A2 void a10_mul(a10 *h, const a10 *f, const a10 *g) {
    _Pragma("GCC unroll 2")
    for (int t = 0; t < 2; t++) {
        const __m256i *F = f->v[t], *G = g->v[t];
        __m256i g19[10], f2[10], out[10];
        _Pragma("GCC unroll 10")
        for (int j = 0; j < 10; j++) g19[j] = X19(G[j]);
        _Pragma("GCC unroll 10")
        for (int i = 0; i < 10; i++) f2[i] = (i & 1) ? _mm256_add_epi64(F[i], F[i]) : F[i];
        _Pragma("GCC unroll 10")
        for (int k = 0; k < 10; k++) {
            __m256i acc = _mm256_setzero_si256();
            _Pragma("GCC unroll 10")
            for (int i = 0; i < 10; i++) {
                int j = k - i, wrap = j < 0;
                j += 10 * wrap;
                acc = _mm256_add_epi64(acc, MULU((i & j & 1) ? f2[i] : F[i], wrap ? g19[j] : G[j]));
            }
            out[k] = acc;
        }
        a10_carry(out);
        memcpy(h->v[t], out, sizeof out);
    }
}

/* h = f^(2^n), n >= 1: each squaring takes the 55 products a_i a_j, i <= j (doubled for i < j). Both groups in
 * one unrolled body: their independent chains are what keeps the core busy (one group alone runs no faster per
 * element than the scalar arithmetic, measured). */
A2 void a10_sqn(a10 *h, const a10 *f, int n) {
    *h = *f;
    for (int r = 0; r < n; r++)
        _Pragma("GCC unroll 2")
        for (int t = 0; t < 2; t++) {
            __m256i *F = h->v[t], f2[10], f4[10], f19[10], out[10];
            _Pragma("GCC unroll 10")
            for (int i = 0; i < 10; i++) {
                f2[i] = _mm256_add_epi64(F[i], F[i]);
                f4[i] = _mm256_add_epi64(f2[i], f2[i]);
                f19[i] = X19(F[i]);
            }
            _Pragma("GCC unroll 10")
            for (int k = 0; k < 10; k++) {
                __m256i acc = _mm256_setzero_si256();
                _Pragma("GCC unroll 10")
                for (int i = 0; i < 10; i++) {
                    int j = k - i, wrap = j < 0;
                    j += 10 * wrap;
                    if (j < i) continue;
                    int c = (j > i ? 2 : 1) * ((i & j & 1) ? 2 : 1);
                    const __m256i *a = c == 4 ? f4 : c == 2 ? f2 : F;
                    acc = _mm256_add_epi64(acc, MULU(a[i], wrap ? f19[j] : F[j]));
                }
                out[k] = acc;
            }
            a10_carry(out);
            memcpy(F, out, sizeof out);
        }
}

/* out[l] = w[l]^((p-5)/8) for m <= 8 values at once: fe_pow22523's chain in 2 x 4 AVX2 lanes. */
__attribute__((target("avx2"))) static void avx2_pow22523(fe *out, const fe *w, int m) {
    uint64_t limbs[2][10][4] __attribute__((aligned(32))), l5[5];
    a10 z, t0, t1, t2;
    for (int l = 0; l < 8; l++) {
        if (l < m) fe_to51(l5, w[l]);
        else { memset(l5, 0, sizeof l5); l5[0] = 1; }
        for (int k = 0; k < 5; k++) {
            limbs[l / 4][2 * k][l % 4] = l5[k] & ((1 << 26) - 1);
            limbs[l / 4][2 * k + 1][l % 4] = l5[k] >> 26;
        }
    }
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 10; k++) z.v[t][k] = _mm256_load_si256((const __m256i *)limbs[t][k]);
#define V_MUL(h, f, g) a10_mul(&(h), &(f), &(g))
#define V_SQN(h, f, n) a10_sqn(&(h), &(f), n)
    POW22523(V_MUL, V_SQN, t0, z, t0, t1, t2);
#undef V_MUL
#undef V_SQN
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 10; k++) _mm256_store_si256((__m256i *)limbs[t][k], t0.v[t][k]);
    for (int l = 0; l < m; l++) {
        for (int k = 0; k < 5; k++) l5[k] = limbs[l / 4][2 * k][l % 4] + (limbs[l / 4][2 * k + 1][l % 4] << 26);
        fe_from51(out[l], l5); /* limbs below 2^51 + 2^41: their value is below 2^256, all fe_from51 needs */
    }
}
#undef MULU
#undef X19
#undef A2
#endif

#define POW_BATCH 16 /* values whose exponentiations share one pass: 2 x 8 IFMA lanes, or two passes of 2 x 4 AVX2 lanes */

/* out[j] = w[j]^((p-5)/8) for m <= POW_BATCH values: in IFMA lanes, in AVX2 lanes (from AVX2_POW_MIN values), or
 * one by one. */
static void pow22523_many(fe *out, const fe *w, int m) {
#ifdef ED_FE64
    if (use_ifma && m > 1) { lanes_pow22523(out, w, m); return; }
    if (use_avx2 && m >= AVX2_POW_MIN) {
        avx2_pow22523(out, w, m < 8 ? m : 8);
        if (m > 8) pow22523_many(out + 8, w + 8, m - 8);
        return;
    }
#endif
    for (int j = 0; j < m; j++) fe_pow22523(out[j], w[j]);
}

/* n encodings, each from the cache or decoded (then cached); the exponentiations of up to POW_BATCH misses
 * at a time share lanes where the CPU has them. rc[i] as decode's; out[i] is set where it is 0. */
static void decode_many(ge_p3 *out, const uint8_t *const *enc, int *rc, size_t n) {
    dec_state st[POW_BATCH];
    fe w[POW_BATCH], pw[POW_BATCH];
    size_t miss[POW_BATCH];
    int m = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            const cache_entry *e = cache_get(enc[i]);
            if (e) { out[i] = e->p; rc[i] = DEC_OK; continue; }
            rc[i] = dec_shape(&out[i], &st[m].sign, enc[i]);
            if (rc[i] != DEC_OK) continue;
            miss[m++] = i;
            if (m < POW_BATCH) continue;
        }
        if (!m) continue;
#ifdef ED_FE64
        if (use_ifma && m > 1) {  /* everything from y to v x^2 in lanes */
            const uint8_t *lane_enc[POW_BATCH];
            fe x[POW_BATCH], vxx[POW_BATCH], u[POW_BATCH];
            for (int j = 0; j < m; j++) lane_enc[j] = enc[miss[j]];
            lanes_decode(x, vxx, u, lane_enc, m);
            for (int j = 0; j < m; j++) {
                fe_copy(out[miss[j]].X, x[j]);
                rc[miss[j]] = dec_settle(&out[miss[j]], vxx[j], u[j], st[j].sign);
            }
        } else
#endif
        {
            for (int j = 0; j < m; j++) { dec_prepare(&out[miss[j]], &st[j]); fe_copy(w[j], st[j].w); }
            pow22523_many(pw, w, m);
            for (int j = 0; j < m; j++) rc[miss[j]] = dec_finish(&out[miss[j]], &st[j], pw[j]);
        }
        for (int j = 0; j < m; j++)
            if (rc[miss[j]] == DEC_OK) cache_put(enc[miss[j]], &out[miss[j]]);
        m = 0;
    }
}

/* h = sum of [a_k]P_k over the terms, constant time in every a_k: the terms with full
 * exponents share one comb pass (odd digits, 4 doublings, even digits: 64 selections and
 * mixed additions per term), each small term adds 5 selections and additions. Which terms are
 * small is public (the caller's bound), never a property of the exponent's value. */
static void comb_sum(ge_p3 *h, const comb_term *terms, int n) {
    ge_precomp t;
    int full = 0;
    ge_p3_0(h);
    for (int k = 0; k < n; k++) full |= !terms[k].small;
#ifdef ED_FE64
    if (full && use_ifma) { comb_lanes(h, terms, n); full = 0; }
#endif
    if (full) {
        for (int i = 1; i < 64; i += 2)
            for (int k = 0; k < n; k++)
                if (!terms[k].small) { select_precomp(&t, terms[k].tb->row[i / 2], terms[k].e[i]); madd_p3(h, &t); }
        dbl4(h);
        for (int i = 0; i < 64; i += 2)
            for (int k = 0; k < n; k++)
                if (!terms[k].small) { select_precomp(&t, terms[k].tb->row[i / 2], terms[k].e[i]); madd_p3(h, &t); }
    }
    for (int k = 0; k < n; k++) {
        if (!terms[k].small) continue;
        const fb_table *tb = terms[k].tb;
        const int8_t *e = terms[k].e;
        select_precomp(&t, tb->row[0], e[0]); madd_p3(h, &t);
        select_precomp(&t, tb->odd[0], e[1]); madd_p3(h, &t);
        select_precomp(&t, tb->row[1], e[2]); madd_p3(h, &t);
        select_precomp(&t, tb->odd[1], e[3]); madd_p3(h, &t);
        select_precomp(&t, tb->row[2], e[4]); madd_p3(h, &t);
    }
}

/* Encode n points with one field inversion (Montgomery's trick); each point is left affine
 * (Z = 1) so that it may be cached. Z is never 0 (complete formulas on curve points). */
static int encode_many(uint8_t *out, ge_p3 *pts, size_t n) {
    fe *prod = PyMem_Malloc((n ? n : 1) * sizeof *prod);
    fe inv;
    if (!prod) return -1;
    fe_copy(prod[0], pts[0].Z);
    for (size_t k = 1; k < n; k++) fe_mul(prod[k], prod[k - 1], pts[k].Z);
    fe_invert(inv, prod[n - 1]);
    for (size_t k = n; k-- > 0;) {
        fe zi;
        if (k > 0) { fe_mul(zi, inv, prod[k - 1]); fe_mul(inv, inv, pts[k].Z); }
        else fe_copy(zi, inv);
        ge_p3 *p = &pts[k];
        fe_mul(p->X, p->X, zi);
        fe_mul(p->Y, p->Y, zi);
        fe_1(p->Z);
        fe_mul(p->T, p->X, p->Y);
        fe_tobytes(out + 32 * k, p->Y);
        out[32 * k + 31] ^= (uint8_t)(fe_isneg(p->X) << 7);
    }
    PyMem_Free(prod);
    return 0;
}

/* ------------------------------------------------------------------ variable time (public scalars) */

/* Width-5 NAF of a < 2^255: odd digits in [-15, 15], each followed by at least four zeros; r has 256 digits (a
 * carry out of the top window would need bit 255). Reads 5-bit windows off the 64-bit limbs, skipping even ones. */
static void naf5(int8_t r[256], const uint8_t a[32]) {
    uint64_t limb[5];
    int carry = 0;
    limbs64(limb, a);
    memset(r, 0, 256);
    for (int pos = 0; pos < 256;) {
        int i = pos >> 6, s = pos & 63;
        uint64_t bits = limb[i] >> s;
        if (s > 59) bits |= limb[i + 1] << (64 - s);
        int w = carry + (int)(bits & 31);
        if (!(w & 1)) { pos++; continue; }
        carry = w > 16;
        r[pos] = (int8_t)(w - (carry << 5));
        pos += 5;
    }
}

#ifdef ED_FE64
/* ------------------------------------------------------------------ 4-way point arithmetic (IFMA)
 *
 * One point per 256-bit vector: lanes (X, Y, Z, T) of 5 radix-2^51 limbs (AVX-512 VL + IFMA), so
 * that the four products of each step of the a = -1 formulas run as one lane-wise product (the
 * parallel formulas of Hisil-Wong-Carter-Dawson, as in curve25519-dalek's vector backends). An
 * addition or a doubling is two such products plus lane permutations: the variable-time Straus
 * below runs on them. Limb bounds as in the 8-lane comb: every f4_mul input below 2^52. */
#define V4 __attribute__((target("avx512f,avx512vl,avx512ifma"), always_inline)) static inline
typedef struct { __m256i v[5]; } f4;

/* One round of carries, all limbs at once (a short dependency chain: the point formulas are
 * latency-bound): limbs below 2^62 in, each below 2^51 + 19 2^11 < 2^52 out (a product's input). */
V4 void f4_carry(f4 *h) {
    const __m256i m = _mm256_set1_epi64x(0x7ffffffffffffLL);
    __m256i c[5];
    for (int k = 0; k < 5; k++) { c[k] = _mm256_srli_epi64(h->v[k], 51); h->v[k] = _mm256_and_si256(h->v[k], m); }
    for (int k = 1; k < 5; k++) h->v[k] = _mm256_add_epi64(h->v[k], c[k - 1]);
    __m256i c19 = _mm256_add_epi64(c[4], _mm256_add_epi64(_mm256_slli_epi64(c[4], 1), _mm256_slli_epi64(c[4], 4)));
    h->v[0] = _mm256_add_epi64(h->v[0], c19);
}

/* Lane-wise f * g, as v_mul (limbs below 2^52 in; out as f4_carry: columns below 2^61). */
V4 void f4_mul(f4 *h, const f4 *f, const f4 *g) {
    LANE_PRODUCT(__m256i, _mm256, _mm256_setzero_si256());
    f4_carry(h);
}

/* h = a[ia] + (b[ib], negated (4p - b) in the lanes of neg, zero outside keep), carried: one lane
 * combination of the formulas. a's limbs below 2^55, b's below 2^52. */
V4 void f4_comb(f4 *h, const f4 *a, const long long ia[4], int dbl, const f4 *b, const long long ib[4],
                __mmask8 keep, __mmask8 neg) {
    const __m256i ja = _mm256_loadu_si256((const __m256i *)ia), jb = _mm256_loadu_si256((const __m256i *)ib);
    const __m256i p4_0 = _mm256_set1_epi64x(0x1fffffffffffb4LL), p4 = _mm256_set1_epi64x(0x1ffffffffffffcLL);
    for (int k = 0; k < 5; k++) {
        __m256i x = _mm256_permutexvar_epi64(ja, a->v[k]);
        if (dbl) x = _mm256_mask_add_epi64(x, (__mmask8)dbl, x, x);
        __m256i y = _mm256_maskz_permutexvar_epi64(keep, jb, b->v[k]);
        y = _mm256_mask_sub_epi64(y, neg, k ? p4 : p4_0, y);
        h->v[k] = _mm256_add_epi64(x, y);
    }
    f4_carry(h);
}

static const long long I_ID[4] = {0, 1, 2, 3};

/* (X3', Y3', Z3', T3') (ref10's p1p1) -> (X3' T3', Y3' Z3', Z3' T3', X3' Y3'): extended coordinates. */
V4 void f4_p1p1_to_p3(f4 *h, const f4 *r) {
    static const long long i1[4] = {0, 1, 2, 0}, i2[4] = {3, 2, 3, 1};
    const __m256i j1 = _mm256_loadu_si256((const __m256i *)i1), j2 = _mm256_loadu_si256((const __m256i *)i2);
    f4 a, b;
    for (int k = 0; k < 5; k++) {
        a.v[k] = _mm256_permutexvar_epi64(j1, r->v[k]);
        b.v[k] = _mm256_permutexvar_epi64(j2, r->v[k]);
    }
    f4_mul(h, &a, &b);
}

/* h = 2 p: squares of (X, Y, Z, X + Y), then (AA - YY - XX, YY + XX, YY - XX, 2 ZZ - YY + XX). */
V4 void f4_dbl(f4 *h, const f4 *p) {
    static const long long i0[4] = {0, 1, 2, 0}, i1[4] = {3, 1, 1, 2}, i2[4] = {1, 0, 0, 0}, i3[4] = {0, 0, 0, 1},
                           i4[4] = {0, 0, 0, 1};
    f4 s, q, r;
    f4_comb(&s, p, i0, 0, p, i4, 0x8, 0);              /* (X, Y, Z, X + Y) */
    f4_mul(&q, &s, &s);                                /* (XX, YY, ZZ, AA) */
    f4_comb(&r, &q, i1, 0x8, &q, i2, 0xf, 0x5);        /* (AA - YY, YY + XX, YY - XX, 2 ZZ + XX) */
    f4_comb(&r, &r, I_ID, 0, &q, i3, 0x9, 0x9);        /* lanes 0 and 3: - XX, - YY */
    f4_p1p1_to_p3(h, &r);
}

/* h = p + q, q cached as (Y + X, Y - X, Z, 2d T): (A, B, D, C) = (Y1 + X1, Y1 - X1, Z1, T1) q,
 * then (A - B, A + B, 2D + C, 2D - C). */
V4 void f4_add(f4 *h, const f4 *p, const f4 *q) {
    static const long long i0[4] = {1, 1, 2, 3}, i1[4] = {0, 0, 0, 0}, i2[4] = {0, 0, 2, 2}, i3[4] = {1, 1, 3, 3};
    f4 u, m, r;
    f4_comb(&u, p, i0, 0, p, i1, 0x3, 0x2);            /* (Y + X, Y - X, Z, T) */
    f4_mul(&m, &u, q);                                 /* (A, B, D, C) */
    f4_comb(&r, &m, i2, 0xc, &m, i3, 0xf, 0x9);        /* (A - B, A + B, 2D + C, 2D - C) */
    f4_p1p1_to_p3(h, &r);
}

/* Two independent additions h1 = p1 + q1, h2 = p2 + q2, step by step side by side: one's latency hides the other's. */
V4 void f4_add2(f4 *h1, const f4 *p1, const f4 *q1, f4 *h2, const f4 *p2, const f4 *q2) {
    static const long long i0[4] = {1, 1, 2, 3}, i1[4] = {0, 0, 0, 0}, i2[4] = {0, 0, 2, 2}, i3[4] = {1, 1, 3, 3};
    f4 u1, m1, r1, u2, m2, r2;
    f4_comb(&u1, p1, i0, 0, p1, i1, 0x3, 0x2);
    f4_comb(&u2, p2, i0, 0, p2, i1, 0x3, 0x2);
    f4_mul(&m1, &u1, q1);
    f4_mul(&m2, &u2, q2);
    f4_comb(&r1, &m1, i2, 0xc, &m1, i3, 0xf, 0x9);
    f4_comb(&r2, &m2, i2, 0xc, &m2, i3, 0xf, 0x9);
    f4_p1p1_to_p3(h1, &r1);
    f4_p1p1_to_p3(h2, &r2);
}

V4 void f4_identity(f4 *h) {  /* (0, 1, 1, 0) */
    for (int k = 0; k < 5; k++) h->v[k] = _mm256_setr_epi64x(0, k == 0, k == 0, 0);
}

/* A point as a vector (limbs below 2^51), and back (fully carried). */
static void f4_load(f4 *h, const ge_p3 *p) {
    uint64_t l[4][5];
    fe_to51(l[0], p->X); fe_to51(l[1], p->Y); fe_to51(l[2], p->Z); fe_to51(l[3], p->T);
    for (int k = 0; k < 5; k++) memcpy(&h->v[k], (uint64_t[4]){l[0][k], l[1][k], l[2][k], l[3][k]}, 32);
}

__attribute__((target("avx512f,avx512vl,avx512ifma"))) static void f4_store(ge_p3 *h, const f4 *p) {
    uint64_t l[4][5], lanes[4];
    f4 r = *p;
    f4_carry(&r); f4_carry(&r);  /* limbs at most 2^51 + 18 (fe_from51's input) */
    for (int k = 0; k < 5; k++) {
        memcpy(lanes, &r.v[k], 32);
        for (int c = 0; c < 4; c++) l[c][k] = lanes[c];
    }
    fe_from51(h->X, l[0]); fe_from51(h->Y, l[1]); fe_from51(h->Z, l[2]); fe_from51(h->T, l[3]);
}

/* The cached forms of p and of -p: (Y + X, Y - X, Z, 2d T) and (Y - X, Y + X, Z, 2p - 2d T). 2d T is a
 * product (limbs below 2^51 + 19 2^10), so 2p - 2d T stays positive and below 2^52 - 1: a product's input, with
 * no margin to spare (the session 13 review's bound). */
V4 void f4_cached(f4 *pos, f4 *neg, const f4 *p) {
    static const long long i0[4] = {1, 1, 2, 3}, i1[4] = {0, 0, 0, 0}, sw[4] = {1, 0, 2, 3};
    static const uint64_t d2[5] = {0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff};
    const __m256i jsw = _mm256_loadu_si256((const __m256i *)sw);
    const __m256i p2_0 = _mm256_set1_epi64x(0xfffffffffffdaLL), p2 = _mm256_set1_epi64x(0xffffffffffffeLL);
    f4 u, k;
    f4_comb(&u, p, i0, 0, p, i1, 0x3, 0x2);            /* (Y + X, Y - X, Z, T) */
    for (int i = 0; i < 5; i++) k.v[i] = _mm256_setr_epi64x(i == 0, i == 0, i == 0, (long long)d2[i]);
    f4_mul(pos, &u, &k);
    for (int i = 0; i < 5; i++) {
        __m256i s = _mm256_permutexvar_epi64(jsw, pos->v[i]);
        neg->v[i] = _mm256_mask_sub_epi64(s, 0x8, i ? p2 : p2_0, s);
    }
}

/* An extended representative of the point whose cached form is q = (A, B, Z, 2d T) = (Y + X, Y - X, Z, 2d T):
 * (d (A - B), d (A + B), 2d Z, 2d T) = 2d (X, Y, Z, T), one lane-wise product (Pippenger's first point in a bucket). */
V4 void f4_uncached(f4 *h, const f4 *q) {
    static const long long i0[4] = {0, 0, 2, 3}, i1[4] = {1, 1, 0, 0};
    static const uint64_t d[5] = {0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff},
                          d2[5] = {0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff};
    f4 u, k;
    f4_comb(&u, q, i0, 0, q, i1, 0x3, 0x1);            /* (A - B, A + B, Z, 2d T) */
    for (int i = 0; i < 5; i++) k.v[i] = _mm256_setr_epi64x((long long)d[i], (long long)d[i], (long long)d2[i], i == 0);
    f4_mul(h, &u, &k);
}

/* Straus with width-5 NAF on 4-way points: tables of the cached 1P, 3P, .., 15P and their
 * negatives; one doubling per digit position, one addition per non-zero digit. */
__attribute__((target("avx512f,avx512vl,avx512ifma")))
static int straus4(ge_p3 *h, const ge_p3 *pts, const uint8_t *scalars, size_t n) {
    f4 (*tab)[16] = aligned_alloc(32, n * sizeof *tab);  /* 32-byte vectors */
    int8_t (*naf)[256] = PyMem_Malloc(n * sizeof *naf);
    if (!tab || !naf) { free(tab); PyMem_Free(naf); return -1; }
    int top = -1;
    for (size_t k = 0; k < n; k++) {
        f4 p, p2, c2, t;
        naf5(naf[k], scalars + 32 * k);
        f4_load(&p, &pts[k]);
        f4_cached(&tab[k][0], &tab[k][8], &p);
        f4_dbl(&p2, &p);
        f4_cached(&c2, &t, &p2);
        for (int j = 1; j < 8; j++) { f4_add(&p, &p, &c2); f4_cached(&tab[k][j], &tab[k][8 + j], &p); }
        for (int i = 255; i > top; i--) if (naf[k][i]) { top = i; break; }
    }
    f4 acc;
    f4_identity(&acc);
    for (int i = top; i >= 0; i--) {
        if (i < top) f4_dbl(&acc, &acc);
        for (size_t k = 0; k < n; k++) {
            int8_t d = naf[k][i];
            if (d > 0) f4_add(&acc, &acc, &tab[k][d / 2]);
            else if (d < 0) f4_add(&acc, &acc, &tab[k][8 + (-d) / 2]);
        }
    }
    f4_store(h, &acc);
    free(tab); PyMem_Free(naf);
    return 0;
}
#endif

#ifdef ED_FE64
/* The cached entry for signed digit b in [-8, 8] from tab[j] = (j+1) P: every entry blended under masks, then the
 * sign applied by the same lane moves as f4_cached's negative (swap Y + X and Y - X, 2p - 2d T); b = 0 is the
 * identity (1, 1, 1, 0). Constant time in b. */
V4 void f4_select(f4 *t, const f4 tab[8], int8_t b) {
    static const long long sw[4] = {1, 0, 2, 3};
    const __m256i jsw = _mm256_loadu_si256((const __m256i *)sw), d = _mm256_set1_epi64x(b);
    const __m256i babs = _mm256_abs_epi64(d);
    const __m256i p2_0 = _mm256_set1_epi64x(0xfffffffffffdaLL), p2 = _mm256_set1_epi64x(0xffffffffffffeLL);
    const __mmask8 neg = _mm256_cmplt_epi64_mask(d, _mm256_setzero_si256());
    for (int k = 0; k < 5; k++) t->v[k] = _mm256_setr_epi64x(k == 0, k == 0, k == 0, 0);
    for (int j = 0; j < 8; j++) {
        __mmask8 m = _mm256_cmpeq_epi64_mask(babs, _mm256_set1_epi64x(j + 1));
        for (int k = 0; k < 5; k++) t->v[k] = _mm256_mask_mov_epi64(t->v[k], m, tab[j].v[k]);
    }
    for (int k = 0; k < 5; k++) {
        __m256i s = _mm256_permutexvar_epi64(jsw, t->v[k]);
        s = _mm256_mask_sub_epi64(s, 0x8, k ? p2 : p2_0, s);
        t->v[k] = _mm256_mask_mov_epi64(t->v[k], neg, s);
    }
}

/* ct_scalarmult on 4-way points: [e]P for the 64 signed radix-16 digits e, one selection and addition per digit and 4
 * doublings between them, whatever the digits. */
__attribute__((target("avx512f,avx512vl,avx512ifma")))
static void ct_scalarmult4(ge_p3 *h, const ge_p3 *p, const int8_t e[64]) {
    f4 tab[8], unused, pt, acc, t;
    f4_load(&pt, p);
    f4_cached(&tab[0], &unused, &pt);
    for (int j = 1; j < 8; j++) { f4_add(&pt, &pt, &tab[0]); f4_cached(&tab[j], &unused, &pt); }
    f4_identity(&acc);
    for (int i = 63; i > 0; i--) {
        f4_select(&t, tab, e[i]);
        f4_add(&acc, &acc, &t);
        for (int k = 0; k < 4; k++) f4_dbl(&acc, &acc);
    }
    f4_select(&t, tab, e[0]);
    f4_add(&acc, &acc, &t);
    f4_store(h, &acc);
    wipe(tab, sizeof tab); wipe(&t, sizeof t); wipe(&acc, sizeof acc); wipe(&pt, sizeof pt);
}
#endif

/* Straus: sum [a_i]P_i with shared doublings, tables of odd multiples 1P..15P. */
static int straus(ge_p3 *h, const ge_p3 *pts, const uint8_t *scalars, size_t n) {
    ge_cached (*tab)[8] = PyMem_Malloc(n * sizeof *tab);
    int8_t (*naf)[256] = PyMem_Malloc(n * sizeof *naf);
    if (!tab || !naf) { PyMem_Free(tab); PyMem_Free(naf); return -1; }
    int top = -1;
    for (size_t k = 0; k < n; k++) {
        ge_p1p1 r; ge_p3 p2, t;
        naf5(naf[k], scalars + 32 * k);
        ge_p3_to_cached(&tab[k][0], &pts[k]);
        ge_p3_dbl(&r, &pts[k]); ge_p1p1_to_p3(&p2, &r);
        ge_cached c2; ge_p3_to_cached(&c2, &p2);
        t = pts[k];
        for (int j = 1; j < 8; j++) { ge_add_p3(&t, &t, &c2); ge_p3_to_cached(&tab[k][j], &t); }
        for (int i = 255; i > top; i--) if (naf[k][i]) { top = i; break; }
    }
    ge_p3_0(h);
    ge_p2 s;
    ge_p3_to_p2(&s, h);
    int in_p2 = 1;  /* h is current only as s (X, Y, Z) */
    for (int i = top; i >= 0; i--) {
        ge_p1p1 r;
        size_t last = n;  /* the last point with a digit here, if any */
        for (size_t k = n; k-- > 0;) if (naf[k][i]) { last = k; break; }
        if (!in_p2) ge_p3_to_p2(&s, h);
        ge_p2_dbl(&r, &s);
        if (last == n) { ge_p1p1_to_p2(&s, &r); in_p2 = 1; continue; }
        ge_p1p1_to_p3(h, &r);
        for (size_t k = 0; k <= last; k++) {
            int8_t d = naf[k][i];
            if (d > 0) ge_add(&r, h, &tab[k][d / 2]);
            else if (d < 0) ge_sub(&r, h, &tab[k][(-d) / 2]);
            else continue;
            if (k < last) ge_p1p1_to_p3(h, &r);
        }
        /* the column's last sum: only (X, Y, Z) before the next doubling (T is one product less) */
        if (i > 0) { ge_p1p1_to_p2(&s, &r); in_p2 = 1; }
        else { ge_p1p1_to_p3(h, &r); in_p2 = 0; }
    }
    if (in_p2) {  /* back to extended coordinates: (XZ, YZ, Z^2, XY) */
        fe_mul(h->T, s.X, s.Y);
        fe_mul(h->X, s.X, s.Z);
        fe_mul(h->Y, s.Y, s.Z);
        fe_sq(h->Z, s.Z);
    }
    PyMem_Free(tab); PyMem_Free(naf);
    return 0;
}

/* Pippenger's window width for these scalars: the c that minimises the additions, about one per
 * c bits of each scalar (verification weights are half length) plus three per bucket and window
 * (the running sums and their cached forms); then its signed c-bit digits of every scalar:
 * dig[w * n + k] in [-2^(c-1), 2^(c-1)]. */
static int pip_width(const uint8_t *scalars, size_t n) {
    size_t hist[257] = {0};
    int top = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t limb[5];
        int bits = 0;
        limbs64(limb, scalars + 32 * k);
        for (int i = 3; i >= 0; i--)
            if (limb[i]) { bits = 64 * i + 64 - __builtin_clzll(limb[i]); break; }
        hist[bits]++;
        if (bits > top) top = bits;
    }
    int best = 4;
    double best_cost = 0;
    for (int c = 4; c <= 16; c++) {
        double cost = (double)((top + c - 1) / c + 1) * 3.0 * (double)((size_t)1 << (c - 1));
        for (int bits = 1; bits <= 256; bits++) cost += (double)hist[bits] * ((bits + c - 1) / c);
        if (c == 4 || cost < best_cost) { best = c; best_cost = cost; }
    }
    return best;
}

/* Signed c-bit digits, each in [-2^(c-1), 2^(c-1)], of every scalar (below 2^255), window by window from
 * bit 0, without branches (a digit's sign is a coin toss): a window's bits come from one or two limbs. Stored window
 * by window, dig[w * n + k], so that each window's pass over the points reads them in order. */
static void pip_digits(int16_t *dig, const uint8_t *scalars, size_t n, int c, int windows) {
    const uint64_t mask = ((uint64_t)1 << c) - 1;
    for (size_t k = 0; k < n; k++) {
        uint64_t limb[6];
        limbs64(limb, scalars + 32 * k);
        limb[5] = 0;
        int carry = 0, top = 0;  /* the windows below the scalar's top bit and one for a carry; zero above */
        for (int i = 3; i >= 0; i--)
            if (limb[i]) { top = (64 * i + 64 - __builtin_clzll(limb[i]) + c - 1) / c + 1; break; }
        if (top > windows) top = windows;
        for (int w = top; w < windows; w++) dig[(size_t)w * n + k] = 0;
        for (int w = 0; w < top; w++) {
            int bit = w * c, i = bit >> 6, s = bit & 63;  /* bit < 253 + 2c <= 285: i <= 4 */
            uint64_t v = limb[i] >> s | (limb[i + 1] << 1) << (63 - s);  /* the next limb's bits; none when s = 0 */
            int d = (int)(v & mask) + carry;
            carry = d > (1 << (c - 1));
            dig[(size_t)w * n + k] = (int16_t)(d - (carry << c));
        }
    }
}

#ifdef ED_FE64
/* Pippenger on 4-way points: buckets in extended coordinates, each point cached with its negative. */
__attribute__((target("avx512f,avx512vl,avx512ifma")))
static int pippenger4(ge_p3 *h, const ge_p3 *pts, const uint8_t *scalars, size_t n) {
    int c = pip_width(scalars, n), windows = (253 + c - 1) / c + 1;
    size_t nb = (size_t)1 << (c - 1);
    f4 (*cp)[2] = aligned_alloc(32, n * sizeof *cp), *bucket = aligned_alloc(32, nb * sizeof *bucket);
    int16_t *dig = PyMem_Malloc(n * windows * sizeof *dig);
    uint8_t *used = PyMem_Malloc(nb);
    if (!cp || !dig || !bucket || !used) { free(cp); free(bucket); PyMem_Free(dig); PyMem_Free(used); return -1; }
    for (size_t k = 0; k < n; k++) {
        f4 p;
        f4_load(&p, &pts[k]);
        f4_cached(&cp[k][0], &cp[k][1], &p);
    }
    pip_digits(dig, scalars, n, c, windows);
    f4 acc, running, sum, cc, unused;
    f4_identity(&acc);
    for (int w = windows - 1; w >= 0; w--) {
        if (w != windows - 1) for (int b = 0; b < c; b++) f4_dbl(&acc, &acc);
        memset(used, 0, nb);
        size_t pend = 0;  /* a point waiting for a partner with another bucket, so that the two additions overlap */
        const f4 *pq = NULL;
        for (size_t k = 0; k < n; k++) {
            int d = dig[(size_t)w * n + k];
            if (d == 0) continue;
            size_t b = (size_t)(d > 0 ? d : -d) - 1;
            const f4 *q = &cp[k][d < 0];
            if (!used[b]) { f4_uncached(&bucket[b], q); used[b] = 1; continue; }
            if (!pq) { pend = b; pq = q; continue; }
            if (b == pend) f4_add(&bucket[b], &bucket[b], pq);
            else f4_add2(&bucket[pend], &bucket[pend], pq, &bucket[b], &bucket[b], q);
            pq = b == pend ? q : NULL;
        }
        if (pq) f4_add(&bucket[pend], &bucket[pend], pq);
        /* sum_b (b+1) bucket[b] by running sums, from the top */
        int have = 0;
        for (size_t b = nb; b-- > 0;) {
            if (used[b]) {
                if (have) { f4_cached(&cc, &unused, &bucket[b]); f4_add(&running, &running, &cc); }
                else { running = bucket[b]; sum = running; have = 1; continue; }
            }
            if (have) { f4_cached(&cc, &unused, &running); f4_add(&sum, &sum, &cc); }
        }
        if (have) { f4_cached(&cc, &unused, &sum); f4_add(&acc, &acc, &cc); }
    }
    f4_store(h, &acc);
    free(cp); free(bucket); PyMem_Free(dig); PyMem_Free(used);
    return 0;
}
#endif

/* Pippenger with signed c-bit digits: about (256/c) (n + 2^c) additions. */
static int pippenger(ge_p3 *h, const ge_p3 *pts, const uint8_t *scalars, size_t n) {
    int c = pip_width(scalars, n), windows = (253 + c - 1) / c + 1;
    size_t nb = (size_t)1 << (c - 1);
    ge_cached *cp = PyMem_Malloc(n * sizeof *cp);
    int16_t *dig = PyMem_Malloc(n * windows * sizeof *dig);
    ge_p3 *bucket = PyMem_Malloc(nb * sizeof *bucket);
    uint8_t *used = PyMem_Malloc(nb);
    if (!cp || !dig || !bucket || !used) {
        PyMem_Free(cp); PyMem_Free(dig); PyMem_Free(bucket); PyMem_Free(used); return -1;
    }
    for (size_t k = 0; k < n; k++) ge_p3_to_cached(&cp[k], &pts[k]);
    pip_digits(dig, scalars, n, c, windows);
    ge_p3_0(h);
    for (int w = windows - 1; w >= 0; w--) {
        ge_p1p1 r;
        if (w != windows - 1) {
            ge_p2 s;
            ge_p3_to_p2(&s, h);
            for (int b = 0; b < c - 1; b++) { ge_p2_dbl(&r, &s); ge_p1p1_to_p2(&s, &r); }
            ge_p2_dbl(&r, &s); ge_p1p1_to_p3(h, &r);
        }
        memset(used, 0, nb);
        for (size_t k = 0; k < n; k++) {
            int d = dig[(size_t)w * n + k];
            if (d == 0) continue;
            size_t b = (size_t)(d > 0 ? d : -d) - 1;
            if (!used[b]) {
                ge_p3_0(&bucket[b]);
                used[b] = 1;
            }
            if (d > 0) ge_add_p3(&bucket[b], &bucket[b], &cp[k]);
            else ge_sub_p3(&bucket[b], &bucket[b], &cp[k]);
        }
        /* sum_b (b+1) bucket[b] by running sums, from the top */
        ge_p3 running, sum;
        int have = 0;
        ge_p3_0(&running); ge_p3_0(&sum);
        for (size_t b = nb; b-- > 0;) {
            ge_cached cc;
            if (used[b]) {
                if (have) { ge_p3_to_cached(&cc, &bucket[b]); ge_add_p3(&running, &running, &cc); }
                else { running = bucket[b]; have = 1; }
            }
            if (have) { ge_p3_to_cached(&cc, &running); ge_add_p3(&sum, &sum, &cc); }
        }
        ge_cached sc;
        ge_p3_to_cached(&sc, &sum);
        ge_add_p3(h, h, &sc);
    }
    PyMem_Free(cp); PyMem_Free(dig); PyMem_Free(bucket); PyMem_Free(used);
    return 0;
}

/* Whether every scalar is 0 or 1 (a sum of points: Group.prod's case). */
static int all_bits(const uint8_t *scalars, size_t n) {
    for (size_t k = 0; k < n; k++) {
        const uint8_t *a = scalars + 32 * k;
        if (a[0] > 1) return 0;
        for (int i = 1; i < 32; i++)
            if (a[i]) return 0;
    }
    return 1;
}

static int vartime_multi(ge_p3 *h, const ge_p3 *pts, const uint8_t *scalars, size_t n) {
    if (n == 0) { ge_p3_0(h); return 0; }
    if (all_bits(scalars, n)) {  /* one addition per point, no tables */
        ge_cached c;
        ge_p3_0(h);
        for (size_t k = 0; k < n; k++)
            if (scalars[32 * k]) { ge_p3_to_cached(&c, &pts[k]); ge_add_p3(h, h, &c); }
        return 0;
    }
#ifdef ED_FE64
    if (use_ifma) return n < 96 ? straus4(h, pts, scalars, n) : pippenger4(h, pts, scalars, n);
#endif
    return n < 96 ? straus(h, pts, scalars, n) : pippenger(h, pts, scalars, n);
}

/* ------------------------------------------------------------------ subgroup membership by halving
 *
 * E(F_p) = Z_L x Z_8 with cyclic torsion, so P is in the prime-order subgroup iff P is in 8E: iff P, a half Q of P
 * and a half R of Q are each in 2E (the rational halves of a point differ by the rational 2-torsion point T2 =
 * (0, -1), itself in 4E, so any half will do). With y = Y/Z and x != 0:
 *   - P is in 2E iff (1 + d)(1 + d y^2) is a square ((1 + d) is one: the quadratic character of 1 - y^2,
 *     which is that of the Montgomery u = (1 + y)/(1 - y); docs/spec.md, "edwards25519 membership");
 *   - the halves of P have y_Q^2 = s, a root of d(1 + y) s^2 + 2(1 - d y) s - (1 + y) = 0, whose discriminant is
 *     4(1 + d)(1 + d y^2); the roots' product -1/d is not a square, so exactly one root is, and it is y_Q^2;
 *   - the two roots s give 1 + d s the same quadratic character, so whether Q's halves are in 2E is read off
 *     either root: the character of ((1 + d) y_Q + sqrt((1 + d)(1 + d y_Q^2))) (1 + y_Q).
 * Four exponentiations to (p-5)/8 per point (square root, square root of a ratio, square root, character), each
 * shared by 16 points in lanes where the CPU has them, against the ~250 doublings of [L]P = O. Variable time
 * (the points are public). The three points with x = 0 or y = 0 other than the identity have order 2 or 4. */

static const uint8_t SQRT_MI_D[32] = {  /* sqrt(-i/d), i = sqrt(-1): both -i/d and i/d are squares */
    0xfe, 0xcf, 0xae, 0x60, 0xbf, 0x5a, 0xf7, 0xcc, 0x30, 0xc9, 0xa9, 0xfe, 0x22, 0x71, 0xa9, 0x0a,
    0x07, 0x17, 0xc1, 0x7d, 0xb2, 0xeb, 0xa3, 0x6a, 0x43, 0xd3, 0x90, 0x72, 0xf3, 0x8d, 0x99, 0x0d};
static const uint8_t SQRT_I_D[32] = {   /* sqrt(i/d) */
    0x40, 0x25, 0x6a, 0xc5, 0xe4, 0xc7, 0x3a, 0xf6, 0x05, 0x7c, 0x6d, 0x51, 0x20, 0xf9, 0x0c, 0x43,
    0x62, 0xab, 0x4a, 0xd9, 0x01, 0x5b, 0xc3, 0x65, 0x59, 0x8d, 0xac, 0xa0, 0x48, 0xba, 0xc4, 0x00};

static int fe_equal(const fe f, const fe g) {
    fe t;
    fe_sub(t, f, g);
    return fe_iszero(t);
}

/* Whether a (any value) is a square, from pw = a^((p-5)/8); if so, root <- a square root of a. */
static int sqrt_from_pow(fe root, const fe a, const fe pw) {
    fe b, bb, na;
    fe_mul(b, a, pw);  /* a^((p+3)/8): b^2 = a * a^((p-1)/4), and a^((p-1)/4) is +-1 iff a is a square */
    fe_sq(bb, b);
    if (fe_equal(bb, a)) { fe_copy(root, b); return 1; }
    fe_neg(na, a);
    if (!fe_equal(bb, na)) return 0;
    fe_mul(root, b, fe_sqrtm1);
    return 1;
}

/* n2 = (1 + d)(Z^2 + d Y^2): a square iff the point Y/Z (x != 0) is in 2E. */
static void twice_test_value(fe n2, const fe Y, const fe Z) {
    fe t, one_d;
    fe_1(one_d);
    fe_add(one_d, one_d, fe_d);
    fe_carry(one_d);
    fe_sq(t, Y);
    fe_mul(t, t, fe_d);
    fe_sq(n2, Z);
    fe_add(n2, n2, t);
    fe_carry(n2);
    fe_mul(n2, n2, one_d);
}

/* ok[i] = whether pts[i] is in the prime-order subgroup, for n points (see above). */
static void in_prime_subgroup_many(const ge_p3 *pts, size_t n, int *ok) {
    for (size_t base = 0; base < n; base += POW_BATCH) {
        int m = n - base < POW_BATCH ? (int)(n - base) : POW_BATCH, live[POW_BATCH], k = 0;
        fe Y[POW_BATCH], Z[POW_BATCH], a[POW_BATCH], pw[POW_BATCH], r[POW_BATCH], num[POW_BATCH], den[POW_BATCH],
            cube[POW_BATCH];
        for (int j = 0; j < m; j++) {  /* round 1: is P in 2E? */
            const ge_p3 *p = &pts[base + j];
            ok[base + j] = 0;
            if (fe_iszero(p->X)) { ok[base + j] = fe_equal(p->Y, p->Z); continue; }  /* O, or T2 = (0, -1) */
            if (fe_iszero(p->Y)) continue;                                            /* (+-i, 0): order 4 */
            live[k] = j;
            fe_copy(Y[k], p->Y); fe_copy(Z[k], p->Z);
            twice_test_value(a[k], Y[k], Z[k]);
            k++;
        }
        pow22523_many(pw, a, k);
        int k2 = 0;
        for (int j = 0; j < k; j++) {  /* round 2: y_Q^2 = num / den, the root of the quadratic that is a square */
            if (!sqrt_from_pow(r[j], a[j], pw[j])) continue;
            fe t, m3;
            live[k2] = live[j];
            fe_mul(t, fe_d, Y[j]);
            fe_add(num[k2], r[j], t);
            fe_carry(num[k2]);
            fe_sub(num[k2], num[k2], Z[j]);            /* sqrt(disc)/2 - (1 - d y), times Z */
            fe_add(t, Z[j], Y[j]);
            fe_carry(t);
            fe_mul(den[k2], t, fe_d);                  /* d (1 + y), times Z */
            fe_sq(m3, den[k2]);
            fe_mul(cube[k2], m3, den[k2]);             /* den^3 */
            fe_sq(t, cube[k2]);
            fe_mul(t, t, den[k2]);
            fe_mul(a[k2], t, num[k2]);                 /* num den^7: its power gives sqrt(num/den) */
            k2++;
        }
        pow22523_many(pw, a, k2);
        int k3 = 0;
        for (int j = 0; j < k2; j++) {  /* y_Q = Y/Z; then round 3: is Q in 2E? */
            fe rt, c, t;
            fe_mul(rt, num[j], cube[j]);
            fe_mul(rt, rt, pw[j]);                     /* num den^3 (num den^7)^((p-5)/8) */
            fe_sq(c, rt);
            fe_mul(c, c, den[j]);                      /* den rt^2 = num times a fourth root of unity */
            fe ni, nneg;
            fe_neg(nneg, num[j]);
            fe_mul(ni, num[j], fe_sqrtm1);
            if (fe_equal(c, num[j])) { fe_copy(Y[k3], rt); fe_1(Z[k3]); }
            else if (fe_equal(c, nneg)) { fe_mul(Y[k3], rt, fe_sqrtm1); fe_1(Z[k3]); }
            else {  /* num/den is not a square: rt^2 = +-i num/den, and the other root -1/(d num/den) is y_Q^2 */
                int plus = fe_equal(c, ni);
                fe_neg(t, ni);
                if (!plus && !fe_equal(c, t)) continue;  /* num = 0: not for a point of 2E other than T2 */
                fe_frombytes(Y[k3], plus ? SQRT_MI_D : SQRT_I_D);
                fe_copy(Z[k3], rt);
            }
            live[k3] = live[j];
            twice_test_value(a[k3], Y[k3], Z[k3]);
            k3++;
        }
        pow22523_many(pw, a, k3);
        int k4 = 0;
        for (int j = 0; j < k3; j++) {  /* round 4: are Q's halves in 2E? */
            fe r1, t, one_d;
            if (!sqrt_from_pow(r1, a[j], pw[j])) continue;
            fe_1(one_d);
            fe_add(one_d, one_d, fe_d);
            fe_carry(one_d);
            fe_mul(t, one_d, Y[j]);
            fe_add(t, t, r1);
            fe_carry(t);
            fe_add(r1, Z[j], Y[j]);
            fe_carry(r1);
            fe_mul(a[k4], t, r1);
            live[k4++] = live[j];
        }
        pow22523_many(pw, a, k4);
        for (int j = 0; j < k4; j++) {
            fe root;
            ok[base + live[j]] = !fe_iszero(a[j]) && sqrt_from_pow(root, a[j], pw[j]);
        }
    }
}

/* ------------------------------------------------------------------ Python glue */

static PyObject *DecodeFailure;  /* ValueError subclass; args = (code, message) */

static const char *dec_message(int rc) {
    switch (rc) {
    case DEC_NONCANONICAL: return "non-canonical encoding (y >= p)";
    case DEC_NOT_ON_CURVE: return "not a point of edwards25519";
    case DEC_BAD_SIGN: return "non-canonical encoding (sign bit set with x = 0)";
    default: return "invalid point";
    }
}

static int get_point(PyObject *obj, ge_p3 *p) {
    char *buf;
    Py_ssize_t len;
    if (!PyBytes_Check(obj)) { PyErr_SetString(PyExc_TypeError, "expected bytes"); return -1; }
    buf = PyBytes_AS_STRING(obj);
    len = PyBytes_GET_SIZE(obj);
    if (len != 32) { PyErr_Format(DecodeFailure, "expected 32 bytes, got %zd", len); return -1; }
    int rc = decode(p, (const uint8_t *)buf);
    if (rc != DEC_OK) { PyErr_SetString(DecodeFailure, dec_message(rc)); return -1; }
    return 0;
}

/* A non-negative int below 2^255 (the caller reduces modulo L), as 32 little-endian bytes. */
static int get_scalar(PyObject *obj, uint8_t out[32]) {
    if (!PyLong_Check(obj)) { PyErr_SetString(PyExc_TypeError, "scalar must be an int"); return -1; }
#if PY_VERSION_HEX >= 0x030D0000
    Py_ssize_t n = PyLong_AsNativeBytes(obj, out, 32, Py_ASNATIVEBYTES_LITTLE_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER | Py_ASNATIVEBYTES_REJECT_NEGATIVE);
    if (n < 0) return -1;
    if (n > 32) { PyErr_SetString(PyExc_OverflowError, "scalar too large"); return -1; }
#else
    if (_PyLong_AsByteArray((PyLongObject *)obj, out, 32, 1, 0) < 0) return -1;
#endif
    if (out[31] & 0x80) { PyErr_SetString(PyExc_OverflowError, "scalar must be below 2^255"); return -1; }
    return 0;
}

static PyObject *point_result(const ge_p3 *p, int cache_it) {
    uint8_t s[32];
    ge_p3_tobytes(s, p);
    if (cache_it) cache_put(s, p);
    return PyBytes_FromStringAndSize((const char *)s, 32);
}

static PyObject *py_check(PyObject *self, PyObject *arg) {
    ge_p3 p;
    if (!PyBytes_Check(arg) || PyBytes_GET_SIZE(arg) != 32) {
        PyErr_SetString(PyExc_TypeError, "expected 32 bytes"); return NULL;
    }
    return PyLong_FromLong(decode(&p, (const uint8_t *)PyBytes_AS_STRING(arg)));
}

/* checks(encs) -> [check(enc) for enc in encs]: the square roots of the points missing from the decode cache
 * computed together (16 at a time in lanes where the CPU has them). */
static PyObject *py_checks(PyObject *self, PyObject *arg) {
    if (!PyList_Check(arg)) { PyErr_SetString(PyExc_TypeError, "expected a list"); return NULL; }
    Py_ssize_t n = PyList_GET_SIZE(arg);
    ge_p3 *pts = PyMem_Malloc((n ? n : 1) * sizeof *pts);
    const uint8_t **enc = PyMem_Malloc((n ? n : 1) * sizeof *enc);
    int *rc = PyMem_Malloc((n ? n : 1) * sizeof *rc);
    PyObject *out = NULL;
    if (!pts || !enc || !rc) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = PyList_GET_ITEM(arg, i);
        if (!PyBytes_Check(obj) || PyBytes_GET_SIZE(obj) != 32) { PyErr_SetString(PyExc_TypeError, "expected 32 bytes"); goto done; }
        enc[i] = (const uint8_t *)PyBytes_AS_STRING(obj);
    }
    decode_many(pts, enc, rc, (size_t)n);
    if (!(out = PyList_New(n))) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *code = PyLong_FromLong(rc[i]);
        if (!code) { Py_CLEAR(out); goto done; }
        PyList_SET_ITEM(out, i, code);
    }
done:
    PyMem_Free(pts); PyMem_Free(enc); PyMem_Free(rc);
    return out;
}

static PyObject *py_member(PyObject *self, PyObject *arg) {
    ge_p3 p;
    int ok;
    if (!PyBytes_Check(arg) || PyBytes_GET_SIZE(arg) != 32) {
        PyErr_SetString(PyExc_TypeError, "expected 32 bytes"); return NULL;
    }
    if (decode(&p, (const uint8_t *)PyBytes_AS_STRING(arg)) != DEC_OK) Py_RETURN_FALSE;
    in_prime_subgroup_many(&p, 1, &ok);
    return PyBool_FromLong(ok);
}

/* members(list of encodings) -> list of bools, as member() of each: decoded together, their exponentiations shared
 * 16 at a time in lanes where the CPU has them. */
static PyObject *py_members(PyObject *self, PyObject *arg) {
    if (!PyList_Check(arg)) { PyErr_SetString(PyExc_TypeError, "expected a list"); return NULL; }
    Py_ssize_t n = PyList_GET_SIZE(arg);
    ge_p3 *pts = PyMem_Malloc((n ? n : 1) * sizeof *pts);
    const uint8_t **enc = PyMem_Malloc((n ? n : 1) * sizeof *enc);
    int *rc = PyMem_Malloc((n ? n : 1) * sizeof *rc), *ok = PyMem_Malloc((n ? n : 1) * sizeof *ok);
    PyObject *out = NULL;
    size_t m = 0;
    if (!pts || !enc || !rc || !ok) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = PyList_GET_ITEM(arg, i);
        if (!PyBytes_Check(obj) || PyBytes_GET_SIZE(obj) != 32) { PyErr_SetString(PyExc_TypeError, "expected 32 bytes"); goto done; }
        enc[i] = (const uint8_t *)PyBytes_AS_STRING(obj);
    }
    decode_many(pts, enc, rc, (size_t)n);
    for (Py_ssize_t i = 0; i < n; i++)  /* the decodable ones, packed */
        if (rc[i] == DEC_OK) pts[m++] = pts[i];
    in_prime_subgroup_many(pts, m, ok);
    if (!(out = PyList_New(n))) goto done;
    m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = rc[i] == DEC_OK && ok[m++] ? Py_True : Py_False;
        Py_INCREF(b);
        PyList_SET_ITEM(out, i, b);
    }
done:
    PyMem_Free(pts); PyMem_Free(enc); PyMem_Free(rc); PyMem_Free(ok);
    return out;
}

static PyObject *py_add(PyObject *self, PyObject *args) {
    PyObject *a, *b;
    ge_p3 p, q, r;
    ge_cached qc;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    if (get_point(a, &p) < 0 || get_point(b, &q) < 0) return NULL;
    ge_p3_to_cached(&qc, &q);
    ge_add_p3(&r, &p, &qc);
    return point_result(&r, 1);
}

static PyObject *py_sub(PyObject *self, PyObject *args) {
    PyObject *a, *b;
    ge_p3 p, q, r;
    ge_cached qc;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    if (get_point(a, &p) < 0 || get_point(b, &q) < 0) return NULL;
    ge_p3_to_cached(&qc, &q);
    ge_sub_p3(&r, &p, &qc);
    return point_result(&r, 1);
}

static PyObject *py_scalarmult(PyObject *self, PyObject *args) {
    PyObject *a, *e;
    ge_p3 p, r;
    uint8_t s[32];
    if (!PyArg_ParseTuple(args, "OO", &a, &e)) return NULL;
    if (get_point(a, &p) < 0 || get_scalar(e, s) < 0) return NULL;
    ct_scalarmult(&r, &p, s);
    wipe(s, sizeof s);
    return point_result(&r, 0);
}

static void table_free(PyObject *cap) {
    void *tb = PyCapsule_GetPointer(cap, "ed25519.table");
    PyMem_Free(tb);
}

static PyObject *py_table(PyObject *self, PyObject *arg) {
    ge_p3 p;
    if (get_point(arg, &p) < 0) return NULL;
    fb_table *tb = PyMem_Malloc(sizeof *tb);
    if (!tb) return PyErr_NoMemory();
    table_build(tb, &p);
    PyObject *cap = PyCapsule_New(tb, "ed25519.table", table_free);
    if (!cap) PyMem_Free(tb);
    return cap;
}

static PyObject *py_table_exp(PyObject *self, PyObject *args) {
    PyObject *cap, *e;
    ge_p3 r;
    uint8_t s[32];
    comb_term term;
    if (!PyArg_ParseTuple(args, "OO", &cap, &e)) return NULL;
    term.tb = PyCapsule_GetPointer(cap, "ed25519.table");
    if (!term.tb || get_scalar(e, s) < 0) return NULL;
    recode16(term.e, s);
    term.small = 0;
    comb_sum(&r, &term, 1);
    wipe(s, sizeof s); wipe(term.e, sizeof term.e);
    return point_result(&r, 0);
}

/* table_exps(products) -> one encoding per product; a product is a list of terms
 * (table, e, small): e < 2^255, and below 2^16 when small is true (checked: the bound is public). */
#define MAX_TERMS 8
static PyObject *py_table_exps(PyObject *self, PyObject *arg) {
    /* Tuple snapshots of the products and their terms are held until the end, so that no
     * Python code can free a term, its table or its scalar under us (small must be a bool:
     * no __bool__ is called). */
    if (!PyList_Check(arg)) { PyErr_SetString(PyExc_TypeError, "expected a list of products"); return NULL; }
    PyObject *outer = PyList_AsTuple(arg);
    if (!outer) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(outer);
    ge_p3 *pts = PyMem_Malloc((n ? n : 1) * sizeof *pts);
    uint8_t *enc = PyMem_Malloc(32 * (n ? n : 1));
    comb_term terms[MAX_TERMS];
    uint8_t s[32];
    PyObject *out = NULL;
    if (!pts || !enc) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *prod = PyTuple_GET_ITEM(outer, i);
        if (!PyList_Check(prod) && !PyTuple_Check(prod)) { PyErr_SetString(PyExc_TypeError, "a product is a list of terms"); goto done; }
        PyObject *snap = PySequence_Tuple(prod);
        if (!snap) goto done;
        int nt = (int)PyTuple_GET_SIZE(snap);
        if (nt < 1 || nt > MAX_TERMS) { Py_DECREF(snap); PyErr_SetString(PyExc_ValueError, "1 to 8 terms per product"); goto done; }
        for (int k = 0; k < nt; k++) {
            PyObject *term = PyTuple_GET_ITEM(snap, k);
            PyObject *cap, *e, *small;
            if (!PyTuple_Check(term) || !PyArg_ParseTuple(term, "OOO!", &cap, &e, &PyBool_Type, &small)) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a term is (table, e, small)");
                Py_DECREF(snap); goto done;
            }
            terms[k].tb = PyCapsule_GetPointer(cap, "ed25519.table");
            if (!terms[k].tb || get_scalar(e, s) < 0) { Py_DECREF(snap); goto done; }
            terms[k].small = small == Py_True;
            if (terms[k].small) {
                uint8_t hi = 0;
                for (int b = 2; b < 32; b++) hi |= s[b];
                if (hi) { Py_DECREF(snap); PyErr_SetString(PyExc_ValueError, "small exponent not below 2^16"); goto done; }
            }
            recode16(terms[k].e, s);
        }
        comb_sum(&pts[i], terms, nt);
        Py_DECREF(snap);
    }
    if (n == 0) { out = PyList_New(0); goto done; }
    if (encode_many(enc, pts, (size_t)n) < 0) { PyErr_NoMemory(); goto done; }
    out = PyList_New(n);
    if (!out) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = PyBytes_FromStringAndSize((const char *)enc + 32 * i, 32);
        if (!b) { Py_CLEAR(out); goto done; }
        PyList_SET_ITEM(out, i, b);
    }
done:
    wipe(s, sizeof s);
    wipe(terms, sizeof terms);
    if (pts) wipe(pts, (n ? n : 1) * sizeof *pts);
    PyMem_Free(pts); PyMem_Free(enc);
    Py_DECREF(outer);
    return out;
}

/* sum [e_i]P_i of n encodings (each checked to be 32 bytes by the caller) and 32-byte scalars below 2^255:
 * public scalars only (variable time). The points missing from the decode cache are decoded together. */
static int multi_from_encodings(ge_p3 *r, const uint8_t **enc, const uint8_t *sc, size_t n) {
    ge_p3 *pts = PyMem_Malloc((n ? n : 1) * sizeof *pts);
    int *drc = PyMem_Malloc((n ? n : 1) * sizeof *drc);
    int rc = -1;
    if (!pts || !drc) { PyErr_NoMemory(); goto done; }
    decode_many(pts, enc, drc, n);
    for (size_t i = 0; i < n; i++)
        if (drc[i] != DEC_OK) { PyErr_SetString(DecodeFailure, dec_message(drc[i])); goto done; }
    if (vartime_multi(r, pts, sc, n) < 0) { PyErr_NoMemory(); goto done; }
    rc = 0;
done:
    PyMem_Free(pts); PyMem_Free(drc);
    return rc;
}

/* The 32 bytes of a point given from Python, or NULL with an exception. */
static const uint8_t *point_bytes(PyObject *obj) {
    if (!PyBytes_Check(obj)) { PyErr_SetString(PyExc_TypeError, "expected bytes"); return NULL; }
    if (PyBytes_GET_SIZE(obj) != 32) {
        PyErr_Format(DecodeFailure, "expected 32 bytes, got %zd", PyBytes_GET_SIZE(obj)); return NULL;
    }
    return (const uint8_t *)PyBytes_AS_STRING(obj);
}

/* sum [e_i]P_i of Python lists of points and scalars: public scalars only (variable time). */
static int multi_from_py(PyObject *args, ge_p3 *r) {
    PyObject *pl, *sl;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &pl, &PyList_Type, &sl)) return -1;
    Py_ssize_t n = PyList_GET_SIZE(pl);
    if (PyList_GET_SIZE(sl) != n) { PyErr_SetString(PyExc_ValueError, "length mismatch"); return -1; }
    uint8_t *sc = PyMem_Malloc((n ? n : 1) * 32);
    const uint8_t **enc = PyMem_Malloc((n ? n : 1) * sizeof *enc);
    int rc = -1;
    if (!sc || !enc) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!(enc[i] = point_bytes(PyList_GET_ITEM(pl, i)))) goto done;
        if (get_scalar(PyList_GET_ITEM(sl, i), sc + 32 * i) < 0) goto done;
    }
    rc = multi_from_encodings(r, enc, sc, (size_t)n);
done:
    PyMem_Free(sc); PyMem_Free(enc);
    return rc;
}

static PyObject *py_multi_exp(PyObject *self, PyObject *args) {
    ge_p3 r;
    return multi_from_py(args, &r) < 0 ? NULL : point_result(&r, 1);
}

/* Whether [8] sum = O (the sum is a point of E[8]): three doublings and a projective test. */
static PyObject *py_multi_exp_torsion(PyObject *self, PyObject *args) {
    ge_p3 r;
    ge_p1p1 t;
    if (multi_from_py(args, &r) < 0) return NULL;
    for (int i = 0; i < 3; i++) { ge_p3_dbl(&t, &r); ge_p1p1_to_p3(&r, &t); }
    return PyBool_FromLong(ge_p3_is_identity(&r));
}

/* ------------------------------------------------------------------ weighted equations
 * Batch verification raises equation k, prod_i P_ki^(e_ki) = O, to a weight w_k and multiplies them all:
 * each base's exponent is sum_k w_k e_ki mod L, merged over equal encodings. Scalars mod L are 4 limbs of
 * 64 bits; products go through Montgomery multiplication with R = 2^256 (inputs below 2^256 and L, the
 * output below L). Variable time: exponents and weights are public in verification. */

static const uint64_t SC_L[4] = {0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0, 0x1000000000000000ULL};
static const uint64_t SC_R2[4] = {0xa40611e3449c0f01ULL, 0xd00e1ba768859347ULL, 0xceec73d217f5be65ULL,
                                  0x0399411b7c309a3dULL};  /* 2^512 mod L */
#define SC_MINV 0xd2b51da312547e1bULL  /* -1/L mod 2^64 */

/* r = x - L if x >= L, else x (x below 2L). */
static void sc_reduce_once(uint64_t r[4], const uint64_t x[4]) {
    uint64_t d[4];
    unsigned __int128 b = 0;
    for (int i = 0; i < 4; i++) {
        unsigned __int128 t = (unsigned __int128)x[i] - SC_L[i] - (uint64_t)b;
        d[i] = (uint64_t)t;
        b = (t >> 64) & 1;
    }
    memcpy(r, b ? x : d, sizeof d);
}

/* r = a b / 2^256 mod L, for a b < 2^256 L (CIOS). */
static void sc_mont(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
    uint64_t t[6] = {0};
    for (int i = 0; i < 4; i++) {
        unsigned __int128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (unsigned __int128)a[j] * b[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (uint64_t)c;
        t[5] = (uint64_t)(c >> 64);
        uint64_t m = t[0] * SC_MINV;
        c = ((unsigned __int128)m * SC_L[0] + t[0]) >> 64;
        for (int j = 1; j < 4; j++) {
            c += (unsigned __int128)m * SC_L[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (uint64_t)c;
        t[4] = t[5] + (uint64_t)(c >> 64);
    }
    sc_reduce_once(r, t);  /* t < 2L < 2^254: t[4] = 0 */
}

/* r = (a + b) mod L for a, b below L. */
static void sc_add(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
    uint64_t s[4];
    unsigned __int128 c = 0;
    for (int i = 0; i < 4; i++) {
        c += (unsigned __int128)a[i] + b[i];
        s[i] = (uint64_t)c;
        c >>= 64;
    }
    sc_reduce_once(r, s);  /* a + b < 2L < 2^254: no carry out */
}

static int sc_is_zero(const uint64_t a[4]) { return !(a[0] | a[1] | a[2] | a[3]); }

/* An int of any sign as its magnitude below 2^256 and its sign; 1 if it does not fit (the caller reduces it
 * first), -1 with an exception if it is no int. */
static int sc_from_py(PyObject *obj, uint64_t mag[4], int *negative) {
    uint8_t buf[40];
    if (!PyLong_Check(obj)) { PyErr_SetString(PyExc_TypeError, "exponent must be an int"); return -1; }
#if PY_VERSION_HEX >= 0x030D0000
    Py_ssize_t need = PyLong_AsNativeBytes(obj, buf, sizeof buf, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
    if (need < 0) return -1;
    if (need > (Py_ssize_t)sizeof buf) return 1;
#else
    if (_PyLong_AsByteArray((PyLongObject *)obj, buf, sizeof buf, 1, 1) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
        PyErr_Clear();
        return 1;
    }
#endif
    *negative = buf[39] >> 7;
    if (*negative) {  /* two's complement: the magnitude is ~x + 1 */
        unsigned c = 1;
        for (size_t i = 0; i < sizeof buf; i++) { c += (uint8_t)~buf[i]; buf[i] = (uint8_t)c; c >>= 8; }
    }
    for (size_t i = 32; i < sizeof buf; i++)
        if (buf[i]) return 1;
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int j = 7; j >= 0; j--) w = w << 8 | buf[8 * i + j];
        mag[i] = w;
    }
    return 0;
}

/* e mod L (any int) times the Montgomery form wm = w 2^256 mod L: (w e mod L). */
static int sc_weighted_term(uint64_t out[4], PyObject *e, const uint64_t wm[4], PyObject *modulus) {
    uint64_t mag[4];
    int negative = 0, rc;
    if (!PyLong_Check(e)) {  /* another integer type (gmpy2's mpz): through its __index__ */
        PyObject *as_int = PyNumber_Index(e);
        if (!as_int) return -1;
        rc = sc_weighted_term(out, as_int, wm, modulus);
        Py_DECREF(as_int);
        return rc;
    }
    rc = sc_from_py(e, mag, &negative);
    if (rc == 1) {  /* beyond 256 bits: Python reduces it, then it fits */
        PyObject *red = PyNumber_Remainder(e, modulus);
        if (!red) return -1;
        rc = sc_from_py(red, mag, &negative);
        Py_DECREF(red);
    }
    if (rc != 0) {
        if (rc == 1) PyErr_SetString(PyExc_OverflowError, "exponent does not reduce modulo L");
        return -1;
    }
    sc_mont(out, mag, wm);
    if (negative && !sc_is_zero(out)) {
        uint64_t neg[4];
        unsigned __int128 b = 0;
        for (int i = 0; i < 4; i++) {  /* L - out */
            unsigned __int128 t = (unsigned __int128)SC_L[i] - out[i] - (uint64_t)b;
            neg[i] = (uint64_t)t;
            b = (t >> 64) & 1;
        }
        memcpy(out, neg, sizeof neg);
    }
    return 0;
}

/* Bases merged by encoding: an open-addressing table (at most half full) of the bases' Python hashes (keyed
 * SipHash, so chosen encodings cannot pile up in one run of slots) and their indices. */
typedef struct { Py_hash_t h; Py_ssize_t j; } base_slot;

/* weighted_torsion(equations, randomness, L): whether [8] prod_k (prod_i P_ki^e_ki)^(w_k) = O, the equations a list
 * of lists of (point, exponent), w_k = 2 t + 1 with t the k-th 16 bytes of randomness, little-endian (below 2^129,
 * as threshold.batch.weights_from reads them). Bases are merged by encoding; those whose exponent sums to 0 mod L
 * are left out. VARIABLE time. */
static PyObject *py_weighted_torsion(PyObject *self, PyObject *args) {
    PyObject *eqs, *rnd, *modulus, *snap, *result = NULL;
    base_slot *index = NULL;
    uint64_t (*acc)[4] = NULL;
    const uint8_t **enc = NULL;
    uint8_t *sc = NULL;
    if (!PyArg_ParseTuple(args, "OO!O!", &eqs, &PyBytes_Type, &rnd, &PyLong_Type, &modulus)) return NULL;
    if (!PyList_Check(eqs) && !PyTuple_Check(eqs)) { PyErr_SetString(PyExc_TypeError, "equations must be a list"); return NULL; }
    Py_ssize_t n_eq = PySequence_Fast_GET_SIZE(eqs), cap = 0, n = 0;
    if (PyBytes_GET_SIZE(rnd) != 16 * n_eq) { PyErr_SetString(PyExc_ValueError, "16 random bytes per equation"); return NULL; }
    const uint8_t *rb = (const uint8_t *)PyBytes_AS_STRING(rnd);
    /* A snapshot of the equations, taken before an exponent's __index__ can run (it may change a list; a tuple is
     * kept as it is): tuples of (exact bytes, exponent) tuples, which hold every point for the whole call. On
     * CPython 3.11 an allocation may run the garbage collector, and a finalizer may change the outer list: its
     * length is checked again before each read. */
    if (!(snap = PyTuple_New(n_eq))) return NULL;
    PyObject *one = PyLong_FromLong(1);  /* CPython's cached 1: the exponent 1 is that object (else the general path) */
    for (Py_ssize_t k = 0; k < n_eq; k++) {
        if (PySequence_Fast_GET_SIZE(eqs) != n_eq) {  /* an allocation ran the collector, and a finalizer the list */
            PyErr_SetString(PyExc_RuntimeError, "the equations changed while being read"); goto done;
        }
        PyObject *eq = PySequence_Fast_GET_ITEM(eqs, k);
        if (!PyList_Check(eq) && !PyTuple_CheckExact(eq)) {
            PyErr_SetString(PyExc_TypeError, "an equation must be a list or tuple of (point, exponent)"); goto done;
        }
        PyObject *frozen = PyList_Check(eq) ? PyList_AsTuple(eq) : Py_NewRef(eq);
        if (!frozen) goto done;
        PyTuple_SET_ITEM(snap, k, frozen);
        cap += PyTuple_GET_SIZE(frozen);
    }
    acc = PyMem_Malloc((cap ? cap : 1) * sizeof *acc);
    enc = PyMem_Malloc((cap ? cap : 1) * sizeof *enc);
    sc = PyMem_Malloc((cap ? cap : 1) * 32);
    size_t mask = 7;
    while (mask < 2 * (size_t)cap) mask = 2 * mask + 1;
    index = PyMem_Malloc((mask + 1) * sizeof *index);
    if (!acc || !enc || !sc || !index) { PyErr_NoMemory(); goto done; }
    for (size_t i = 0; i <= mask; i++) index[i].j = -1;
    for (Py_ssize_t k = 0; k < n_eq; k++) {
        PyObject *eq = PyTuple_GET_ITEM(snap, k);
        uint64_t half[2] = {0, 0}, w[4], wm[4];  /* t, then w = 2 t + 1 */
        for (int j = 15; j >= 0; j--) half[j / 8] = half[j / 8] << 8 | rb[16 * k + j];
        w[0] = half[0] << 1 | 1;
        w[1] = half[1] << 1 | half[0] >> 63;
        w[2] = half[1] >> 63;
        w[3] = 0;
        sc_mont(wm, w, SC_R2);  /* w 2^256 mod L */
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(eq); i++) {
            PyObject *term = PyTuple_GET_ITEM(eq, i);
            if (!PyTuple_Check(term) || PyTuple_GET_SIZE(term) != 2) {
                PyErr_SetString(PyExc_TypeError, "a term must be a (point, exponent) tuple"); goto done;
            }
            PyObject *point = PyTuple_GET_ITEM(term, 0), *e = PyTuple_GET_ITEM(term, 1);
            uint64_t t[4];
            if (!PyBytes_CheckExact(point)) { PyErr_SetString(PyExc_TypeError, "expected bytes"); goto done; }
            const uint8_t *p = point_bytes(point);
            if (!p) goto done;
            if (e == one) memcpy(t, w, sizeof t);  /* a commitment's exponent: w itself (below 2^129 < L) */
            else if (sc_weighted_term(t, e, wm, modulus) < 0) goto done;
            Py_hash_t h = PyObject_Hash(point);  /* bytes: keyed SipHash, cached in the object */
            if (h == -1) goto done;
            size_t i = (size_t)h & mask;
            while (index[i].j >= 0 && !(index[i].h == h && memcmp(enc[index[i].j], p, 32) == 0)) i = (i + 1) & mask;
            if (index[i].j >= 0) {
                sc_add(acc[index[i].j], acc[index[i].j], t);
            } else {
                index[i].h = h;
                index[i].j = n;
                enc[n] = p;
                memcpy(acc[n++], t, sizeof t);
            }
        }
    }
    Py_ssize_t m = 0;  /* the bases with a non-zero exponent, their scalars as 32 little-endian bytes */
    for (Py_ssize_t j = 0; j < n; j++) {
        if (sc_is_zero(acc[j])) continue;
        enc[m] = enc[j];
        bytes64(sc + 32 * m, acc[j]);
        m++;
    }
    ge_p3 r;
    ge_p1p1 t;
    if (multi_from_encodings(&r, enc, sc, (size_t)m) < 0) goto done;
    for (int i = 0; i < 3; i++) { ge_p3_dbl(&t, &r); ge_p1p1_to_p3(&r, &t); }
    result = PyBool_FromLong(ge_p3_is_identity(&r));
done:
    PyMem_Free(acc); PyMem_Free(enc); PyMem_Free(sc); PyMem_Free(index);
    Py_DECREF(snap); Py_XDECREF(one);
    return result;
}

/* members_batch(points, randomness): True if every point (already decodable) passes 128
 * random-subset checks; randomness holds 16 bytes per point, read as a little-endian 128-bit
 * mask (bit j: the point is in subset j). Subsets are summed by buckets: for each group of c
 * consecutive checks, a point is added once, to the bucket its c mask bits name, and subset j
 * is the sum of the buckets whose index has j's bit; c is chosen from the number of points
 * (about 128/c additions per point plus 2^c c/2 per group). */
#define CHECKS 128
#define MB_BLOCK 4096
static int mb_width(Py_ssize_t n) {
    int best = 4;
    double best_cost = 0;
    for (int c = 4; c <= 10; c++) {
        double cost = (double)((CHECKS + c - 1) / c) * ((double)n + (double)(1 << c) * (1 + c / 2.0));
        if (c == 4 || cost < best_cost) { best = c; best_cost = cost; }
    }
    return best;
}

/* The subset sums of members_batch, by buckets: a point is added once per group of c checks, to the bucket its c
 * mask bits name (the block of MB_BLOCK points read at a time), and subset j is the sum of its group's buckets whose
 * index has j's bit. The non-empty sums go to sum[], their number to *count; -1 with a Python error if a point is
 * not one. One body for two point types: P a point, ALLOC/FREE its arrays, LOAD(&P, &ge_p3), CACHE(&cached, &P),
 * ADD(&P, &P, &cached), STORE(&ge_p3, &P). */
#define MB_SUMS(P, C, ALLOC, FREE, LOAD, CACHE, ADD, STORE)                                              \
    Py_ssize_t n = PyList_GET_SIZE(pl);                                                                     \
    int groups = (CHECKS + c - 1) / c, rc = -1;                                                             \
    size_t nb = (size_t)groups << c, sums = 0;                                                              \
    const unsigned mask = (1u << c) - 1;                                                                    \
    P *bucket = ALLOC(nb * sizeof(P)), *pts = ALLOC(MB_BLOCK * sizeof(P)), acc;                             \
    C *pc = ALLOC(MB_BLOCK * sizeof(C));                                                                    \
    uint8_t *have = PyMem_Calloc(nb, 1);                                                                    \
    if (!bucket || !have || !pts || !pc) { PyErr_NoMemory(); goto done; }                                   \
    for (Py_ssize_t base = 0; base < n; base += MB_BLOCK) {                                                 \
        int w = (int)(n - base < MB_BLOCK ? n - base : MB_BLOCK);                                           \
        for (int i = 0; i < w; i++) {                                                                       \
            ge_p3 p;                                                                                        \
            if (get_point(PyList_GET_ITEM(pl, base + i), &p) < 0) goto done;                                \
            LOAD(&pts[i], &p);                                                                              \
            CACHE(&pc[i], &pts[i]);                                                                         \
        }                                                                                                   \
        for (int i = 0; i < w; i++) {                                                                       \
            unsigned __int128 m = 0;                                                                        \
            for (int k = 15; k >= 0; k--) m = (m << 8) | bits[16 * (base + i) + k];                         \
            for (int g = 0; g < groups; g++, m >>= c) {                                                     \
                unsigned b = (unsigned)m & mask;                                                            \
                if (!b) continue;                                                                           \
                size_t at = ((size_t)g << c) | b;                                                           \
                if (have[at]) ADD(&bucket[at], &bucket[at], &pc[i]);                                        \
                else { bucket[at] = pts[i]; have[at] = 1; }                                                 \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
    for (int g = 0; g < groups; g++) {                                                                      \
        P *row = bucket + ((size_t)g << c);                                                                 \
        const uint8_t *used = have + ((size_t)g << c);                                                      \
        for (unsigned b = 1; b <= mask; b++)                                                                \
            if (used[b]) CACHE(&pc[b], &row[b]);  /* pc is free again: 2^c <= MB_BLOCK */                  \
        for (int t = 0; t < c && g * c + t < CHECKS; t++) {                                                 \
            int any = 0;                                                                                    \
            for (unsigned b = 1; b <= mask; b++) {                                                          \
                if (!(b >> t & 1) || !used[b]) continue;                                                    \
                if (any) ADD(&acc, &acc, &pc[b]);                                                           \
                else { acc = row[b]; any = 1; }                                                             \
            }                                                                                               \
            if (any) STORE(&sum[sums++], &acc);                                                             \
        }                                                                                                   \
    }                                                                                                       \
    *count = sums;                                                                                          \
    rc = 0;                                                                                                 \
done:                                                                                                       \
    FREE(bucket); FREE(pts); FREE(pc); PyMem_Free(have);                                                    \
    return rc;

#define MB_COPY(h, p) (*(h) = *(p))
static int mb_sums(ge_p3 *sum, size_t *count, PyObject *pl, const uint8_t *bits, int c) {
    MB_SUMS(ge_p3, ge_cached, PyMem_Malloc, PyMem_Free, MB_COPY, ge_p3_to_cached, ge_add_p3, MB_COPY)
}

#ifdef ED_FE64
#define MB_ALLOC4(size) aligned_alloc(32, size)  /* 32-byte vectors; every size here is a multiple of 32 */
#define MB_CACHE4(h, p) f4_cached(h, &unused, p)
/* mb_sums on 4-way points (IFMA): each addition one lane-wise product pair. */
__attribute__((target("avx512f,avx512vl,avx512ifma")))
static int mb_sums4(ge_p3 *sum, size_t *count, PyObject *pl, const uint8_t *bits, int c) {
    f4 unused;
    MB_SUMS(f4, f4, MB_ALLOC4, free, f4_load, MB_CACHE4, f4_add, f4_store)
}
#endif

static PyObject *py_members_batch(PyObject *self, PyObject *args) {
    PyObject *pl;
    Py_buffer rnd;
    if (!PyArg_ParseTuple(args, "O!y*", &PyList_Type, &pl, &rnd)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(pl);
    PyObject *out = NULL;
    int c = mb_width(n), ok[CHECKS], rc;
    ge_p3 sum[CHECKS];
    size_t sums = 0;
    if (rnd.len != 16 * n) { PyErr_SetString(PyExc_ValueError, "need 16 random bytes per point"); goto done; }
#ifdef ED_FE64
    rc = use_ifma ? mb_sums4(sum, &sums, pl, rnd.buf, c) : mb_sums(sum, &sums, pl, rnd.buf, c);
#else
    rc = mb_sums(sum, &sums, pl, rnd.buf, c);
#endif
    if (rc < 0) goto done;
    in_prime_subgroup_many(sum, sums, ok);  /* the non-empty subset sums, tested together */
    out = Py_True;
    for (size_t j = 0; j < sums; j++)
        if (!ok[j]) { out = Py_False; break; }
    Py_INCREF(out);
done:
    PyBuffer_Release(&rnd);
    return out;
}

/* _field(op, a, b) -> tuple of limbs (bytes for "tobytes"): one field operation on raw limbs, for
 * the tests (op: "mul", "sq", "add", "sub", "invert", "tobytes"; b is ignored by the one-operand
 * ones; "lane_mul", "lane_sub", "quad_mul" with IFMA, below). a and b are sequences of FE_LIMBS ints below 2^64, taken as they are: any for adx, within
 * the documented limb bounds for portable (not checked here: the point is to drive the limbs to
 * those bounds). Public data only. */
static int get_limbs(PyObject *obj, fe out) {
    PyObject *seq = PySequence_Fast(obj, "limbs must be a sequence");
    if (!seq) return -1;
    if (PySequence_Fast_GET_SIZE(seq) != FE_LIMBS) {
        PyErr_Format(PyExc_ValueError, "expected %d limbs", FE_LIMBS); Py_DECREF(seq); return -1;
    }
    for (int i = 0; i < FE_LIMBS; i++) {
        out[i] = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (out[i] == (uint64_t)-1 && PyErr_Occurred()) { Py_DECREF(seq); return -1; }
    }
    Py_DECREF(seq);
    return 0;
}

#ifdef ED_FE64
/* "lane_mul" / "lane_sub": v_mul / v_sub of the IFMA comb on 5 radix-2^51 limbs (lane l takes a and
 * b with limb 0 moved by l towards the middle: x - l if x >= l, else x + l, so that the lanes
 * differ); returns the 8 lanes' 5 limbs each. "quad_mul": f4_mul of the 4-way points, the same way
 * on 4 lanes. op: 0 sub, 1 mul, 2 quad_mul. */
__attribute__((target("avx512f,avx512vl,avx512ifma"))) static PyObject *lane_op(int op, PyObject *a, PyObject *b) {
    uint64_t la[5][8], lb[5][8], lh[5][8];
    int lanes = op == 2 ? 4 : 8;
    v5 f, g, h;
    f4 f4a, f4b, f4h;
    for (int w = 0; w < 2; w++) {
        PyObject *seq = PySequence_Fast(w ? b : a, "limbs must be a sequence");
        if (!seq) return NULL;
        if (PySequence_Fast_GET_SIZE(seq) != 5) { PyErr_SetString(PyExc_ValueError, "expected 5 limbs"); Py_DECREF(seq); return NULL; }
        for (int k = 0; k < 5; k++) {
            uint64_t x = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, k));
            if (x == (uint64_t)-1 && PyErr_Occurred()) { Py_DECREF(seq); return NULL; }
            for (int l = 0; l < 8; l++) (w ? lb : la)[k][l] = k ? x : x >= (uint64_t)l ? x - l : x + l;
        }
        Py_DECREF(seq);
    }
    if (op == 2) {
        for (int k = 0; k < 5; k++) { memcpy(&f4a.v[k], la[k], 32); memcpy(&f4b.v[k], lb[k], 32); }
        f4_mul(&f4h, &f4a, &f4b);
        for (int k = 0; k < 5; k++) memcpy(lh[k], &f4h.v[k], 32);
    } else {
        for (int k = 0; k < 5; k++) { f.v[k] = _mm512_loadu_si512(la[k]); g.v[k] = _mm512_loadu_si512(lb[k]); }
        if (op) v_mul(&h, &f, &g); else v_sub(&h, &f, &g);
        for (int k = 0; k < 5; k++) _mm512_storeu_si512(lh[k], h.v[k]);
    }
    PyObject *out = PyList_New(lanes);
    if (!out) return NULL;
    for (int l = 0; l < lanes; l++) {
        PyObject *t = Py_BuildValue("(KKKKK)", (unsigned long long)lh[0][l], (unsigned long long)lh[1][l],
                                    (unsigned long long)lh[2][l], (unsigned long long)lh[3][l], (unsigned long long)lh[4][l]);
        if (!t) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, l, t);
    }
    return out;
}
#endif

static PyObject *py_field(PyObject *self, PyObject *args) {
    const char *op;
    PyObject *a, *b;
    fe f, g, h;
    if (!PyArg_ParseTuple(args, "sOO", &op, &a, &b)) return NULL;
    if (!strncmp(op, "lane_", 5) || !strcmp(op, "quad_mul")) {
#ifdef ED_FE64
        if (use_ifma && (!strcmp(op, "lane_mul") || !strcmp(op, "lane_sub") || !strcmp(op, "quad_mul")))
            return lane_op(op[0] == 'q' ? 2 : op[5] == 'm', a, b);
#endif
        PyErr_Format(PyExc_ValueError, "%s: no IFMA lanes in this arithmetic", op);
        return NULL;
    }
    if (get_limbs(a, f) < 0 || get_limbs(b, g) < 0) return NULL;
    if (!strcmp(op, "mul")) fe_mul(h, f, g);
    else if (!strcmp(op, "sq")) fe_sq(h, f);
    else if (!strcmp(op, "add")) fe_add(h, f, g);
    else if (!strcmp(op, "sub")) fe_sub(h, f, g);
    else if (!strcmp(op, "invert")) fe_invert(h, f);
    else if (!strcmp(op, "tobytes")) {
        uint8_t s[32];
        fe_tobytes(s, f);
        return PyBytes_FromStringAndSize((const char *)s, 32);
    } else { PyErr_Format(PyExc_ValueError, "unknown field operation %s", op); return NULL; }
    PyObject *out = PyTuple_New(FE_LIMBS);
    if (!out) return NULL;
    for (int i = 0; i < FE_LIMBS; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(h[i]);
        if (!v) { Py_DECREF(out); return NULL; }
        PyTuple_SET_ITEM(out, i, v);
    }
    return out;
}

static PyObject *py_cache_clear(PyObject *self, PyObject *noargs) {
    memset(cache, 0, sizeof(cache_entry) << CACHE_BITS);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ module */

/* This file is compiled twice (see the header): each build has its own methods, decode cache and
 * DecodeFailure, and PyInit__ed25519 (in the portable build) wires one of them into the module. */
#ifdef ED_FE64
#define ED_VARIANT(name) name##_adx
#else
#define ED_VARIANT(name) name##_portable
#endif
#define ED_EXPORT __attribute__((visibility("hidden")))

ED_EXPORT PyMethodDef ED_VARIANT(ed25519_methods)[] = {
    {"check", py_check, METH_O, "check(enc) -> 0 if enc is a canonical curve point, else an error code (1, 2, 3)."},
    {"checks", py_checks, METH_O, "checks(encs) -> [check(enc) for enc in encs], the square roots computed together."},
    {"member", py_member, METH_O, "member(enc) -> whether enc decodes to a point of the prime-order subgroup ([L]P = O, tested by halving)."},
    {"members", py_members, METH_O, "members(encs) -> [member(enc) for enc in encs], tested together."},
    {"members_batch", py_members_batch, METH_VARARGS, "members_batch(encs, randomness) -> 128 random-subset checks [L](sum) = O, VARIABLE time."},
    {"add", py_add, METH_VARARGS, "add(a, b) -> a + b."},
    {"sub", py_sub, METH_VARARGS, "sub(a, b) -> a - b."},
    {"scalarmult", py_scalarmult, METH_VARARGS, "scalarmult(a, e) -> [e]a, constant time in e (0 <= e < 2^255)."},
    {"table", py_table, METH_O, "table(a) -> fixed-base comb table for a."},
    {"table_exp", py_table_exp, METH_VARARGS, "table_exp(table, e) -> [e]a, constant time in e (0 <= e < 2^255)."},
    {"table_exps", py_table_exps, METH_O, "table_exps([[(table, e, small), ...], ...]) -> one encoding per product of [e]base terms, constant time in every e; one inversion for all (small: e < 2^16)."},
    {"multi_exp", py_multi_exp, METH_VARARGS, "multi_exp(points, scalars) -> sum [e_i]P_i, VARIABLE time: public scalars only."},
    {"multi_exp_torsion", py_multi_exp_torsion, METH_VARARGS, "multi_exp_torsion(points, scalars) -> whether sum [e_i]P_i is in E[8], VARIABLE time."},
    {"weighted_torsion", py_weighted_torsion, METH_VARARGS, "weighted_torsion(equations, randomness, L) -> whether [8] prod_k (prod (P, e) in equations[k] of [e]P)^w_k = O, w_k = 2 t + 1 from the k-th 16 bytes, bases merged, VARIABLE time."},
    {"cache_clear", py_cache_clear, METH_NOARGS, "Forget every cached decoding."},
    {"_field", py_field, METH_VARARGS, "_field(op, a, b) -> one field operation on raw limbs (tests only)."},
    {NULL, NULL, 0, NULL}};

enum { LANES_NONE, LANES_AVX2, LANES_IFMA };

/* lanes: the vector units this CPU offers the adx build (the portable build has none). */
ED_EXPORT int ED_VARIANT(ed25519_init)(PyObject *m, int lanes) {
#ifdef ED_FE64
    use_ifma = lanes == LANES_IFMA;
    use_avx2 = lanes == LANES_AVX2;
#else
    (void)lanes;
#endif
    cache = PyMem_Calloc((size_t)1 << CACHE_BITS, sizeof(cache_entry));
    if (!cache) { PyErr_NoMemory(); return -1; }
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) == (ssize_t)sizeof seed) cache_mult = seed | 1;
    DecodeFailure = PyErr_NewException("threshold.groups._ed25519.DecodeFailure", PyExc_ValueError, NULL);
    if (!DecodeFailure || PyModule_AddObject(m, "DecodeFailure", DecodeFailure) < 0) return -1;
    Py_INCREF(DecodeFailure);
    return 0;
}

#ifndef ED_FE64
#if ED_HAVE_ADX
#include <cpuid.h>
extern PyMethodDef ed25519_methods_adx[];
extern int ed25519_init_adx(PyObject *m, int lanes);

/* CPUID leaf 7: EBX bit 8 = BMI2 (mulx), bit 19 = ADX (adcx, adox); user-mode instructions, no
 * OS support needed. */
static int cpu_has_adx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 8 & 1) && (b >> 19 & 1);
}

/* AVX-512 F, IFMA and VL (CPUID leaf 7: EBX bits 16, 21 and 31), with the OS saving the SSE, AVX, mask and
 * ZMM state (XCR0 bits 1, 2, 5, 6, 7), as _modp.c checks it. */
static int cpu_has_ifma(void) {
    unsigned a, b, c, d, lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 16 & 1) && (b >> 21 & 1) && (b >> 31 & 1);
}

/* AVX2 (CPUID leaf 7: EBX bit 5), with the OS saving the SSE and AVX state (XCR0 bits 1, 2). */
static int cpu_has_avx2(void) {
    unsigned a, b, c, d, lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return b >> 5 & 1;
}
#endif

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_ed25519", "Native edwards25519 arithmetic.", -1, NULL};

PyMODINIT_FUNC PyInit__ed25519(void) {
    const char *want = getenv("QUORUM_ED25519_ARITH");
    const char *arith = "portable";
    const char *lanes_name = "none";
    int (*init)(PyObject *, int) = ed25519_init_portable, lanes = LANES_NONE;
    moddef.m_methods = ed25519_methods_portable;
    if (!want || !*want) want = "auto";
    if (strcmp(want, "auto") && strcmp(want, "portable") && strcmp(want, "adx") && strcmp(want, "ifma")) {
        PyErr_Format(PyExc_ImportError, "QUORUM_ED25519_ARITH=%s: expected auto, portable, adx or ifma", want);
        return NULL;
    }
#if ED_HAVE_ADX
    if (strcmp(want, "portable") && cpu_has_adx()) {
        moddef.m_methods = ed25519_methods_adx;
        init = ed25519_init_adx;
        arith = "adx";
        if (strcmp(want, "adx") && cpu_has_ifma()) { lanes = LANES_IFMA; lanes_name = arith = "ifma"; }
        else if (cpu_has_avx2()) { lanes = LANES_AVX2; lanes_name = "avx2"; }
    }
#endif
    if (strcmp(want, "auto") && strcmp(want, arith)) {
        PyErr_Format(PyExc_ImportError, "QUORUM_ED25519_ARITH=%s: this machine or build has no %s arithmetic", want,
                     strcmp(want, "adx") ? "AVX-512 IFMA" : "BMI2/ADX");
        return NULL;
    }
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    if (init(m, lanes) < 0 || PyModule_AddStringConstant(m, "ARITH", arith) < 0 ||
        PyModule_AddStringConstant(m, "LANES", lanes_name) < 0 ||
        PyModule_AddIntConstant(m, "CACHE_ENTRIES", 1L << CACHE_BITS) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
#endif

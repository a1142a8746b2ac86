/*
 * Native multi-exponentiation modulo an odd prime, for threshold.groups.modp.
 *
 * Three arithmetics behind one Straus, one Bos-Coster, one Pippenger and one comb (struct Arith), the fastest the
 * CPU and the OS offer for p by default (Modulus(p, arith=...) forces one, Modulus.arith names it):
 * - AVX-512 IFMA, for p of 2560 to 4157 bits: 80 limbs of 52 bits, almost-Montgomery products (R = 2^4160, values
 *   below 2p), about 4.6x faster than OpenSSL at 4096 bits (an 8-base multi_exp, measured on Zen 4);
 * - AVX2 without IFMA, for p of 3584 to 4174 bits: 144 limbs of 29 bits in 64-bit lanes multiplied four at a time
 *   by vpmuludq, almost-Montgomery (R = 2^4176, values below 2p), about 1.6x faster than OpenSSL at 4096 bits,
 *   1.1x at 3584, slower below 3200 (measured on Zen 4, arith forced: benchmarks/modp_arith.py); squarings
 *   (x x, same slot) take 0.85x a product; its elements take 1152 bytes, 576 in a comb (43 rows of 64: 1.6 MB);
 * - OpenSSL's libcrypto otherwise (BN_mod_mul_montgomery: a fused multiply-and-reduce in assembly,
 *   MULX/ADX where the CPU has them; about 1.25x faster than a GMP product plus a word-by-word reduction).
 * Values stay in Montgomery form from the conversion of the bases to that of the result.
 *
 * multi_exp   prod b_i^e_i: Straus (interleaved sliding windows, one odd-power table per base) for
 *             fewer than 16 bases (24 on IFMA). For more, Bos-Coster (x^a y^b = x^(a-b) (xy)^b on the two
 *             largest exponents): 0.75-0.9x the multiplications of Straus or Pippenger on verification
 *             batches; its heap and scattered accesses (about 1 us a step) weigh 4-6x more beside IFMA's
 *             products, so there it stops at 16384 terms (see BC_MAX_TERMS_SIMD). Beyond, and for exponents
 *             over 1024 bits, Straus or Pippenger (buckets over windows sized to how many exponents reach
 *             them) by a multiplication-count estimate. For public exponents (verification equations,
 *             batch weights, the folded membership tests).
 * Comb        a fixed base's table base^(j 32^i), j = 0..31, for every 5-bit window i of the exponent (g,
 *             long-lived public keys; 52 rows for 256-bit exponents, 1.06 MB on IFMA; on AVX2 6-bit windows
 *             over packed entries, 43 rows of 64, see PACKED29): for secret exponents
 *             (keys, nonces, encryption randomness). Each window reads its whole row and keeps its entry by
 *             masks, zero windows included, then one product (52 products where 4-bit windows took
 *             64: -8% for exp_g, -11% for a ballot's encryption on AVX2, measured): on IFMA and AVX2,
 *             whose products have no data-dependent branch or address, neither the time nor the memory
 *             read depends on the exponent. Products of several such powers share one conversion out of
 *             Montgomery form.
 * NOT CONSTANT TIME: multi_exp (public exponents only), and every product on the OpenSSL arithmetic
 * (BN_mod_mul_montgomery is not the constant-time variant; documented in docs/spec.md). The GIL is
 * released while computing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <cpuid.h>
#include <immintrin.h>
#include <openssl/bn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NL 80 /* 52-bit limbs of the IFMA path: R = 2^4160 > 4p for p below 2^4158 */
#define M52 ((1ULL << 52) - 1)
#define SIMD_MIN_BITS 2560 /* smaller moduli stay on OpenSSL (see Modulus_init) */
#define N29 144               /* 29-bit limbs of the AVX2 path: R = 2^4176 > 4p for p below 2^4174 */
#define M29 ((1ULL << 29) - 1)
#define W29 (N29 + 4)         /* a shifted copy of an operand (see amm29) */
#define AVX2_MIN_BITS 3584    /* by default, smaller moduli stay on OpenSSL (see Modulus_init) */

/* The multiplications behind multi_exp and the combs (see Arith). */
enum { ARITH_OPENSSL, ARITH_AVX2, ARITH_IFMA };
static const char *const ARITH_NAMES[] = {"openssl", "avx2", "ifma"};

typedef struct {
    PyObject_HEAD
    BIGNUM *p;
    BN_MONT_CTX *mont;
    size_t nbytes;          /* bytes of p */
    unsigned char *pbytes;  /* p, little-endian, nbytes */
    int arith;              /* ARITH_*: chosen at creation (CPU, OS, size of p, the caller's choice), never changed */
    uint64_t *p52, *r2_52;  /* p and R^2 mod p in 52-bit limbs (IFMA path) */
    uint64_t k0;            /* -p^-1 mod 2^52 */
    uint64_t *p29s, *r2_29; /* AVX2 path: p in 29-bit limbs shifted by 0..3 limbs (4 x W29), R^2 mod p (N29) */
    uint64_t k29;           /* -p^-1 mod 2^29 */
} Modulus;

/* ------------------------------------------------------------ exponents */

typedef struct {
    const uint64_t *limbs; /* little-endian 64-bit words */
    size_t nlimbs;
    size_t bits;
} Exponent;

/* Bits lo .. lo+width-1 of e (width <= 32). */
static inline unsigned exp_digit(const Exponent *e, size_t lo, unsigned width) {
    size_t li = lo / 64;
    unsigned sh = lo % 64;
    if (li >= e->nlimbs)
        return 0;
    uint64_t v = e->limbs[li] >> sh;
    if (sh && sh + width > 64 && li + 1 < e->nlimbs)
        v |= e->limbs[li + 1] << (64 - sh);
    return (unsigned)(v & ((1ull << width) - 1));
}

/* ------------------------------------------------------------ cost model */

/* Straus: width w of the odd-power table (2^(w-1) entries) minimizing table + bits/(w+1). */
static unsigned straus_window(size_t bits, double *cost) {
    unsigned best = 1;
    double bc = 0;
    for (unsigned w = 1; w <= 7; w++) {
        double c = (double)(1u << (w - 1)) + (double)bits / (w + 1);
        if (w == 1 || c < bc) { bc = c; best = w; }
    }
    if (cost) *cost = bc;
    return best;
}

typedef struct { size_t lo; unsigned width; size_t n; } Window;

/* Pippenger windows, top down, for exponents sorted by bit length descending: each window's width
 * minimizes its multiplications per bit (one per term reaching it, two per bucket, one squaring
 * per bit), so exponents of different sizes get narrower windows where fewer terms reach. Widths
 * stop at 12: 2^12 buckets of 4096-bit values (2 MB) stay in cache; wider windows save
 * multiplications on paper but measured slower (160,000 terms: c <= 12 about 5% faster than 14). */
static size_t pippenger_plan(const Exponent *e, size_t count, Window *plan, double *cost) {
    size_t pos = e[0].bits, k = 0;
    double total = 0;
    while (pos > 0) {
        double best = 0;
        Window bw = {0, 0, 0};
        size_t n = 0;
        for (unsigned c = 1; c <= 12; c++) {
            size_t lo = pos > c ? pos - c : 0;
            while (n < count && e[n].bits > lo) n++; /* terms with bit length > lo (lo only decreases) */
            double per_bit = ((double)n + (double)(2u << c) + c) / (double)(pos - lo);
            if (c == 1 || per_bit < best) { best = per_bit; bw.lo = lo; bw.width = (unsigned)(pos - lo); bw.n = n; }
            if (lo == 0) break;
        }
        plan[k++] = bw;
        total += (double)bw.n + (double)(2u << bw.width) + bw.width;
        pos = bw.lo;
    }
    *cost = total;
    return k;
}

/* ------------------------------------------------------------ element arithmetic */

/* The multi-exponentiation sees its elements through Arith, so that one Straus and one Pippenger serve
 * every representation: OpenSSL BIGNUMs in Montgomery form (any CPU), 80 limbs of 52 bits multiplied
 * by AVX-512 IFMA (almost-Montgomery products with R = 2^4160: values stay below 2p), or 144 limbs of
 * 29 bits multiplied by AVX2 (R = 2^4176, below 2p too). Elements live in flat arrays of `size`-byte
 * slots (a BIGNUM pointer, or the limbs themselves). */
typedef struct Arith {
    const Modulus *m;
    BN_CTX *ctx; /* OpenSSL path only */
    size_t size;
    int (*mul)(const struct Arith *, void *r, const void *a, const void *b);
    int (*copy)(const struct Arith *, void *r, const void *a);
    void *(*array_new)(const struct Arith *, size_t n);
    void (*array_free)(const struct Arith *, void *a, size_t n);
    int (*load)(const struct Arith *, void *r, const unsigned char *le); /* le: nbytes, below p */
    int (*store)(const struct Arith *, unsigned char *le, void *x);     /* x leaves Montgomery form */
} Arith;

static inline void *slot(const Arith *ar, void *arr, size_t i) { return (unsigned char *)arr + i * ar->size; }

static BIGNUM **bn_array(size_t n) {
    BIGNUM **a = calloc(n ? n : 1, sizeof(BIGNUM *));
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(a[i] = BN_new())) {
            for (size_t j = 0; j < i; j++) BN_free(a[j]);
            free(a);
            return NULL;
        }
    return a;
}

static void bn_array_free(BIGNUM **a, size_t n) {
    if (!a) return;
    for (size_t i = 0; i < n; i++) BN_free(a[i]);
    free(a);
}

#define BN_AT(x) (*(BIGNUM *const *)(x))
static int bn_mul(const Arith *ar, void *r, const void *a, const void *b) {
    return BN_mod_mul_montgomery(BN_AT(r), BN_AT(a), BN_AT(b), ar->m->mont, ar->ctx);
}
static int bn_copy(const Arith *ar, void *r, const void *a) { (void)ar; return BN_copy(BN_AT(r), BN_AT(a)) != NULL; }
static void *bn_new_array(const Arith *ar, size_t n) { (void)ar; return bn_array(n); }
static void bn_free_array(const Arith *ar, void *a, size_t n) { (void)ar; bn_array_free(a, n); }
static int bn_load(const Arith *ar, void *r, const unsigned char *le) {
    return BN_lebin2bn(le, (int)ar->m->nbytes, BN_AT(r)) && BN_to_montgomery(BN_AT(r), BN_AT(r), ar->m->mont, ar->ctx);
}
static int bn_store(const Arith *ar, unsigned char *le, void *x) {
    return BN_from_montgomery(BN_AT(x), BN_AT(x), ar->m->mont, ar->ctx) && BN_bn2lebinpad(BN_AT(x), le, (int)ar->m->nbytes) >= 0;
}

/* r = a b / 2^4160 mod p, below 2p, for a, b below 2p in normalized limbs (each below 2^52); r may alias a or
 * b (it is written last). Operand scanning: per limb a_i, the low halves of a_i b and m p go into the
 * accumulator, m clears its lowest limb, the accumulator moves down one limb and takes the high halves.
 * Every lane gains at most 4 x 2^52 per round, 2^61 over 80 rounds: no lane overflows before the final carry.
 * The rounds are chained through the lowest limb, so that path is kept short and in the vector unit: m =
 * (t_0 + a_i b_0) k0 = t_0 k0 + a_i (b_0 k0) mod 2^52 by two multiply-adds that do not wait for a_i b (the
 * multiply-adds read the low 52 bits of m's lanes), and the carry out of the cleared limb stays in a lane (was
 * a round trip through a general register: now 0.75-0.77x the time of a product or a squaring, measured on Zen 4). */
__attribute__((target("avx512f,avx512ifma")))
static void amm52(uint64_t *r, const uint64_t *a, const uint64_t *b, const uint64_t *p, uint64_t k0) {
    __m512i A[NL / 8], B[NL / 8], P[NL / 8];
    const __m512i zero = _mm512_setzero_si512(), K = _mm512_set1_epi64((long long)k0);
    const __m512i BK = _mm512_set1_epi64((long long)((b[0] * k0) & M52));
    for (int j = 0; j < NL / 8; j++) {
        A[j] = zero;
        B[j] = _mm512_loadu_si512(b + 8 * j);
        P[j] = _mm512_loadu_si512(p + 8 * j);
    }
    for (int i = 0; i < NL; i++) {
        __m512i ai = _mm512_set1_epi64((long long)a[i]);
        const __m512i mv = _mm512_madd52lo_epu64(_mm512_madd52lo_epu64(zero, ai, BK),
                                                 _mm512_broadcastq_epi64(_mm512_castsi512_si128(A[0])), K);
        for (int j = 0; j < NL / 8; j++) A[j] = _mm512_madd52lo_epu64(A[j], ai, B[j]);
        for (int j = 0; j < NL / 8; j++) A[j] = _mm512_madd52lo_epu64(A[j], mv, P[j]);
        const __m512i carry = _mm512_srli_epi64(A[0], 52);
        for (int j = 0; j < NL / 8 - 1; j++) A[j] = _mm512_alignr_epi64(A[j + 1], A[j], 1);
        A[NL / 8 - 1] = _mm512_alignr_epi64(zero, A[NL / 8 - 1], 1);
        for (int j = 0; j < NL / 8; j++) {
            A[j] = _mm512_madd52hi_epu64(A[j], ai, B[j]);
            A[j] = _mm512_madd52hi_epu64(A[j], mv, P[j]);
        }
        A[0] = _mm512_mask_add_epi64(A[0], 1, A[0], carry);
    }
    uint64_t t[NL], c = 0;
    for (int j = 0; j < NL / 8; j++) _mm512_storeu_si512(t + 8 * j, A[j]);
    for (int i = 0; i < NL; i++) {
        uint64_t v = t[i] + c;
        r[i] = v & M52;
        c = v >> 52;
    }
}

static int simd_mul(const Arith *ar, void *r, const void *a, const void *b) {
    amm52(r, a, b, ar->m->p52, ar->m->k0);
    return 1;
}
static int simd_copy(const Arith *ar, void *r, const void *a) { memcpy(r, a, ar->size); return 1; }
static void *simd_new_array(const Arith *ar, size_t n) { return aligned_alloc(64, (n ? n : 1) * ar->size); }
static void simd_free_array(const Arith *ar, void *a, size_t n) { (void)ar; (void)n; free(a); }

/* Little-endian bytes to and from nl limbs of w bits (w <= 56; the limbs hold every byte). */
static void le_to_limbs(uint64_t *out, size_t nl, unsigned w, const unsigned char *in, size_t nbytes) {
    const uint64_t mask = (1ULL << w) - 1;
    memset(out, 0, nl * sizeof(uint64_t));
    for (size_t i = 0; i < nbytes; i++) {
        size_t li = 8 * i / w;
        unsigned sh = 8 * i % w;
        out[li] |= ((uint64_t)in[i] << sh) & mask;
        if (sh > w - 8) out[li + 1] |= (uint64_t)in[i] >> (w - sh);
    }
}
static void le_from_limbs(unsigned char *out, size_t nbytes, const uint64_t *in, size_t nl, unsigned w) {
    unsigned __int128 acc = 0;
    unsigned have = 0;
    size_t o = 0;
    for (size_t li = 0; li < nl && o < nbytes; li++) {
        acc |= (unsigned __int128)in[li] << have;
        for (have += w; have >= 8 && o < nbytes; have -= 8, acc >>= 8) out[o++] = (unsigned char)acc;
    }
    for (; o < nbytes; acc >>= 8) out[o++] = (unsigned char)acc;
}
static void le_to_52(uint64_t *out, const unsigned char *in, size_t nbytes) { le_to_limbs(out, NL, 52, in, nbytes); }
static void le_from_52(unsigned char *out, size_t nbytes, const uint64_t *in) { le_from_limbs(out, nbytes, in, NL, 52); }

/* x = x - p if that is not negative, for x in n normalized limbs of w bits (x below 2p): kept by a mask, not a
 * branch, so that the conversion of a secret result (a KEM's R^x) shows nothing of it. */
static void sub_p_if_fits(uint64_t *x, const uint64_t *p, size_t n, unsigned w) {
    uint64_t d[NL > N29 ? NL : N29], borrow = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = x[i] - p[i] - borrow;
        d[i] = t & ((1ULL << w) - 1);
        borrow = t >> 63;
    }
    uint64_t keep = borrow - 1; /* all ones if x >= p */
    __asm__("" : "+r"(keep));   /* opaque: the compiler cannot turn the masking into a branch */
    for (size_t i = 0; i < n; i++) x[i] = (d[i] & keep) | (x[i] & ~keep);
}

static int simd_load(const Arith *ar, void *r, const unsigned char *le) {
    le_to_52(r, le, ar->m->nbytes);
    amm52(r, r, ar->m->r2_52, ar->m->p52, ar->m->k0); /* x R^2 / R = x R */
    return 1;
}
static int simd_store(const Arith *ar, unsigned char *le, void *x) {
    uint64_t one[NL] = {1};
    amm52(x, x, one, ar->m->p52, ar->m->k0); /* below 2p: subtract p once if it fits */
    sub_p_if_fits(x, ar->m->p52, NL, 52);
    le_from_52(le, ar->m->nbytes, x);
    return 1;
}

/* The Montgomery digits m[0..3] (m = -t p^-1 mod 2^29) of the columns i..i+3 in H, column by column with their
 * carry: column i+j is H_j + the m p of the rows below + the carry; *c in is the carry into column i, out the one
 * into column i+4. Scalar: the only serial part of amm29 and asqr29. */
__attribute__((target("avx2")))
static inline void digits29(__m256i H, const uint64_t *p, uint64_t k0, uint64_t m[4], uint64_t *c) {
    uint64_t h[4] __attribute__((aligned(32)));
    _mm256_store_si256((__m256i *)h, H);
    uint64_t h0 = h[0] + *c;
    m[0] = (h0 * k0) & M29;
    uint64_t cy = (h0 + m[0] * p[0]) >> 29;
    uint64_t h1 = h[1] + m[0] * p[1] + cy;
    m[1] = (h1 * k0) & M29;
    cy = (h1 + m[1] * p[0]) >> 29;
    uint64_t h2 = h[2] + m[0] * p[2] + m[1] * p[1] + cy;
    m[2] = (h2 * k0) & M29;
    cy = (h2 + m[2] * p[0]) >> 29;
    uint64_t h3 = h[3] + m[0] * p[3] + m[1] * p[2] + m[2] * p[1] + cy;
    m[3] = (h3 * k0) & M29;
    *c = (h3 + m[3] * p[0]) >> 29;
}

/* One parallel carry of the columns lo .. 2 N29-1 (lo a multiple of 4), top down so that each reads its neighbour
 * unchanged: t_k = (t_k mod 2^29) + floor(t_(k-1) / 2^29), below 2^36. Column lo-1 is cleared (its carry is c). */
__attribute__((target("avx2")))
static inline void carry29(uint64_t *T, int lo) {
    const __m256i mask = _mm256_set1_epi64x((long long)M29);
    T[lo - 1] = 0;
    for (int k = 2 * N29 - 4; k >= lo; k -= 4) {
        __m256i x = _mm256_load_si256((const __m256i *)(T + k)), y = _mm256_loadu_si256((const __m256i *)(T + k - 1));
        _mm256_store_si256((__m256i *)(T + k), _mm256_add_epi64(_mm256_and_si256(x, mask), _mm256_srli_epi64(y, 29)));
    }
}

/* Columns N29..2 N29-1 of T plus the carry c, carried into r: t / R, below 2p, so no carry out of the top. */
static inline void top_half29(uint64_t *r, const uint64_t *T, uint64_t c) {
    for (int k = 0; k < N29; k++) {
        uint64_t v = T[N29 + k] + c;
        r[k] = v & M29;
        c = v >> 29;
    }
}

/* r = a b / 2^4176 mod p, below 2p, for a, b below 2p in N29 normalized 29-bit limbs; r may alias a or b.
 * AVX2 has no 52-bit multiply-add, but vpmuludq makes four 32 x 32 -> 64-bit products: 29-bit limbs in 64-bit
 * lanes (after Gueron and Krasnov's radix 2^29 for AVX2). The double-width t = a b + m p lives in T, one 64-bit
 * column per limb position, not carried during the rows. Rows go four at a time (i, .., i+3): the columns i..i+3
 * take their a-products in one vector, then digits29 gives m_i..m_i+3, which clear them, and the carry c into
 * column i+4; then every higher column k takes sum_g a_(i+g) b_(k-i-g) + m_(i+g) p_(k-i-g): eight
 * broadcast-multiply-adds per four columns. B[g] and p29s + g W29 hold b and p shifted up by g limbs (zeros
 * elsewhere), so every load is aligned. Bounds: a group adds at most 8 products below 2^58 to a column (< 2^61);
 * carry29 every 6 groups keeps columns below 2^36 + 7 x 2^61 < 2^64. The result t / R < (4p^2 + R p) / R < 2p as
 * 4p < R, so t < R^2 and the top column never carries out. */
#define MAC29(x, s, ptr) x = _mm256_add_epi64(x, _mm256_mul_epu32(s, _mm256_load_si256((const __m256i *)(ptr))))
__attribute__((target("avx2")))
static void amm29(uint64_t *r, const uint64_t *a, const uint64_t *b, const uint64_t *p29s, uint64_t k0) {
    uint64_t B[4][W29] __attribute__((aligned(32))), T[2 * N29] __attribute__((aligned(32))), c = 0, m[4];
    const uint64_t *P[4] = {p29s, p29s + W29, p29s + 2 * W29, p29s + 3 * W29};
    memset(B, 0, sizeof B);
    for (int g = 0; g < 4; g++) memcpy(B[g] + g, b, N29 * sizeof(uint64_t));
    memset(T, 0, sizeof T);
    for (int i = 0; i < N29; i += 4) {
        __m256i A0 = _mm256_set1_epi64x((long long)a[i]), A1 = _mm256_set1_epi64x((long long)a[i + 1]);
        __m256i A2 = _mm256_set1_epi64x((long long)a[i + 2]), A3 = _mm256_set1_epi64x((long long)a[i + 3]);
        __m256i H = _mm256_load_si256((const __m256i *)(T + i));
        MAC29(H, A0, B[0]); MAC29(H, A1, B[1]); MAC29(H, A2, B[2]); MAC29(H, A3, B[3]);
        digits29(H, P[0], k0, m, &c);
        __m256i Q0 = _mm256_set1_epi64x((long long)m[0]), Q1 = _mm256_set1_epi64x((long long)m[1]);
        __m256i Q2 = _mm256_set1_epi64x((long long)m[2]), Q3 = _mm256_set1_epi64x((long long)m[3]);
        for (int v = 4; v <= N29; v += 4) { /* columns i+v .. i+v+3 */
            __m256i *t = (__m256i *)(T + i + v), x = _mm256_load_si256(t);
            MAC29(x, A0, B[0] + v); MAC29(x, A1, B[1] + v); MAC29(x, A2, B[2] + v); MAC29(x, A3, B[3] + v);
            MAC29(x, Q0, P[0] + v); MAC29(x, Q1, P[1] + v); MAC29(x, Q2, P[2] + v); MAC29(x, Q3, P[3] + v);
            _mm256_store_si256(t, x);
        }
        if (i / 4 % 6 == 5 && i + 4 < N29) carry29(T, i + 4);
    }
    top_half29(r, T, c);
}

/* r = a^2 / 2^4176 mod p as amm29(r, a, a), with half the a-products (0.85x its time, measured): row x adds
 * 2 a_x a_y to column x+y for y > x and a_x^2 to column 2x. For the rows i..i+3 of a group, columns below 2i get
 * only m p; from 2i+8 on, 2 a_(i+g) a_(k-i-g) from every row; the blocks 2i..2i+3 and 2i+4..2i+7 get a fixed
 * pattern per lane l and row g: 2 a_(i+g) if the partner limb is above i+g, a_(i+g) if it is i+g, else 0 (E, F).
 * A group adds at most 4 products below 2^59 and 4 below 2^58 to a column (1.5 x 2^61): carried every 4 groups,
 * columns stay below 2^36 + 5 x 1.5 x 2^61 < 2^64. */
__attribute__((target("avx2")))
static void asqr29(uint64_t *r, const uint64_t *a, const uint64_t *p29s, uint64_t k0) {
    uint64_t B[4][W29] __attribute__((aligned(32))), T[2 * N29] __attribute__((aligned(32))), c = 0, m[4];
    const uint64_t *P[4] = {p29s, p29s + W29, p29s + 2 * W29, p29s + 3 * W29};
    const __m256i zero = _mm256_setzero_si256();
    memset(B, 0, sizeof B);
    for (int g = 0; g < 4; g++) memcpy(B[g] + g, a, N29 * sizeof(uint64_t));
    memset(T, 0, sizeof T);
    for (int i = 0; i < N29; i += 4) {
        __m256i A0 = _mm256_set1_epi64x((long long)a[i]), A1 = _mm256_set1_epi64x((long long)a[i + 1]);
        __m256i A2 = _mm256_set1_epi64x((long long)a[i + 2]), A3 = _mm256_set1_epi64x((long long)a[i + 3]);
        __m256i D0 = _mm256_add_epi64(A0, A0), D1 = _mm256_add_epi64(A1, A1);
        __m256i D2 = _mm256_add_epi64(A2, A2), D3 = _mm256_add_epi64(A3, A3);
        /* block 2i, lane l, row g: partner 2i+l-(i+g) vs i+g, i.e. l - 2g: row 0 once at lane 0, doubled after;
         * row 1 nothing at lanes 0, 1, once at 2, doubled at 3; rows 2, 3 nothing */
        __m256i E0 = _mm256_blend_epi32(D0, A0, 0x03), E1 = _mm256_blend_epi32(_mm256_blend_epi32(D1, A1, 0x30), zero, 0x0F);
        /* block 2i+4: 4 + l - 2g: rows 0, 1 doubled; row 2 like row 0 above, row 3 like row 1 */
        __m256i F2 = _mm256_blend_epi32(D2, A2, 0x03), F3 = _mm256_blend_epi32(_mm256_blend_epi32(D3, A3, 0x30), zero, 0x0F);
        __m256i H = _mm256_load_si256((const __m256i *)(T + i));
        if (i == 0) { MAC29(H, E0, B[0]); MAC29(H, E1, B[1]); } /* the head is block 2i only for i = 0 */
        digits29(H, P[0], k0, m, &c);
        __m256i Q0 = _mm256_set1_epi64x((long long)m[0]), Q1 = _mm256_set1_epi64x((long long)m[1]);
        __m256i Q2 = _mm256_set1_epi64x((long long)m[2]), Q3 = _mm256_set1_epi64x((long long)m[3]);
        int v = 4;
        for (; i + v < 2 * i; v += 4) { /* below 2i: m p only */
            __m256i *t = (__m256i *)(T + i + v), x = _mm256_load_si256(t);
            MAC29(x, Q0, P[0] + v); MAC29(x, Q1, P[1] + v); MAC29(x, Q2, P[2] + v); MAC29(x, Q3, P[3] + v);
            _mm256_store_si256(t, x);
        }
        if (i + v == 2 * i) { /* block 2i (from i = 4) */
            __m256i *t = (__m256i *)(T + i + v), x = _mm256_load_si256(t);
            MAC29(x, E0, B[0] + v); MAC29(x, E1, B[1] + v);
            MAC29(x, Q0, P[0] + v); MAC29(x, Q1, P[1] + v); MAC29(x, Q2, P[2] + v); MAC29(x, Q3, P[3] + v);
            _mm256_store_si256(t, x);
            v += 4;
        }
        if (v <= N29) { /* block 2i+4 */
            __m256i *t = (__m256i *)(T + i + v), x = _mm256_load_si256(t);
            MAC29(x, D0, B[0] + v); MAC29(x, D1, B[1] + v); MAC29(x, F2, B[2] + v); MAC29(x, F3, B[3] + v);
            MAC29(x, Q0, P[0] + v); MAC29(x, Q1, P[1] + v); MAC29(x, Q2, P[2] + v); MAC29(x, Q3, P[3] + v);
            _mm256_store_si256(t, x);
            v += 4;
        }
        for (; v <= N29; v += 4) { /* from 2i+8: every row, doubled */
            __m256i *t = (__m256i *)(T + i + v), x = _mm256_load_si256(t);
            MAC29(x, D0, B[0] + v); MAC29(x, D1, B[1] + v); MAC29(x, D2, B[2] + v); MAC29(x, D3, B[3] + v);
            MAC29(x, Q0, P[0] + v); MAC29(x, Q1, P[1] + v); MAC29(x, Q2, P[2] + v); MAC29(x, Q3, P[3] + v);
            _mm256_store_si256(t, x);
        }
        if (i / 4 % 4 == 3 && i + 4 < N29) carry29(T, i + 4);
    }
    top_half29(r, T, c);
}

/* The AVX2 Arith: products by amm29, or asqr29 when both operands are one slot (the squarings of Straus and
 * Pippenger); load takes x below p to x R (a product by R^2 mod p), store takes x R (below 2p) back to x, fully
 * reduced, overwriting the slot. Copies and arrays are the IFMA path's (flat limbs, 64-byte aligned). */
static int avx2_mul(const Arith *ar, void *r, const void *a, const void *b) {
    if (a == b)
        asqr29(r, a, ar->m->p29s, ar->m->k29);
    else
        amm29(r, a, b, ar->m->p29s, ar->m->k29);
    return 1;
}
static int avx2_load(const Arith *ar, void *r, const unsigned char *le) {
    le_to_limbs(r, N29, 29, le, ar->m->nbytes);
    amm29(r, r, ar->m->r2_29, ar->m->p29s, ar->m->k29); /* x R^2 / R = x R */
    return 1;
}
static int avx2_store(const Arith *ar, unsigned char *le, void *x) {
    uint64_t one[N29] = {1};
    amm29(x, x, one, ar->m->p29s, ar->m->k29); /* below 2p */
    sub_p_if_fits(x, ar->m->p29s, N29, 29);
    le_from_limbs(le, ar->m->nbytes, x, N29, 29);
    return 1;
}

/* The arithmetic m was created with. */
static void arith_init(Arith *ar, const Modulus *m, BN_CTX *ctx) {
    if (m->arith == ARITH_IFMA)
        *ar = (Arith){m, ctx, NL * sizeof(uint64_t), simd_mul, simd_copy, simd_new_array, simd_free_array, simd_load, simd_store};
    else if (m->arith == ARITH_AVX2) /* 1152-byte slots: multiples of 64, as aligned_alloc wants */
        *ar = (Arith){m, ctx, N29 * sizeof(uint64_t), avx2_mul, simd_copy, simd_new_array, simd_free_array, avx2_load, avx2_store};
    else
        *ar = (Arith){m, ctx, sizeof(BIGNUM *), bn_mul, bn_copy, bn_new_array, bn_free_array, bn_load, bn_store};
}

/* ------------------------------------------------------------ algorithms (no Python calls) */

typedef struct {
    const Arith *ar;
    size_t count;
    void *bases;      /* Montgomery form, sorted like exps */
    Exponent *exps;   /* sorted by bit length descending, all nonzero */
    void *out;        /* one slot, Montgomery form */
} Job;

/* acc = acc * x, or acc = x if acc is not set yet; 0 on failure. */
static int mul_into(const Job *job, void *acc, int *set, const void *x) {
    if (*set)
        return job->ar->mul(job->ar, acc, acc, x);
    *set = 1;
    return job->ar->copy(job->ar, acc, x);
}

static int straus(Job *job) {
    const Arith *ar = job->ar;
    size_t count = job->count, top = job->exps[0].bits, ntab = 0, nev = 0;
    int ok = 0, set = 0;
    unsigned *w = malloc(count * sizeof(unsigned));
    size_t *toff = malloc(count * sizeof(size_t));
    size_t *at = calloc(top + 1, sizeof(size_t)), *start = malloc((top + 1) * sizeof(size_t));
    size_t *ev = NULL, *evpos = NULL, *order = NULL;
    void *tab = NULL, *sq = ar->array_new(ar, 1);
    if (!w || !toff || !at || !start || !sq) goto done;
    for (size_t k = 0; k < count; k++) {
        w[k] = straus_window(job->exps[k].bits, NULL);
        toff[k] = ntab;
        ntab += (size_t)1 << (w[k] - 1);
        nev += job->exps[k].bits / w[k] + 1; /* a window starts at most every w bits */
    }
    tab = ar->array_new(ar, ntab);
    ev = malloc(nev * sizeof(size_t));
    evpos = malloc(nev * sizeof(size_t));
    order = malloc(nev * sizeof(size_t));
    if (!tab || !ev || !evpos || !order) goto done;
    size_t events = 0;
    for (size_t k = 0; k < count; k++) {
        size_t row = toff[k];
        if (!ar->copy(ar, slot(ar, tab, row), slot(ar, job->bases, k))) goto done;
        if (w[k] > 1) {
            if (!ar->mul(ar, sq, slot(ar, tab, row), slot(ar, tab, row))) goto done;
            for (size_t j = 1; j < ((size_t)1 << (w[k] - 1)); j++)
                if (!ar->mul(ar, slot(ar, tab, row + j), slot(ar, tab, row + j - 1), sq)) goto done;
        }
        const Exponent *e = &job->exps[k];
        for (size_t i = 0; i < e->bits;) {
            if (!((e->limbs[i / 64] >> (i % 64)) & 1)) { i++; continue; }
            ev[events] = toff[k] + (exp_digit(e, i, w[k]) >> 1); /* odd digit d: entry (d - 1) / 2 */
            evpos[events++] = i;
            at[i]++;
            i += w[k];
        }
    }
    size_t s = 0; /* counting sort of the events by bit position */
    for (size_t i = 0; i <= top; i++) { start[i] = s; s += at[i]; at[i] = start[i]; }
    for (size_t j = 0; j < events; j++) order[at[evpos[j]]++] = ev[j];
    for (size_t i = top; i-- > 0;) {
        if (set && !ar->mul(ar, job->out, job->out, job->out)) goto done;
        for (size_t j = start[i]; j < at[i]; j++)
            if (!mul_into(job, job->out, &set, slot(ar, tab, order[j]))) goto done;
    }
    ok = set;
done:
    if (tab) ar->array_free(ar, tab, ntab);
    if (sq) ar->array_free(ar, sq, 1);
    free(w); free(toff); free(at); free(start); free(ev); free(evpos); free(order);
    return ok;
}

static int pippenger(Job *job, const Window *plan, size_t nplan) {
    const Arith *ar = job->ar;
    unsigned maxw = 0;
    for (size_t k = 0; k < nplan; k++) if (plan[k].width > maxw) maxw = plan[k].width;
    size_t nb = (size_t)1 << maxw;
    int ok = 0, have = 0;
    void *buckets = ar->array_new(ar, nb), *running = ar->array_new(ar, 1), *acc = ar->array_new(ar, 1);
    unsigned char *used = malloc(nb);
    if (!buckets || !used || !running || !acc) goto done;
    for (size_t k = 0; k < nplan; k++) {
        const Window *win = &plan[k];
        if (have)
            for (unsigned i = 0; i < win->width; i++)
                if (!ar->mul(ar, job->out, job->out, job->out)) goto done;
        memset(used, 0, (size_t)1 << win->width);
        unsigned maxd = 0;
        for (size_t j = 0; j < win->n; j++) {
            unsigned d = exp_digit(&job->exps[j], win->lo, win->width);
            if (!d) continue;
            int set = used[d];
            if (!mul_into(job, slot(ar, buckets, d), &set, slot(ar, job->bases, j))) goto done;
            used[d] = 1;
            if (d > maxd) maxd = d;
        }
        int rset = 0, aset = 0; /* sum of d * bucket[d] as running products */
        for (unsigned d = maxd; d > 0; d--) {
            if (used[d] && !mul_into(job, running, &rset, slot(ar, buckets, d))) goto done;
            if (rset && !mul_into(job, acc, &aset, running)) goto done;
        }
        if (aset && !mul_into(job, job->out, &have, acc)) goto done;
    }
    ok = have;
done:
    if (buckets) ar->array_free(ar, buckets, nb);
    if (running) ar->array_free(ar, running, 1);
    if (acc) ar->array_free(ar, acc, 1);
    free(used);
    return ok;
}

/* Bos-Coster: while two or more terms remain, take the term of largest exponent a (base x) and the next, b (base
 * y): x^a y^b = x^(a-b) (xy)^b, one multiplication, and a shrinks (a term whose exponent reaches 0 leaves). A term
 * whose exponent has BC_GAP or more bits beyond the next is raised alone (a one-base Straus) into the result, and
 * so is the last term. Exponents are copied into rows of `stride` words; a max-heap orders the terms by a
 * 64-bit summary of the exponent (bit length, then the 53 bits below the leading one), so that sifting reads only
 * the heap. The summary may tie two different exponents: the step then compares them in full and, if b > a,
 * takes y's exponent down instead (y^b x^a = y^(b-a) (xy)^a). Variable time, like the rest. */
#define BC_MAX_LIMBS 16 /* exponents up to 1024 bits; larger ones go to Pippenger or Straus */
/* Where method 0 picks Bos-Coster (measured on verification batches, 256-384-bit exponents): from 16 terms on
 * OpenSSL's arithmetic and on AVX2 (1.6x faster products: Bos-Coster and Straus about even at 16-20 terms, 0.9x
 * Straus at 64, 0.67x Pippenger at 64 and 6000, no upper bound); on IFMA's 4-6x faster products its per-step overhead weighs more, so from 24 terms
 * (Straus wins below) up to 16384 (0.88x Pippenger at 2000 terms, 0.91x at 5000, 0.94x at 10000, 1.04x at 20000,
 * 1.14x at 40000: measured after the lane-kept Montgomery digit of 2026-11-29, which moved the crossover down from
 * about 120000). */
#define BC_MIN_TERMS 16
#define BC_MIN_TERMS_SIMD 24
#define BC_MAX_TERMS_SIMD 16384
#define BC_GAP 16

typedef struct { uint64_t key; size_t term; } HeapItem;

static size_t limbs_bits(const uint64_t *e, size_t n) {
    while (n && !e[n - 1]) n--;
    return n ? 64 * n - (size_t)__builtin_clzll(e[n - 1]) : 0;
}

/* Bit length (at most 1024 here) in the top 11 bits, then the 53 bits below the leading one: ordered like the
 * exponents, ties aside. */
static uint64_t limbs_key(const uint64_t *e, size_t n) {
    size_t bits = limbs_bits(e, n);
    uint64_t v = e[0];
    if (bits > 54) {
        size_t lo = bits - 54, li = lo / 64, sh = lo % 64;
        v = e[li] >> sh;
        if (sh && li + 1 < n) v |= e[li + 1] << (64 - sh);
    }
    return ((uint64_t)bits << 53) | (v & ((1ULL << 53) - 1));
}

static inline int limbs_less(const uint64_t *a, const uint64_t *b, size_t n) {
    while (n--) if (a[n] != b[n]) return a[n] < b[n];
    return 0;
}

/* a -= b (a >= b); whether a is now nonzero. */
static int limbs_sub(uint64_t *a, const uint64_t *b, size_t n) {
    uint64_t borrow = 0, any = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = a[i] - b[i], d2 = d - borrow;
        borrow = (a[i] < b[i]) | (d < borrow);
        a[i] = d2;
        any |= d2;
    }
    return any != 0;
}

/* A 4-ary max-heap: children of i at 4i+1 .. 4i+4 (four items share a cache line), half a binary heap's depth. */
static size_t heap_largest_child(const HeapItem *heap, size_t n, size_t i) {
    size_t best = 4 * i + 1, last = 4 * i + 4 < n - 1 ? 4 * i + 4 : n - 1;
    for (size_t c = best + 1; c <= last; c++)
        if (heap[c].key > heap[best].key) best = c;
    return best;
}

static void heap_down(HeapItem *heap, size_t n, size_t i) {
    HeapItem top = heap[i];
    while (4 * i + 1 < n) {
        size_t c = heap_largest_child(heap, n, i);
        if (top.key >= heap[c].key) break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = top;
}

/* acc *= base^e (a one-base Straus into `tmp`); 0 on failure. */
static int raise_into(const Job *job, void *acc, int *set, void *base, const uint64_t *e, size_t n, void *tmp) {
    Exponent one = {e, n, limbs_bits(e, n)};
    Job sub = {job->ar, 1, base, &one, tmp};
    return straus(&sub) && mul_into(job, acc, set, tmp);
}

static int bos_coster(Job *job) {
    const Arith *ar = job->ar;
    size_t count = job->count, stride = job->exps[0].nlimbs, n = count; /* exps sorted: the first is the longest */
    int ok = 0, set = 0;
    uint64_t *e = calloc(count * stride, sizeof(uint64_t));
    HeapItem *heap = malloc(count * sizeof(HeapItem));
    void *tmp = ar->array_new(ar, 1);
    if (!e || !heap || !tmp) goto done;
    for (size_t k = 0; k < count; k++) {
        memcpy(e + k * stride, job->exps[k].limbs, job->exps[k].nlimbs * sizeof(uint64_t));
        heap[k] = (HeapItem){limbs_key(e + k * stride, stride), k};
    }
    for (size_t i = n > 1 ? (n - 2) / 4 + 1 : 0; i-- > 0;) heap_down(heap, n, i); /* from the last parent up */
    while (n > 1) { /* x at the root, y its largest child; the root is updated in place and sifted down */
        size_t c = heap_largest_child(heap, n, 0), x = heap[0].term, y = heap[c].term;
        uint64_t *ex = e + x * stride, *ey = e + y * stride;
        void *bx = slot(ar, job->bases, x), *by = slot(ar, job->bases, y);
        int left = 1;
        if (limbs_bits(ex, stride) >= limbs_bits(ey, stride) + BC_GAP) {
            if (!raise_into(job, job->out, &set, bx, ex, stride, tmp)) goto done;
            left = 0;
        } else if (limbs_less(ex, ey, stride)) { /* equal summaries, y larger: y^b x^a = y^(b-a) (xy)^a */
            if (!ar->mul(ar, bx, bx, by)) goto done;
            limbs_sub(ey, ex, stride); /* b > a: stays nonzero */
            heap[c].key = limbs_key(ey, stride);
            heap_down(heap, n, c);
            continue;
        } else {
            if (!ar->mul(ar, by, by, bx)) goto done;
            left = limbs_sub(ex, ey, stride);
        }
        if (left) heap[0].key = limbs_key(ex, stride);
        else heap[0] = heap[--n];
        heap_down(heap, n, 0);
    }
    if (n && !raise_into(job, job->out, &set, slot(ar, job->bases, heap[0].term), e + heap[0].term * stride, stride, tmp))
        goto done;
    ok = set;
done:
    if (tmp) ar->array_free(ar, tmp, 1);
    free(e); free(heap);
    return ok;
}

/* ------------------------------------------------------------ Python boundary */

/* The low `nbytes` little-endian bytes of a non-negative int; -1 (exception set) if it does not fit. */
static int as_bytes(PyObject *v, unsigned char *out, size_t nbytes) {
#if PY_VERSION_HEX >= 0x030D0000
    return _PyLong_AsByteArray((PyLongObject *)v, out, nbytes, 1, 0, 1);
#else
    return _PyLong_AsByteArray((PyLongObject *)v, out, nbytes, 1, 0);
#endif
}

/* Whether the little-endian nbytes at `le` are below p. */
static int below_p(const Modulus *m, const unsigned char *le) {
    for (size_t i = m->nbytes; i-- > 0;)
        if (le[i] != m->pbytes[i]) return le[i] < m->pbytes[i];
    return 0;
}

/* buf (nbytes, little-endian) = base, a non-negative int below p; -1 with ValueError "base is not in 0..p-1" (or the
 * TypeError of a non-integer) otherwise. */
static int read_base(const Modulus *m, PyObject *base, unsigned char *buf) {
    PyObject *b = PyNumber_Index(base);
    int bad = !b || _PyLong_Sign(b) < 0 || as_bytes(b, buf, m->nbytes) < 0;
    Py_XDECREF(b);
    if (!bad && below_p(m, buf)) return 0;
    if (bad && PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_OverflowError) && !PyErr_ExceptionMatches(PyExc_ValueError))
        return -1;
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError, "base is not in 0..p-1");
    return -1;
}

typedef struct { Exponent e; size_t base; } Term;

static int cmp_terms(const void *a, const void *b) {
    size_t x = ((const Term *)a)->e.bits, y = ((const Term *)b)->e.bits;
    return x < y ? 1 : x > y ? -1 : 0;
}

static PyObject *Modulus_multi_exp(Modulus *self, PyObject *args) {
    PyObject *bases_obj, *exps_obj;
    int method = 0;
    if (!PyArg_ParseTuple(args, "OO|i:multi_exp", &bases_obj, &exps_obj, &method)) return NULL;
    if (method < 0 || method > 3) {
        PyErr_SetString(PyExc_ValueError, "method must be 0 (by size), 1 (Straus), 2 (Pippenger) or 3 (Bos-Coster)");
        return NULL;
    }
    if (!self->p) {
        PyErr_SetString(PyExc_ValueError, "Modulus is not initialised");
        return NULL;
    }
    /* Tuples: __index__ of an item cannot resize what this function walks. */
    PyObject *bases = PySequence_Tuple(bases_obj);
    if (!bases) return NULL;
    PyObject *exps = PySequence_Tuple(exps_obj);
    if (!exps) { Py_DECREF(bases); return NULL; }
    size_t count = (size_t)PyTuple_GET_SIZE(bases), nbytes = self->nbytes, live = 0, total = 0, nlongs = 0;
    PyObject **longs = NULL; /* each exponent's __index__, called once */
    PyObject *result = NULL;
    unsigned char *plain = NULL, *buf = NULL;
    uint64_t *elimbs = NULL;
    size_t *ebits = NULL;
    Term *terms = NULL;
    Exponent *sorted = NULL;
    Window *plan = NULL;
    void *mont = NULL, *out = NULL;
    BN_CTX *ctx = BN_CTX_new(); /* one per call: calls may run in parallel threads */
    Arith ar;
    arith_init(&ar, self, ctx);
    if (!ctx || !(out = ar.array_new(&ar, 1))) { PyErr_NoMemory(); goto done; }
    if ((size_t)PyTuple_GET_SIZE(exps) != count) {
        PyErr_SetString(PyExc_ValueError, "bases and exponents differ in length");
        goto done;
    }
    plain = malloc((count ? count : 1) * nbytes);
    ebits = malloc((count ? count : 1) * sizeof(size_t));
    terms = malloc((count ? count : 1) * sizeof(Term));
    longs = calloc(count ? count : 1, sizeof(PyObject *));
    buf = malloc(nbytes);
    if (!plain || !ebits || !terms || !longs || !buf) { PyErr_NoMemory(); goto done; }
    for (size_t k = 0; k < count; k++) {
        PyObject *b = PyNumber_Index(PyTuple_GET_ITEM(bases, k));
        if (!b) goto done;
        int bad = _PyLong_Sign(b) < 0 || as_bytes(b, plain + k * nbytes, nbytes) < 0 || !below_p(self, plain + k * nbytes);
        Py_DECREF(b);
        if (bad) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "base %zd is not in 0..p-1", (Py_ssize_t)k);
            goto done;
        }
        PyObject *e = PyNumber_Index(PyTuple_GET_ITEM(exps, k));
        if (!e) goto done;
        longs[nlongs++] = e;
        if (_PyLong_Sign(e) < 0) {
            PyErr_Format(PyExc_ValueError, "exponent %zd is negative", (Py_ssize_t)k);
            goto done;
        }
        size_t bits = _PyLong_NumBits(e);
        if (bits == (size_t)-1) goto done;
        if (bits > ((size_t)1 << 20)) {
            PyErr_Format(PyExc_ValueError, "exponent %zd has more than 2^20 bits", (Py_ssize_t)k);
            goto done;
        }
        ebits[k] = bits;
        total += (bits + 63) / 64;
    }
    elimbs = malloc((total ? total : 1) * sizeof(uint64_t));
    if (!elimbs) { PyErr_NoMemory(); goto done; }
    for (size_t k = 0, off = 0; k < count; k++) {
        size_t nl = (ebits[k] + 63) / 64;
        if (!nl) continue;
        if (as_bytes(longs[k], (unsigned char *)(elimbs + off), nl * sizeof(uint64_t)) < 0) goto done; /* little-endian words */
        terms[live].e = (Exponent){elimbs + off, nl, ebits[k]};
        terms[live++].base = k;
        off += nl;
    }
    int ok = 1;
    if (live) {
        qsort(terms, live, sizeof(Term), cmp_terms);
        mont = ar.array_new(&ar, live);
        sorted = malloc(live * sizeof(Exponent));
        plan = malloc((terms[0].e.bits + 1) * sizeof(Window));
        if (!mont || !sorted || !plan) { PyErr_NoMemory(); goto done; }
        Job job = {&ar, live, mont, sorted, out};
        Py_BEGIN_ALLOW_THREADS
        double straus_cost = (double)terms[0].e.bits, pip_cost = 0, c;
        size_t nplan = 0;
        for (size_t k = 0; k < live && ok; k++) {
            sorted[k] = terms[k].e;
            ok = ar.load(&ar, slot(&ar, mont, k), plain + terms[k].base * nbytes);
            straus_window(terms[k].e.bits, &c);
            straus_cost += c;
        }
        if (ok && method == 0) {
            size_t straus_below = self->arith == ARITH_IFMA ? BC_MIN_TERMS_SIMD : BC_MIN_TERMS;
            if (live < straus_below) method = 1;
            else if (sorted[0].nlimbs <= BC_MAX_LIMBS && (self->arith != ARITH_IFMA || live <= BC_MAX_TERMS_SIMD)) method = 3;
        }
        if (method == 3 && sorted[0].nlimbs > BC_MAX_LIMBS) method = 2;
        if (ok) {
            if (method == 2 || method == 0) nplan = pippenger_plan(sorted, live, plan, &pip_cost);
            if (method == 1 || (method == 0 && straus_cost <= pip_cost)) ok = straus(&job);
            else if (method == 3) ok = bos_coster(&job);
            else ok = pippenger(&job, plan, nplan);
        }
        ok = ok && ar.store(&ar, buf, out);
        Py_END_ALLOW_THREADS
    } else {
        memset(buf, 0, nbytes); /* the empty product */
        buf[0] = 1;
    }
    if (!ok) { PyErr_NoMemory(); goto done; }
    result = _PyLong_FromByteArray(buf, nbytes, 1, 0);
done:
    if (mont) ar.array_free(&ar, mont, live);
    if (out) ar.array_free(&ar, out, 1);
    BN_CTX_free(ctx);
    free(plain); free(buf); free(elimbs); free(ebits); free(terms); free(sorted); free(plan);
    for (size_t k = 0; k < nlongs; k++) Py_DECREF(longs[k]);
    free(longs);
    Py_DECREF(bases);
    Py_DECREF(exps);
    return result;
}

/* ------------------------------------------------------------ fixed-base combs */

#define COMB_BITS 5                      /* a comb's window on IFMA and OpenSSL: rows of 32 entries base^(j 32^i) */
#define COMB_BITS_AVX2 6                 /* on AVX2, whose packed entries scan at half the cost (see PACKED29) */
#define COMB_MAX_ENTRIES 64
#define WINDOW_ENTRIES 16                /* ct_exp's per-call row: base^0..base^15 (4-bit windows) */

typedef struct {
    PyObject_HEAD
    Modulus *mod;         /* strong reference */
    size_t nbytes;        /* exponent bytes: the table has comb_rows(bits, nbytes) rows */
    unsigned bits;        /* window: rows of 2^bits entries base^(j 2^(bits i)), j = 0..2^bits - 1 */
    size_t esize;         /* bytes of an entry: the arithmetic's slot (IFMA, AVX2), or p's bytes rounded up to whole
                             words (OpenSSL: the Montgomery value, little-endian) */
    unsigned char *table; /* rows of w = 2^bits entries, Montgomery form: entry w i + j = base^(j w^i), entry 0 one */
} Comb;

static PyTypeObject CombType;

static void Comb_dealloc(Comb *self) {
    free(self->table);
    Py_XDECREF(self->mod);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Little-endian bytes of a non-negative int below 256^nbytes (nbytes <= the comb's rows) into digits; -1 with
 * ValueError. */
static int comb_digits(PyObject *obj, unsigned char *digits, size_t nbytes) {
    PyObject *e = PyNumber_Index(obj);
    if (!e) return -1;
    int bad = _PyLong_Sign(e) < 0 || as_bytes(e, digits, nbytes) < 0;
    Py_DECREF(e);
    if (bad) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "exponent must be in 0..2^%zu - 1", 8 * nbytes);
        return -1;
    }
    return 0;
}

/* The rows of `bits`-bit windows that exponents of nbytes bytes take. */
static size_t comb_rows(unsigned bits, size_t nbytes) { return (8 * nbytes + bits - 1) / bits; }

/* Window i (bits b i..b i+b-1, b = bits <= 8) of the nbytes little-endian bytes of an exponent; which bytes are read
 * depends on i and nbytes (public) only. */
static unsigned comb_digit(unsigned bits, const unsigned char *digits, size_t nbytes, size_t i) {
    size_t bit = bits * i, byte = bit / 8;
    unsigned v = digits[byte];
    if (byte + 1 < nbytes) v |= (unsigned)digits[byte + 1] << 8;
    return (v >> (bit % 8)) & ((1u << bits) - 1);
}

/* The masks of a row selection among `entries` (at most COMB_MAX_ENTRIES): all ones for entry `digit`, zero for the others,
 * computed without a branch. */
static void row_masks(uint64_t *masks, unsigned digit, unsigned entries) {
    for (unsigned j = 0; j < entries; j++) {
        uint64_t mask = (uint64_t)0 - (uint64_t)(((uint32_t)(j ^ digit) - 1u) >> 31);
        __asm__("" : "+r"(mask)); /* an opaque value: the compiler cannot turn the masking into a branch */
        masks[j] = mask;
    }
}

/* out = entry `digit` of a row of `entries` entries of `words` words: every entry is read whole and the one wanted
 * is kept by masks, so neither a branch nor a memory address depends on the digit. One version per arithmetic's
 * vector width (IFMA: 80 words, AVX2: 144; OpenSSL: p's words, scalar). */
static void ct_select(uint64_t *out, const uint64_t *row, size_t words, unsigned digit, unsigned entries) {
    uint64_t masks[COMB_MAX_ENTRIES];
    row_masks(masks, digit, entries);
    memset(out, 0, words * sizeof(uint64_t));
    for (unsigned j = 0; j < entries; j++)
        for (size_t w = 0; w < words; w++) out[w] |= row[j * words + w] & masks[j];
}

__attribute__((target("avx512f")))
static void ct_select_512(uint64_t *out, const uint64_t *row, size_t words, unsigned digit, unsigned entries) {
    uint64_t masks[COMB_MAX_ENTRIES];
    row_masks(masks, digit, entries);
    for (size_t w = 0; w < words; w += 8) {
        __m512i acc = _mm512_setzero_si512();
        for (unsigned j = 0; j < entries; j++)
            acc = _mm512_or_si512(acc, _mm512_and_si512(_mm512_loadu_si512(row + j * words + w),
                                                        _mm512_set1_epi64((long long)masks[j])));
        _mm512_storeu_si512(out + w, acc);
    }
}

/* The 32 bytes at `offset` of the entry whose mask is all ones, among a row's `entries` entries `stride` bytes
 * apart: every entry's are read and masked. */
__attribute__((target("avx2")))
static inline __m256i masked_scan_256(const unsigned char *row, size_t stride, size_t offset, const uint64_t *masks,
                                      unsigned entries) {
    __m256i acc = _mm256_setzero_si256();
    for (unsigned j = 0; j < entries; j++)
        acc = _mm256_or_si256(acc, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(row + j * stride + offset)),
                                                    _mm256_set1_epi64x((long long)masks[j])));
    return acc;
}

__attribute__((target("avx2")))
static void ct_select_256(uint64_t *out, const uint64_t *row, size_t words, unsigned digit, unsigned entries) {
    uint64_t masks[COMB_MAX_ENTRIES];
    row_masks(masks, digit, entries);
    for (size_t w = 0; w < words; w += 4)
        _mm256_storeu_si256((__m256i *)(out + w),
                            masked_scan_256((const unsigned char *)row, 8 * words, 8 * w, masks, entries));
}

/* AVX2 combs keep an entry's 144 normalized 29-bit limbs as 32-bit words: 576 bytes, half its slot, so that a row's
 * scan reads half as much; rows of 64 then cost about what rows of 32 did (COMB_BITS_AVX2). Both: -15% for exp_g,
 * -11% for a ballot's encryption (measured on an AMD EPYC with AVX2 and no AVX-512). */
#define PACKED29 (N29 * sizeof(uint32_t))

/* out (an AVX2 slot) = entry `digit` of a row of `entries` packed entries (see PACKED29), read whole and kept by
 * masks as ct_select does, then widened to 64-bit lanes. */
__attribute__((target("avx2")))
static void ct_select_packed29(uint64_t *out, const uint32_t *row, unsigned digit, unsigned entries) {
    uint64_t masks[COMB_MAX_ENTRIES];
    row_masks(masks, digit, entries);
    for (size_t w = 0; w < N29; w += 8) {
        __m256i acc = masked_scan_256((const unsigned char *)row, PACKED29, 4 * w, masks, entries);
        _mm256_storeu_si256((__m256i *)(out + w), _mm256_cvtepu32_epi64(_mm256_castsi256_si128(acc)));
        _mm256_storeu_si256((__m256i *)(out + w + 4), _mm256_cvtepu32_epi64(_mm256_extracti128_si256(acc, 1)));
    }
}

/* x = entry `digit` of a row of `entries` entries of esize bytes, selected into x's slot (IFMA, AVX2). */
static void simd_entry(const Modulus *m, size_t esize, const unsigned char *row, void *x, unsigned digit,
                       unsigned entries) {
    if (m->arith == ARITH_IFMA) /* NL = 80 words: whole 512-bit vectors */
        ct_select_512((uint64_t *)x, (const uint64_t *)row, esize / 8, digit, entries);
    else /* AVX2, N29 = 144 words: whole 256-bit vectors */
        ct_select_256((uint64_t *)x, (const uint64_t *)row, esize / 8, digit, entries);
}

/* x = entry `digit` of a row of `entries` entries of esize bytes, an element of the arithmetic (SIMD: selected into
 * x's slot; OpenSSL: selected into buf, then read into x's BIGNUM). */
static int row_entry(const Modulus *m, size_t esize, const unsigned char *row, void *x, uint64_t *buf, unsigned digit,
                     unsigned entries) {
    if (m->arith != ARITH_OPENSSL) {
        simd_entry(m, esize, row, x, digit, entries);
        return 1;
    }
    ct_select(buf, (const uint64_t *)row, esize / 8, digit, entries);
    return BN_lebin2bn((const unsigned char *)buf, (int)esize, BN_AT(x)) != NULL;
}

/* x = entry `digit` of row i of a comb. */
static int comb_entry(const Comb *c, void *x, uint64_t *buf, size_t i, unsigned digit) {
    unsigned entries = 1u << c->bits;
    const unsigned char *row = c->table + i * entries * c->esize;
    if (c->mod->arith == ARITH_AVX2) {
        ct_select_packed29((uint64_t *)x, (const uint32_t *)row, digit, entries);
        return 1;
    }
    return row_entry(c->mod, c->esize, row, x, buf, digit, entries);
}

/* Entry k of the table = x (AVX2: packed, see PACKED29). */
static int comb_put(Comb *c, size_t k, void *x) {
    unsigned char *e = c->table + k * c->esize;
    if (c->mod->arith == ARITH_AVX2) {
        for (size_t w = 0; w < N29; w++) ((uint32_t *)e)[w] = (uint32_t)((const uint64_t *)x)[w];
        return 1;
    }
    if (c->mod->arith != ARITH_OPENSSL) {
        memcpy(e, x, c->esize);
        return 1;
    }
    return BN_bn2lebinpad(BN_AT(x), e, (int)c->esize) >= 0;
}

/* Scratch for comb_mul: one element and, for OpenSSL, the bytes of one entry. */
typedef struct {
    void *x;
    uint64_t *buf;
} CombScratch;

static int scratch_new(CombScratch *s, const Arith *ar, const Modulus *m) {
    s->x = ar->array_new(ar, 1);
    s->buf = calloc((m->nbytes + 7) / 8, sizeof(uint64_t));
    return s->x && s->buf;
}

static void scratch_free(CombScratch *s, const Arith *ar) {
    if (s->x) ar->array_free(ar, s->x, 1);
    free(s->buf);
}

/* acc *= base^e for the nbytes bytes of e: one selection and one product per window (c->bits), zero windows included
 * (entry 0 is one), so the work and the memory read depend on nbytes (public) and not on e; 0 on failure. */
static int comb_mul(const Comb *c, const Arith *ar, void *acc, int *set, const unsigned char *digits, size_t nbytes,
                    CombScratch *s) {
    Job job = {ar, 0, NULL, NULL, NULL};
    for (size_t i = 0; i < comb_rows(c->bits, nbytes); i++)
        if (!comb_entry(c, s->x, s->buf, i, comb_digit(c->bits, digits, nbytes, i)) || !mul_into(&job, acc, set, s->x))
            return 0;
    return 1;
}

/* Montgomery value (or 1 if never set) out to a Python int. */
static PyObject *out_of_montgomery(const Arith *ar, void *acc, int set) {
    size_t nbytes = ar->m->nbytes;
    unsigned char *buf = calloc(1, nbytes);
    PyObject *r = NULL;
    if (buf && !set) buf[0] = 1;
    if (buf && (!set || ar->store(ar, buf, acc)))
        r = _PyLong_FromByteArray(buf, nbytes, 1, 0);
    else
        PyErr_NoMemory();
    free(buf);
    return r;
}

static PyObject *Comb_exp(Comb *self, PyObject *e) {
    unsigned char digits[256];
    if (comb_digits(e, digits, self->nbytes) < 0) return NULL;
    BN_CTX *ctx = BN_CTX_new();
    Arith ar;
    arith_init(&ar, self->mod, ctx);
    CombScratch s = {NULL, NULL};
    void *acc = ctx ? ar.array_new(&ar, 1) : NULL;
    PyObject *r = NULL;
    int set = 0, ok = acc != NULL && ctx && scratch_new(&s, &ar, self->mod);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        ok = comb_mul(self, &ar, acc, &set, digits, self->nbytes, &s);
        Py_END_ALLOW_THREADS
    }
    if (ok) r = out_of_montgomery(&ar, acc, set);
    else PyErr_NoMemory();
    if (acc) ar.array_free(&ar, acc, 1);
    if (ctx) scratch_free(&s, &ar);
    BN_CTX_free(ctx);
    return r;
}

static PyMethodDef Comb_methods[] = {
    {"exp", (PyCFunction)Comb_exp, METH_O, "exp(e) -> int: base^e mod p for 0 <= e < 256^nbytes."},
    {NULL, NULL, 0, NULL}};

static PyObject *Comb_bits(Comb *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLong(self->bits);
}

static PyObject *Comb_products(Comb *self, void *closure) {
    (void)closure;
    return PyLong_FromSize_t(comb_rows(self->bits, self->nbytes) * (((size_t)1 << self->bits) - 1));
}

static PyGetSetDef Comb_getset[] = {
    {"bits", (getter)Comb_bits, NULL, "The window: each row holds base^(j 2^(bits i)) for j = 0..2^bits - 1.", NULL},
    {"build_products", (getter)Comb_products, NULL, "The products that built the table (2^bits - 1 a row).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject CombType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threshold.groups._modp.Comb",
    .tp_basicsize = sizeof(Comb),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A fixed base's comb table (made by Modulus.comb).",
    .tp_dealloc = (destructor)Comb_dealloc,
    .tp_methods = Comb_methods,
    .tp_getset = Comb_getset,
};

static PyObject *Modulus_comb(Modulus *self, PyObject *args) {
    PyObject *base;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "On:comb", &base, &rows)) return NULL;
    if (!self->p) {
        PyErr_SetString(PyExc_ValueError, "Modulus is not initialised");
        return NULL;
    }
    if (rows < 1 || rows > 256) {
        PyErr_SetString(PyExc_ValueError, "rows (exponent bytes) must be in 1..256");
        return NULL;
    }
    unsigned char *buf = calloc(1, self->nbytes);
    if (!buf) return PyErr_NoMemory();
    if (read_base(self, base, buf) < 0) {
        free(buf);
        return NULL;
    }
    Comb *c = PyObject_New(Comb, &CombType);
    if (!c) { free(buf); return NULL; }
    Py_INCREF(self);
    c->mod = self;
    c->nbytes = (size_t)rows;
    BN_CTX *ctx = BN_CTX_new();
    Arith ar;
    arith_init(&ar, self, ctx);
    c->esize = self->arith == ARITH_OPENSSL ? (self->nbytes + 7) / 8 * 8 : self->arith == ARITH_AVX2 ? PACKED29 : ar.size;
    c->bits = self->arith == ARITH_AVX2 ? COMB_BITS_AVX2 : COMB_BITS;
    size_t width = (size_t)1 << c->bits, nrows = comb_rows(c->bits, (size_t)rows), entries = nrows * width;
    c->table = aligned_alloc(64, (entries * c->esize + 63) / 64 * 64);
    void *x = ctx ? ar.array_new(&ar, 1) : NULL, *y = ctx ? ar.array_new(&ar, 1) : NULL;
    unsigned char *one = calloc(1, self->nbytes);
    int ok = c->table && x && y && one;
    if (ok) {
        one[0] = 1;
        Py_BEGIN_ALLOW_THREADS
        ok = ar.load(&ar, x, buf) && ar.load(&ar, y, one);
        for (size_t i = 0; ok && i < nrows; i++) { /* row i: one, x, ..., x^(w-1) for x = base^(w^i), w = width */
            size_t row = width * i;
            if (i == 0) ok = comb_put(c, row, y); /* one (y holds it on entry) */
            else ok = ar.load(&ar, y, one) && comb_put(c, row, y);
            ok = ok && ar.copy(&ar, y, x) && comb_put(c, row + 1, y);
            for (size_t j = 2; ok && j < width; j++) ok = ar.mul(&ar, y, y, x) && comb_put(c, row + j, y);
            ok = ok && ar.mul(&ar, x, y, x); /* x^w */
        }
        Py_END_ALLOW_THREADS
    }
    if (x) ar.array_free(&ar, x, 1);
    if (y) ar.array_free(&ar, y, 1);
    free(one);
    BN_CTX_free(ctx);
    free(buf);
    if (!ok) {
        Py_DECREF(c);
        return PyErr_NoMemory();
    }
    return (PyObject *)c;
}

/* acc = base^e for the nbytes little-endian bytes of e, on IFMA or AVX2 (base in Montgomery form in table slot 1):
 * the row base^0..base^15, then for each nibble from the top, zero nibbles included, four squarings, a selection of
 * the whole row by masks and one product. The work and the memory read depend on nbytes (public), not on e. */
static int window_exp(const Arith *ar, unsigned char *table, void *acc, void *x, const unsigned char *digits,
                      size_t nbytes, const unsigned char *one_le) {
    const Modulus *m = ar->m;
    size_t es = ar->size;
    if (!ar->load(ar, table, one_le)) return 0;
    for (unsigned j = 2; j < WINDOW_ENTRIES; j++)
        if (!ar->mul(ar, table + j * es, table + (j - 1) * es, table + es)) return 0;
    for (size_t i = 2 * nbytes; i-- > 0;) {
        unsigned d = (digits[i / 2] >> (4 * (i % 2))) & 15u;
        if (i + 1 == 2 * nbytes) {
            simd_entry(m, es, table, acc, d, WINDOW_ENTRIES);
            continue;
        }
        for (int k = 0; k < 4; k++)
            if (!ar->mul(ar, acc, acc, acc)) return 0;
        simd_entry(m, es, table, x, d, WINDOW_ENTRIES);
        if (!ar->mul(ar, acc, acc, x)) return 0;
    }
    return 1;
}

/* base^e mod p on OpenSSL's constant-time exponentiation (its Montgomery products are not constant time). */
static PyObject *openssl_ct_exp(Modulus *self, const unsigned char *base_le, const unsigned char *digits, size_t nbytes) {
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *b = BN_lebin2bn(base_le, (int)self->nbytes, NULL), *e = BN_lebin2bn(digits, (int)nbytes, NULL);
    BIGNUM *r = BN_new();
    unsigned char *out = calloc(1, self->nbytes);
    PyObject *res = NULL;
    if (ctx && b && e && r && out) {
        BN_set_flags(e, BN_FLG_CONSTTIME);
        int ok;
        Py_BEGIN_ALLOW_THREADS
        ok = BN_mod_exp_mont_consttime(r, b, e, self->p, ctx, self->mont) && BN_bn2lebinpad(r, out, (int)self->nbytes) >= 0;
        Py_END_ALLOW_THREADS
        if (ok) res = _PyLong_FromByteArray(out, self->nbytes, 1, 0);
    }
    if (!res && !PyErr_Occurred()) PyErr_NoMemory();
    BN_free(e);
    BN_free(b);
    BN_free(r);
    free(out);
    BN_CTX_free(ctx);
    return res;
}

static PyObject *Modulus_ct_exp(Modulus *self, PyObject *args) {
    PyObject *base, *exp;
    Py_ssize_t nbytes;
    if (!PyArg_ParseTuple(args, "OOn:ct_exp", &base, &exp, &nbytes)) return NULL;
    if (!self->p) {
        PyErr_SetString(PyExc_ValueError, "Modulus is not initialised");
        return NULL;
    }
    if (nbytes < 1 || nbytes > 512) {
        PyErr_SetString(PyExc_ValueError, "nbytes (exponent bytes) must be in 1..512");
        return NULL;
    }
    unsigned char *buf = calloc(1, self->nbytes), *digits = calloc(1, (size_t)nbytes), *one = calloc(1, self->nbytes);
    if (!buf || !digits || !one) {
        free(buf); free(digits); free(one);
        return PyErr_NoMemory();
    }
    PyObject *r = NULL;
    if (read_base(self, base, buf) < 0 || comb_digits(exp, digits, (size_t)nbytes) < 0) goto done;
    if (self->arith == ARITH_OPENSSL) {
        r = openssl_ct_exp(self, buf, digits, (size_t)nbytes);
        goto done;
    }
    Arith ar;
    arith_init(&ar, self, NULL);
    unsigned char *table = aligned_alloc(64, WINDOW_ENTRIES * ar.size);
    void *acc = ar.array_new(&ar, 1), *x = ar.array_new(&ar, 1);
    int ok = table && acc && x;
    if (ok) {
        one[0] = 1;
        Py_BEGIN_ALLOW_THREADS
        ok = ar.load(&ar, table + ar.size, buf) && window_exp(&ar, table, acc, x, digits, (size_t)nbytes, one);
        Py_END_ALLOW_THREADS
    }
    if (ok) r = out_of_montgomery(&ar, acc, 1);
    else PyErr_NoMemory();
    free(table);
    if (acc) ar.array_free(&ar, acc, 1);
    if (x) ar.array_free(&ar, x, 1);
done:
    free(buf); free(digits); free(one);
    return r;
}

static PyObject *Modulus_products(Modulus *self, PyObject *arg) {
    /* products: sequence of sequences of (Comb, exponent); returns a list of ints. */
    if (!self->p) {
        PyErr_SetString(PyExc_ValueError, "Modulus is not initialised");
        return NULL;
    }
    /* Tuples: neither __index__ nor another thread (the GIL is released below) can resize them. */
    PyObject *outer = PySequence_Tuple(arg), *result = NULL;
    if (!outer) return NULL;
    Py_ssize_t np = PyTuple_GET_SIZE(outer), nt = 0;
    PyObject **inner = calloc(np ? np : 1, sizeof(PyObject *));
    if (!inner) { Py_DECREF(outer); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < np; i++) {
        inner[i] = PySequence_Tuple(PyTuple_GET_ITEM(outer, i));
        if (!inner[i]) goto done;
        nt += PyTuple_GET_SIZE(inner[i]);
    }
    Comb **combs = calloc(nt ? nt : 1, sizeof(Comb *));
    unsigned char *digits = calloc(nt ? nt : 1, 256);
    size_t *used = calloc(nt ? nt : 1, sizeof(size_t)); /* exponent bytes of each term */
    int *set = calloc(np ? np : 1, sizeof(int));
    BN_CTX *ctx = BN_CTX_new();
    Arith ar;
    arith_init(&ar, self, ctx);
    void *accs = ctx ? ar.array_new(&ar, (size_t)np) : NULL;
    CombScratch scratch = {NULL, NULL};
    Py_ssize_t t = 0, held = 0;
    if (!combs || !digits || !used || !accs || !set || !ctx || !scratch_new(&scratch, &ar, self)) { PyErr_NoMemory(); goto free_all; }
    for (Py_ssize_t i = 0; i < np; i++)
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(inner[i]); k++, t++) {
            PyObject *term = PyTuple_GET_ITEM(inner[i], k);
            Py_ssize_t size = PyTuple_Check(term) ? PyTuple_GET_SIZE(term) : 0;
            if ((size != 2 && size != 3) || !PyObject_TypeCheck(PyTuple_GET_ITEM(term, 0), &CombType)) {
                PyErr_Format(PyExc_TypeError, "product %zd, term %zd: expected a (Comb, exponent[, bytes]) tuple", i, k);
                goto free_all;
            }
            Comb *c = (Comb *)PyTuple_GET_ITEM(term, 0);
            if (c->mod != self) {
                PyErr_Format(PyExc_ValueError, "product %zd, term %zd: a comb of another modulus", i, k);
                goto free_all;
            }
            used[t] = c->nbytes;
            if (size == 3) { /* a public bound: the exponent fits in these bytes, the rest of the table is skipped */
                Py_ssize_t b = PyLong_Check(PyTuple_GET_ITEM(term, 2)) ? PyLong_AsSsize_t(PyTuple_GET_ITEM(term, 2)) : -1;
                if (b < 1 || (size_t)b > c->nbytes) {
                    PyErr_Clear();
                    PyErr_Format(PyExc_ValueError, "product %zd, term %zd: exponent bytes must be in 1..%zu", i, k, c->nbytes);
                    goto free_all;
                }
                used[t] = (size_t)b;
            }
            if (comb_digits(PyTuple_GET_ITEM(term, 1), digits + 256 * t, used[t]) < 0) goto free_all;
            Py_INCREF(c); /* kept alive while the GIL is released */
            combs[held++] = c;
        }
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    t = 0;
    for (Py_ssize_t i = 0; i < np && ok; i++)
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(inner[i]) && ok; k++, t++)
            ok = comb_mul(combs[t], &ar, slot(&ar, accs, (size_t)i), &set[i], digits + 256 * t, used[t], &scratch);
    Py_END_ALLOW_THREADS
    if (!ok) { PyErr_NoMemory(); goto free_all; }
    result = PyList_New(np);
    for (Py_ssize_t i = 0; result && i < np; i++) {
        PyObject *v = out_of_montgomery(&ar, slot(&ar, accs, (size_t)i), set[i]);
        if (!v) { Py_CLEAR(result); break; }
        PyList_SET_ITEM(result, i, v);
    }
free_all:
    for (Py_ssize_t j = 0; j < held; j++) Py_DECREF(combs[j]);
    free(combs); free(digits); free(used); free(set);
    if (accs) ar.array_free(&ar, accs, (size_t)np);
    if (ctx) scratch_free(&scratch, &ar);
    BN_CTX_free(ctx);
done:
    for (Py_ssize_t i = 0; i < np; i++) Py_XDECREF(inner[i]);
    free(inner);
    Py_DECREF(outer);
    return result;
}

/* -p^-1 mod 2^w for odd p (Newton: each step doubles the correct low bits of p0^-1). */
static uint64_t neg_inverse(uint64_t p0, unsigned w) {
    uint64_t inv = 1;
    for (int i = 0; i < 6; i++) inv *= 2 - p0 * inv;
    return (0 - inv) & ((1ULL << w) - 1);
}

/* 2^(2 n w) mod p in n limbs of w bits (R^2 for the Montgomery conversion of the bases); 0 on failure. */
static int r2_limbs(const Modulus *self, BN_CTX *ctx, uint64_t *out, size_t n, unsigned w) {
    unsigned char *buf = calloc(1, self->nbytes);
    BIGNUM *r2 = BN_new();
    int ok = buf && r2 && BN_set_bit(r2, (int)(2 * n * w)) && BN_mod(r2, r2, self->p, ctx)
             && BN_bn2lebinpad(r2, buf, (int)self->nbytes) >= 0;
    if (ok) le_to_limbs(out, n, w, buf, self->nbytes);
    free(buf);
    BN_free(r2);
    return ok;
}

/* The IFMA constants of p (p52, r2_52, k0); 0 on allocation failure. */
static int simd_setup(Modulus *self, BN_CTX *ctx) {
    self->p52 = aligned_alloc(64, NL * sizeof(uint64_t));
    self->r2_52 = aligned_alloc(64, NL * sizeof(uint64_t));
    if (!self->p52 || !self->r2_52) return 0;
    le_to_52(self->p52, self->pbytes, self->nbytes);
    self->k0 = neg_inverse(self->p52[0], 52);
    return r2_limbs(self, ctx, self->r2_52, NL, 52);
}

/* The AVX2 constants of p (p29s: p shifted up by 0..3 limbs, r2_29, k29); 0 on allocation failure. */
static int avx2_setup(Modulus *self, BN_CTX *ctx) {
    self->p29s = aligned_alloc(64, 4 * W29 * sizeof(uint64_t)); /* 4736 bytes */
    self->r2_29 = aligned_alloc(64, N29 * sizeof(uint64_t));
    if (!self->p29s || !self->r2_29) return 0;
    memset(self->p29s, 0, 4 * W29 * sizeof(uint64_t));
    le_to_limbs(self->p29s, N29, 29, self->pbytes, self->nbytes);
    for (int g = 1; g < 4; g++) memcpy(self->p29s + g * W29 + g, self->p29s, N29 * sizeof(uint64_t));
    self->k29 = neg_inverse(self->p29s[0], 29);
    return r2_limbs(self, ctx, self->r2_29, N29, 29);
}

static void free_simd_constants(Modulus *self) {
    free(self->p52); free(self->r2_52); free(self->p29s); free(self->r2_29);
    self->p52 = self->r2_52 = self->p29s = self->r2_29 = NULL;
}

/* XCR0 (the register states the OS saves across context switches), or 0 without OSXSAVE: AVX2 needs the
 * SSE and YMM states (bits 1, 2), AVX-512 also the opmask and ZMM states (bits 5-7). */
static uint64_t os_xcr0(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int cpu_has_ifma(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma") && (os_xcr0() & 0xE6) == 0xE6;
}
static int cpu_has_avx2(void) { return __builtin_cpu_supports("avx2") && (os_xcr0() & 6) == 6; }

/* Which arithmetic for a p of `bits` bits: the caller's `want` (an ARITH_*, or -1 for the fastest), or -1 with
 * ValueError if that one cannot serve. By default IFMA (2560 to 4157 bits; below, its fixed 80 limbs cost more
 * than OpenSSL's product sized to p), else AVX2 (3584 to 4174 bits: about 1.6x OpenSSL at 4096 bits, measured,
 * but its 144 limbs are fixed too), else OpenSSL. Forced, IFMA and AVX2 take any p below their bound. */
static int choose_arith(int want, size_t bits) {
    if (want == ARITH_IFMA && !(cpu_has_ifma() && bits <= 4157)) {
        PyErr_SetString(PyExc_ValueError, "arith='ifma' needs AVX-512 IFMA (CPU and OS) and p below 2^4157");
        return -1;
    }
    if (want == ARITH_AVX2 && !(cpu_has_avx2() && bits <= 4174)) {
        PyErr_SetString(PyExc_ValueError, "arith='avx2' needs AVX2 (CPU and OS) and p below 2^4174");
        return -1;
    }
    if (want >= 0) return want;
    if (bits >= SIMD_MIN_BITS && bits <= 4157 && cpu_has_ifma()) return ARITH_IFMA;
    if (bits >= AVX2_MIN_BITS && bits <= 4174 && cpu_has_avx2()) return ARITH_AVX2;
    return ARITH_OPENSSL;
}

static int Modulus_init(Modulus *self, PyObject *args, PyObject *kwds) {
    PyObject *pobj;
    int want = -1;
    const char *name = NULL;
    static char *kwlist[] = {"p", "arith", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!|z:Modulus", kwlist, &PyLong_Type, &pobj, &name)) return -1;
    if (self->p) {
        PyErr_SetString(PyExc_TypeError, "Modulus is immutable");
        return -1;
    }
    if (name) {
        for (int k = 0; k < 3; k++)
            if (!strcmp(name, ARITH_NAMES[k])) want = k;
        if (want < 0) {
            PyErr_SetString(PyExc_ValueError, "arith must be 'ifma', 'avx2' or 'openssl'");
            return -1;
        }
    }
    size_t bits = _PyLong_NumBits(pobj);
    if (_PyLong_Sign(pobj) <= 0 || bits < 65 || bits > 16384) {
        PyErr_SetString(PyExc_ValueError, "the modulus must be an odd integer of 65 to 16384 bits");
        return -1;
    }
    int arith = choose_arith(want, bits);
    if (arith < 0) return -1;
    size_t nbytes = (bits + 7) / 8;
    unsigned char *buf = malloc(nbytes);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p = NULL;
    BN_MONT_CTX *mont = NULL;
    if (!buf || !ctx || as_bytes(pobj, buf, nbytes) < 0 || !(p = BN_lebin2bn(buf, (int)nbytes, NULL))) goto fail;
    if (!BN_is_odd(p)) {
        PyErr_SetString(PyExc_ValueError, "the modulus must be an odd integer of 65 to 16384 bits");
        goto fail;
    }
    if (!(mont = BN_MONT_CTX_new()) || !BN_MONT_CTX_set(mont, p, ctx)) goto fail;
    self->pbytes = buf; /* the setups read it */
    self->nbytes = nbytes;
    self->p = p;
    /* Without its constants (no memory), OpenSSL serves the default choice; a forced one fails. */
    if ((arith == ARITH_IFMA && !simd_setup(self, ctx)) || (arith == ARITH_AVX2 && !avx2_setup(self, ctx))) {
        free_simd_constants(self);
        if (want >= 0) {
            self->p = NULL;
            self->pbytes = NULL;
            goto fail;
        }
        arith = ARITH_OPENSSL;
    }
    self->mont = mont;
    self->arith = arith;
    BN_CTX_free(ctx);
    return 0;
fail:
    if (!PyErr_Occurred()) PyErr_NoMemory();
    free(buf);
    BN_CTX_free(ctx);
    BN_free(p);
    BN_MONT_CTX_free(mont);
    return -1;
}

static void Modulus_dealloc(Modulus *self) {
    BN_free(self->p);
    BN_MONT_CTX_free(self->mont);
    free(self->pbytes);
    free_simd_constants(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Modulus_get_arith(Modulus *self, void *closure) {
    (void)closure;
    return PyUnicode_FromString(ARITH_NAMES[self->arith]);
}

static PyGetSetDef Modulus_getset[] = {
    {"arith", (getter)Modulus_get_arith, NULL, "the arithmetic of multi_exp and the combs: 'ifma', 'avx2' or 'openssl'", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef Modulus_methods[] = {
    {"multi_exp", (PyCFunction)Modulus_multi_exp, METH_VARARGS,
     "multi_exp(bases, exponents, method=0) -> int: prod bases[i]^exponents[i] mod p, bases in 0..p-1, "
     "exponents >= 0 (variable time: public exponents only). method: 0 by size (Straus below 16 terms, 24 on "
     "IFMA; else Bos-Coster, or Pippenger/Straus by cost for exponents over 1024 bits or, on IFMA, over 65536 "
     "terms), 1 Straus, 2 Pippenger, 3 Bos-Coster (Pippenger for exponents over 1024 bits)."},
    {"comb", (PyCFunction)Modulus_comb, METH_VARARGS,
     "comb(base, rows) -> Comb: the fixed-base table of base (in 0..p-1) for exponents of `rows` bytes."},
    {"ct_exp", (PyCFunction)Modulus_ct_exp, METH_VARARGS,
     "ct_exp(base, e, nbytes) -> int: base^e mod p for base in 0..p-1 and 0 <= e < 256^nbytes, constant time in e "
     "(fixed 4-bit windows, whole-row selections; OpenSSL's BN_mod_exp_mont_consttime on its arithmetic): the "
     "path of secret exponents with variable bases."},
    {"products", (PyCFunction)Modulus_products, METH_O,
     "products([[(comb, e), ...], ...]) -> list[int]: for each list, the product of comb^e over its terms."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ModulusType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "threshold.groups._modp.Modulus",
    .tp_basicsize = sizeof(Modulus),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Modulus(p, arith=None): an odd modulus with its Montgomery constants. arith: 'ifma', 'avx2' or "
              "'openssl' (ValueError if the CPU or the size of p rules it out); None picks the fastest available.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Modulus_init,
    .tp_dealloc = (destructor)Modulus_dealloc,
    .tp_methods = Modulus_methods,
    .tp_getset = Modulus_getset,
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_modp", "Native Montgomery multi-exponentiation.", -1, NULL};

PyMODINIT_FUNC PyInit__modp(void) {
    __builtin_cpu_init();
    if (PyType_Ready(&ModulusType) < 0 || PyType_Ready(&CombType) < 0) return NULL;
    PyObject *mod = PyModule_Create(&moddef);
    if (!mod) return NULL;
    Py_INCREF(&ModulusType);
    if (PyModule_AddObject(mod, "Modulus", (PyObject *)&ModulusType) < 0) {
        Py_DECREF(&ModulusType);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}

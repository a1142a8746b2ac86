/* Fused loops of the RNS ring (mpc_ml/ring.py): residues below 2^21 stored as float32, arithmetic
 * in exact uint64 per limb. Every function takes C-contiguous buffers checked by its Python wrapper
 * in ring.py (sizes, dtypes), writes into a caller-allocated output and holds the GIL throughout.
 *
 * Reduction of x < 2^63 modulo a prime p < 2^21: q = trunc(x * (1/p)) in double is within 1 of
 * floor(x / p) (relative error of the double product < 2^-51, quotient < 2^42), so r = x - q p
 * lies in [-p, 2p) and one conditional add or subtract makes it exact.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t modp(uint64_t x, uint64_t p, double pinv)
{
    /* x < 2^63: signed conversions, which x86-64 has as single instructions */
    int64_t q = (int64_t)((double)(int64_t)x * pinv);
    int64_t r = (int64_t)x - q * (int64_t)p;
    r += (r >> 63) & (int64_t)p;
    r -= (r >= (int64_t)p) ? (int64_t)p : 0;
    return (uint64_t)r;
}

/* The same for a double holding an integer 0 <= x < 2^53 (vectorizes: no integer conversions). */
static inline double modp_d(double x, double p, double pinv)
{
    double r = x - __builtin_floor(x * pinv) * p;
    r += r < 0 ? p : 0.0;
    r -= r >= p ? p : 0.0;
    return r;
}

/* The hot loops are compiled for AVX2 as well as baseline x86-64 and picked at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("avx2", "default")))
#else
#define HOT
#endif

typedef struct {
    Py_buffer b[12];
    int used;
} Bufs;

static void release(Bufs *bs)
{
    for (int i = 0; i < bs->used; i++)
        PyBuffer_Release(&bs->b[i]);
    bs->used = 0;
}

/* Byte size of an array: the product of its factors, or -1 if a factor is negative or the
   product overflows (so that a huge dimension can never wrap into a small size check). */
static Py_ssize_t nbytes(const Py_ssize_t *f, size_t count)
{
    Py_ssize_t r = 1;
    for (size_t i = 0; i < count; i++)
        if (f[i] < 0 || __builtin_mul_overflow(r, f[i], &r))
            return -1;
    return r;
}
#define NB(...) nbytes((const Py_ssize_t[]){__VA_ARGS__}, \
                       sizeof((const Py_ssize_t[]){__VA_ARGS__}) / sizeof(Py_ssize_t))

/* Element types a buffer must have (numpy's format codes on LP64: uint64 is 'L', int64 'l'). */
enum { ANY, F32, U32, U64, I64 };

static int kind_ok(const Py_buffer *v, int kind)
{
    if (kind == ANY)
        return 1;
    const char *f = v->format ? v->format : "B";
    if (f[0] && f[1]) {  /* a byte-order prefix: only native little-endian */
        if (!strchr("@=<", f[0]) || f[2])
            return 0;
        f++;
    }
    switch (kind) {
    case F32: return v->itemsize == 4 && *f == 'f';
    case U32: return v->itemsize == 4 && (*f == 'I' || *f == 'L');
    case U64: return v->itemsize == 8 && (*f == 'L' || *f == 'Q');
    default:  return v->itemsize == 8 && (*f == 'l' || *f == 'q');
    }
}

static const char *KIND_NAMES[] = {"bytes", "float32", "uint32", "uint64", "int64"};

/* Get a C-contiguous buffer of `kind` elements and at least `bytes` bytes (writable if asked); NULL on error. */
static void *get(Bufs *bs, PyObject *obj, Py_ssize_t bytes, int writable, const char *what, int kind)
{
    if (bytes < 0) {
        PyErr_Format(PyExc_ValueError, "%s: dimensions out of range", what);
        return NULL;
    }
    Py_buffer *v = &bs->b[bs->used];
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return NULL;
    bs->used++;
    if (!kind_ok(v, kind)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a buffer of %s, got format '%s' with %zd-byte items", what,
                     KIND_NAMES[kind], v->format ? v->format : "B", v->itemsize);
        return NULL;
    }
    if (v->len < bytes) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, need %zd", what, v->len, bytes);
        return NULL;
    }
    return v->buf;
}

/* 0 if every value is below `limit`, else -1 with ValueError naming `what`. */
static int all_below(const uint32_t *v, Py_ssize_t count, uint32_t limit, const char *what)
{
    int bad = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        bad |= v[i] >= limit;
    if (bad) {
        PyErr_Format(PyExc_ValueError, "%s: values must lie below %u", what, limit);
        return -1;
    }
    return 0;
}

static int primes_of(Bufs *bs, PyObject *obj, Py_ssize_t k, const uint64_t **p, double *pinv)
{
    *p = get(bs, obj, NB(8, k), 0, "primes", U64);
    if (!*p)
        return -1;
    for (Py_ssize_t i = 0; i < k; i++) {
        if ((*p)[i] < 2 || (*p)[i] >= (1u << 21)) {
            PyErr_SetString(PyExc_ValueError, "primes must lie in [2, 2^21)");
            return -1;
        }
        pinv[i] = 1.0 / (double)(*p)[i];
    }
    return 0;
}

#define MAXK 1024

/* Number of uint64 primes in a buffer (0 on error, with the exception set). */
static Py_ssize_t nprimes(PyObject *obj)
{
    Py_buffer tmp;
    if (PyObject_GetBuffer(obj, &tmp, PyBUF_C_CONTIGUOUS) < 0)
        return 0;
    Py_ssize_t k = tmp.len / 8;
    PyBuffer_Release(&tmp);
    return k;
}

/* mul_add(out, x, y, a, primes, rows, n): out[r, i] = (x[r, i] * y[r, i] + a[r, i]) mod p_(r mod K),
 * all float32 residues (rows, n); y and a may be None (taken as 1 and 0). */
HOT static void mul_add_core(float *out, const float *x, const float *y, const float *a, const uint64_t *p,
                             const double *pinv, Py_ssize_t k, Py_ssize_t rows, Py_ssize_t n)
{
    for (Py_ssize_t r = 0; r < rows; r++) {  /* x y + a < 2^43: exact in double */
        double q = (double)p[r % k], qi = pinv[r % k];
        const float *xr = x + r * n, *yr = y ? y + r * n : NULL, *ar = a ? a + r * n : NULL;
        float *orow = out + r * n;
        if (yr && ar)
            for (Py_ssize_t i = 0; i < n; i++)
                orow[i] = (float)modp_d((double)xr[i] * (double)yr[i] + (double)ar[i], q, qi);
        else if (yr)
            for (Py_ssize_t i = 0; i < n; i++)
                orow[i] = (float)modp_d((double)xr[i] * (double)yr[i], q, qi);
        else if (ar)
            for (Py_ssize_t i = 0; i < n; i++)
                orow[i] = (float)modp_d((double)xr[i] + (double)ar[i], q, qi);
        else
            for (Py_ssize_t i = 0; i < n; i++)
                orow[i] = (float)modp_d((double)xr[i], q, qi);
    }
}

static PyObject *mul_add(PyObject *self, PyObject *args)
{
    PyObject *o_out, *o_x, *o_y, *o_a, *o_p;
    Py_ssize_t rows, n;
    if (!PyArg_ParseTuple(args, "OOOOOnn", &o_out, &o_x, &o_y, &o_a, &o_p, &rows, &n))
        return NULL;
    Bufs bs = {.used = 0};
    PyObject *ret = NULL;
    Py_ssize_t k = nprimes(o_p);
    if (k < 1 || k > MAXK || rows % k) {
        if (PyErr_Occurred())
            return NULL;
        PyErr_SetString(PyExc_ValueError, "rows must be a multiple of the number of primes");
        return NULL;
    }
    double pinv[MAXK];
    const uint64_t *p;
    float *out = get(&bs, o_out, NB(4, rows, n), 1, "out", F32);
    const float *x = out ? get(&bs, o_x, NB(4, rows, n), 0, "x", F32) : NULL;
    const float *y = NULL, *a = NULL;
    if (!x)
        goto done;
    if (o_y != Py_None && !(y = get(&bs, o_y, NB(4, rows, n), 0, "y", F32)))
        goto done;
    if (o_a != Py_None && !(a = get(&bs, o_a, NB(4, rows, n), 0, "a", F32)))
        goto done;
    if (primes_of(&bs, o_p, k, &p, pinv) < 0)
        goto done;
    mul_add_core(out, x, y, a, p, pinv, k, rows, n);
    ret = Py_NewRef(Py_None);
done:
    release(&bs);
    return ret;
}

/* lin_mod(out, words, masks, mat, zres, zmat, off, primes, L, O, K, R, Z, n, zt):
 * out[l, o, k, i] = (sum_r mat[l, o, k, r] * (words[r, i] & masks[r])
 *                    + sum_z zmat[l, o, k, z] * zres[z, k, i] + off[o, k]) mod p_k
 * words uint32 (R, n), mat uint32 (L, O, K, R), zres float32 residues (Z / zt, K, zt, n) (residue z of
 * element i, prime k at [z / zt, k, z mod zt, i]: the layout PRSS.residues draws), zmat uint32
 * (L, O, K, Z), off uint32 (O, K), out float32 (L, O, K, n). Zero coefficients are skipped.
 * With coefficients < 2^21, limbs < 2^24, R <= 2^17 and Z <= 2^19 every sum stays below 2^63. */
#define BLOCK 1024
HOT static void lin_core(float *out, const uint32_t *w, const uint32_t *masks, const uint32_t *mat, const float *z,
                         const uint32_t *zm, const uint32_t *off, const uint64_t *p, const double *pinv,
                         Py_ssize_t L, Py_ssize_t O, Py_ssize_t k, Py_ssize_t R, Py_ssize_t Z, Py_ssize_t n,
                         Py_ssize_t zt)
{
    uint64_t acc[BLOCK];
    double dacc[BLOCK];
    for (Py_ssize_t i0 = 0; i0 < n; i0 += BLOCK) {
        Py_ssize_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (Py_ssize_t row = 0; row < L * O * k; row++) {
            Py_ssize_t o = (row / k) % O, kk = row % k;
            const uint32_t *mr = mat + row * R, *zr = zm + row * Z;
            double bound = (double)off[o * k + kk];  /* largest possible sum of this row */
            for (Py_ssize_t r = 0; r < R; r++)
                bound += (double)mr[r] * (double)masks[r];
            for (Py_ssize_t j = 0; j < Z; j++)
                bound += (double)zr[j] * (double)(1 << 21);
            float *orow = out + row * n + i0;
            if (bound < 0x1p53) {  /* every partial sum is an exact double */
                for (Py_ssize_t i = 0; i < m; i++)
                    dacc[i] = (double)off[o * k + kk];
                for (Py_ssize_t r = 0; r < R; r++) {
                    double c = (double)mr[r];
                    if (c == 0.0)
                        continue;
                    uint32_t mk = masks[r];
                    const uint32_t *wr = w + r * n + i0;
                    for (Py_ssize_t i = 0; i < m; i++)
                        dacc[i] += c * (double)(int32_t)(wr[i] & mk);
                }
                for (Py_ssize_t j = 0; j < Z; j++) {
                    double c = (double)zr[j];
                    if (c == 0.0)
                        continue;
                    const float *zs = z + (((j / zt) * k + kk) * zt + j % zt) * n + i0;
                    for (Py_ssize_t i = 0; i < m; i++)
                        dacc[i] += c * (double)zs[i];
                }
                double q = (double)p[kk], qi = pinv[kk];
                for (Py_ssize_t i = 0; i < m; i++)
                    orow[i] = (float)modp_d(dacc[i], q, qi);
                continue;
            }
            for (Py_ssize_t i = 0; i < m; i++)
                acc[i] = off[o * k + kk];
            for (Py_ssize_t r = 0; r < R; r++) {
                uint64_t c = mr[r];
                if (!c)
                    continue;
                uint32_t mk = masks[r];
                const uint32_t *wr = w + r * n + i0;
                for (Py_ssize_t i = 0; i < m; i++)
                    acc[i] += c * (uint64_t)(wr[i] & mk);
            }
            for (Py_ssize_t j = 0; j < Z; j++) {
                uint64_t c = zr[j];
                if (!c)
                    continue;
                const float *zs = z + (((j / zt) * k + kk) * zt + j % zt) * n + i0;
                for (Py_ssize_t i = 0; i < m; i++)
                    acc[i] += c * (uint64_t)(int32_t)zs[i];
            }
            uint64_t q = p[kk];
            double qi = pinv[kk];
            for (Py_ssize_t i = 0; i < m; i++)
                orow[i] = (float)modp(acc[i], q, qi);
        }
    }
}

static PyObject *lin_mod(PyObject *self, PyObject *args)
{
    PyObject *o_out, *o_w, *o_m, *o_mat, *o_z, *o_zm, *o_off, *o_p;
    Py_ssize_t L, O, R, Z, n, k, zt;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnnnnnn", &o_out, &o_w, &o_m, &o_mat, &o_z, &o_zm, &o_off, &o_p,
                          &L, &O, &k, &R, &Z, &n, &zt))
        return NULL;
    if (k < 1 || k > MAXK || L < 1 || O < 1 || R < 0 || Z < 0 || n < 0 || R > (1 << 17) || Z > (1 << 19) || zt < 1 || Z % zt) {
        PyErr_SetString(PyExc_ValueError, "lin_mod: bad dimensions");
        return NULL;
    }
    Bufs bs = {.used = 0};
    PyObject *ret = NULL;
    double pinv[MAXK];
    const uint64_t *p;
    float *out;
    const uint32_t *w, *masks, *mat, *zm, *off;
    const float *z;
    if (!(out = get(&bs, o_out, NB(4, L, O, k, n), 1, "out", F32)) || !(w = get(&bs, o_w, NB(4, R, n), 0, "words", U32)) ||
        !(masks = get(&bs, o_m, NB(4, R), 0, "masks", U32)) || !(mat = get(&bs, o_mat, NB(4, L, O, k, R), 0, "mat", U32)) ||
        !(z = get(&bs, o_z, NB(4, Z, k, n), 0, "zres", F32)) || !(zm = get(&bs, o_zm, NB(4, L, O, k, Z), 0, "zmat", U32)) ||
        !(off = get(&bs, o_off, NB(4, O, k), 0, "off", U32)) || primes_of(&bs, o_p, k, &p, pinv) < 0 ||
        all_below(masks, R, 1u << 24, "masks") < 0 || all_below(mat, L * O * k * R, 1u << 21, "mat") < 0 ||
        all_below(zm, L * O * k * Z, 1u << 21, "zmat") < 0 || all_below(off, O * k, 1u << 21, "off") < 0)
        goto done;
    lin_core(out, w, masks, mat, z, zm, off, p, pinv, L, O, k, R, Z, n, zt);
    ret = Py_NewRef(Py_None);
done:
    release(&bs);
    return ret;
}

/* open_low(out, shares, wt, a, inv2f, cof_low, m_low, hi, primes, s, k, n, f, L):
 * the opening of a truncation. y_k = sum_j shares[j, k, i] wt[j, k] mod p_k (Lagrange weights with
 * (M/p_k)^-1 folded in), so the opened value is c = sum_k y_k M/p_k - alpha M with
 * alpha = floor(sum_k y_k / p_k + 2^-20) (exact when c < M (1 - 2^-19)); c mod 2^f follows in
 * uint64 from cof_low[k] = M/p_k mod 2^64 and m_low = M mod 2^64; then
 * out[k, i] = (c - (c mod 2^f)) 2^-f - hi[k, i] mod p_k = y_k a_k - (c mod 2^f) inv2f_k - hi
 * with a_k = (M/p_k mod p_k) inv2f_k mod p_k. shares float32 (s, K, n); hi float32 (L, K, n) (one
 * result per local party) or None (L = 1); out float32 (L, K, n). */
HOT static void open_core(float *out, const float *sh, const uint64_t *wt, const uint64_t *a, const uint64_t *inv,
                          const uint64_t *cof, uint64_t m_low, const float *hi, const uint64_t *p, const double *pinv,
                          Py_ssize_t s, Py_ssize_t k, Py_ssize_t n, int f, Py_ssize_t L, double *y, uint64_t *low)
{
    const uint64_t lowmask = f == 64 ? ~(uint64_t)0 : (((uint64_t)1 << f) - 1);
    const int narrow = f <= 32;  /* c mod 2^f from 32 x 32-bit products (vectorizable) */
    double est[BLOCK];
    for (Py_ssize_t i0 = 0; i0 < n; i0 += BLOCK) {
        Py_ssize_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (Py_ssize_t i = 0; i < m; i++)
            est[i] = 0.0, low[i] = 0;
        for (Py_ssize_t kk = 0; kk < k; kk++) {  /* y_k = sum_j shares_j w_jk mod p_k: s terms < 2^42 */
            double *restrict yk = y + kk * BLOCK;
            for (Py_ssize_t i = 0; i < m; i++)
                yk[i] = 0.0;
            for (Py_ssize_t j = 0; j < s; j++) {
                double c = (double)wt[j * k + kk];
                const float *restrict row = sh + (j * k + kk) * n + i0;
                for (Py_ssize_t i = 0; i < m; i++)
                    yk[i] += c * (double)row[i];
            }
            double q = (double)p[kk], qi = pinv[kk];
            uint64_t cl = cof[kk];
            uint32_t cl32 = (uint32_t)(cl & lowmask);
            for (Py_ssize_t i = 0; i < m; i++) {
                double v = modp_d(yk[i], q, qi);
                yk[i] = v;
                est[i] += v * qi;
            }
            if (narrow)
                for (Py_ssize_t i = 0; i < m; i++)
                    low[i] += (uint64_t)(uint32_t)(int32_t)yk[i] * cl32;
            else
                for (Py_ssize_t i = 0; i < m; i++)
                    low[i] += (uint64_t)(int64_t)yk[i] * cl;
        }
        for (Py_ssize_t i = 0; i < m; i++) {  /* alpha, then c mod 2^f in uint64 */
            uint64_t alpha = (uint64_t)(int64_t)(est[i] + 0x1p-20);
            low[i] = (low[i] - alpha * m_low) & lowmask;
        }
        for (Py_ssize_t kk = 0; kk < k; kk++) {
            const double *restrict yk = y + kk * BLOCK;
            uint64_t qq = p[kk];
            double q = (double)qq, qi = pinv[kk], ak = (double)a[kk], ik = (double)inv[kk];
            if (narrow)  /* low < 2^32: exact as a double */
                for (Py_ssize_t i = 0; i < m; i++)
                    est[i] = yk[i] * ak + (q - modp_d((double)(int64_t)low[i], q, qi)) * ik;  /* < 2^43 */
            else
                for (Py_ssize_t i = 0; i < m; i++)
                    est[i] = yk[i] * ak + (q - (double)(int64_t)(low[i] % qq)) * ik;
            if (!hi) {
                float *restrict o = out + kk * n + i0;
                for (Py_ssize_t i = 0; i < m; i++)
                    o[i] = (float)modp_d(est[i], q, qi);
                continue;
            }
            for (Py_ssize_t l = 0; l < L; l++) {
                float *restrict o = out + (l * k + kk) * n + i0;
                const float *restrict h = hi + (l * k + kk) * n + i0;
                for (Py_ssize_t i = 0; i < m; i++)
                    o[i] = (float)modp_d(est[i] + (q - (double)h[i]), q, qi);
            }
        }
    }
}

static PyObject *open_low(PyObject *self, PyObject *args)
{
    PyObject *o_out, *o_sh, *o_wt, *o_a, *o_inv, *o_cof, *o_hi, *o_p;
    unsigned long long m_low;
    Py_ssize_t s, k, n, L;
    int f;
    if (!PyArg_ParseTuple(args, "OOOOOOKOOnnnin", &o_out, &o_sh, &o_wt, &o_a, &o_inv, &o_cof, &m_low, &o_hi, &o_p,
                          &s, &k, &n, &f, &L))
        return NULL;
    if (k < 1 || k > MAXK || s < 1 || s > 64 || n < 0 || f < 1 || f > 64 || L < 1 || (o_hi == Py_None && L != 1)) {
        PyErr_SetString(PyExc_ValueError, "open_low: bad dimensions");
        return NULL;
    }
    Bufs bs = {.used = 0};
    PyObject *ret = NULL;
    double pinv[MAXK];
    const uint64_t *p, *wt, *a, *inv, *cof;
    float *out;
    const float *sh, *hi = NULL;
    if (!(out = get(&bs, o_out, NB(4, L, k, n), 1, "out", F32)) || !(sh = get(&bs, o_sh, NB(4, s, k, n), 0, "shares", F32)) ||
        !(wt = get(&bs, o_wt, NB(8, s, k), 0, "weights", U64)) || !(a = get(&bs, o_a, NB(8, k), 0, "a", U64)) ||
        !(inv = get(&bs, o_inv, NB(8, k), 0, "inv2f", U64)) || !(cof = get(&bs, o_cof, NB(8, k), 0, "cof_low", U64)) ||
        primes_of(&bs, o_p, k, &p, pinv) < 0)
        goto done;
    if (o_hi != Py_None && !(hi = get(&bs, o_hi, NB(4, L, k, n), 0, "hi", F32)))
        goto done;
    double *y = PyMem_Malloc(sizeof(double) * (size_t)k * BLOCK);
    uint64_t *low = PyMem_Malloc(sizeof(uint64_t) * BLOCK);
    if (!y || !low) {
        PyMem_Free(y);
        PyMem_Free(low);
        PyErr_NoMemory();
        goto done;
    }
    open_core(out, sh, wt, a, inv, cof, (uint64_t)m_low, hi, p, pinv, s, k, n, f, L, y, low);
    PyMem_Free(y);
    PyMem_Free(low);
    ret = Py_NewRef(Py_None);
done:
    release(&bs);
    return ret;
}

/* pack(out, r, k, n): residues float32 (k, n) to uint64 words (ceil(k/3), n), 21 bits per residue. */
static PyObject *pack(PyObject *self, PyObject *args)
{
    PyObject *o_out, *o_r;
    Py_ssize_t k, n;
    if (!PyArg_ParseTuple(args, "OOnn", &o_out, &o_r, &k, &n))
        return NULL;
    if (k < 1 || k > MAXK || n < 0) {
        PyErr_SetString(PyExc_ValueError, "pack: bad dimensions");
        return NULL;
    }
    Bufs bs = {.used = 0};
    Py_ssize_t g = (k + 2) / 3;
    uint64_t *out = get(&bs, o_out, NB(8, g, n), 1, "out", U64);
    const float *r = out ? get(&bs, o_r, NB(4, k, n), 0, "residues", F32) : NULL;
    if (!r) {
        release(&bs);
        return NULL;
    }
    int bad = 0;  /* residues are integers in [0, 2^21): anything else would be UB to convert or spill */
    for (Py_ssize_t i = 0; i < k * n; i++) {
        float x = r[i], c = x >= 0.0f && x < 2097152.0f ? x : 0.5f;
        bad |= c != (float)(uint32_t)c;
    }
    if (bad) {
        release(&bs);
        PyErr_SetString(PyExc_ValueError, "pack: residues must be integers in [0, 2^21)");
        return NULL;
    }
    for (Py_ssize_t gi = 0; gi < g; gi++) {
        uint64_t *o = out + gi * n;
        Py_ssize_t k0 = 3 * gi, k1 = k0 + 3 < k ? k0 + 3 : k;
        for (Py_ssize_t i = 0; i < n; i++)
            o[i] = (uint64_t)(uint32_t)r[k0 * n + i];
        for (Py_ssize_t kk = k0 + 1; kk < k1; kk++) {
            const float *rr = r + kk * n;
            int sh = 21 * (int)(kk - k0);
            for (Py_ssize_t i = 0; i < n; i++)
                o[i] |= (uint64_t)(uint32_t)rr[i] << sh;
        }
    }
    release(&bs);
    Py_RETURN_NONE;
}

/* unpack(out, words, primes, n) -> bool: inverse of pack; False if any field is not below its prime. */
static PyObject *unpack(PyObject *self, PyObject *args)
{
    PyObject *o_out, *o_w, *o_p;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOOn", &o_out, &o_w, &o_p, &n))
        return NULL;
    Py_ssize_t k = nprimes(o_p);
    if (k < 1 || k > MAXK || n < 0) {
        if (PyErr_Occurred())
            return NULL;
        PyErr_SetString(PyExc_ValueError, "unpack: bad dimensions");
        return NULL;
    }
    Bufs bs = {.used = 0};
    double pinv[MAXK];
    const uint64_t *p;
    Py_ssize_t g = (k + 2) / 3;
    float *out = get(&bs, o_out, NB(4, k, n), 1, "out", F32);
    const unsigned char *w = out ? get(&bs, o_w, NB(8, g, n), 0, "words", ANY) : NULL;  /* any alignment */
    if (!w || primes_of(&bs, o_p, k, &p, pinv) < 0) {
        release(&bs);
        return NULL;
    }
    uint64_t bad = 0;
    for (Py_ssize_t kk = 0; kk < k; kk++) {
        const unsigned char *wr = w + 8 * ((kk / 3) * n);
        int sh = 21 * (int)(kk % 3);
        uint64_t q = p[kk];
        float *o = out + kk * n;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t word;
            memcpy(&word, wr + 8 * i, sizeof word);  /* a received frame gives no alignment guarantee */
            uint64_t v = (word >> sh) & 0x1FFFFF;
            bad |= v >= q;
            o[i] = (float)v;
        }
    }
    release(&bs);
    return PyBool_FromLong(!bad);
}

/* fields(out, words, primes, bad, n) -> count: out[k, i] = words[k, i] & (2^21 - 1) as float32, and the
 * flat indices k n + i of the fields >= p_k written to bad (int64, up to its length; all are counted). */
static PyObject *fields(PyObject *self, PyObject *args)
{
    PyObject *o_out, *o_w, *o_p, *o_bad;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOOOn", &o_out, &o_w, &o_p, &o_bad, &n))
        return NULL;
    Py_ssize_t k = nprimes(o_p);
    if (k < 1 || k > MAXK || n < 0) {
        if (PyErr_Occurred())
            return NULL;
        PyErr_SetString(PyExc_ValueError, "fields: bad dimensions");
        return NULL;
    }
    Bufs bs = {.used = 0};
    double pinv[MAXK];
    const uint64_t *p;
    float *out = get(&bs, o_out, NB(4, k, n), 1, "out", F32);
    const uint32_t *w = out ? get(&bs, o_w, NB(4, k, n), 0, "words", U32) : NULL;
    int64_t *bad = w ? get(&bs, o_bad, 0, 1, "bad", I64) : NULL;
    if (!bad || primes_of(&bs, o_p, k, &p, pinv) < 0) {
        release(&bs);
        return NULL;
    }
    Py_ssize_t cap = bs.b[2].len / 8, count = 0;
    for (Py_ssize_t kk = 0; kk < k; kk++) {
        const uint32_t *wr = w + kk * n;
        float *o = out + kk * n;
        uint32_t q = (uint32_t)p[kk];
        Py_ssize_t hits = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint32_t v = wr[i] & 0x1FFFFF;
            hits += v >= q;
            o[i] = (float)(int32_t)v;
        }
        if (hits)
            for (Py_ssize_t i = 0; i < n; i++)
                if ((wr[i] & 0x1FFFFF) >= q) {
                    if (count < cap)
                        bad[count] = kk * n + i;
                    count++;
                }
    }
    release(&bs);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"fields", fields, METH_VARARGS, "21-bit fields of random words as residues, and the rejected ones."},
    {"mul_add", mul_add, METH_VARARGS, "out = x * y + a mod p, float32 residues."},
    {"lin_mod", lin_mod, METH_VARARGS, "Linear forms of random limbs and residues, reduced mod p."},
    {"open_low", open_low, METH_VARARGS, "Lagrange combination + CRT low bits + division by 2^f."},
    {"pack", pack, METH_VARARGS, "Residues to 21-bit fields of uint64 words."},
    {"unpack", unpack, METH_VARARGS, "21-bit fields of uint64 words to residues, checked below p."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ring", "Fused RNS ring loops of mpc_ml.", -1, methods};

PyMODINIT_FUNC PyInit__ring(void)
{
    return PyModule_Create(&module);
}

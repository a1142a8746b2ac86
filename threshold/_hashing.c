/*
 * Native transcript hashing, for threshold.encoding and threshold.hashing (docs/spec.md sections 2 and 3).
 *
 * encode              the injective encoding of a tuple of values (type tag, 8-byte big-endian length, content)
 *                     for the exact types bytes, str, int >= 0, list and tuple, nested. Any other type (bool,
 *                     bytearray, memoryview, subclasses, gmpy2 mpz...) and nesting deeper than MAX_DEPTH return
 *                     NotImplemented: threshold.encoding then runs its Python reference, which encodes them or
 *                     raises the right error. One implementation of the spec, this one its fast path.
 * expand_message_xmd  RFC 9380 section 5.3.1 with SHA-256.
 * hash_to_scalar      OS2IP(expand_message_xmd(encode(items), dst, L)) mod q, L = ceil((bits(q) + 128) / 8):
 *                     the encoding is streamed into SHA-256, never built. A Fiat-Shamir challenge costs about
 *                     1 us instead of 9-14 us of Python (encoding, expander and call overhead).
 * SHA-256 is OpenSSL's (SHA-NI where the CPU has it) through its low-level interface, deprecated in OpenSSL 3 but
 * cheaper per call than EVP for these short messages. Z_pad (one zero block) is absorbed once, at import.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Update/Final */
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 64   /* deeper nesting goes to the Python reference (which raises RecursionError far deeper) */
#define STAGE 512      /* staging buffer of the hashing sink: headers and small items cost one update per block */
#define SMALL_INT 64   /* ints of up to 512 bits are converted on the stack */
#define MAX_XMD 65535  /* RFC 9380: at most 65535 bytes and ell = ceil(len / 32) <= 255 blocks */

static SHA256_CTX zpad_ctx; /* SHA-256 after Z_pad, the 64 zero bytes that open b_0's input */

/* ------------------------------------------------------------ sinks */

/* Where the encoding goes: into a bytes object grown as needed (encode), or into SHA-256 through a staging
 * buffer (hash_to_scalar); pieces that do not fit the stage go to SHA-256 directly after it is flushed. */
typedef struct {
    SHA256_CTX *sha;    /* NULL: collect into out */
    PyObject *out;      /* the bytes being built (collecting), else NULL */
    unsigned char *buf; /* out's content or stage */
    size_t len, cap;
    unsigned char stage[STAGE];
} Sink;

/* Append n bytes; -1 with MemoryError set (collecting only: s->out is then NULL). */
static int put(Sink *s, const void *p, size_t n) {
    if (n > s->cap - s->len) {
        if (s->sha) {
            SHA256_Update(s->sha, s->buf, s->len);
            s->len = 0;
            if (n >= s->cap) {
                SHA256_Update(s->sha, p, n);
                return 0;
            }
        } else {
            if (n > (size_t)PY_SSIZE_T_MAX - s->len) {
                PyErr_NoMemory();
                return -1;
            }
            size_t cap = s->cap > (size_t)PY_SSIZE_T_MAX / 2 ? (size_t)PY_SSIZE_T_MAX : 2 * s->cap;
            if (cap < s->len + n) cap = s->len + n;
            if (_PyBytes_Resize(&s->out, (Py_ssize_t)cap) < 0) return -1; /* frees out, sets it to NULL */
            s->buf = (unsigned char *)PyBytes_AS_STRING(s->out);
            s->cap = cap;
        }
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

/* Type tag and 8-byte big-endian length. */
static int header(Sink *s, char tag, size_t n) {
    unsigned char h[9] = {(unsigned char)tag};
    for (int i = 8; i > 0; i--, n >>= 8) h[i] = (unsigned char)n;
    return put(s, h, 9);
}

/* ------------------------------------------------------------ encoding */

enum { EMIT_OK = 0, EMIT_ERROR = -1, EMIT_UNSUPPORTED = 1 };

/* Encode one value (docs/spec.md section 2): EMIT_OK, EMIT_ERROR (exception set), or EMIT_UNSUPPORTED for what
 * the Python reference decides. Only exact types are read, so no Python code runs and lists cannot change. */
static int emit(Sink *s, PyObject *v, int depth) {
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyBytes_Type) {
        size_t n = (size_t)PyBytes_GET_SIZE(v);
        return header(s, 'B', n) || put(s, PyBytes_AS_STRING(v), n) ? EMIT_ERROR : EMIT_OK;
    }
    if (t == &PyList_Type || t == &PyTuple_Type) {
        if (depth >= MAX_DEPTH) return EMIT_UNSUPPORTED;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        if (header(s, 'L', (size_t)n)) return EMIT_ERROR;
        PyObject **items = PySequence_Fast_ITEMS(v);
        for (Py_ssize_t i = 0; i < n; i++) {
            int r = emit(s, items[i], depth + 1);
            if (r != EMIT_OK) return r;
        }
        return EMIT_OK;
    }
    if (t == &PyUnicode_Type) {
        if (PyUnicode_IS_ASCII(v)) { /* its UTF-8 is its content */
            size_t n = (size_t)PyUnicode_GET_LENGTH(v);
            return header(s, 'S', n) || put(s, PyUnicode_DATA(v), n) ? EMIT_ERROR : EMIT_OK;
        }
        PyObject *utf8 = PyUnicode_AsUTF8String(v); /* not AsUTF8AndSize: that one keeps a copy in the str */
        if (!utf8) return EMIT_ERROR;                /* lone surrogates: the reference's UnicodeEncodeError */
        size_t n = (size_t)PyBytes_GET_SIZE(utf8);
        int bad = header(s, 'S', n) || put(s, PyBytes_AS_STRING(utf8), n);
        Py_DECREF(utf8);
        return bad ? EMIT_ERROR : EMIT_OK;
    }
    if (t == &PyLong_Type) {
        if (_PyLong_Sign(v) < 0) {
            PyErr_SetString(PyExc_TypeError, "negative integers are not encodable");
            return EMIT_ERROR;
        }
        size_t bits = _PyLong_NumBits(v);
        if (bits == (size_t)-1) return EMIT_ERROR;
        size_t n = bits ? (bits + 7) / 8 : 1; /* minimal big-endian, one zero byte for 0 */
        unsigned char small[SMALL_INT], *b = n <= SMALL_INT ? small : PyMem_Malloc(n);
        if (!b) {
            PyErr_NoMemory();
            return EMIT_ERROR;
        }
#if PY_VERSION_HEX >= 0x030D0000
        int bad = _PyLong_AsByteArray((PyLongObject *)v, b, n, 0, 0, 1) < 0;
#else
        int bad = _PyLong_AsByteArray((PyLongObject *)v, b, n, 0, 0) < 0;
#endif
        bad = bad || header(s, 'I', n) || put(s, b, n);
        if (b != small) PyMem_Free(b);
        return bad ? EMIT_ERROR : EMIT_OK;
    }
    return EMIT_UNSUPPORTED;
}

/* The encoding of a tuple of values: the list of them. */
static int emit_items(Sink *s, PyObject *items) {
    if (!PyTuple_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "items must be a tuple");
        return EMIT_ERROR;
    }
    return emit(s, items, 0);
}

static PyObject *py_encode(PyObject *mod, PyObject *items) {
    (void)mod;
    Sink s = {NULL, PyBytes_FromStringAndSize(NULL, 512), NULL, 0, 512, {0}};
    if (!s.out) return NULL;
    s.buf = (unsigned char *)PyBytes_AS_STRING(s.out);
    int r = emit_items(&s, items);
    if (r == EMIT_OK && _PyBytes_Resize(&s.out, (Py_ssize_t)s.len) == 0) return s.out;
    Py_XDECREF(s.out); /* put and _PyBytes_Resize set it to NULL when they fail */
    if (r == EMIT_UNSUPPORTED) Py_RETURN_NOTIMPLEMENTED;
    return NULL;
}

/* ------------------------------------------------------------ expand_message_xmd */

/* Validate a request like the Python reference did: -1 with ValueError beyond RFC 9380's limits (length, DST). */
static int xmd_check(size_t length, size_t dstlen) {
    if (length > MAX_XMD || (length + 31) / 32 > 255) {
        PyErr_SetString(PyExc_ValueError, "requested output too long");
        return -1;
    }
    if (dstlen > 255) {
        PyErr_SetString(PyExc_ValueError, "domain separation tag too long");
        return -1;
    }
    return 0;
}

/* The rest of RFC 9380 5.3.1 once Z_pad || msg is in b0 (length and dst checked): b_0 = H(... || I2OSP(length, 2)
 * || 0 || DST_prime), b_1 = H(b_0 || 1 || DST_prime), b_i = H((b_0 xor b_(i-1)) || i || DST_prime); out gets
 * the first `length` bytes of b_1 || b_2 || ... */
static void xmd_finish(SHA256_CTX *b0, const unsigned char *dst, size_t dstlen, size_t length, unsigned char *out) {
    unsigned char tail[3] = {(unsigned char)(length >> 8), (unsigned char)length, 0}, dlen = (unsigned char)dstlen;
    unsigned char x0[32], bi[32] = {0}; /* b_0, and b_(i-1) with b_0's "previous" block zero: b_1 hashes b_0 itself */
    SHA256_Update(b0, tail, 3);
    SHA256_Update(b0, dst, dstlen);
    SHA256_Update(b0, &dlen, 1);
    SHA256_Final(x0, b0);
    for (unsigned i = 1; length > 0; i++) {
        unsigned char in[32], idx = (unsigned char)i;
        for (int j = 0; j < 32; j++) in[j] = x0[j] ^ bi[j];
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, in, 32);
        SHA256_Update(&c, &idx, 1);
        SHA256_Update(&c, dst, dstlen);
        SHA256_Update(&c, &dlen, 1);
        SHA256_Final(bi, &c);
        size_t k = length < 32 ? length : 32;
        memcpy(out, bi, k);
        out += k;
        length -= k;
    }
}

/* A requested output length: int, negative -> OverflowError and too large -> ValueError, as in the reference. */
static int xmd_length(PyObject *o, size_t *length) {
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "length must be an int, not %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    int sign = _PyLong_Sign(o);
    if (sign < 0) {
        PyErr_SetString(PyExc_OverflowError, "can't convert negative int to unsigned");
        return -1;
    }
    size_t bits = _PyLong_NumBits(o);
    if (bits == (size_t)-1) return -1;
    *length = bits > 16 ? MAX_XMD + 1 : PyLong_AsSize_t(o); /* anything over 16 bits is too long */
    return 0;
}

static PyObject *py_expand_message_xmd(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer msg, dst;
    PyObject *lobj, *result = NULL;
    size_t length;
    if (!PyArg_ParseTuple(args, "y*y*O:expand_message_xmd", &msg, &dst, &lobj)) return NULL;
    if (xmd_length(lobj, &length) == 0 && xmd_check(length, (size_t)dst.len) == 0
        && (result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)length))) {
        SHA256_CTX b0 = zpad_ctx;
        SHA256_Update(&b0, msg.buf, (size_t)msg.len);
        xmd_finish(&b0, dst.buf, (size_t)dst.len, length, (unsigned char *)PyBytes_AS_STRING(result));
    }
    PyBuffer_Release(&msg);
    PyBuffer_Release(&dst);
    return result;
}

/* ------------------------------------------------------------ hash_to_scalar */

/* hash_to_scalar(modulus, dst, items): NotImplemented for what the Python composition decides (a modulus other
 * than a positive int, an item type or depth the encoder leaves to the reference). */
static PyObject *py_hash_to_scalar(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    (void)mod;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "hash_to_scalar(modulus, dst, items) takes 3 arguments");
        return NULL;
    }
    PyObject *q = args[0], *dst = args[1];
    if (!PyBytes_Check(dst)) {
        PyErr_SetString(PyExc_TypeError, "dst must be bytes");
        return NULL;
    }
    if (!PyLong_CheckExact(q) || _PyLong_Sign(q) <= 0) Py_RETURN_NOTIMPLEMENTED;
    size_t bits = _PyLong_NumBits(q);
    if (bits == (size_t)-1) return NULL;
    size_t length = bits > 8 * MAX_XMD ? MAX_XMD + 1 : (bits + 128 + 7) / 8; /* RFC 9380 hash_to_field, k = 128 */
    if (xmd_check(length, (size_t)PyBytes_GET_SIZE(dst))) return NULL;

    SHA256_CTX b0 = zpad_ctx;
    Sink s = {&b0, NULL, NULL, 0, STAGE, {0}};
    s.buf = s.stage;
    int r = emit_items(&s, args[2]);
    if (r == EMIT_ERROR) return NULL;
    if (r == EMIT_UNSUPPORTED) Py_RETURN_NOTIMPLEMENTED;
    SHA256_Update(&b0, s.stage, s.len);

    unsigned char small[256], *u = length <= sizeof small ? small : PyMem_Malloc(length);
    if (!u) return PyErr_NoMemory();
    xmd_finish(&b0, (const unsigned char *)PyBytes_AS_STRING(dst), (size_t)PyBytes_GET_SIZE(dst), length, u);
    PyObject *x = _PyLong_FromByteArray(u, length, 0, 0), *result = x ? PyNumber_Remainder(x, q) : NULL;
    Py_XDECREF(x);
    if (u != small) PyMem_Free(u);
    return result;
}

/* ------------------------------------------------------------ hex */

/* Value of a lowercase hex digit, or 16: the one spelling records use (no upper case, whitespace or prefix). */
static unsigned char HEX[256];

static void hex_init(void) {
    memset(HEX, 16, sizeof HEX);
    for (int i = 0; i < 10; i++) HEX['0' + i] = (unsigned char)i;
    for (int i = 0; i < 6; i++) HEX['a' + i] = (unsigned char)(10 + i);
}

/* o[0..size) from the 2 size lowercase hex digits at t; nonzero if any is not one. */
static unsigned unhex_into(unsigned char *o, const Py_UCS1 *t, Py_ssize_t size) {
    unsigned bad = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned hi = HEX[t[2 * i]], lo = HEX[t[2 * i + 1]];
        bad |= (hi | lo) & 16u;
        o[i] = (unsigned char)(hi << 4 | (lo & 15u));
    }
    return bad;
}

/* Whether a list item is a str of exactly 2 size one-byte characters (unhex_into's input). */
static int hex_item_shaped(PyObject *text, Py_ssize_t size) {
    return PyUnicode_Check(text) && PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND &&
           PyUnicode_GET_LENGTH(text) / 2 == size && PyUnicode_GET_LENGTH(text) % 2 == 0;
}

/* unhex(text, size): the bytes of lowercase hex text (of 2 size characters unless size is None), or what is wrong as
 * an int: 1 not a str, 2 not 2 size characters (always, for a negative size), 3 not an even number of lowercase
 * hex digits. The checks come in that order, as threshold.encoding.hex_bytes names them. */
static PyObject *py_unhex(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "unhex(text, size) takes 2 arguments");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) return PyLong_FromLong(1);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (args[1] != Py_None) {
        Py_ssize_t size = PyNumber_AsSsize_t(args[1], NULL); /* beyond Py_ssize_t: clamped, a length no str has */
        if (size == -1 && PyErr_Occurred()) return NULL;
        if (size < 0 || n % 2 || n / 2 != size) return PyLong_FromLong(2);
    }
    if (n % 2 || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) return PyLong_FromLong(3);
    const Py_UCS1 *t = PyUnicode_1BYTE_DATA(text);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n / 2);
    if (!out) return NULL;
    if (unhex_into((unsigned char *)PyBytes_AS_STRING(out), t, n / 2)) {
        Py_DECREF(out);
        return PyLong_FromLong(3);
    }
    return out;
}

/* unhex_list(items, size): the bytes of every item of a list, each lowercase hex of exactly 2 size characters, or the
 * index of the first item that is not (threshold.encoding.hex_list names what is wrong with it). One call for a
 * proof's commitments or scalars instead of one a value. */
static PyObject *py_unhex_list(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "unhex_list(items: list, size: int) takes a list and a size");
        return NULL;
    }
    Py_ssize_t size = PyNumber_AsSsize_t(args[1], NULL);
    if (size == -1 && PyErr_Occurred()) return NULL;
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "unhex_list: the size must not be negative");
        return NULL;
    }
    PyObject *items = args[0];
    Py_ssize_t count = PyList_GET_SIZE(items);
    PyObject *out = PyList_New(count);
    if (!out) return NULL;
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *text = PyList_GET_ITEM(items, k);
        if (!hex_item_shaped(text, size)) {
            Py_DECREF(out);
            return PyLong_FromSsize_t(k);
        }
        PyObject *b = PyBytes_FromStringAndSize(NULL, size);
        if (!b) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k, b);
        if (unhex_into((unsigned char *)PyBytes_AS_STRING(b), PyUnicode_1BYTE_DATA(text), size)) {
            Py_DECREF(out);
            return PyLong_FromSsize_t(k);
        }
    }
    return out;
}

/* unhex_ints(items, size, bound): every item of a list, each lowercase hex of exactly 2 size characters, as a tuple
 * of big-endian integers below bound, or the index of the first item that is not (threshold.groups.base's
 * scalars_from_hex names what is wrong with it). A proof's challenges or responses in one call. */
static PyObject *py_unhex_ints(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyList_Check(args[0]) || !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "unhex_ints(items: list, size: int, bound: int) takes a list, a size, a bound");
        return NULL;
    }
    Py_ssize_t size = PyNumber_AsSsize_t(args[1], NULL);
    if (size == -1 && PyErr_Occurred()) return NULL;
    if (size < 0 || size > 64) {
        PyErr_SetString(PyExc_ValueError, "unhex_ints: the size must be 0 to 64 bytes");
        return NULL;
    }
    PyObject *items = args[0];
    Py_ssize_t count = PyList_GET_SIZE(items);
    PyObject *out = PyTuple_New(count);
    if (!out) return NULL;
    unsigned char o[64];
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *text = PyList_GET_ITEM(items, k);
        if (!hex_item_shaped(text, size) || unhex_into(o, PyUnicode_1BYTE_DATA(text), size)) {
            Py_DECREF(out);
            return PyLong_FromSsize_t(k);
        }
        PyObject *v = _PyLong_FromByteArray(o, (size_t)size, 0, 0);
        if (!v) {
            Py_DECREF(out);
            return NULL;
        }
        int below = PyObject_RichCompareBool(v, args[2], Py_LT);
        if (below != 1) {
            Py_DECREF(v);
            Py_DECREF(out);
            return below < 0 ? NULL : PyLong_FromSsize_t(k);
        }
        PyTuple_SET_ITEM(out, k, v);
    }
    return out;
}

/* ------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"encode", py_encode, METH_O,
     "encode(items: tuple) -> bytes: threshold.encoding.encode(*items), or NotImplemented for a type or depth "
     "left to the Python reference."},
    {"expand_message_xmd", py_expand_message_xmd, METH_VARARGS,
     "expand_message_xmd(msg, dst, length) -> bytes: RFC 9380 section 5.3.1 with SHA-256."},
    {"hash_to_scalar", (PyCFunction)(void (*)(void))py_hash_to_scalar, METH_FASTCALL,
     "hash_to_scalar(modulus, dst, items) -> int: hash_to_field(encode(*items), dst, modulus), or NotImplemented "
     "for what the Python composition decides."},
    {"unhex", (PyCFunction)(void (*)(void))py_unhex, METH_FASTCALL,
     "unhex(text, size) -> bytes | int: the bytes of lowercase hex text (2 size characters unless size is None), or 1 "
     "(not a str), 2 (wrong length) or 3 (not lowercase hex digits)."},
    {"unhex_list", (PyCFunction)(void (*)(void))py_unhex_list, METH_FASTCALL,
     "unhex_list(items, size) -> list[bytes] | int: the bytes of every item of a list (each lowercase hex of 2 size "
     "characters), or the index of the first item that is not."},
    {"unhex_ints", (PyCFunction)(void (*)(void))py_unhex_ints, METH_FASTCALL,
     "unhex_ints(items, size, bound) -> tuple[int] | int: every item of a list (each lowercase hex of 2 size "
     "characters) as a big-endian integer below bound, or the index of the first item that is not."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_hashing", "Native transcript encoding and hashing.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__hashing(void) {
    static const unsigned char zpad[64] = {0};
    SHA256_Init(&zpad_ctx);
    SHA256_Update(&zpad_ctx, zpad, sizeof zpad);
    hex_init();
    return PyModule_Create(&moddef);
}

/*
 * wskit._speedups: masking (RFC 6455, section 5.3). apply_mask() for
 * Python; wskit_mask_bytes() and wskit_copy_payload() for the frame codec
 * (_speedups_frames.c, _speedups_payload.c).
 */

#include "_speedups.h"

/* Build with -DWSKIT_NO_SIMD to exercise the portable path on x86. */
#if (defined(__SSE2__) || defined(_M_X64)) && !defined(WSKIT_NO_SIMD)
#include <emmintrin.h>
#define WSKIT_SSE2 1
#endif

/* AVX2, where the compiler can target it for one function and the CPU has
 * it (checked once, at import): half the instructions of SSE2 per byte,
 * which long payloads feel (a 1 MiB frame: ~262K -> ~131K instructions). */
#if defined(WSKIT_SSE2) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define WSKIT_AVX2 1
static int have_avx2;

__attribute__((target("avx2"))) static Py_ssize_t
mask_avx2(const unsigned char *in, unsigned char *out, Py_ssize_t size, uint32_t key32)
{
    const __m256i key256 = _mm256_set1_epi32((int)key32);
    Py_ssize_t i = 0;
    for (; i + 128 <= size; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(in + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(in + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(in + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(in + i + 96));
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_xor_si256(a, key256));
        _mm256_storeu_si256((__m256i *)(out + i + 32), _mm256_xor_si256(b, key256));
        _mm256_storeu_si256((__m256i *)(out + i + 64), _mm256_xor_si256(c, key256));
        _mm256_storeu_si256((__m256i *)(out + i + 96), _mm256_xor_si256(d, key256));
    }
    /* Leave SSE code no dirty upper halves (a stall on some CPUs). */
    _mm256_zeroupper();
    return i;
}
#endif

/* XOR `size` bytes of `in` into `out` with the key `key` repeated.
 * The key has period 4 and we always start at payload offset 0, so every
 * 4-aligned chunk sees the key in the same order: wide loads need no
 * realignment. memcpy and loadu allow any alignment of `in` and `out`. */
void
wskit_mask_bytes(const unsigned char *in, unsigned char *out, Py_ssize_t size,
                 const unsigned char key[4])
{
    Py_ssize_t i = 0;

#ifdef WSKIT_SSE2
    uint32_t key32;
    memcpy(&key32, key, 4);
    const __m128i key128 = _mm_set1_epi32((int)key32);
#ifdef WSKIT_AVX2
    if (have_avx2 && size >= 128) {
        i = mask_avx2(in, out, size, key32);
    }
#endif
    /* Four registers per iteration keep loads and stores in flight. */
    for (; i + 64 <= size; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(in + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(in + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(in + i + 48));
        _mm_storeu_si128((__m128i *)(out + i), _mm_xor_si128(a, key128));
        _mm_storeu_si128((__m128i *)(out + i + 16), _mm_xor_si128(b, key128));
        _mm_storeu_si128((__m128i *)(out + i + 32), _mm_xor_si128(c, key128));
        _mm_storeu_si128((__m128i *)(out + i + 48), _mm_xor_si128(d, key128));
    }
    for (; i + 16 <= size; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(in + i));
        _mm_storeu_si128((__m128i *)(out + i), _mm_xor_si128(a, key128));
    }
#endif

    /* Portable path (and the 8-byte step after SSE2): two copies of the key
     * in one 64-bit word. */
    uint64_t key64;
    memcpy(&key64, key, 4);
    memcpy((unsigned char *)&key64 + 4, key, 4);
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= key64;
        memcpy(out + i, &word, 8);
    }

    /* Tail: at most 7 bytes. i is a multiple of 8 here, so i & 3 == 0 at
     * the start, but index the key by position anyway for clarity. */
    for (; i < size; i++) {
        out[i] = in[i] ^ key[i & 3];
    }
}

/* Copy a payload, unmasking it with `key`, or as it is if `key` is NULL. */
void
wskit_copy_payload(const unsigned char *in, unsigned char *out, Py_ssize_t size,
                   const unsigned char *key)
{
    if (key != NULL) {
        unsigned char local_key[4];
        memcpy(local_key, key, 4);
        wskit_mask_bytes(in, out, size, local_key);
    }
    else {
        memcpy(out, in, (size_t)size);
    }
}

/* Read a 4-byte masking key from any bytes-like object. */
int
wskit_read_mask_key(PyObject *obj, unsigned char key[4])
{
    Py_buffer view;
    if (get_bytes_view(obj, &view) < 0) {
        return -1;
    }
    int valid = view.len == 4;
    if (valid) {
        memcpy(key, view.buf, 4);
    }
    PyBuffer_Release(&view);
    if (!valid) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        return -1;
    }
    return 0;
}

/* Parse (data, mask) from a vectorcall, positionally or by keyword, without
 * the cost of building an argument tuple for every small frame. */
static int
parse_mask_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                PyObject **data, PyObject **mask)
{
    PyObject *found[2] = {NULL, NULL};
    static const char *const names[2] = {"data", "mask"};

    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask() takes 2 positional arguments but %zd were given",
                     nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        found[i] = args[i];
    }
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nkw; k++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, k);
            int slot = -1;
            for (int j = 0; j < 2; j++) {
                if (PyUnicode_CompareWithASCIIString(name, names[j]) == 0) {
                    slot = j;
                }
            }
            if (slot < 0) {
                PyErr_Format(PyExc_TypeError,
                             "apply_mask() got an unexpected keyword argument '%U'",
                             name);
                return -1;
            }
            if (found[slot] != NULL) {
                PyErr_Format(PyExc_TypeError,
                             "apply_mask() got multiple values for argument '%s'",
                             names[slot]);
                return -1;
            }
            found[slot] = args[nargs + k];
        }
    }
    for (int j = 0; j < 2; j++) {
        if (found[j] == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "apply_mask() missing required argument '%s'", names[j]);
            return -1;
        }
    }
    *data = found[0];
    *mask = found[1];
    return 0;
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, mask)\n"
"--\n"
"\n"
"XOR data with the 4-byte mask repeated (RFC 6455, section 5.3).\n"
"\n"
"Masking twice with the same key gives the original bytes back.\n"
"\n"
"Args:\n"
"    data: Payload to mask or unmask: any C-contiguous bytes-like object.\n"
"    mask: Masking key.\n"
"\n"
"Returns:\n"
"    The masked payload, as bytes.\n"
"\n"
"Raises:\n"
"    ValueError: mask is not 4 bytes long.\n"
"    BufferError: data is not contiguous.\n");

static PyObject *
apply_mask(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames)
{
    PyObject *data_obj, *mask_obj;
    Py_buffer data;
    unsigned char key[4];

    if (parse_mask_args(args, nargs, kwnames, &data_obj, &mask_obj) < 0) {
        return NULL;
    }
    if (get_bytes_view(data_obj, &data) < 0) {
        return NULL;
    }
    if (wskit_read_mask_key(mask_obj, key) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    const unsigned char *in = (const unsigned char *)data.buf;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    /* Safe without the GIL: `result` is ours alone, and holding the buffer
     * export stops a bytearray from being resized under us. */
    if (data.len > RELEASE_GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        wskit_mask_bytes(in, out, data.len, key);
        Py_END_ALLOW_THREADS
    }
    else {
        wskit_mask_bytes(in, out, data.len, key);
    }
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef mask_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask,
     METH_FASTCALL | METH_KEYWORDS, apply_mask_doc},
    {NULL, NULL, 0, NULL},
};

int
wskit_mask_init(PyObject *module)
{
#ifdef WSKIT_AVX2
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2");
#endif
    return PyModule_AddFunctions(module, mask_methods);
}

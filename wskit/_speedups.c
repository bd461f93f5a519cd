/*
 * wskit._speedups: the hot loops of the WebSocket core in C.
 *
 * - apply_mask(data, mask): XOR a payload with a 4-byte masking key
 *   (RFC 6455, section 5.3).
 * - UTF8Validator: incremental, fail-fast, strict UTF-8 validation
 *   (RFC 3629 / Unicode table 3-7), for text messages split in fragments.
 * - parse_header(buffer, offset), read_frame(buffer, offset): decode a frame
 *   header (RFC 6455, section 5.2) and, once it has arrived, the payload,
 *   unmasked, in one call per frame.
 * - build_frame(first_byte, payload, mask): a whole frame to send, masked
 *   with a random key or not, in one allocation.
 * - read_messages(buffer, offset, events, ...): the common case of receiving,
 *   a run of frames that each carry a whole message, as Frame events.
 * - PayloadBuffer: the payload of a long frame, unmasked into place as it
 *   arrives rather than buffered, then copied out.
 * - Waiter: what recv() awaits in wskit.asyncio; resumes its task from the
 *   protocol callback that wakes it, without a pass through the event loop.
 *
 * wskit/_purepython.py implements the same API in Python; the tests run
 * both and compare them. Keep the two in step.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* Build with -DWSKIT_NO_SIMD to exercise the portable path on x86. */
#if (defined(__SSE2__) || defined(_M_X64)) && !defined(WSKIT_NO_SIMD)
#include <emmintrin.h>
#define WSKIT_SSE2 1
#endif

/* Above this size, let other threads run while we loop: switching the GIL
 * costs about a microsecond, a 64 KiB pass takes several. */
#define RELEASE_GIL_THRESHOLD (64 * 1024)

/* Fill `view` with a C-contiguous byte view of `obj` (bytes, bytearray,
 * memoryview, array, mmap...). PyBUF_SIMPLE refuses strided buffers with
 * BufferError and anything else with TypeError, which is what we want. */
static int
get_bytes_view(PyObject *obj, Py_buffer *view)
{
    return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

/* ------------------------------------------------------------------------
 * apply_mask
 * ------------------------------------------------------------------------ */

/* XOR `size` bytes of `in` into `out` with the key `key` repeated.
 * The key has period 4 and we always start at payload offset 0, so every
 * 4-aligned chunk sees the key in the same order: wide loads need no
 * realignment. memcpy and loadu allow any alignment of `in` and `out`. */
static void
mask_bytes(const unsigned char *in, unsigned char *out, Py_ssize_t size,
           const unsigned char key[4])
{
    Py_ssize_t i = 0;

#ifdef WSKIT_SSE2
    uint32_t key32;
    memcpy(&key32, key, 4);
    const __m128i key128 = _mm_set1_epi32((int)key32);
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
static void
copy_payload(const unsigned char *in, unsigned char *out, Py_ssize_t size,
             const unsigned char *key)
{
    if (key != NULL) {
        unsigned char local_key[4];
        memcpy(local_key, key, 4);
        mask_bytes(in, out, size, local_key);
    }
    else {
        memcpy(out, in, (size_t)size);
    }
}

/* Read a 4-byte masking key from any bytes-like object. */
static int
read_mask_key(PyObject *obj, unsigned char key[4])
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
    if (read_mask_key(mask_obj, key) < 0) {
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
        mask_bytes(in, out, data.len, key);
        Py_END_ALLOW_THREADS
    }
    else {
        mask_bytes(in, out, data.len, key);
    }
    PyBuffer_Release(&data);
    return result;
}

/* ------------------------------------------------------------------------
 * Frame headers and payloads
 * ------------------------------------------------------------------------ */

/* Raise wskit.exceptions.ProtocolError. Looked up when needed: importing
 * wskit.exceptions while this module initializes could be circular. */
static void
raise_protocol_error(const char *message)
{
    PyObject *exceptions = PyImport_ImportModule("wskit.exceptions");
    if (exceptions == NULL) {
        return;
    }
    PyObject *error = PyObject_GetAttrString(exceptions, "ProtocolError");
    Py_DECREF(exceptions);
    if (error == NULL) {
        return;
    }
    PyErr_SetString(error, message);
    Py_DECREF(error);
}

/* What a header says. `size` is 0 while the header is incomplete. */
typedef struct {
    Py_ssize_t size;  /* bytes of header, mask key included */
    unsigned char first;
    int masked;
    uint64_t length;
    const unsigned char *key;
} header_t;

/* Decode the header at `p`, of which `available` bytes have arrived.
 * Return -1 with ProtocolError set if the length is invalid. */
static int
decode_header(const unsigned char *p, Py_ssize_t available, header_t *header)
{
    header->size = 0;
    if (available < 2) {
        return 0;
    }
    Py_ssize_t size = 2;
    uint64_t length = p[1] & 0x7F;
    if (length == 126) {
        if (available < 4) {
            return 0;
        }
        length = ((uint64_t)p[2] << 8) | p[3];
        size = 4;
    }
    else if (length == 127) {
        if (available < 10) {
            return 0;
        }
        length = 0;
        for (int i = 2; i < 10; i++) {
            length = (length << 8) | p[i];
        }
        /* "the most significant bit MUST be 0" */
        if (length >> 63) {
            raise_protocol_error("payload length has its most significant bit set");
            return -1;
        }
        size = 10;
    }
    header->masked = (p[1] & 0x80) != 0;
    header->key = NULL;
    if (header->masked) {
        if (available < size + 4) {
            return 0;
        }
        header->key = p + size;
        size += 4;
    }
    header->first = p[0];
    header->length = length;
    header->size = size;
    return 0;
}

/* Shared by parse_header() and read_frame(): check the arguments, get a view
 * of the buffer and decode the header at the offset. */
static int
start_parsing(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_buffer *view,
              Py_ssize_t *offset, header_t *header)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 1 or 2 arguments (%zd given)", name, nargs);
        return -1;
    }
    *offset = 0;
    if (nargs == 2) {
        *offset = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
        if (*offset == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    if (get_bytes_view(args[0], view) < 0) {
        return -1;
    }
    if (*offset < 0 || *offset > view->len) {
        PyErr_Format(PyExc_ValueError, "offset %zd out of range", *offset);
        PyBuffer_Release(view);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)view->buf + *offset;
    if (decode_header(p, view->len - *offset, header) < 0) {
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(parse_header_doc,
"parse_header(buffer, offset=0, /)\n"
"--\n"
"\n"
"Decode the header of the frame that starts at buffer[offset].\n"
"\n"
"Returns:\n"
"    None if buffer does not hold the whole header yet; otherwise\n"
"    (first_byte, payload_length, payload_offset, mask_key), mask_key\n"
"    being None for an unmasked frame.\n"
"\n"
"Raises:\n"
"    ProtocolError: The 64-bit payload length has its top bit set.\n"
"    ValueError: offset is outside buffer.\n");

static PyObject *
parse_header(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t offset;
    header_t header;

    if (start_parsing("parse_header", args, nargs, &view, &offset, &header) < 0) {
        return NULL;
    }
    PyObject *result;
    if (header.size == 0) {
        result = Py_NewRef(Py_None);
    }
    else if (header.masked) {
        result = Py_BuildValue("(iKny#)", header.first, (unsigned long long)header.length,
                               offset + header.size, header.key, (Py_ssize_t)4);
    }
    else {
        result = Py_BuildValue("(iKnO)", header.first, (unsigned long long)header.length,
                               offset + header.size, Py_None);
    }
    PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(read_frame_doc,
"read_frame(buffer, offset=0, /)\n"
"--\n"
"\n"
"Decode the frame that starts at buffer[offset], as far as it has arrived.\n"
"\n"
"Returns:\n"
"    None if buffer does not hold the whole header yet; otherwise\n"
"    (first_byte, masked, payload_length, frame_end, payload), payload\n"
"    being the unmasked payload as bytes, or None until all of it is in\n"
"    buffer.\n"
"\n"
"Raises:\n"
"    ProtocolError: The 64-bit payload length has its top bit set.\n"
"    ValueError: offset is outside buffer.\n");

static PyObject *
read_frame(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t offset;
    header_t header;

    if (start_parsing("read_frame", args, nargs, &view, &offset, &header) < 0) {
        return NULL;
    }
    if (header.size == 0) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    Py_ssize_t start = offset + header.size;
    /* Less than 2**63 each: the sum fits. */
    uint64_t end = (uint64_t)start + header.length;
    PyObject *payload;
    if (end > (uint64_t)view.len) {
        payload = Py_NewRef(Py_None);
    }
    else {
        Py_ssize_t length = (Py_ssize_t)header.length;
        payload = PyBytes_FromStringAndSize(NULL, length);
        if (payload == NULL) {
            PyBuffer_Release(&view);
            return NULL;
        }
        const unsigned char *in = (const unsigned char *)view.buf + start;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(payload);
        /* Without the GIL for long payloads, as in apply_mask(): holding the
         * buffer export stops a bytearray from being resized under us. */
        int release = length > RELEASE_GIL_THRESHOLD;
        PyThreadState *state = release ? PyEval_SaveThread() : NULL;
        copy_payload(in, out, length, header.masked ? header.key : NULL);
        if (release) {
            PyEval_RestoreThread(state);
        }
    }
    PyBuffer_Release(&view);
    PyObject *result = Py_BuildValue("(iOKKN)", header.first,
                                     header.masked ? Py_True : Py_False,
                                     (unsigned long long)header.length,
                                     (unsigned long long)end, payload);
    return result;
}

/* ------------------------------------------------------------------------
 * UTF-8 validation
 *
 * A deterministic automaton built from Unicode table 3-7, "Well-Formed UTF-8
 * Byte Sequences":
 *
 *   U+0000..U+007F      00..7F
 *   U+0080..U+07FF      C2..DF  80..BF
 *   U+0800..U+0FFF      E0      A0..BF  80..BF
 *   U+1000..U+CFFF      E1..EC  80..BF  80..BF
 *   U+D000..U+D7FF      ED      80..9F  80..BF
 *   U+E000..U+FFFF      EE..EF  80..BF  80..BF
 *   U+10000..U+3FFFF    F0      90..BF  80..BF  80..BF
 *   U+40000..U+FFFFF    F1..F3  80..BF  80..BF  80..BF
 *   U+100000..U+10FFFF  F4      80..8F  80..BF  80..BF
 *
 * Every byte moves the automaton to its next state; REJECT is reached on the
 * very byte that no well-formed sequence can have there, and stays.
 * ------------------------------------------------------------------------ */

/* Byte classes: the distinctions the table above makes. */
enum {
    C_ASCII,    /* 00..7F */
    C_CONT_8,   /* 80..8F: continuation, also the only 2nd byte after F4 */
    C_CONT_9,   /* 90..9F: continuation, ok after ED and F0, not after E0, F4 */
    C_CONT_AB,  /* A0..BF: continuation, ok after E0 and F0, not after ED, F4 */
    C_BAD,      /* C0, C1 (overlong), F5..FF (above U+10FFFF) */
    C_LEAD2,    /* C2..DF */
    C_E0,       /* E0: 2nd byte A0..BF, lower is overlong */
    C_LEAD3,    /* E1..EC, EE, EF */
    C_ED,       /* ED: 2nd byte 80..9F, higher is a surrogate */
    C_F0,       /* F0: 2nd byte 90..BF, lower is overlong */
    C_LEAD4,    /* F1..F3 */
    C_F4,       /* F4: 2nd byte 80..8F, higher is above U+10FFFF */
    N_CLASSES
};

/* States: what the next byte must be. */
enum {
    S_ACCEPT,   /* between characters: the only state where the text may end */
    S_REJECT,   /* invalid: sticky until reset */
    S_NEED1,    /* one more continuation byte 80..BF */
    S_NEED2,    /* two more continuation bytes */
    S_NEED3,    /* three more continuation bytes */
    S_E0,       /* after E0: A0..BF, then one more */
    S_ED,       /* after ED: 80..9F, then one more */
    S_F0,       /* after F0: 90..BF, then two more */
    S_F4,       /* after F4: 80..8F, then two more */
    N_STATES
};

/* Columns are byte classes ("E1-EF" is C_LEAD3: E1..EF except ED). */
#define R S_REJECT
static const unsigned char transition[N_STATES][N_CLASSES] = {
    /*             ASCII     80-8F    90-9F    A0-BF    bad  C2-DF    E0    E1-EF    ED    F0    F1-F3    F4 */
    [S_ACCEPT] = {S_ACCEPT, R,       R,       R,       R,   S_NEED1, S_E0, S_NEED2, S_ED, S_F0, S_NEED3, S_F4},
    [S_REJECT] = {R,        R,       R,       R,       R,   R,       R,    R,       R,    R,    R,       R},
    [S_NEED1]  = {R,        S_ACCEPT, S_ACCEPT, S_ACCEPT, R, R,     R,    R,       R,    R,    R,       R},
    [S_NEED2]  = {R,        S_NEED1, S_NEED1, S_NEED1, R,   R,       R,    R,       R,    R,    R,       R},
    [S_NEED3]  = {R,        S_NEED2, S_NEED2, S_NEED2, R,   R,       R,    R,       R,    R,    R,       R},
    [S_E0]     = {R,        R,       R,       S_NEED1, R,   R,       R,    R,       R,    R,    R,       R},
    [S_ED]     = {R,        S_NEED1, S_NEED1, R,       R,   R,       R,    R,       R,    R,    R,       R},
    [S_F0]     = {R,        R,       S_NEED2, S_NEED2, R,   R,       R,    R,       R,    R,    R,       R},
    [S_F4]     = {R,        S_NEED2, R,       R,       R,   R,       R,    R,       R,    R,    R,       R},
};
#undef R

/* The automaton as run: one 64-bit row per byte value. State s is kept as
 * the bit offset s * STATE_BITS, and row[byte] holds, at that offset, the
 * offset of the next state. A step is then one load that does not depend on
 * the state, a shift and a mask: about 2 cycles per byte, where indexing
 * transition[state][byte_class[byte]] chains two dependent loads. */
#define STATE_BITS 6
#define OFFSET(s) ((unsigned int)(s) * STATE_BITS)
#define ACCEPT OFFSET(S_ACCEPT)
#define REJECT OFFSET(S_REJECT)
static uint64_t step_row[256];

static inline unsigned int
utf8_step(unsigned int state, unsigned char byte)
{
    return (unsigned int)(step_row[byte] >> state) & ((1u << STATE_BITS) - 1);
}

/* Build step_row[] from table 3-7: first classify bytes by the ranges of
 * the table (easier to check than a 256-entry literal), then pack the
 * transitions. Called once, at import. */
static void
init_step_rows(void)
{
    static const struct { unsigned char first, last, cls; } ranges[] = {
        {0x00, 0x7F, C_ASCII}, {0x80, 0x8F, C_CONT_8}, {0x90, 0x9F, C_CONT_9},
        {0xA0, 0xBF, C_CONT_AB}, {0xC0, 0xC1, C_BAD}, {0xC2, 0xDF, C_LEAD2},
        {0xE0, 0xE0, C_E0}, {0xE1, 0xEC, C_LEAD3}, {0xED, 0xED, C_ED},
        {0xEE, 0xEF, C_LEAD3}, {0xF0, 0xF0, C_F0}, {0xF1, 0xF3, C_LEAD4},
        {0xF4, 0xF4, C_F4}, {0xF5, 0xFF, C_BAD},
    };
    /* N_STATES offsets of STATE_BITS bits each must fit in a row. */
    Py_BUILD_ASSERT(N_STATES * STATE_BITS <= 64);
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        for (unsigned int b = ranges[r].first; b <= ranges[r].last; b++) {
            uint64_t row = 0;
            for (unsigned int state = 0; state < N_STATES; state++) {
                unsigned int next = transition[state][ranges[r].cls];
                row |= (uint64_t)OFFSET(next) << OFFSET(state);
            }
            step_row[b] = row;
        }
    }
}

#define HIGH_BITS UINT64_C(0x8080808080808080)

/* Bytes per automaton run between two tests of the state. */
#define UTF8_BLOCK 16

/* Run the automaton over `size` bytes from `state`; return the new state.
 * Stops early on REJECT, since nothing can leave it. */
static unsigned int
utf8_run(unsigned int state, const unsigned char *s, Py_ssize_t size)
{
    Py_ssize_t i = 0;
    while (i < size) {
        if (state == ACCEPT) {
            /* ASCII fast path: between characters, skip whole words with no
             * high bit set. 32 bytes per test, then 8, amortize the branch. */
            while (i + 32 <= size) {
                uint64_t a, b, c, d;
                memcpy(&a, s + i, 8);
                memcpy(&b, s + i + 8, 8);
                memcpy(&c, s + i + 16, 8);
                memcpy(&d, s + i + 24, 8);
                if ((a | b | c | d) & HIGH_BITS) {
                    break;
                }
                i += 32;
            }
            while (i + 8 <= size) {
                uint64_t a;
                memcpy(&a, s + i, 8);
                if (a & HIGH_BITS) {
                    break;
                }
                i += 8;
            }
            /* Step over the remaining ASCII bytes one at a time. */
            while (i < size && s[i] < 0x80) {
                i++;
            }
            if (i == size) {
                break;
            }
        }
        /* Non-ASCII: run the automaton over the next block of bytes without
         * testing the state after each one. REJECT is sticky, so one test per
         * block still catches it; the next block may go back to the ASCII
         * path if the text did. */
        Py_ssize_t end = size - i > UTF8_BLOCK ? i + UTF8_BLOCK : size;
        do {
            state = utf8_step(state, s[i]);
        } while (++i < end);
        if (state == REJECT) {
            break;
        }
    }
    return state;
}

typedef struct {
    PyObject_HEAD
    unsigned int state;  /* an OFFSET() */
} UTF8ValidatorObject;

static PyObject *
UTF8Validator_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "UTF8Validator() takes no arguments");
        return NULL;
    }
    UTF8ValidatorObject *self = (UTF8ValidatorObject *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->state = ACCEPT;
    }
    return (PyObject *)self;
}

PyDoc_STRVAR(feed_doc,
"feed(data)\n"
"--\n"
"\n"
"Validate the next chunk of the text.\n"
"\n"
"Args:\n"
"    data: The next bytes of the text (any C-contiguous bytes-like object).\n"
"\n"
"Returns:\n"
"    False as soon as the bytes fed since the last reset cannot start valid\n"
"    UTF-8, and from then on until reset; True otherwise.\n");

static PyObject *
UTF8Validator_feed(UTF8ValidatorObject *self, PyObject *arg)
{
    Py_buffer data;
    /* Check the argument even when already invalid, like the fallback. */
    if (get_bytes_view(arg, &data) < 0) {
        return NULL;
    }
    unsigned int state = self->state;
    if (state != REJECT) {
        const unsigned char *s = (const unsigned char *)data.buf;
        if (data.len > RELEASE_GIL_THRESHOLD) {
            /* Work on a local copy of the state: the object is only touched
             * with the GIL held. */
            Py_BEGIN_ALLOW_THREADS
            state = utf8_run(state, s, data.len);
            Py_END_ALLOW_THREADS
        }
        else {
            state = utf8_run(state, s, data.len);
        }
        self->state = state;
    }
    PyBuffer_Release(&data);
    return PyBool_FromLong(state != REJECT);
}

PyDoc_STRVAR(finish_doc,
"finish()\n"
"--\n"
"\n"
"End the text, then reset.\n"
"\n"
"Returns:\n"
"    Whether everything fed since the last reset is complete, valid UTF-8:\n"
"    False if it is invalid or stops in the middle of a character.\n");

static PyObject *
UTF8Validator_finish(UTF8ValidatorObject *self, PyObject *Py_UNUSED(ignored))
{
    int valid = self->state == ACCEPT;
    self->state = ACCEPT;
    return PyBool_FromLong(valid);
}

PyDoc_STRVAR(reset_doc,
"reset()\n"
"--\n"
"\n"
"Forget everything fed so far, ready for a new text.\n");

static PyObject *
UTF8Validator_reset(UTF8ValidatorObject *self, PyObject *Py_UNUSED(ignored))
{
    self->state = ACCEPT;
    Py_RETURN_NONE;
}

static PyMethodDef UTF8Validator_methods[] = {
    {"feed", (PyCFunction)UTF8Validator_feed, METH_O, feed_doc},
    {"finish", (PyCFunction)UTF8Validator_finish, METH_NOARGS, finish_doc},
    {"reset", (PyCFunction)UTF8Validator_reset, METH_NOARGS, reset_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(UTF8Validator_doc,
"UTF8Validator()\n"
"--\n"
"\n"
"Incremental UTF-8 validation, across fragment boundaries.\n"
"\n"
"Strict: overlong forms, surrogates, code points above U+10FFFF, stray\n"
"continuation bytes and truncated sequences are all invalid. feed() fails\n"
"on the first byte that makes the text invalid, even when a character is\n"
"split between two calls. Not thread-safe: use one validator per stream.\n");

static PyTypeObject UTF8ValidatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.UTF8Validator",
    .tp_basicsize = sizeof(UTF8ValidatorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = UTF8Validator_doc,
    .tp_methods = UTF8Validator_methods,
    .tp_new = UTF8Validator_new,
};

/* ------------------------------------------------------------------------
 * Whole frames: building one to send, reading runs of whole messages
 * ------------------------------------------------------------------------ */

/* Masking keys come from os.urandom() a batch at a time: a system call per
 * frame costs more than building a small frame. A forked child must not send
 * its parent's next keys, so fork empties the batch (see PyInit__speedups). */
#define MASK_KEYS_BATCH 1024  /* bytes: 256 keys */
static unsigned char mask_keys[MASK_KEYS_BATCH];
static Py_ssize_t mask_keys_used = MASK_KEYS_BATCH;
static PyObject *urandom;  /* os.urandom */

static int
next_mask_key(unsigned char key[4])
{
    if (mask_keys_used == MASK_KEYS_BATCH) {
        PyObject *batch = PyObject_CallFunction(urandom, "n", (Py_ssize_t)MASK_KEYS_BATCH);
        if (batch == NULL) {
            return -1;
        }
        memcpy(mask_keys, PyBytes_AS_STRING(batch), MASK_KEYS_BATCH);
        Py_DECREF(batch);
        mask_keys_used = 0;
    }
    memcpy(key, mask_keys + mask_keys_used, 4);
    mask_keys_used += 4;
    return 0;
}

static PyObject *
forget_mask_keys(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    mask_keys_used = MASK_KEYS_BATCH;
    Py_RETURN_NONE;
}

static PyMethodDef forget_mask_keys_def = {
    "forget_mask_keys", forget_mask_keys, METH_NOARGS, NULL,
};

/* A client masks every frame into a new bytes object. When that is 1 MiB
 * and the application keeps the last message it received, freeing it leaves
 * enough free memory at the top of glibc's heap to be trimmed, and the next
 * long message maps it again: hundreds of page faults per round trip (see
 * ARCHITECTURE.md, Performance devices). So the last long frame built stays
 * here, and the next frame of the same size is built into it if nothing else
 * holds it any more: with a reference count of 1, nobody can see it change.
 * Frames of up to SPARE_FRAME_MAX bytes only, so that this keeps little
 * memory. */
#define SPARE_FRAME_MIN (64 * 1024)
#define SPARE_FRAME_MAX (4 * 1024 * 1024)
static PyObject *spare_frame;

static PyObject *
new_frame(Py_ssize_t size)
{
    if (size < SPARE_FRAME_MIN || size > SPARE_FRAME_MAX) {
        return PyBytes_FromStringAndSize(NULL, size);
    }
    if (spare_frame != NULL && Py_REFCNT(spare_frame) == 1
            && PyBytes_GET_SIZE(spare_frame) == size) {
        /* Its hash, if anyone took it, was of what it held then. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
        ((PyBytesObject *)spare_frame)->ob_shash = -1;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
        Py_INCREF(spare_frame);
        return spare_frame;
    }
    PyObject *frame = PyBytes_FromStringAndSize(NULL, size);
    if (frame != NULL) {
        Py_INCREF(frame);
        Py_XSETREF(spare_frame, frame);
    }
    return frame;
}

PyDoc_STRVAR(build_frame_doc,
"build_frame(first_byte, payload, mask, /)\n"
"--\n"
"\n"
"Serialize a frame: header, then payload, masked with a random key if mask\n"
"is true (RFC 6455, section 5.2), in a single bytes object.\n"
"\n"
"Args:\n"
"    first_byte: FIN, RSV1-3 and the opcode.\n"
"    payload: Any C-contiguous bytes-like object.\n"
"    mask: Whether to mask the payload (clients must, servers must not).\n"
"\n"
"Raises:\n"
"    ValueError: first_byte is not between 0 and 255.\n");

static PyObject *
build_frame(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "build_frame() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    long first = PyLong_AsLong(args[0]);
    if (first == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (first < 0 || first > 255) {
        PyErr_Format(PyExc_ValueError, "first_byte %ld out of range", first);
        return NULL;
    }
    int mask = PyObject_IsTrue(args[2]);
    if (mask < 0) {
        return NULL;
    }
    unsigned char key[4];
    if (mask && next_mask_key(key) < 0) {
        return NULL;
    }
    Py_buffer data;
    if (get_bytes_view(args[1], &data) < 0) {
        return NULL;
    }
    Py_ssize_t length = data.len;
    Py_ssize_t header_size = length < 126 ? 2 : length < 65536 ? 4 : 10;
    Py_ssize_t payload_start = header_size + (mask ? 4 : 0);
    if (length > PY_SSIZE_T_MAX - payload_start) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    PyObject *result = new_frame(payload_start + length);
    if (result == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    unsigned char mask_bit = mask ? 0x80 : 0;
    out[0] = (unsigned char)first;
    if (header_size == 2) {
        out[1] = mask_bit | (unsigned char)length;
    }
    else if (header_size == 4) {
        out[1] = mask_bit | 126;
        out[2] = (unsigned char)(length >> 8);
        out[3] = (unsigned char)length;
    }
    else {
        out[1] = mask_bit | 127;
        for (int i = 0; i < 8; i++) {
            out[2 + i] = (unsigned char)((uint64_t)length >> (56 - 8 * i));
        }
    }
    const unsigned char *in = (const unsigned char *)data.buf;
    /* As in apply_mask(): the result is ours alone and the buffer export
     * stops a bytearray from being resized, so long copies can drop the GIL. */
    int release = length > RELEASE_GIL_THRESHOLD;
    PyThreadState *state = release ? PyEval_SaveThread() : NULL;
    if (mask) {
        memcpy(out + header_size, key, 4);
        mask_bytes(in, out + payload_start, length, key);
    }
    else {
        memcpy(out + payload_start, in, (size_t)length);
    }
    if (release) {
        PyEval_RestoreThread(state);
    }
    PyBuffer_Release(&data);
    return result;
}

/* wskit.frames.Frame and Opcode.TEXT / Opcode.BINARY, for read_messages().
 * Looked up on first use: wskit.frames imports this module. */
static PyObject *frame_type, *text_opcode, *binary_opcode;

static int
load_frame_types(void)
{
    PyObject *frames = PyImport_ImportModule("wskit.frames");
    if (frames == NULL) {
        return -1;
    }
    frame_type = PyObject_GetAttrString(frames, "Frame");
    text_opcode = PyObject_GetAttrString(frames, "TEXT");
    binary_opcode = PyObject_GetAttrString(frames, "BINARY");
    Py_DECREF(frames);
    if (frame_type == NULL || text_opcode == NULL || binary_opcode == NULL) {
        Py_CLEAR(frame_type);
        Py_CLEAR(text_opcode);
        Py_CLEAR(binary_opcode);
        return -1;
    }
    return 0;
}

/* A size limit given as an int or None (no limit, returned as -1). */
static int
get_limit(PyObject *obj, Py_ssize_t *limit)
{
    if (obj == Py_None) {
        *limit = -1;
        return 0;
    }
    *limit = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
    if (*limit == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(read_messages_doc,
"read_messages(buffer, offset, events, masked, max_message_size, max_fragment_size, /)\n"
"--\n"
"\n"
"Read the run of frames at buffer[offset] that each carry a whole message.\n"
"\n"
"Such a frame has FIN set, no reserved bit, opcode text or binary, the\n"
"expected mask bit, a payload within both limits (None for no limit) and,\n"
"for text, valid UTF-8. Each one is appended to events as a Frame with its\n"
"payload unmasked. The first frame that isn't complete or isn't such a\n"
"frame ends the run, unread: the caller applies the general rules to it.\n"
"\n"
"Returns:\n"
"    The offset where the run ends.\n"
"\n"
"Raises:\n"
"    ValueError: offset is outside buffer.\n");

static PyObject *
read_messages(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "read_messages() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *events = args[2];
    if (!PyList_Check(events)) {
        PyErr_SetString(PyExc_TypeError, "events must be a list");
        return NULL;
    }
    Py_ssize_t offset = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int masked = PyObject_IsTrue(args[3]);
    Py_ssize_t max_message, max_fragment;
    if (masked < 0 || get_limit(args[4], &max_message) < 0 ||
        get_limit(args[5], &max_fragment) < 0) {
        return NULL;
    }
    if (frame_type == NULL && load_frame_types() < 0) {
        return NULL;
    }
    Py_buffer view;
    if (get_bytes_view(args[0], &view) < 0) {
        return NULL;
    }
    if (offset < 0 || offset > view.len) {
        PyErr_Format(PyExc_ValueError, "offset %zd out of range", offset);
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    for (;;) {
        header_t header;
        if (decode_header(buf + offset, view.len - offset, &header) < 0) {
            /* A length with its top bit set: not a frame for this run. */
            PyErr_Clear();
            break;
        }
        unsigned char opcode = header.first & 0x0F;
        /* FIN and no RSV bit, opcode 1 or 2, the expected mask bit. */
        if (header.size == 0 || (header.first & 0xF0) != 0x80 || (opcode != 1 && opcode != 2) ||
            header.masked != masked) {
            break;
        }
        uint64_t length = header.length;
        if ((max_message >= 0 && length > (uint64_t)max_message) ||
            (max_fragment >= 0 && length > (uint64_t)max_fragment) ||
            length > (uint64_t)(view.len - offset - header.size)) {
            break;
        }
        const unsigned char *in = buf + offset + header.size;
        PyObject *payload = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)length);
        if (payload == NULL) {
            goto error;
        }
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(payload);
        int release = length > RELEASE_GIL_THRESHOLD;
        PyThreadState *state = release ? PyEval_SaveThread() : NULL;
        copy_payload(in, out, (Py_ssize_t)length, masked ? header.key : NULL);
        int valid = opcode == 2 || utf8_run(ACCEPT, out, (Py_ssize_t)length) == ACCEPT;
        if (release) {
            PyEval_RestoreThread(state);
        }
        if (!valid) {
            Py_DECREF(payload);
            break;
        }
        PyObject *call_args[2] = {opcode == 1 ? text_opcode : binary_opcode, payload};
        PyObject *frame = PyObject_Vectorcall(frame_type, call_args, 2, NULL);
        Py_DECREF(payload);
        if (frame == NULL) {
            goto error;
        }
        int appended = PyList_Append(events, frame);
        Py_DECREF(frame);
        if (appended < 0) {
            goto error;
        }
        offset += header.size + (Py_ssize_t)length;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(offset);

error:
    PyBuffer_Release(&view);
    return NULL;
}

/* ------------------------------------------------------------------------
 * PayloadBuffer: the payload of a long frame, unmasked into place as it
 * arrives, so that each byte is copied once instead of twice (into the
 * parser's buffer, then out of it). The bytes object is filled in place
 * before anyone else sees it: nobody gets it before take(). The views that
 * write() returns are exported by the PayloadBuffer itself, not by the
 * bytes: hashing a view would hash the bytes and keep that hash, while they
 * are still being filled. window() lends the missing part, writable, so that
 * a socket reads straight into it and advance() unmasks it in place: the
 * bytes are then copied by the kernel only. Whoever borrows it writes there
 * before calling advance(), and never after.
 * ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *payload;  /* bytes being filled, kept for the views once taken */
    Py_ssize_t filled;
    unsigned char key[4];
    int masked;
    int taken;
    int lending;  /* window() is making a writable view */
} PayloadBufferObject;

static PyObject *
PayloadBuffer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"length", "mask_key", NULL};
    Py_ssize_t length;
    PyObject *mask_key;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nO:PayloadBuffer", keywords, &length,
                                     &mask_key)) {
        return NULL;
    }
    if (length < 0) {
        PyErr_SetString(PyExc_ValueError, "length must be positive or zero");
        return NULL;
    }
    unsigned char key[4] = {0, 0, 0, 0};
    if (mask_key != Py_None && read_mask_key(mask_key, key) < 0) {
        return NULL;
    }
    PayloadBufferObject *self = (PayloadBufferObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->payload = PyBytes_FromStringAndSize(NULL, length);
    if (self->payload == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    memcpy(self->key, key, 4);
    self->masked = mask_key != Py_None;
    return (PyObject *)self;
}

static void
PayloadBuffer_dealloc(PayloadBufferObject *self)
{
    Py_XDECREF(self->payload);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The payload, for the views that write(), advance() and window() return:
 * read-only, except for window()'s. */
static int
PayloadBuffer_getbuffer(PayloadBufferObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->payload),
                             PyBytes_GET_SIZE(self->payload), !self->lending, flags);
}

static int
payload_check_not_taken(PayloadBufferObject *self)
{
    if (self->taken) {
        PyErr_SetString(PyExc_ValueError, "the payload was taken already");
        return -1;
    }
    return 0;
}

/* A view of payload[start:end], exported by the PayloadBuffer. */
static PyObject *
payload_view(PayloadBufferObject *self, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *whole = PyMemoryView_FromObject((PyObject *)self);
    if (whole == NULL) {
        return NULL;
    }
    PyObject *view = PySequence_GetSlice(whole, start, end);
    Py_DECREF(whole);
    return view;
}

/* Add `size` bytes from `in` to the payload, unmasked, and return a
 * read-only view of them. `in` may be where they go: see advance(). */
static PyObject *
payload_add(PayloadBufferObject *self, const unsigned char *in, Py_ssize_t size)
{
    Py_ssize_t start = self->filled;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(self->payload) + start;
    /* The key continues where the bytes written so far stopped. */
    unsigned char key[4];
    for (int i = 0; i < 4; i++) {
        key[i] = self->key[(start + i) % 4];
    }
    if (self->masked || in != out) {
        int release = size > RELEASE_GIL_THRESHOLD;
        PyThreadState *state = release ? PyEval_SaveThread() : NULL;
        copy_payload(in, out, size, self->masked ? key : NULL);
        if (release) {
            PyEval_RestoreThread(state);
        }
    }
    self->filled = start + size;
    return payload_view(self, start, start + size);
}

static PyObject *
PayloadBuffer_get_missing(PayloadBufferObject *self, void *Py_UNUSED(closure))
{
    if (self->taken) {
        return PyLong_FromLong(0);
    }
    return PyLong_FromSsize_t(PyBytes_GET_SIZE(self->payload) - self->filled);
}

static PyObject *
PayloadBuffer_write(PayloadBufferObject *self, PyObject *data)
{
    Py_buffer view;
    if (get_bytes_view(data, &view) < 0) {
        return NULL;
    }
    if (payload_check_not_taken(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(self->payload) - self->filled;
    if (view.len < size) {
        size = view.len;
    }
    PyObject *added = payload_add(self, (const unsigned char *)view.buf, size);
    PyBuffer_Release(&view);
    return added;
}

static PyObject *
PayloadBuffer_window(PayloadBufferObject *self, PyObject *Py_UNUSED(ignored))
{
    if (payload_check_not_taken(self) < 0) {
        return NULL;
    }
    self->lending = 1;
    PyObject *window = payload_view(self, self->filled, PyBytes_GET_SIZE(self->payload));
    self->lending = 0;
    return window;
}

static PyObject *
PayloadBuffer_advance(PayloadBufferObject *self, PyObject *arg)
{
    Py_ssize_t size = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (payload_check_not_taken(self) < 0) {
        return NULL;
    }
    if (size < 0 || size > PyBytes_GET_SIZE(self->payload) - self->filled) {
        PyErr_Format(PyExc_ValueError, "cannot advance by %zd bytes when %zd are missing",
                     size, PyBytes_GET_SIZE(self->payload) - self->filled);
        return NULL;
    }
    const unsigned char *in = (const unsigned char *)PyBytes_AS_STRING(self->payload) + self->filled;
    return payload_add(self, in, size);
}

static PyObject *
PayloadBuffer_take(PayloadBufferObject *self, PyObject *Py_UNUSED(ignored))
{
    if (payload_check_not_taken(self) < 0) {
        return NULL;
    }
    if (self->filled < PyBytes_GET_SIZE(self->payload)) {
        PyErr_SetString(PyExc_ValueError, "the payload is incomplete");
        return NULL;
    }
    self->taken = 1;
    return Py_NewRef(self->payload);
}

static PyMethodDef PayloadBuffer_methods[] = {
    {"write", (PyCFunction)PayloadBuffer_write, METH_O,
     "Add the next bytes received; return a read-only view of those added, unmasked."},
    {"window", (PyCFunction)PayloadBuffer_window, METH_NOARGS,
     "Return a writable view of the missing part, to receive bytes straight into it."},
    {"advance", (PyCFunction)PayloadBuffer_advance, METH_O,
     "Add the nbytes written at the start of window(); return a read-only view of them, "
     "unmasked."},
    {"take", (PyCFunction)PayloadBuffer_take, METH_NOARGS,
     "Return the whole payload; the buffer is empty afterwards."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef PayloadBuffer_getset[] = {
    {"missing", (getter)PayloadBuffer_get_missing, NULL,
     "How many bytes of the payload have yet to arrive.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyBufferProcs PayloadBuffer_as_buffer = {
    .bf_getbuffer = (getbufferproc)PayloadBuffer_getbuffer,
};

static PyTypeObject PayloadBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.PayloadBuffer",
    .tp_basicsize = sizeof(PayloadBufferObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The payload of a long frame, unmasked into place as it arrives.",
    .tp_new = PayloadBuffer_new,
    .tp_dealloc = (destructor)PayloadBuffer_dealloc,
    .tp_methods = PayloadBuffer_methods,
    .tp_getset = PayloadBuffer_getset,
    .tp_as_buffer = &PayloadBuffer_as_buffer,
};

/* ------------------------------------------------------------------------
 * Waiter: wskit.asyncio.waiter.PurePythonWaiter in C
 *
 * A future-like object, without a result, that one task awaits. wake()
 * resumes that task right away when no task is running (in a protocol
 * callback), else with loop.call_soon(), as a future would. asyncio is
 * imported when the first Waiter is created, never by the core.
 * ------------------------------------------------------------------------ */

enum { WAITER_PENDING, WAITER_DONE, WAITER_CANCELLED };

typedef struct {
    PyObject_HEAD
    PyObject *loop;
    PyObject *callback;  /* the awaiting task's wake-up, or NULL */
    PyObject *context;   /* the context to call it in, or NULL */
    PyObject *message;   /* the cancellation message, or NULL */
    int state;
    int blocking;        /* _asyncio_future_blocking */
    int yielded;         /* `await waiter` suspended once */
} WaiterObject;

static PyObject *current_task, *cancelled_error, *invalid_state_error;
static PyObject *str_call_soon, *str_run, *context_kwnames;
/* On Python 3.11, asyncio.current_task() is Python code that looks the loop up
 * in asyncio.tasks._current_tasks, a dict that the C tasks keep: looking there
 * directly spares a Python call on every wake-up. NULL where current_task is
 * in C already (3.12 and later), which is then called. */
static PyObject *current_tasks;

static int
load_asyncio(void)
{
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    if (asyncio == NULL) {
        return -1;
    }
    current_task = PyObject_GetAttrString(asyncio, "current_task");
    cancelled_error = PyObject_GetAttrString(asyncio, "CancelledError");
    invalid_state_error = PyObject_GetAttrString(asyncio, "InvalidStateError");
    if (current_task != NULL && PyFunction_Check(current_task)) {
        PyObject *tasks = PyObject_GetAttrString(asyncio, "tasks");
        current_tasks = tasks ? PyObject_GetAttrString(tasks, "_current_tasks") : NULL;
        Py_XDECREF(tasks);
        if (current_tasks != NULL && !PyDict_Check(current_tasks)) {
            Py_CLEAR(current_tasks);
        }
        PyErr_Clear();  /* no such dict: call current_task() */
    }
    Py_DECREF(asyncio);
    str_call_soon = PyUnicode_InternFromString("call_soon");
    str_run = PyUnicode_InternFromString("run");
    context_kwnames = Py_BuildValue("(s)", "context");
    if (current_task == NULL || cancelled_error == NULL || invalid_state_error == NULL
        || str_call_soon == NULL || str_run == NULL || context_kwnames == NULL) {
        Py_CLEAR(current_task);
        Py_CLEAR(current_tasks);
        Py_CLEAR(cancelled_error);
        Py_CLEAR(invalid_state_error);
        Py_CLEAR(str_call_soon);
        Py_CLEAR(str_run);
        Py_CLEAR(context_kwnames);
        return -1;
    }
    return 0;
}

static PyObject *
Waiter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"loop", NULL};
    PyObject *loop;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Waiter", keywords, &loop)) {
        return NULL;
    }
    if (current_task == NULL && load_asyncio() < 0) {
        return NULL;
    }
    WaiterObject *self = (WaiterObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(loop);
    self->loop = loop;
    self->state = WAITER_PENDING;
    return (PyObject *)self;
}

static int
Waiter_traverse(WaiterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->loop);
    Py_VISIT(self->callback);
    Py_VISIT(self->context);
    Py_VISIT(self->message);
    return 0;
}

static int
Waiter_clear(WaiterObject *self)
{
    Py_CLEAR(self->loop);
    Py_CLEAR(self->callback);
    Py_CLEAR(self->context);
    Py_CLEAR(self->message);
    return 0;
}

static void
Waiter_dealloc(WaiterObject *self)
{
    PyObject_GC_UnTrack(self);
    Waiter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* loop.call_soon(callback, self, context=context): steals both references. */
static int
waiter_call_soon(WaiterObject *self, PyObject *callback, PyObject *context)
{
    PyObject *call_args[] = {self->loop, callback, (PyObject *)self, context};
    PyObject *handle = PyObject_VectorcallMethod(
        str_call_soon, call_args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, context_kwnames);
    Py_DECREF(callback);
    Py_DECREF(context);
    if (handle == NULL) {
        return -1;
    }
    Py_DECREF(handle);
    return 0;
}

static PyObject *
Waiter_await(WaiterObject *self)
{
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *
waiter_raise_cancelled(WaiterObject *self)
{
    if (self->message == NULL) {
        PyErr_SetNone(cancelled_error);
    }
    else {
        PyErr_SetObject(cancelled_error, self->message);
    }
    return NULL;
}

/* The iterator behind `await waiter`: yield the waiter once while it is
 * pending (the task then waits for it), finish once it is done. */
static PyObject *
Waiter_iternext(WaiterObject *self)
{
    if (self->state == WAITER_PENDING) {
        if (self->yielded) {
            PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
            return NULL;
        }
        self->yielded = self->blocking = 1;
        Py_INCREF(self);
        return (PyObject *)self;
    }
    if (self->state == WAITER_CANCELLED) {
        return waiter_raise_cancelled(self);
    }
    return NULL;  /* StopIteration: `await waiter` is None */
}

static PyObject *
Waiter_result(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state == WAITER_CANCELLED) {
        return waiter_raise_cancelled(self);
    }
    if (self->state == WAITER_PENDING) {
        PyErr_SetString(invalid_state_error, "waiter is pending");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Waiter_done(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->state != WAITER_PENDING);
}

static PyObject *
Waiter_cancelled(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->state == WAITER_CANCELLED);
}

/* Set *value to the keyword argument `name` among `kwnames`, whose values
 * start at `kwvalues`, if it is there; refuse any other keyword. */
static int
keyword_argument(PyObject *const *kwvalues, PyObject *kwnames, const char *name,
                 PyObject **value)
{
    Py_ssize_t count = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_CompareWithASCIIString(key, name) != 0) {
            PyErr_Format(PyExc_TypeError, "unexpected keyword argument %R", key);
            return -1;
        }
        *value = kwvalues[i];
    }
    return 0;
}

static PyObject *
Waiter_add_done_callback(WaiterObject *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    PyObject *context = Py_None;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "add_done_callback() takes one positional argument");
        return NULL;
    }
    if (keyword_argument(args + nargs, kwnames, "context", &context) < 0) {
        return NULL;
    }
    PyObject *callback = args[0];
    if (context == Py_None) {
        context = PyContext_CopyCurrent();
        if (context == NULL) {
            return NULL;
        }
    }
    else {
        Py_INCREF(context);
    }
    if (self->state != WAITER_PENDING) {
        Py_INCREF(callback);
        if (waiter_call_soon(self, callback, context) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (self->callback != NULL) {
        Py_DECREF(context);
        PyErr_SetString(PyExc_RuntimeError, "a Waiter takes one callback");
        return NULL;
    }
    Py_INCREF(callback);
    self->callback = callback;
    self->context = context;
    Py_RETURN_NONE;
}

static PyObject *
Waiter_remove_done_callback(WaiterObject *self, PyObject *callback)
{
    int equal = self->callback == NULL
                    ? 0 : PyObject_RichCompareBool(self->callback, callback, Py_EQ);
    if (equal < 0) {
        return NULL;
    }
    if (!equal) {
        return PyLong_FromLong(0);
    }
    Py_CLEAR(self->callback);
    Py_CLEAR(self->context);
    return PyLong_FromLong(1);
}

static PyObject *
Waiter_cancel(WaiterObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *message = Py_None;
    if (nargs > 1 || (nargs == 1 && kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0)) {
        PyErr_SetString(PyExc_TypeError, "cancel() takes one argument, msg");
        return NULL;
    }
    if (nargs == 1) {
        message = args[0];
    }
    else if (keyword_argument(args, kwnames, "msg", &message) < 0) {
        return NULL;
    }
    if (self->state != WAITER_PENDING) {
        Py_RETURN_FALSE;
    }
    self->state = WAITER_CANCELLED;
    if (message != Py_None) {
        Py_INCREF(message);
        self->message = message;
    }
    if (self->callback != NULL) {
        PyObject *callback = self->callback, *context = self->context;
        self->callback = self->context = NULL;
        if (waiter_call_soon(self, callback, context) < 0) {
            return NULL;
        }
    }
    Py_RETURN_TRUE;
}

/* Whether a task of `loop` is running: 1 or 0, or -1 with an exception set. */
static int
task_is_running(PyObject *loop)
{
    if (current_tasks != NULL) {
        if (PyDict_GetItemWithError(current_tasks, loop) != NULL) {
            return 1;
        }
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *task = PyObject_CallOneArg(current_task, loop);
    if (task == NULL) {
        return -1;
    }
    int running = task != Py_None;
    Py_DECREF(task);
    return running;
}

static PyObject *
Waiter_wake(WaiterObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->state != WAITER_PENDING) {
        Py_RETURN_NONE;
    }
    self->state = WAITER_DONE;
    if (self->callback == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *callback = self->callback, *context = self->context;
    self->callback = self->context = NULL;
    int in_task = task_is_running(self->loop);
    if (in_task < 0) {
        Py_DECREF(callback);
        Py_DECREF(context);
        return NULL;
    }
    if (in_task) {
        if (waiter_call_soon(self, callback, context) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    /* context.run(callback, self) */
    PyObject *call_args[] = {context, callback, (PyObject *)self};
    PyObject *result = PyObject_VectorcallMethod(
        str_run, call_args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(callback);
    Py_DECREF(context);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_NONE;
}

static PyObject *
Waiter_get_blocking(WaiterObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->blocking);
}

static int
Waiter_set_blocking(WaiterObject *self, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _asyncio_future_blocking");
        return -1;
    }
    int blocking = PyObject_IsTrue(value);
    if (blocking < 0) {
        return -1;
    }
    self->blocking = blocking;
    return 0;
}

static PyObject *
Waiter_get_loop(WaiterObject *self, void *Py_UNUSED(closure))
{
    Py_INCREF(self->loop);
    return self->loop;
}

static PyMethodDef Waiter_methods[] = {
    {"result", (PyCFunction)Waiter_result, METH_NOARGS,
     "Return None once woken; raise CancelledError if cancelled."},
    {"done", (PyCFunction)Waiter_done, METH_NOARGS, "Whether the waiter was woken or cancelled."},
    {"cancelled", (PyCFunction)Waiter_cancelled, METH_NOARGS,
     "Whether the waiter was cancelled."},
    {"add_done_callback", (PyCFunction)(void (*)(void))Waiter_add_done_callback,
     METH_FASTCALL | METH_KEYWORDS, "Call callback(waiter) once the waiter is done."},
    {"remove_done_callback", (PyCFunction)Waiter_remove_done_callback, METH_O,
     "Forget callback; return how many callbacks were removed (0 or 1)."},
    {"cancel", (PyCFunction)(void (*)(void))Waiter_cancel, METH_FASTCALL | METH_KEYWORDS,
     "Cancel the waiter; its task resumes on the loop's next iteration."},
    {"wake", (PyCFunction)Waiter_wake, METH_NOARGS,
     "Mark the waiter done and resume the task awaiting it, if any."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Waiter_getset[] = {
    {"_asyncio_future_blocking", (getter)Waiter_get_blocking, (setter)Waiter_set_blocking,
     NULL, NULL},
    {"_loop", (getter)Waiter_get_loop, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyAsyncMethods Waiter_async = {
    .am_await = (unaryfunc)Waiter_await,
};

static PyTypeObject WaiterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wskit._speedups.Waiter",
    .tp_basicsize = sizeof(WaiterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A future-like object, without a result, that one task awaits.",
    .tp_new = Waiter_new,
    .tp_dealloc = (destructor)Waiter_dealloc,
    .tp_traverse = (traverseproc)Waiter_traverse,
    .tp_clear = (inquiry)Waiter_clear,
    .tp_as_async = &Waiter_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Waiter_iternext,
    .tp_methods = Waiter_methods,
    .tp_getset = Waiter_getset,
};

/* ------------------------------------------------------------------------
 * Module
 * ------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask,
     METH_FASTCALL | METH_KEYWORDS, apply_mask_doc},
    {"parse_header", (PyCFunction)(void (*)(void))parse_header, METH_FASTCALL,
     parse_header_doc},
    {"read_frame", (PyCFunction)(void (*)(void))read_frame, METH_FASTCALL, read_frame_doc},
    {"build_frame", (PyCFunction)(void (*)(void))build_frame, METH_FASTCALL, build_frame_doc},
    {"read_messages", (PyCFunction)(void (*)(void))read_messages, METH_FASTCALL,
     read_messages_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wskit._speedups",
    .m_doc = "C implementation of wskit's hot loops (see wskit._purepython).",
    .m_size = -1,
    .m_methods = module_methods,
};

/* Keep os.urandom for the masking keys, and empty their batch in a forked
 * child (os.register_at_fork doesn't exist where there is no fork). */
static int
init_mask_keys(void)
{
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL) {
        return -1;
    }
    urandom = PyObject_GetAttrString(os, "urandom");
    PyObject *register_at_fork = PyObject_GetAttrString(os, "register_at_fork");
    Py_DECREF(os);
    if (urandom == NULL) {
        Py_XDECREF(register_at_fork);
        return -1;
    }
    if (register_at_fork == NULL) {
        PyErr_Clear();
        return 0;
    }
    int status = -1;
    PyObject *forget = PyCFunction_New(&forget_mask_keys_def, NULL);
    PyObject *args = PyTuple_New(0);
    PyObject *kwargs = forget == NULL ? NULL : Py_BuildValue("{sO}", "after_in_child", forget);
    if (args != NULL && kwargs != NULL) {
        PyObject *registered = PyObject_Call(register_at_fork, args, kwargs);
        status = registered == NULL ? -1 : 0;
        Py_XDECREF(registered);
    }
    Py_XDECREF(kwargs);
    Py_XDECREF(args);
    Py_XDECREF(forget);
    Py_DECREF(register_at_fork);
    return status;
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_step_rows();
    if (init_mask_keys() < 0) {
        return NULL;
    }
    if (PyType_Ready(&UTF8ValidatorType) < 0 || PyType_Ready(&PayloadBufferType) < 0
        || PyType_Ready(&WaiterType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, &UTF8ValidatorType) < 0
        || PyModule_AddType(module, &PayloadBufferType) < 0
        || PyModule_AddType(module, &WaiterType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

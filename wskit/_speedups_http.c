/*
 * split_request(data, max_line, max_headers) and split_response(...): the
 * head of a handshake request, or of a 101 response, split in one pass when
 * wskit.http11's general rules would take it as it is; None otherwise, and
 * those rules read it then. The twins in _purepython.py say it with regular
 * expressions: keep them in step.
 */

#include "_speedups.h"

/* RFC 9110 5.6.2: tchar, as a table indexed by byte. */
static const unsigned char TCHAR[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int
is_tchar(unsigned char c)
{
    return TCHAR[c];
}

/* RFC 9110 5.5: a field value's bytes, CR, LF and other controls excluded. */
static int
is_value_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Index of the first "\r\n\r\n" entirely within [start, end), or -1. */
static Py_ssize_t
find_empty_line(const unsigned char *s, Py_ssize_t start, Py_ssize_t end)
{
    /* From CR to CR with memchr(), rather than byte by byte. */
    for (Py_ssize_t i = start; i + 4 <= end; i++) {
        const unsigned char *cr = memchr(s + i, '\r', (size_t)(end - 3 - i));
        if (cr == NULL) {
            return -1;
        }
        i = cr - s;
        if (s[i + 1] == '\n' && s[i + 2] == '\r' && s[i + 3] == '\n') {
            return i;
        }
    }
    return -1;
}

/* The request line s[0:size]: "token SP /target SP HTTP/1.x". Sets the three
 * parts' bounds; 0 when it doesn't have that form. */
static int
split_request_line(const unsigned char *s, Py_ssize_t size, Py_ssize_t *method_end,
                   Py_ssize_t *target_end)
{
    Py_ssize_t i = 0;
    while (i < size && is_tchar(s[i])) {
        i++;
    }
    if (i == 0 || i >= size || s[i] != ' ') {
        return 0;
    }
    *method_end = i++;
    if (i >= size || s[i] != '/') {
        return 0;
    }
    while (i < size && s[i] >= 0x21 && s[i] <= 0x7e) {
        i++;
    }
    if (i >= size || s[i] != ' ') {
        return 0;
    }
    *target_end = i++;
    return size - i == 8 && memcmp(s + i, "HTTP/1.", 7) == 0
           && (s[i + 7] == '0' || s[i + 7] == '1');
}

/* The status line s[0:size]: "HTTP/1.1 101", then SP and a reason phrase,
 * or nothing. Sets where the reason starts; 0 when it doesn't have that form. */
static int
split_status_101(const unsigned char *s, Py_ssize_t size, Py_ssize_t *reason)
{
    if (size < 12 || memcmp(s, "HTTP/1.1 101", 12) != 0) {
        return 0;
    }
    if (size == 12) {
        *reason = 12;
        return 1;
    }
    if (s[12] != ' ') {
        return 0;
    }
    for (Py_ssize_t i = 13; i < size; i++) {
        if (!is_value_byte(s[i])) {
            return 0;
        }
    }
    *reason = 13;
    return 1;
}

/* A header name in lower case (names are ASCII tokens). */
static PyObject *
lower_name(const unsigned char *s, Py_ssize_t size)
{
    PyObject *name = PyUnicode_New(size, 127);
    if (name == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(name);
    for (Py_ssize_t i = 0; i < size; i++) {
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i];
    }
    return name;
}

/* The header names that handshakes nearly always carry, spelled as
 * clients and servers send them, and the values of three of them: made
 * once, names with their lower-case keys, whose hashes they keep, rather
 * than decoded, lowered and hashed for each head (split_request() of a
 * common request: 25.2K -> 15.9K instructions, with memchr() below). */
static const char *const KNOWN_NAMES[] = {
    "Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
    "Sec-WebSocket-Accept", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol",
    "User-Agent", "Origin", "Server", "Date",
};
static const char *const KNOWN_VALUES[] = {"websocket", "Upgrade", "13"};
#define KNOWN_NAME_COUNT (sizeof(KNOWN_NAMES) / sizeof(KNOWN_NAMES[0]))
#define KNOWN_VALUE_COUNT (sizeof(KNOWN_VALUES) / sizeof(KNOWN_VALUES[0]))
static PyObject *known_names[KNOWN_NAME_COUNT], *known_keys[KNOWN_NAME_COUNT];
static PyObject *known_values[KNOWN_VALUE_COUNT];
static PyObject *str_transfer_encoding, *str_content_length;

/* The index of s[0:size] among texts[0:count], or -1. */
static Py_ssize_t
find_known(PyObject *const *texts, size_t count, const unsigned char *s, Py_ssize_t size)
{
    for (size_t i = 0; i < count; i++) {
        if (PyUnicode_GET_LENGTH(texts[i]) == size
            && memcmp(PyUnicode_1BYTE_DATA(texts[i]), s, (size_t)size) == 0) {
            return (Py_ssize_t)i;
        }
    }
    return -1;
}

/* Add "name: value" to pairs and lowered; 0, or -1 with an exception set. */
static int
add_field(const unsigned char *name, Py_ssize_t name_size, const unsigned char *value,
          Py_ssize_t value_size, PyObject *pairs, PyObject *lowered)
{
    while (value_size > 0 && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        value_size--;
    }
    while (value_size > 0 && (value[value_size - 1] == ' ' || value[value_size - 1] == '\t')) {
        value_size--;
    }
    PyObject *name_text = NULL, *key = NULL, *values = NULL, *pair = NULL;
    int result = -1;
    Py_ssize_t known = find_known(known_values, KNOWN_VALUE_COUNT, value, value_size);
    PyObject *value_text = known >= 0 ? Py_NewRef(known_values[known])
                                      : PyUnicode_DecodeLatin1((const char *)value, value_size, NULL);
    if (value_text == NULL) {
        goto done;
    }
    known = find_known(known_names, KNOWN_NAME_COUNT, name, name_size);
    if (known >= 0) {
        name_text = Py_NewRef(known_names[known]);
        key = Py_NewRef(known_keys[known]);
    }
    else {
        name_text = PyUnicode_DecodeLatin1((const char *)name, name_size, NULL);
        key = name_text == NULL ? NULL : lower_name(name, name_size);
        if (key == NULL) {
            goto done;
        }
    }
    pair = PyTuple_Pack(2, name_text, value_text);
    if (pair == NULL || PyList_Append(pairs, pair) < 0) {
        goto done;
    }
    /* The value alone, or a list of them once the name repeats (see Headers). */
    PyObject *first = PyDict_GetItemWithError(lowered, key); /* borrowed */
    if (first == NULL) {
        result = PyErr_Occurred() ? -1 : PyDict_SetItem(lowered, key, value_text);
        goto done;
    }
    if (PyList_CheckExact(first)) {
        result = PyList_Append(first, value_text);
        goto done;
    }
    values = PyList_New(2);
    if (values == NULL) {
        goto done;
    }
    PyList_SET_ITEM(values, 0, Py_NewRef(first));
    PyList_SET_ITEM(values, 1, Py_NewRef(value_text));
    result = PyDict_SetItem(lowered, key, values);
done:
    Py_XDECREF(name_text);
    Py_XDECREF(value_text);
    Py_XDECREF(pair);
    Py_XDECREF(key);
    Py_XDECREF(values);
    return result;
}

/* The header lines s[0:size], each "token:value CRLF", into pairs and
 * lowered. 1 when they all have that form, 0 when one hasn't, -1 with an
 * exception set. */
static int
split_fields(const unsigned char *s, Py_ssize_t size, PyObject *pairs, PyObject *lowered)
{
    Py_ssize_t i = 0;
    while (i < size) {
        Py_ssize_t name = i;
        while (i < size && is_tchar(s[i])) {
            i++;
        }
        if (i == name || i >= size || s[i] != ':') {
            return 0;
        }
        Py_ssize_t colon = i++;
        while (i < size && is_value_byte(s[i])) {
            i++;
        }
        if (i + 2 > size || s[i] != '\r' || s[i + 1] != '\n') {
            return 0;
        }
        if (add_field(s + name, colon - name, s + colon + 1, i - colon - 1, pairs, lowered) < 0) {
            return -1;
        }
        i += 2;
    }
    return 1;
}

/* split_request() and split_response(): the first line as the request's or
 * the 101's, then the header section. */
static PyObject *
split_head(PyObject *const *args, Py_ssize_t nargs, int response)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s() takes 3 arguments (%zd given)",
                     response ? "split_response" : "split_request", nargs);
        return NULL;
    }
    Py_ssize_t max_line = PyLong_AsSsize_t(args[1]);
    if (max_line == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t max_headers = PyLong_AsSsize_t(args[2]);
    if (max_headers == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_line < 0 || max_headers < 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be >= 0");
        return NULL;
    }
    Py_buffer view;
    if (get_bytes_view(args[0], &view) < 0) {
        return NULL;
    }
    const unsigned char *s = view.buf;
    Py_ssize_t size = view.len;
    PyObject *pairs = NULL, *lowered = NULL, *result = NULL;

    /* The first line's LF, within max_line + 2 bytes. */
    Py_ssize_t scan = size < max_line + 2 ? size : max_line + 2;
    const unsigned char *lf_at = memchr(s, '\n', (size_t)scan);
    if (lf_at == NULL) {
        goto none;
    }
    Py_ssize_t lf = lf_at - s;
    Py_ssize_t method_end = 0, target_end = 0, reason = 0;
    if (lf < 1 || s[lf - 1] != '\r'
        || !(response ? split_status_101(s, lf - 1, &reason)
                      : split_request_line(s, lf - 1, &method_end, &target_end))) {
        goto none;
    }
    /* The empty line, within max_line + 2 bytes of header lines. */
    Py_ssize_t limit = lf + max_line + 5;
    Py_ssize_t end = find_empty_line(s, lf - 1, size < limit ? size : limit);
    if (end == -1) {
        goto none;
    }
    Py_ssize_t lines = 0;
    for (Py_ssize_t i = lf + 1; i + 1 < end + 2; i++) {
        const unsigned char *cr = memchr(s + i, '\r', (size_t)(end + 1 - i));
        if (cr == NULL) {
            break;
        }
        i = cr - s;
        if (s[i + 1] == '\n') {
            lines++;
            i++;
        }
    }
    if (lines > max_headers) {
        goto none;
    }
    pairs = PyList_New(0);
    lowered = PyDict_New();
    if (pairs == NULL || lowered == NULL) {
        goto done;
    }
    int valid = split_fields(s + lf + 1, end + 1 - lf, pairs, lowered);
    if (valid < 0) {
        goto done;
    }
    if (!valid) {
        goto none;
    }
    if (response) {
        /* A 101 has no body, whatever Content-Length or Transfer-Encoding say. */
        PyObject *phrase = PyUnicode_DecodeLatin1((const char *)s + reason, lf - 1 - reason, NULL);
        if (phrase != NULL) {
            result = Py_BuildValue("(OOOn)", phrase, pairs, lowered, end + 4);
            Py_DECREF(phrase);
        }
        goto done;
    }
    /* A request with a body is the general rules' to refuse or accept. */
    int body = PyDict_Contains(lowered, str_transfer_encoding);
    if (body == 0) {
        body = PyDict_Contains(lowered, str_content_length);
    }
    if (body < 0) {
        goto done;
    }
    if (body) {
        goto none;
    }
    PyObject *method = PyUnicode_DecodeASCII((const char *)s, method_end, NULL);
    PyObject *target = PyUnicode_DecodeASCII((const char *)s + method_end + 1,
                                             target_end - method_end - 1, NULL);
    PyObject *protocol = PyUnicode_DecodeASCII((const char *)s + target_end + 1,
                                               lf - 2 - target_end, NULL);
    if (method != NULL && target != NULL && protocol != NULL) {
        result = Py_BuildValue("(OOOOOn)", method, target, protocol, pairs, lowered, end + 4);
    }
    Py_XDECREF(method);
    Py_XDECREF(target);
    Py_XDECREF(protocol);
    goto done;
none:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(pairs);
    Py_XDECREF(lowered);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *
split_request(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    return split_head(args, nargs, 0);
}

static PyObject *
split_response(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    return split_head(args, nargs, 1);
}

PyDoc_STRVAR(split_request_doc,
             "split_request(data, max_line, max_headers, /)\n--\n\n"
             "Split the head of a handshake request that the general rules take as it is:\n"
             "(method, target, protocol, pairs, lowered, end), or None.");

PyDoc_STRVAR(split_response_doc,
             "split_response(data, max_line, max_headers, /)\n--\n\n"
             "Split the head of a 101 response that the general rules take as it is:\n"
             "(reason, pairs, lowered, end), or None.");

static PyMethodDef http_methods[] = {
    {"split_request", (PyCFunction)(void (*)(void))split_request, METH_FASTCALL,
     split_request_doc},
    {"split_response", (PyCFunction)(void (*)(void))split_response, METH_FASTCALL,
     split_response_doc},
    {NULL, NULL, 0, NULL},
};

int
wskit_http_init(PyObject *module)
{
    for (size_t i = 0; i < KNOWN_VALUE_COUNT; i++) {
        known_values[i] = PyUnicode_InternFromString(KNOWN_VALUES[i]);
        if (known_values[i] == NULL) {
            return -1;
        }
    }
    for (size_t i = 0; i < KNOWN_NAME_COUNT; i++) {
        const char *text = KNOWN_NAMES[i];
        known_names[i] = PyUnicode_InternFromString(text);
        if (known_names[i] == NULL) {
            return -1;
        }
        known_keys[i] = lower_name((const unsigned char *)text, (Py_ssize_t)strlen(text));
        if (known_keys[i] == NULL) {
            return -1;
        }
        PyUnicode_InternInPlace(&known_keys[i]);
    }
    str_transfer_encoding = PyUnicode_InternFromString("transfer-encoding");
    str_content_length = PyUnicode_InternFromString("content-length");
    if (str_transfer_encoding == NULL || str_content_length == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, http_methods);
}

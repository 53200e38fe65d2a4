/*
 * The HTTP/1.1 part of the example servers (examples/http_server.c on vrt,
 * bench/http_uv.c on libuv): both parse and answer with this code, so that
 * a benchmark between them compares the event loops and nothing else.
 *
 * Scope: GET and HEAD of any target answered with a fixed small body,
 * keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelining, and
 * "Connection: close".  Requests with a body, over-long headers and
 * malformed request lines get 400 and the connection is closed.
 */
#ifndef VRT_EXAMPLE_HTTP_H
#define VRT_EXAMPLE_HTTP_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Largest request head accepted; also the size of a connection's input. */
#define HTTP_MAX_REQUEST 8192
/* Room one response needs at most in an output buffer. */
#define HTTP_MAX_RESPONSE 256

#define HTTP_BODY "Hello from vrt's example server.\n"

enum http_verdict {
    HTTP_NEED_MORE, /* no complete request head yet */
    HTTP_REQUEST,   /* one request: see struct http_request */
    HTTP_BAD,       /* answer 400 and close */
};

struct http_request {
    size_t length;   /* bytes of input the request took */
    int head_only;   /* HEAD: headers without the body */
    int allowed;     /* GET or HEAD; anything else gets 405 */
    int keep_alive;  /* the connection stays open after the response */
};

/* Case-insensitive prefix match of a header line against "Name:". */
static inline const char *http_header_value(const char *line, const char *end,
                                            const char *name)
{
    size_t n = strlen(name);
    if ((size_t)(end - line) <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *value = line + n + 1;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    return value;
}

static inline int http_value_is(const char *value, const char *end, const char *token)
{
    size_t n = strlen(token);
    return (size_t)(end - value) >= n && strncasecmp(value, token, n) == 0;
}

/* Reads the first request of buf[0, len).  A request with a body is
 * refused (HTTP_BAD): these servers only serve GET and HEAD. */
static inline enum http_verdict http_parse(const char *buf, size_t len,
                                           struct http_request *req)
{
    const char *start = buf, *stop = buf + len;
    const char *head_end = NULL;
    for (const char *p = start; p + 3 < stop; p++) {
        p = memchr(p, '\r', (size_t)(stop - p));
        if (p == NULL || p + 3 >= stop)
            break;
        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n') {
            head_end = p;
            break;
        }
    }
    if (head_end == NULL)
        return len >= HTTP_MAX_REQUEST ? HTTP_BAD : HTTP_NEED_MORE;

    const char *line_end = memchr(start, '\r', (size_t)(head_end + 2 - start));
    const char *method_end = memchr(start, ' ', (size_t)(line_end - start));
    if (method_end == NULL || method_end == start)
        return HTTP_BAD;
    const char *target_end = memchr(method_end + 1, ' ', (size_t)(line_end - method_end - 1));
    if (target_end == NULL || target_end == method_end + 1 ||
        line_end - target_end - 1 != 8 || strncmp(target_end + 1, "HTTP/1.", 7) != 0)
        return HTTP_BAD;
    char minor = target_end[8];
    if (minor != '0' && minor != '1')
        return HTTP_BAD;

    size_t method_len = (size_t)(method_end - start);
    int is_get = method_len == 3 && memcmp(start, "GET", 3) == 0;
    req->head_only = method_len == 4 && memcmp(start, "HEAD", 4) == 0;
    req->allowed = is_get || req->head_only;
    req->keep_alive = minor == '1';
    for (const char *line = line_end + 2; line < head_end + 2;) {
        const char *end = memchr(line, '\r', (size_t)(head_end + 2 - line));
        const char *value;
        if ((value = http_header_value(line, end, "Connection")) != NULL) {
            if (http_value_is(value, end, "close"))
                req->keep_alive = 0;
            else if (http_value_is(value, end, "keep-alive"))
                req->keep_alive = 1;
        } else if ((value = http_header_value(line, end, "Content-Length")) != NULL) {
            if (!http_value_is(value, end, "0") || end - value != 1)
                return HTTP_BAD;
        } else if (http_header_value(line, end, "Transfer-Encoding") != NULL) {
            return HTTP_BAD;
        }
        line = end + 2;
    }
    req->length = (size_t)(head_end + 4 - start);
    return HTTP_REQUEST;
}

/* Writes the response to req into out (at least HTTP_MAX_RESPONSE bytes);
 * returns its length. */
static inline size_t http_respond(const struct http_request *req, char *out)
{
    const char *connection = req->keep_alive ? "keep-alive" : "close";
    int n;
    if (!req->allowed)
        n = snprintf(out, HTTP_MAX_RESPONSE,
                     "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
                     "Content-Length: 0\r\nConnection: %s\r\n\r\n", connection);
    else
        n = snprintf(out, HTTP_MAX_RESPONSE,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: %s\r\n\r\n%s",
                     sizeof HTTP_BODY - 1, connection, req->head_only ? "" : HTTP_BODY);
    return (size_t)n;
}

/* The answer to a request that cannot be served; the connection closes. */
static inline size_t http_respond_bad(char *out)
{
    static const char bad[] =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    memcpy(out, bad, sizeof bad - 1);
    return sizeof bad - 1;
}

/*
 * Answers every complete request at the front of in[0, *in_len) while out
 * has room for one more response, appending to out at *out_len, and drops
 * the requests answered from in.  Returns 1 if the connection must close
 * once out is sent (a bad request, or one without keep-alive), else 0.
 */
static inline int http_serve(char *in, size_t *in_len, char *out, size_t *out_len,
                             size_t out_cap)
{
    size_t used = 0;
    int closing = 0;
    while (!closing && *out_len + HTTP_MAX_RESPONSE <= out_cap) {
        struct http_request req;
        enum http_verdict verdict = http_parse(in + used, *in_len - used, &req);
        if (verdict == HTTP_NEED_MORE)
            break;
        if (verdict == HTTP_BAD) {
            *out_len += http_respond_bad(out + *out_len);
            closing = 1;
            break;
        }
        *out_len += http_respond(&req, out + *out_len);
        used += req.length;
        closing = !req.keep_alive;
    }
    memmove(in, in + used, *in_len - used);
    *in_len -= used;
    return closing;
}

#endif /* VRT_EXAMPLE_HTTP_H */

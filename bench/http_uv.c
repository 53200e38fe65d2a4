/*
 * http_uv: examples/http_server.c written on libuv, the peer of the HTTP
 * benchmark.  Same parser and answers (examples/http.h), same socket
 * options, same shutdown on SIGINT or SIGTERM.
 *
 *   http_uv [port]     listen on 127.0.0.1:port (0: a free port); prints
 *                      "listening on 127.0.0.1:PORT"
 *
 * Responses go out with uv_try_write, as vrt's server sends directly; only
 * what the socket does not take at once is copied and queued with uv_write.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http.h"

#define OUT_CAP 16384

struct connection {
    uv_tcp_t tcp;
    int closing;
    size_t in_len;
    char in[HTTP_MAX_REQUEST];
    char out[OUT_CAP];
};

struct queued_write {
    uv_write_t req;
    struct connection *conn;
    int close_after;
    char data[];
};

static uv_tcp_t server;
static uv_signal_t stop_signals[2];

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void close_connection(struct connection *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
    struct queued_write *w = (struct queued_write *)req;
    if (status != 0 || w->close_after)
        close_connection(w->conn);
    free(w);
}

/* Sends out[0, len): directly when the socket takes it, else queued. */
static void send_out(struct connection *c, size_t len, int close_after)
{
    uv_buf_t buf = uv_buf_init(c->out, (unsigned)len);
    int sent = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (sent == UV_EAGAIN)
        sent = 0;
    if (sent < 0) {
        close_connection(c);
        return;
    }
    if ((size_t)sent == len) {
        if (close_after)
            close_connection(c);
        return;
    }
    size_t rest = len - (size_t)sent;
    struct queued_write *w = malloc(sizeof *w + rest);
    if (w == NULL) {
        close_connection(c);
        return;
    }
    memcpy(w->data, c->out + sent, rest);
    w->conn = c;
    w->close_after = close_after;
    uv_buf_t queued = uv_buf_init(w->data, (unsigned)rest);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &queued, 1, on_written) != 0) {
        free(w);
        close_connection(c);
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct connection *c = handle->data;
    (void)suggested;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof c->in - c->in_len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct connection *c = stream->data;
    (void)buf;
    if (nread < 0) {
        close_connection(c); /* EOF or a reset */
        return;
    }
    if (c->closing)
        return; /* a last response is on its way; the rest is ignored */
    c->in_len += (size_t)nread;
    for (;;) {
        size_t out_len = 0;
        c->closing = http_serve(c->in, &c->in_len, c->out, &out_len, OUT_CAP);
        if (out_len == 0)
            return;
        send_out(c, out_len, c->closing);
        if (c->closing) {
            uv_read_stop(stream);
            return;
        }
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status != 0)
        return;
    struct connection *c = malloc(sizeof *c);
    if (c == NULL)
        return;
    c->closing = 0;
    c->in_len = 0;
    uv_tcp_init(listener->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        close_connection(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        close_connection(c);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (uv_is_closing(handle))
        return;
    /* Connections own their memory; the listener and signals are static. */
    uv_close(handle, handle->type == UV_TCP && handle != (uv_handle_t *)&server ? on_closed
                                                                              : NULL);
}

static void on_stop_signal(uv_signal_t *handle, int signum)
{
    (void)signum;
    uv_walk(handle->loop, close_any, NULL);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    if (port < 0 || port > 65535) {
        fprintf(stderr, "usage: http_uv [port]\n");
        return 2;
    }
    uv_loop_t *loop = uv_default_loop();
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &server);
    server.data = NULL;
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    if (rc != 0) {
        fprintf(stderr, "http_uv: listen: %s\n", uv_strerror(rc));
        return 1;
    }
    int signums[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(loop, &stop_signals[i]);
        uv_signal_start(&stop_signals[i], on_stop_signal, signums[i]);
    }
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    printf("listening on 127.0.0.1:%d\n", ntohs(bound.sin_port));
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}

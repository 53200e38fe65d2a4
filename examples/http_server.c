/*
 * http_server: a small HTTP/1.1 keep-alive server on vrt's ReactorRuntime.
 *
 *   http_server [port]     listen on 127.0.0.1:port (0, the default, picks
 *                          a free port); prints "listening on 127.0.0.1:PORT"
 *
 * Every GET is answered with a fixed small body (examples/http.h), with
 * keep-alive and pipelining.  One task accepts connections; each connection
 * is a task that reads, answers every complete request, writes, and parks
 * on its socket whenever the kernel has nothing for it.  SIGINT or SIGTERM
 * stops the server cleanly: every connection is shut down, every task
 * finishes and every byte of memory is given back before exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "vrt.h"

#define OUT_CAP 16384
#define MAX_CONNECTIONS 65536

struct server;

struct connection {
    struct server *server;
    int fd;
    int closing;  /* close once out is sent */
    int drained;  /* the last read left the socket empty: wait, do not read */
    size_t in_len;
    size_t out_len;
    size_t out_sent;
    struct connection *prev, *next; /* the server's list, for shutdown */
    char in[HTTP_MAX_REQUEST];
    char out[OUT_CAP];
};

struct server {
    vrt_reactor_runtime_t reactor;
    int listen_fd;
    int stop_fd; /* read end of the pipe the signal handler writes */
    struct connection *connections;
};

static int stop_write_fd = -1;

static void on_stop_signal(int signo)
{
    (void)signo;
    int saved = errno;
    char byte = 's';
    (void)!write(stop_write_fd, &byte, 1);
    errno = saved;
}

/* The socket leaves the loop before it is closed: its number will be reused
 * by the next accept. */
static void forget_fd(struct server *server, int fd)
{
    vrt_event_loop_t *loop = vrt_reactor_runtime_get_event_loop(&server->reactor);
    vrt_event_loop_deregister(loop, fd, VRT_EVFILT_READ);
    vrt_event_loop_deregister(loop, fd, VRT_EVFILT_WRITE);
    close(fd);
}

static int64_t connection_finish(struct connection *c)
{
    forget_fd(c->server, c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->server->connections = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    return vrt_poll_ready(0);
}

static int64_t park(struct connection *c, int64_t (*wait)(vrt_reactor_runtime_t *, int64_t))
{
    if (wait(&c->server->reactor, c->fd) != 0) {
        perror("http_server: wait");
        return connection_finish(c);
    }
    return vrt_poll_pending();
}

/* One connection: flush, answer what is buffered, read more; park when
 * the socket cannot move. */
static int64_t poll_connection(int64_t future_ptr)
{
    struct connection *c = (struct connection *)(intptr_t)future_ptr;
    for (;;) {
        if (c->out_sent < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
                             MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return park(c, vrt_reactor_runtime_wait_writable);
            if (n < 0)
                return connection_finish(c); /* the peer went away */
            c->out_sent += (size_t)n;
            continue;
        }
        c->out_len = c->out_sent = 0;
        if (c->closing)
            return connection_finish(c);
        c->closing = http_serve(c->in, &c->in_len, c->out, &c->out_len, OUT_CAP);
        if (c->out_len > 0)
            continue;
        if (c->drained) {
            c->drained = 0;
            return park(c, vrt_reactor_runtime_wait_readable);
        }
        size_t room = sizeof c->in - c->in_len;
        ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return park(c, vrt_reactor_runtime_wait_readable);
        if (n <= 0)
            return connection_finish(c); /* EOF or a reset */
        c->in_len += (size_t)n;
        c->drained = (size_t)n < room;
    }
}

static void start_connection(struct server *server, int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct connection *c = malloc(sizeof *c);
    if (c == NULL) {
        close(fd);
        return;
    }
    c->server = server;
    c->fd = fd;
    c->closing = c->drained = 0;
    c->in_len = c->out_len = c->out_sent = 0;
    vrt_join_handle_t h = vrt_reactor_runtime_spawn(&server->reactor, (int64_t)(intptr_t)c,
                                                    poll_connection);
    if (h.task_ptr == NULL) {
        perror("http_server: spawn"); /* EAGAIN: at MAX_CONNECTIONS */
        close(fd);
        free(c);
        return;
    }
    vrt_join_handle_release(&h); /* detached: the node is recycled when it ends */
    c->prev = NULL;
    c->next = server->connections;
    if (c->next != NULL)
        c->next->prev = c;
    server->connections = c;
}

/* Shuts every connection down: each wakes, reads EOF and finishes. */
static int64_t stop_server(struct server *server)
{
    for (struct connection *c = server->connections; c != NULL; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    forget_fd(server, server->listen_fd);
    forget_fd(server, server->stop_fd);
    return vrt_poll_ready(0);
}

/* The acceptor: takes every pending connection, then waits for more or
 * for the stop signal. */
static int64_t poll_acceptor(int64_t future_ptr)
{
    struct server *server = (struct server *)(intptr_t)future_ptr;
    char byte;
    if (read(server->stop_fd, &byte, 1) == 1)
        return stop_server(server);
    for (;;) {
        int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            start_connection(server, fd);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        if (errno != EINTR && errno != ECONNABORTED) {
            perror("http_server: accept4");
            break; /* EMFILE and the like: try again on the next wake */
        }
    }
    if (vrt_reactor_runtime_wait_readable(&server->reactor, server->listen_fd) != 0 ||
        vrt_reactor_runtime_wait_readable(&server->reactor, server->stop_fd) != 0) {
        perror("http_server: wait");
        return stop_server(server);
    }
    return vrt_poll_pending();
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1024) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    return ntohs(addr.sin_port);
}

static int install_stop_signals(int *read_fd)
{
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    *read_fd = fds[0];
    stop_write_fd = fds[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    if (port < 0 || port > 65535) {
        fprintf(stderr, "usage: http_server [port]\n");
        return 2;
    }
    struct server server = {.connections = NULL};
    server.listen_fd = listen_on(port);
    if (server.listen_fd < 0) {
        perror("http_server: listen");
        return 1;
    }
    if (install_stop_signals(&server.stop_fd) != 0) {
        perror("http_server: signals");
        return 1;
    }
    server.reactor = vrt_reactor_runtime_new();
    if (server.reactor.event_loop == NULL) {
        perror("http_server: vrt_reactor_runtime_new");
        return 1;
    }
    vrt_runtime_set_max_tasks(&server.reactor.core, MAX_CONNECTIONS + 1);
    vrt_join_handle_t acceptor = vrt_reactor_runtime_spawn(
        &server.reactor, (int64_t)(intptr_t)&server, poll_acceptor);
    if (acceptor.task_ptr == NULL) {
        perror("http_server: spawn");
        return 1;
    }
    vrt_join_handle_release(&acceptor);
    printf("listening on 127.0.0.1:%d\n", bound_port(server.listen_fd));
    fflush(stdout);
    int rc = vrt_reactor_runtime_run(&server.reactor) == 0 ? 0 : 1;
    if (rc != 0)
        perror("http_server: vrt_reactor_runtime_run");
    vrt_reactor_runtime_free(&server.reactor);
    close(stop_write_fd);
    return rc;
}

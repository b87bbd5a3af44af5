/*
 * loadgen: a closed-loop load generator for the inferd benchmarks, written in C so that it is never the bottleneck.
 *
 * N connections are driven by one epoll loop; each has exactly one request in flight (closed loop): it sends a
 * request, waits for the complete reply, records the latency into a log-linear histogram (< 0.8% relative error)
 * and sends the next one at once. Two modes:
 *
 *   resp  one RESP command per request, built from the arguments after "--". In every argument "__user__" is
 *         replaced by a random user id in [0, keyspace) (the same id everywhere in one request), an argument equal
 *         to "__rand_float__" by a random decimal in [0, 1), and one equal to "__tx_blob__" by --tx-floats random
 *         float32 values in binary.
 *   peer  the two-hop stack: "GET <prefix><user>" to a Redis server (RESP), then "POST <path>" over HTTP/1.1
 *         keep-alive to a model server with body = --tx-floats random float32 values followed by the bytes that
 *         GET returned; one request = both hops.
 *
 * Requests that complete during --warmup seconds are not recorded; then requests completing during --duration
 * seconds are. Prints one JSON object on stdout. Loopback use only (it connects to --host, 127.0.0.1 by default).
 *
 * Build: gcc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------- histogram: values in ns; exact below 256, then 128 sub-buckets per power of two ---------- */
#define SUB_BITS 7
#define SUB_COUNT (1 << SUB_BITS)
#define HIST_SIZE (SUB_COUNT * 2 + SUB_COUNT * 48)

typedef struct {
    uint64_t counts[HIST_SIZE];
    uint64_t total, min, max;
    double sum;
} histogram;

static int hist_index(uint64_t v) {
    if (v < 2 * SUB_COUNT) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - SUB_BITS;
    int idx = SUB_COUNT * shift + (int)(v >> shift);
    return idx < HIST_SIZE ? idx : HIST_SIZE - 1;
}

static double hist_value(int idx) {
    if (idx < 2 * SUB_COUNT) return (double)idx;
    int shift = idx / SUB_COUNT - 1;
    uint64_t q = (uint64_t)(idx - SUB_COUNT * shift);
    return (double)(q << shift) + (double)(1ULL << shift) / 2.0;
}

static void hist_record(histogram *h, uint64_t v) {
    h->counts[hist_index(v)]++;
    if (h->total == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->total++;
    h->sum += (double)v;
}

static double hist_percentile(const histogram *h, double p) {
    if (h->total == 0) return 0.0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->total + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_SIZE; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

/* ---------- small helpers ---------- */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static double rng_unit(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

typedef struct {
    char *data;
    size_t len, cap;
} buffer;

static void buf_reserve(buffer *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) die("out of memory");
    b->cap = cap;
}
static void buf_append(buffer *b, const void *p, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void buf_printf(buffer *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_append(b, tmp, (size_t)n);
}
static void buf_consume(buffer *b, size_t n) {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ---------- RESP reply parsing: is a complete reply at buf[0..len)? ---------- */
/* Returns bytes consumed by one complete reply, 0 if incomplete, -1 if malformed. Sets *err if any element is an
 * error. If bulk_out is given and the top-level reply is a bulk string, points it at the payload. */
static long resp_reply(const char *buf, size_t len, int *err, const char **bulk_out, long *bulk_len, int depth) {
    if (len < 3) return 0;
    const char *eol = memchr(buf, '\r', len);
    if (!eol || (size_t)(eol - buf) + 2 > len) return 0;
    long head = (long)(eol - buf) + 2;
    char type = buf[0];
    if (type == '+' || type == ':' || type == ',' || type == '_' || type == '#' || type == '(') return head;
    if (type == '-') {
        *err = 1;
        return head;
    }
    long n = strtol(buf + 1, NULL, 10);
    if (type == '$' || type == '=' || type == '!') {
        if (type == '!') *err = 1;
        if (n < 0) return head;
        if ((size_t)(head + n + 2) > len) return 0;
        if (bulk_out && depth == 0) {
            *bulk_out = buf + head;
            *bulk_len = n;
        }
        return head + n + 2;
    }
    if (type == '*' || type == '~' || type == '>' || type == '%') {
        if (n < 0) return head;
        if (type == '%') n *= 2;
        long off = head;
        for (long i = 0; i < n; i++) {
            long used = resp_reply(buf + off, len - (size_t)off, err, NULL, NULL, depth + 1);
            if (used <= 0) return used;
            off += used;
        }
        return off;
    }
    return -1;
}

/* ---------- HTTP/1.1 response parsing ---------- */
/* Returns bytes consumed by one complete response, 0 if incomplete, -1 if malformed; *status gets the code. */
static long http_response(const char *buf, size_t len, int *status) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    long head = (long)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long body = -1;
    const char *p = buf;
    while (p < end) {
        const char *nl = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!nl) break;
        if ((size_t)(nl - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) body = strtol(p + 15, NULL, 10);
        p = nl + 2;
    }
    if (body < 0) return -1;
    if ((size_t)(head + body) > len) return 0;
    return head + body;
}

/* ---------- configuration ---------- */
enum { MODE_RESP, MODE_PEER };
typedef struct {
    int mode, clients, port, http_port, tx_floats;
    long keyspace;
    double duration, warmup;
    const char *host, *get_prefix, *http_path;
    int argc;
    char **argv;
} options;
static options opt;

/* ---------- connections ---------- */
enum { HOP_RESP = 0, HOP_HTTP = 1 };
typedef struct conn {
    int fd[2];
    buffer out[2], in[2];
    size_t out_off[2];
    int hop;
    uint64_t started;
    long user;
    float tx[1024];
} conn;

static histogram hist;
static uint64_t errors, warm_requests;
static char first_error[512];
static int epfd;

/* Keeps the text of the first failure for the report; finish_request counts failures inside the window. */
static void note_error(const char *what, const char *detail, size_t n) {
    if (first_error[0]) return;
    size_t cap = sizeof first_error - 1, used = (size_t)snprintf(first_error, cap, "%s: ", what);
    for (size_t i = 0; i < n && used < cap; i++) {
        char ch = detail[i];
        first_error[used++] = (ch >= 32 && ch < 127 && ch != '"' && ch != '\\') ? ch : '.';
    }
    first_error[used] = 0;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) die("bad host %s", opt.host);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect to port %d: %s", port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) die("nonblock: %s", strerror(errno));
    return fd;
}

static void watch(conn *c, int hop, int want_write) {
    struct epoll_event ev = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0), .data.u64 = 0};
    ev.data.u64 = ((uint64_t)(uintptr_t)c) | (uint64_t)hop;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd[hop], &ev) != 0) die("epoll_ctl: %s", strerror(errno));
}

static void flush_out(conn *c, int hop) {
    buffer *b = &c->out[hop];
    while (c->out_off[hop] < b->len) {
        ssize_t n = write(c->fd[hop], b->data + c->out_off[hop], b->len - c->out_off[hop]);
        if (n > 0) {
            c->out_off[hop] += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, hop, 1);
            return;
        }
        if (n < 0 && errno == EINTR) continue;
        die("write: %s", n < 0 ? strerror(errno) : "connection closed");
    }
    b->len = 0;
    c->out_off[hop] = 0;
}

static void append_bulk(buffer *b, const char *p, size_t n) {
    buf_printf(b, "$%zu\r\n", n);
    buf_append(b, p, n);
    buf_append(b, "\r\n", 2);
}

static void append_arg(conn *c, buffer *b, const char *arg) {
    if (strcmp(arg, "__rand_float__") == 0) {
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%.6f", rng_unit());
        append_bulk(b, tmp, (size_t)n);
        return;
    }
    if (strcmp(arg, "__tx_blob__") == 0) {
        for (int i = 0; i < opt.tx_floats; i++) c->tx[i] = (float)rng_unit();
        append_bulk(b, (const char *)c->tx, sizeof(float) * (size_t)opt.tx_floats);
        return;
    }
    const char *hit = strstr(arg, "__user__");
    if (!hit) {
        append_bulk(b, arg, strlen(arg));
        return;
    }
    char tmp[4096];
    size_t used = 0;
    const char *p = arg;
    while (hit) {
        size_t pre = (size_t)(hit - p);
        if (used + pre + 24 >= sizeof tmp) die("argument too long");
        memcpy(tmp + used, p, pre);
        used += pre;
        used += (size_t)snprintf(tmp + used, sizeof tmp - used, "%ld", c->user);
        p = hit + 8;
        hit = strstr(p, "__user__");
    }
    size_t rest = strlen(p);
    if (used + rest >= sizeof tmp) die("argument too long");
    memcpy(tmp + used, p, rest);
    append_bulk(b, tmp, used + rest);
}

static void send_request(conn *c) {
    c->started = now_ns();
    c->user = (long)(rng_next() % (uint64_t)opt.keyspace);
    c->hop = HOP_RESP;
    buffer *b = &c->out[HOP_RESP];
    if (opt.mode == MODE_RESP) {
        buf_printf(b, "*%d\r\n", opt.argc);
        for (int i = 0; i < opt.argc; i++) append_arg(c, b, opt.argv[i]);
    } else {
        char key[512];
        int n = snprintf(key, sizeof key, "%s%ld", opt.get_prefix, c->user);
        buf_printf(b, "*2\r\n$3\r\nGET\r\n");
        append_bulk(b, key, (size_t)n);
    }
    flush_out(c, HOP_RESP);
}

static void send_post(conn *c, const char *ref, long ref_len) {
    c->hop = HOP_HTTP;
    size_t tx_len = sizeof(float) * (size_t)opt.tx_floats;
    for (int i = 0; i < opt.tx_floats; i++) c->tx[i] = (float)rng_unit();
    buffer *b = &c->out[HOP_HTTP];
    buf_printf(b, "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/octet-stream\r\n"
               "Content-Length: %zu\r\n\r\n", opt.http_path, opt.host, opt.http_port, tx_len + (size_t)ref_len);
    buf_append(b, c->tx, tx_len);
    buf_append(b, ref, (size_t)ref_len);
    flush_out(c, HOP_HTTP);
}

static uint64_t measure_from, measure_to;

static void finish_request(conn *c, int failed) {
    uint64_t t = now_ns();
    if (t >= measure_from && t < measure_to) {
        if (failed) errors++;
        else hist_record(&hist, t - c->started);
    } else if (t < measure_from) {
        warm_requests++;
    }
    send_request(c);
}

/* One reply (or partial reply) is buffered on this hop: act on everything complete. */
static void on_readable(conn *c, int hop) {
    buffer *in = &c->in[hop];
    for (;;) {
        buf_reserve(in, 65536);
        ssize_t n = read(c->fd[hop], in->data + in->len, in->cap - in->len);
        if (n > 0) {
            in->len += (size_t)n;
            if (in->len < in->cap) break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        die("server closed the connection (%s)", n < 0 ? strerror(errno) : "EOF");
    }
    while (in->len > 0) {
        if (hop == HOP_RESP) {
            int err = 0;
            const char *bulk = NULL;
            long bulk_len = 0;
            long used = resp_reply(in->data, in->len, &err, &bulk, &bulk_len, 0);
            if (used < 0) die("malformed RESP reply");
            if (used == 0) return;
            if (err) note_error("error reply", in->data, (size_t)used < 200 ? (size_t)used : 200);
            if (opt.mode == MODE_PEER && !err) {
                if (!bulk) {
                    note_error("GET returned no value", in->data, (size_t)used < 200 ? (size_t)used : 200);
                    buf_consume(in, (size_t)used);
                    finish_request(c, 1);
                    continue;
                }
                send_post(c, bulk, bulk_len);
                buf_consume(in, (size_t)used);
                continue;
            }
            buf_consume(in, (size_t)used);
            finish_request(c, err);
        } else {
            int status = 0;
            long used = http_response(in->data, in->len, &status);
            if (used < 0) die("malformed HTTP response");
            if (used == 0) return;
            int failed = status != 200;
            if (failed) note_error("HTTP status", in->data, (size_t)used < 200 ? (size_t)used : 200);
            buf_consume(in, (size_t)used);
            finish_request(c, failed);
        }
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --mode resp|peer --port P [--http-port H] [--clients N] [--duration S] [--warmup S]\n"
            "               [--keyspace K] [--seed X] [--host IP] [--get-prefix P] [--http-path /p]\n"
            "               [--tx-floats 30] [-- command args...]\n");
    exit(2);
}

static void parse_options(int argc, char **argv) {
    opt = (options){.mode = MODE_RESP, .clients = 1, .duration = 5, .warmup = 1, .keyspace = 1, .tx_floats = 30,
                    .host = "127.0.0.1", .get_prefix = "ref:", .http_path = "/score"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            opt.argc = argc - i - 1;
            opt.argv = argv + i + 1;
            break;
        }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (strcmp(a, "--mode") == 0) opt.mode = strcmp(v, "peer") == 0 ? MODE_PEER : MODE_RESP;
        else if (strcmp(a, "--port") == 0) opt.port = atoi(v);
        else if (strcmp(a, "--http-port") == 0) opt.http_port = atoi(v);
        else if (strcmp(a, "--clients") == 0) opt.clients = atoi(v);
        else if (strcmp(a, "--duration") == 0) opt.duration = atof(v);
        else if (strcmp(a, "--warmup") == 0) opt.warmup = atof(v);
        else if (strcmp(a, "--keyspace") == 0) opt.keyspace = atol(v);
        else if (strcmp(a, "--seed") == 0) rng_state = strtoull(v, NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
        else if (strcmp(a, "--host") == 0) opt.host = v;
        else if (strcmp(a, "--get-prefix") == 0) opt.get_prefix = v;
        else if (strcmp(a, "--http-path") == 0) opt.http_path = v;
        else if (strcmp(a, "--tx-floats") == 0) opt.tx_floats = atoi(v);
        else usage();
    }
    if (opt.port <= 0 || opt.clients <= 0 || opt.keyspace <= 0 || opt.duration <= 0) usage();
    if (opt.tx_floats < 0 || opt.tx_floats > 1024) die("--tx-floats must be 0..1024");
    if (opt.mode == MODE_RESP && opt.argc == 0) die("resp mode needs a command after --");
    if (opt.mode == MODE_PEER && opt.http_port <= 0) die("peer mode needs --http-port");
}

static void add_watch(conn *c, int hop) {
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = ((uint64_t)(uintptr_t)c) | (uint64_t)hop;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd[hop], &ev) != 0) die("epoll_ctl: %s", strerror(errno));
}

static void print_report(double measured_s) {
    double rps = measured_s > 0 ? (double)hist.total / measured_s : 0.0;
    printf("{\"mode\": \"%s\", \"clients\": %d, \"duration_s\": %.3f, \"warmup_s\": %.3f, "
           "\"requests\": %llu, \"errors\": %llu, \"warmup_requests\": %llu, \"rps\": %.1f, ",
           opt.mode == MODE_PEER ? "peer" : "resp", opt.clients, measured_s, opt.warmup,
           (unsigned long long)hist.total, (unsigned long long)errors, (unsigned long long)warm_requests, rps);
    printf("\"latency_us\": {\"mean\": %.2f, \"min\": %.2f, \"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, "
           "\"p999\": %.2f, \"max\": %.2f}, ",
           hist.total ? hist.sum / (double)hist.total / 1000.0 : 0.0, (double)hist.min / 1000.0,
           hist_percentile(&hist, 50) / 1000.0, hist_percentile(&hist, 90) / 1000.0,
           hist_percentile(&hist, 99) / 1000.0, hist_percentile(&hist, 99.9) / 1000.0, (double)hist.max / 1000.0);
    printf("\"first_error\": \"%s\"}\n", first_error);
}

int main(int argc, char **argv) {
    parse_options(argc, argv);
    epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1: %s", strerror(errno));
    conn *conns = calloc((size_t)opt.clients, sizeof(conn));
    if (!conns) die("out of memory");
    int hops = opt.mode == MODE_PEER ? 2 : 1;
    for (int i = 0; i < opt.clients; i++) {
        conns[i].fd[HOP_RESP] = connect_to(opt.port);
        add_watch(&conns[i], HOP_RESP);
        if (hops == 2) {
            conns[i].fd[HOP_HTTP] = connect_to(opt.http_port);
            add_watch(&conns[i], HOP_HTTP);
        }
    }
    uint64_t start = now_ns();
    measure_from = start + (uint64_t)(opt.warmup * 1e9);
    measure_to = measure_from + (uint64_t)(opt.duration * 1e9);
    for (int i = 0; i < opt.clients; i++) send_request(&conns[i]);
    struct epoll_event events[256];
    while (now_ns() < measure_to) {
        int n = epoll_wait(epfd, events, 256, 100);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            conn *c = (conn *)(uintptr_t)(events[i].data.u64 & ~(uint64_t)1);
            int hop = (int)(events[i].data.u64 & 1);
            if (events[i].events & EPOLLOUT) {
                watch(c, hop, 0);
                flush_out(c, hop);
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c, hop);
        }
    }
    uint64_t end = now_ns();
    double measured = (double)((end < measure_to ? end : measure_to) - measure_from) / 1e9;
    print_report(measured);
    for (int i = 0; i < opt.clients; i++)
        for (int h = 0; h < hops; h++) close(conns[i].fd[h]);
    return 0;
}

/*
 * Helper for scrape_conformance.sh.
 *
 *   scrape_check parse promtext|openmetrics FILE
 *       Parses FILE with pkg/textparse; prints "ok <series>" and exits 0, or
 *       "error <line>: <message>" and exits 1.
 *   scrape_check serve DIR PORTFILE SECONDS
 *       A minimal HTTP/1.0 file server on 127.0.0.1 (random port, written to
 *       PORTFILE) for Prometheus to scrape: GET /NAME serves DIR/NAME, with
 *       Content-Type application/openmetrics-text for *.om and the text
 *       format's text/plain otherwise.  Exits after SECONDS.
 *   scrape_check freeport
 *       Prints a TCP port on 127.0.0.1 that was free a moment ago.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pkg/textparse/textparse.h"
#include "pkg/util/fs.h"
#include "pkg/util/mem.h"

static int
parse(const char *fmt, const char *file)
{
    char *buf;
    size_t len;
    if (ts_fs_read_file(file, 64u << 20, &buf, &len) != TS_OK) {
        printf("error 0: cannot read %s\n", file);
        return 2;
    }
    ts_textparse *p;
    ts_textparse_new(&p, strcmp(fmt, "openmetrics") == 0 ? TS_TP_OPENMETRICS : TS_TP_PROMTEXT, buf,
                     len, NULL);
    int series = 0, rc = 0;
    for (;;) {
        ts_tp_entry e = ts_textparse_next(p);
        if (e == TS_TP_EOF)
            break;
        if (e == TS_TP_ERROR) {
            printf("error %d: %s\n", ts_textparse_error(p)->line, ts_textparse_error(p)->msg);
            rc = 1;
            break;
        }
        series += e == TS_TP_SERIES;
    }
    if (rc == 0)
        printf("ok %d\n", series);
    ts_textparse_free(p);
    ts_free(buf);
    return rc;
}

static void
serve_one(int c, const char *dir)
{
    char req[4096];
    size_t n = 0;
    /* read the request head (bounded) */
    while (n < sizeof(req) - 1) {
        struct pollfd pfd = {.fd = c, .events = POLLIN};
        if (poll(&pfd, 1, 2000) <= 0)
            return;
        ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char name[256];
    if (sscanf(req, "GET /%255[^ ?]", name) != 1 || strchr(name, '/') || name[0] == '.') {
        const char *nf = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        ts_fs_write_all(c, nf, strlen(nf));
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *body;
    size_t blen;
    if (ts_fs_read_file(path, 16u << 20, &body, &blen) != TS_OK) {
        const char *nf = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        ts_fs_write_all(c, nf, strlen(nf));
        return;
    }
    size_t nl = strlen(name);
    const char *ct = nl > 3 && strcmp(name + nl - 3, ".om") == 0
                         ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                         : "text/plain; version=0.0.4; charset=utf-8";
    char head[256];
    int hl =
        snprintf(head, sizeof(head),
                 "HTTP/1.0 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", ct, blen);
    ts_fs_write_all(c, head, (size_t)hl);
    ts_fs_write_all(c, body, blen);
    ts_free(body);
}

static int
serve(const char *dir, const char *portfile, int seconds)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 64) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0) {
        perror("scrape_check serve");
        return 1;
    }
    char port[16];
    int pl = snprintf(port, sizeof(port), "%d\n", ntohs(a.sin_port));
    if (ts_fs_write_file_atomic(portfile, port, (size_t)pl) != TS_OK)
        return 1;
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        if (poll(&pfd, 1, 500) <= 0)
            continue;
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        serve_one(c, dir);
        close(c);
    }
    close(s);
    return 0;
}

static int
freeport(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0)
        return 1;
    printf("%d\n", ntohs(a.sin_port));
    close(s);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "freeport") == 0)
        return freeport();
    if (argc == 4 && strcmp(argv[1], "parse") == 0)
        return parse(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "serve") == 0) {
        char *end;
        errno = 0;
        long secs = strtol(argv[4], &end, 10);
        if (errno != 0 || end == argv[4] || *end != '\0' || secs <= 0 || secs > 86400) {
            fprintf(stderr, "scrape_check: SECONDS must be an integer in 1..86400\n");
            return 2;
        }
        return serve(argv[2], argv[3], (int)secs);
    }
    fprintf(stderr, "usage: scrape_check parse promtext|openmetrics FILE\n"
                    "       scrape_check serve DIR PORTFILE SECONDS\n");
    return 2;
}

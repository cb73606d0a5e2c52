/*
 * dns_sd lookups (Prometheus discovery/dns), blocking: the manager runs
 * them on the libuv thread pool.
 *
 *   A / AAAA  getaddrinfo restricted to AF_INET / AF_INET6 (A+AAAA: both,
 *             for Thanos-style dns+HOST:PORT store addresses); each address
 *             becomes a target "<ip>:<port>" ("[<ip6>]:<port>"), deduplicated
 *             and in resolver order.
 *   SRV       res_nquery(T_SRV) with a private resolver state (thread-safe),
 *             answers parsed with ns_parserr; each record becomes
 *             "<target>:<port>" with __meta_dns_srv_record_target (the
 *             record's FQDN with its trailing dot) and
 *             __meta_dns_srv_record_port.
 *   MX        the same with T_MX: "<exchange>:<configured port>" and
 *             __meta_dns_mx_record_target.
 *
 * Every target carries __meta_dns_name = the name looked up; the group
 * source is the name.
 */
#include "pkg/discovery/discovery.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "pkg/util/mem.h"

static void
add_target(ts_target_group *g, size_t *cap, const char *addr, const char *name,
           const char *srv_target, const char *srv_port, const char *mx_target)
{
    for (size_t i = 0; i < g->ntargets; i++)
        if (strcmp(ts_labels_get(g->targets[i], "__address__"), addr) == 0)
            return;
    ts_labels_builder b;
    ts_labels_builder_init(&b, NULL);
    ts_labels_builder_set(&b, "__address__", addr);
    ts_labels_builder_set(&b, "__meta_dns_name", name);
    if (srv_target)
        ts_labels_builder_set(&b, "__meta_dns_srv_record_target", srv_target);
    if (srv_port)
        ts_labels_builder_set(&b, "__meta_dns_srv_record_port", srv_port);
    if (mx_target)
        ts_labels_builder_set(&b, "__meta_dns_mx_record_target", mx_target);
    TS_GROW(g->targets, *cap, g->ntargets + 1);
    g->targets[g->ntargets++] = ts_labels_builder_build(&b, NULL);
    ts_labels_builder_fini(&b);
}

static int
lookup_addr(const char *name, int family, int port, ts_target_group *g, size_t *cap, ts_error *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0)
        return ts_error_set(err, TS_ENOTFOUND, "lookup %s: %s", name, gai_strerror(rc));
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 16];
        if (ai->ai_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof(ip));
            snprintf(addr, sizeof(addr), "%s:%d", ip, port);
        } else if (ai->ai_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, ip, sizeof(ip));
            snprintf(addr, sizeof(addr), "[%s]:%d", ip, port);
        } else {
            continue;
        }
        add_target(g, cap, addr, name, NULL, NULL, NULL);
    }
    freeaddrinfo(res);
    return TS_OK;
}

static int
lookup_srv(const char *name, bool mx, int mx_port, const char *server_ip, int server_port,
           ts_target_group *g, size_t *cap, ts_error *err)
{
    struct __res_state st;
    memset(&st, 0, sizeof(st));
    if (res_ninit(&st) != 0)
        return ts_error_set(err, TS_EIO, "lookup %s: cannot initialise the resolver", name);
    if (server_ip) {
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)server_port);
        if (inet_pton(AF_INET, server_ip, &sa.sin_addr) != 1) {
            res_nclose(&st);
            return ts_error_set(err, TS_EINVAL, "bad DNS server address %s", server_ip);
        }
        st.nsaddr_list[0] = sa;
        st.nscount = 1;
        st.retry = 1;
    }
    unsigned char ans[NS_MAXMSG];
    const char *tname = mx ? "MX" : "SRV";
    int len = res_nquery(&st, name, ns_c_in, mx ? ns_t_mx : ns_t_srv, ans, sizeof(ans));
    int rc = TS_OK;
    if (len < 0) {
        rc = ts_error_set(err, TS_ENOTFOUND, "lookup %s %s: %s", name, tname,
                          hstrerror(st.res_h_errno));
        goto out;
    }
    ns_msg msg;
    if (ns_initparse(ans, len, &msg) != 0) {
        rc = ts_error_set(err, TS_ECORRUPT, "lookup %s %s: malformed answer", name, tname);
        goto out;
    }
    int count = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < count; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != (mx ? ns_t_mx : ns_t_srv))
            continue;
        const unsigned char *rd = ns_rr_rdata(rr);
        /* SRV: priority, weight, port, target; MX: preference, exchange */
        size_t skip = mx ? 2 : 6;
        if (ns_rr_rdlen(rr) < skip + 1)
            continue;
        unsigned port = mx ? (unsigned)mx_port : (((unsigned)rd[4] << 8) | rd[5]);
        char host[NS_MAXDNAME];
        if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), rd + skip, host, sizeof(host)) < 0)
            continue;
        char fqdn[NS_MAXDNAME + 2], addr[NS_MAXDNAME + 16], portstr[8];
        snprintf(fqdn, sizeof(fqdn), "%s.", host);
        snprintf(portstr, sizeof(portstr), "%u", port);
        if (strchr(host, ':'))
            snprintf(addr, sizeof(addr), "[%s]:%u", host, port);
        else
            snprintf(addr, sizeof(addr), "%s:%u", host, port);
        if (mx)
            add_target(g, cap, addr, name, NULL, NULL, fqdn);
        else
            add_target(g, cap, addr, name, fqdn, portstr, NULL);
    }
out:
    res_nclose(&st);
    return rc;
}

int
ts_discovery_dns_lookup(const char *name, const char *type, int port, ts_target_group *out,
                        ts_error *err)
{
    return ts_discovery_dns_lookup_at(NULL, 0, name, type, port, out, err);
}

int
ts_discovery_dns_lookup_at(const char *server_ip, int server_port, const char *name,
                           const char *type, int port, ts_target_group *out, ts_error *err)
{
    memset(out, 0, sizeof(*out));
    size_t cap = 0;
    int rc;
    if (strcmp(type, "A") == 0)
        rc = lookup_addr(name, AF_INET, port, out, &cap, err);
    else if (strcmp(type, "AAAA") == 0)
        rc = lookup_addr(name, AF_INET6, port, out, &cap, err);
    else if (strcmp(type, "A+AAAA") == 0)
        rc = lookup_addr(name, AF_UNSPEC, port, out, &cap, err);
    else if (strcmp(type, "SRV") == 0)
        rc = lookup_srv(name, false, 0, server_ip, server_port, out, &cap, err);
    else if (strcmp(type, "MX") == 0)
        rc = lookup_srv(name, true, port, server_ip, server_port, out, &cap, err);
    else
        rc = ts_error_set(err, TS_EUNSUPPORTED, "dns_sd: record type %s is not supported", type);
    if (rc) {
        ts_target_group_fini(out);
        return rc;
    }
    out->source = ts_strdup(name);
    out->labels = ts_labels_dup(ts_labels_empty());
    return TS_OK;
}

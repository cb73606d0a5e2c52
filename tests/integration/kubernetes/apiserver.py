#!/usr/bin/env python3
"""A stand-in for kube-apiserver (Debian has none) for the kubernetes_sd tests.

It serves the list and watch endpoints Prometheus' (and Tessera's)
kubernetes_sd uses, shaped as the real API server answers them:

  GET <collection>?limit=..&resourceVersion=..[&continue=..]   a List object
      {"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":..},
       "items":[...]}; a list page of at most `limit` items with
      metadata.continue when more follow.
  GET <collection>?watch=true&resourceVersion=..&allowWatchBookmarks=true
      &timeoutSeconds=..   HTTP 200, Transfer-Encoding: chunked, a stream of
      {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}\n events,
      each split over two chunks; a BOOKMARK about every second.
  Errors as metav1.Status objects (403 Forbidden, 410 Gone / ERROR events
  with code 410 "Expired").

Every request is checked (path shape, query parameters, Accept and
Authorization headers: the bearer token must equal the token file's current
contents) and each problem is recorded; GET /_test/problems lists them.
Usage: apiserver.py PORT TOKEN_FILE [CERT KEY] (HTTPS when CERT and KEY are
given).  Test controls (POST /_test/...): object (add or replace one object: body
{"kind": plural, "object": {...}}), delete (body {"kind","namespace","name"}),
expire (compact: every current resourceVersion becomes too old), drop (cut
every open watch connection without ending the stream), forbid (body
{"namespace": ns}: 403 for everything in it), allow (body {"namespace": ns}:
undoes forbid, as when the RBAC rule is added).  GET /_test/requests lists
what was asked.
"""
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GROUPS = {
    "nodes": ("/api/v1", "NodeList", "v1", False),
    "pods": ("/api/v1", "PodList", "v1", True),
    "services": ("/api/v1", "ServiceList", "v1", True),
    "endpoints": ("/api/v1", "EndpointsList", "v1", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "EndpointSliceList", "discovery.k8s.io/v1", True),
    "ingresses": ("/apis/networking.k8s.io/v1", "IngressList", "networking.k8s.io/v1", True),
}
KIND = {"nodes": "Node", "pods": "Pod", "services": "Service", "endpoints": "Endpoints",
        "endpointslices": "EndpointSlice", "ingresses": "Ingress"}

lock = threading.Condition()
rv = 100
compacted = 0          # resourceVersions below this are gone (410)
objects = {k: {} for k in GROUPS}   # plural -> {(ns, name): obj}
events = []            # (rv, plural, type, obj)
problems = []
requests = []
forbidden = set()
watch_gen = 0          # bumped by /_test/drop
token_file = sys.argv[2]


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def parse_path(path):
    """-> (plural, namespace or "") or None."""
    for plural, (prefix, _, _, namespaced) in GROUPS.items():
        if path == f"{prefix}/{plural}":
            return plural, ""
        if namespaced and path.startswith(prefix + "/namespaces/") and path.endswith("/" + plural):
            ns = path[len(prefix + "/namespaces/"):-len("/" + plural)]
            if ns and "/" not in ns:
                return plural, ns
    return None


def bump(plural, typ, obj):
    global rv
    rv += 1
    obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
    events.append((rv, plural, typ, json.loads(json.dumps(obj))))
    lock.notify_all()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def problem(self, msg):
        with lock:
            problems.append(f"{self.command} {self.path}: {msg}")

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global compacted, rv, watch_gen
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        u = urllib.parse.urlparse(self.path)
        with lock:
            if u.path == "/_test/object":
                plural, obj = body["kind"], body["object"]
                md = obj["metadata"]
                key = (md.get("namespace", ""), md["name"])
                typ = "MODIFIED" if key in objects[plural] else "ADDED"
                objects[plural][key] = obj
                bump(plural, typ, obj)
            elif u.path == "/_test/delete":
                key = (body.get("namespace", ""), body["name"])
                obj = objects[body["kind"]].pop(key)
                bump(body["kind"], "DELETED", obj)
            elif u.path == "/_test/expire":
                rv += 1
                compacted = rv
                lock.notify_all()
            elif u.path == "/_test/drop":
                watch_gen += 1
                lock.notify_all()
            elif u.path == "/_test/forbid":
                forbidden.add(body["namespace"])
            elif u.path == "/_test/allow":
                forbidden.discard(body["namespace"])
            else:
                return self.reply(404, {})
        self.reply(200, {"rv": rv})

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/_test/problems":
            with lock:
                return self.reply(200, problems)
        if u.path == "/_test/requests":
            with lock:
                return self.reply(200, requests)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        params = {k: v[0] for k, v in q.items()}
        for k, v in q.items():
            if len(v) != 1:
                self.problem(f"parameter {k} repeated")
        auth = self.headers.get("Authorization", "")
        with open(token_file) as f:
            want = "Bearer " + f.read().strip()
        with lock:
            requests.append({"path": u.path, "params": params, "auth": auth,
                             "accept": self.headers.get("Accept", ""), "t": time.time()})
        if "application/json" not in self.headers.get("Accept", ""):
            self.problem(f"Accept {self.headers.get('Accept')!r} does not take JSON")
        if auth != want:
            self.problem(f"Authorization {auth!r}, want {want!r}")
            return self.reply(401, status(401, "Unauthorized", "Unauthorized"))
        pp = parse_path(u.path)
        if not pp:
            self.problem("unknown path")
            return self.reply(404, status(404, "NotFound", "the server could not find the requested resource"))
        plural, ns = pp
        if ns in forbidden:
            return self.reply(403, status(403, "Forbidden",
                f'{plural} is forbidden: User "system:serviceaccount:monitoring:tessera" cannot '
                f'{"watch" if params.get("watch") else "list"} resource "{plural}" in API group "" '
                f'in the namespace "{ns}"'))
        if params.get("watch") == "true":
            return self.watch(plural, ns, params)
        if "watch" in params:
            self.problem(f"watch={params['watch']!r}")
        return self.list(plural, ns, params)

    def check_common(self, params, allowed):
        for k in params:
            if k not in allowed:
                self.problem(f"unexpected parameter {k}")
        for k in ("labelSelector", "fieldSelector"):
            if k in params and params[k] == "":
                self.problem(f"empty {k}")

    def list(self, plural, ns, params):
        self.check_common(params, {"limit", "resourceVersion", "continue", "labelSelector", "fieldSelector"})
        if params.get("limit") != "500":
            self.problem(f"list limit {params.get('limit')!r}, want 500")
        if "continue" in params and "resourceVersion" in params:
            self.problem("continue together with resourceVersion")
        prefix, listkind, api, _ = GROUPS[plural]
        with lock:
            want_rv = params.get("resourceVersion")
            if want_rv not in (None, "", "0") and int(want_rv) < compacted:
                return self.reply(410, status(410, "Expired",
                    f"The resourceVersion for the provided list is too old."))
            items = [o for (ons, _), o in sorted(objects[plural].items()) if not ns or ons == ns]
            start = int(params.get("continue") or 0)
            page = items[start:start + 2]   # small pages: the client must follow continue
            md = {"resourceVersion": str(rv)}
            if start + 2 < len(items):
                md["continue"] = str(start + 2)
            self.reply(200, {"kind": listkind, "apiVersion": api, "metadata": md,
                             "items": json.loads(json.dumps(page))})

    def chunk(self, obj):
        # an event in two chunks, flushed apart: the client must put events
        # together from the stream, not expect one per read
        data = (json.dumps(obj) + "\n").encode()
        half = len(data) // 2
        for part in (data[:half], data[half:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()

    def watch(self, plural, ns, params):
        self.check_common(params, {"watch", "resourceVersion", "allowWatchBookmarks", "timeoutSeconds",
                                   "labelSelector", "fieldSelector"})
        if params.get("allowWatchBookmarks") != "true":
            self.problem("watch without allowWatchBookmarks=true")
        t = params.get("timeoutSeconds", "")
        if not t.isdigit() or not 300 <= int(t) < 600:
            self.problem(f"timeoutSeconds {t!r} not in [300, 600)")
        start = params.get("resourceVersion", "")
        if not start.isdigit():
            self.problem(f"watch resourceVersion {start!r}")
            start = "0"
        start = int(start)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        prefix, listkind, api, _ = GROUPS[plural]
        with lock:
            gen = watch_gen
        last_bookmark = time.time()
        pos = start
        try:
            while True:
                with lock:
                    if start < compacted:
                        self.chunk({"type": "ERROR", "object": status(410, "Expired",
                                    f"too old resource version: {start} ({compacted})")})
                        break
                    if watch_gen != gen:
                        self.connection.shutdown(2)   # cut, no final chunk
                        return
                    todo = [e for e in events if e[0] > pos and e[1] == plural and
                            (not ns or e[3]["metadata"].get("namespace") == ns)]
                    cur = rv   # every event up to here is in todo or not ours
                    if not todo:
                        lock.wait(0.2)
                for erv, _, typ, obj in todo:
                    o = dict(obj)
                    o["kind"], o["apiVersion"] = KIND[plural], api
                    self.chunk({"type": typ, "object": o})
                    pos = erv
                if time.time() - last_bookmark > 1:
                    pos = max(pos, cur)
                    self.chunk({"type": "BOOKMARK", "object": {"kind": KIND[plural], "apiVersion": api,
                                "metadata": {"resourceVersion": str(pos)}}})
                    last_bookmark = time.time()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    srv.daemon_threads = True
    if len(sys.argv) > 4:   # HTTPS with this certificate and key
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

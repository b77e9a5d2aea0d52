#!/usr/bin/env python3
"""Test helper: one raw HTTP/1.0 request to a daemon's control API, with full
control over Host, Origin, token and body, so tests can send what a hostile
page or a broken client would. Prints the status on the first line, then the
response headers (with --headers) and the body.

usage: apitool.py STATE_DIR METHOD PATH [options]
  --body TEXT | --body-size N   request body (N bytes of 'x')
  --host H       Host header (default: the address from api.json)
  --origin O     Origin header
  --token T | --no-token | --bearer   how the token is sent
  --cookie V     send the session cookie V (from a login link) instead
  --headers      print the response headers too
  --stream N     read an event stream for N seconds and print it
"""
import json, socket, sys, time

def main():
    state, method, path = sys.argv[1:4]
    opts = sys.argv[4:]
    def opt(name, default=None):
        return opts[opts.index(name) + 1] if name in opts else default
    ep = json.load(open(state + "/api.json"))
    hostport = ep["url"][len("http://"):].rstrip("/")
    addr, port = hostport.rsplit(":", 1)
    token = opt("--token", ep["token"])
    headers = {"Host": opt("--host", hostport)}
    if "--origin" in opts:
        headers["Origin"] = opt("--origin")
    if "--cookie" in opts:
        headers["Cookie"] = "lanspread_session_%s=%s" % (port, opt("--cookie"))
    elif "--no-token" in opts:
        pass
    elif "--bearer" in opts:
        headers["Authorization"] = "Bearer " + token
    else:
        headers["X-Lanspread-Token"] = token
    body = opt("--body", "").encode()
    if "--body-size" in opts:
        body = b"x" * int(opt("--body-size"))
    if body or method == "POST":
        headers["Content-Length"] = str(len(body))
        headers["Content-Type"] = "application/json"
    req = "%s %s HTTP/1.0\r\n" % (method, path)
    req += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    s = socket.create_connection((addr, int(port)), timeout=10)
    s.sendall(req.encode() + body)
    data = b""
    deadline = time.time() + float(opt("--stream", "10"))
    try:
        while time.time() < deadline:
            s.settimeout(max(0.05, deadline - time.time()))
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    print(lines[0].split(" ")[1] if lines and " " in lines[0] else "000")
    if "--headers" in opts:
        print("\n".join(lines[1:]))
    print(rest.decode(errors="replace"))

main()

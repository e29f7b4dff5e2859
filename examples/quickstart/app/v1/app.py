"""The quickstart app, release v1: a health endpoint that checks its database."""

import json
import os
import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v1"
DATABASE = os.environ["QUICKSTART_DB"]


def health():
    try:
        with sqlite3.connect(DATABASE) as connection:
            users = connection.execute("SELECT count(*) FROM users").fetchone()[0]
        return 200, {"status": "healthy", "version": VERSION,
                     "database": {"status": "connected", "users": users}}
    except sqlite3.Error as error:
        return 503, {"status": "unhealthy", "version": VERSION,
                     "database": {"status": "error", "error": str(error)}}


def users():
    with sqlite3.connect(DATABASE) as connection:
        rows = connection.execute("SELECT id, name, email FROM users ORDER BY id").fetchall()
    return 200, [{"id": i, "name": n, "email": e} for i, n, e in rows]


ROUTES = {"/api/health": health, "/api/users": users}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        route = ROUTES.get(self.path)
        status, body = route() if route else (404, {"error": "not found"})
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["QUICKSTART_PORT"])), Handler).serve_forever()

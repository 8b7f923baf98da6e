"""Fixtures shared by the tests: running a script as a user does, real data, a local server."""

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Real datasets live outside the project (never committed); SHARED_DATA_DIR points elsewhere.
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data"))


def run_script(script, *args, timeout=900):
    """Run one of the project's scripts in a fresh Python process, as a user would."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
    )


def run_ok(script, *args):
    """Run a script that should succeed: exit 0 and nothing on stderr but known notices."""
    result = run_script(script, *args)
    assert result.returncode == 0, result.stderr
    assert noise(result.stderr) == []  # no traceback, no TensorFlow log, no warning
    return result


def noise(stderr):
    """What a successful run printed on stderr, less matplotlib's one-time font-cache notice."""
    return [line for line in stderr.splitlines()
            if line.strip() and "building the font cache" not in line]


def shared_file(name):
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data {path} is absent (set SHARED_DATA_DIR to the folder holding {name})")
    return path


class LocalServer:
    """An HTTP server on 127.0.0.1 serving `files` (name -> bytes) and counting requests.

    `cut_after[name] = n` sends a full Content-Length but closes the connection after n bytes.
    """

    def __init__(self):
        self.files, self.cut_after, self.requests = {}, {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append(name)
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: server.cut_after.get(name, len(body))])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server():
    server = LocalServer()
    yield server
    server.close()

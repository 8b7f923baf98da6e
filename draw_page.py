"""The --draw page's server: digits drawn in the browser, read by the network mnist_dense.py
trained, exactly as own_digits.py reads a photo.

    python mnist_dense.py --draw              # http://127.0.0.1:8000/, until Ctrl-C
    python mnist_dense.py --draw --port 0     # any free port

Not in the articles.
"""

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np

from own_digits import load_digit_model, open_image, prepare_digit, read_digits
from tutorial_helpers import UserError

DRAWING_PAGE = Path(__file__).resolve().parent / "draw_digit.html"
MAX_DRAWING_BYTES = 5 * 1024 * 1024
MAX_DRAWING_PIXELS = 2000 * 2000  # the page's drawings have 280x280
REQUEST_SECONDS = 10  # a client of --draw has this long to send its request


def main(args):
    """--draw, with mnist_dense.py's flags: the page, served until Ctrl-C."""
    model = load_digit_model(args.model or args.out / "model.keras", args.out)
    serve_drawing_page(model, args.port)


## The server
# The server listens on 127.0.0.1 only, yet any program on the machine can connect to it, and
# any web page the user visits can make the browser send it requests. So it checks who asks,
# bounds what it reads (bytes, pixels, seconds), and lets no client hold it up.


def serve_drawing_page(model, port):
    """Serve draw_digit.html on 127.0.0.1 until Ctrl-C; the model reads each drawing exactly as
    --predict reads an image file."""
    import http.server
    import json
    import threading

    page = DRAWING_PAGE.read_bytes()
    # Requests come in threads of their own, but one drawing at a time is decoded and read:
    # memory stays bounded however many arrive at once.
    one_at_a_time = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.asks_for("/"):
                self.reply(200, page, "text/html; charset=utf-8")

        def do_POST(self):
            if not self.asks_for("/predict"):
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdecimal():
                return self.reply(411, {"error": "send the PNG with a Content-Length header"})
            if int(length) > MAX_DRAWING_BYTES:  # a huge body never reaches memory
                self.reply(413, {"error": f"a drawing may be at most {MAX_DRAWING_BYTES} bytes"})
                return self.skip_body(int(length))
            body = self.rfile.read(int(length))
            if len(body) < int(length):  # the client stopped sending, or took too long
                return
            self.server.request_read(self.connection)
            if has_too_many_pixels(body):
                return self.reply(
                    413, {"error": f"a drawing may have at most {MAX_DRAWING_PIXELS:,} pixels"}
                )
            with one_at_a_time:
                try:
                    image = open_image(io.BytesIO(body))
                except UserError:  # its message names a file, and here there is none
                    return self.reply(
                        400, {"error": "the body is not an image; send the drawing as a PNG"}
                    )
                try:
                    digit = prepare_digit(image, "the drawing")
                except UserError:  # no ink: its message speaks of photos
                    return self.reply(400, {"error": "nothing drawn yet: draw a digit first"})
                probabilities = read_digits(model, digit[np.newaxis])[0]
            self.reply(
                200,
                {
                    "digit": int(probabilities.argmax()),
                    "confidence": float(probabilities.max()),
                    "probabilities": probabilities.tolist(),
                    "seen": digit.tolist(),
                },
            )

        def skip_body(self, length):
            """Read the body and drop it. Closed while the client is still sending, the
            connection would be reset, and the client would see the reset, not the answer."""
            while length > 0 and (block := self.rfile.read1(min(length, 1 << 16))):
                length -= len(block)

        def asks_for(self, path):
            """True if the request is for path on this server; if not, answer 403 or 404."""
            # DNS rebinding: a web site can make a name of its own lead to 127.0.0.1, and its
            # page then talks to this server. Its requests carry that name in Host.
            port = self.server.server_address[1]
            if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                self.reply(403, {"error": f"only http://127.0.0.1:{port}/ is served"})
                return False
            # Another site's page can post here too (a form, a fetch); the browser names that
            # site in Origin. urllib and curl send no Origin.
            own_page = (f"http://127.0.0.1:{port}", f"http://localhost:{port}")
            if self.headers.get("Origin", own_page[0]) not in own_page:
                self.reply(
                    403,
                    {"error": f"only the page at {own_page[0]}/ may ask; other pages are refused"},
                )
                return False
            if self.path != path:
                self.reply(404, {"error": f"nothing at {self.path}"})
                return False
            return True

        def reply(self, status, body, content_type="application/json"):
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle(self):
            with contextlib.suppress(ConnectionError):  # a browser that left before the answer
                super().handle()

        def log_message(self, *args):
            pass  # no line on the terminal per request

    try:
        server = local_server(port, Handler)
    except OSError as error:
        raise UserError(
            f"cannot serve on 127.0.0.1:{port} ({error.strerror or error}); "
            "choose another --port, or --port 0 for any free one"
        )
    print(
        f"Draw a digit at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True
    )
    try:
        server.serve_forever()  # until Ctrl-C, which tutorial_helpers.run turns into one line
    finally:
        server.server_close()  # in Jupyter, the port is free again for the next run


def local_server(port, handler):
    """A threaded HTTP server on 127.0.0.1:port that no client can hold up: each has
    REQUEST_SECONDS to send its request, and server_close() ends the connections still open."""
    import http.server
    import socket
    import time

    def end(connection):
        with contextlib.suppress(OSError):  # its thread has closed it already
            connection.shutdown(socket.SHUT_RDWR)  # the thread's next read finds the end

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128  # connections waiting to be accepted; the default 5 resets a burst

        def __init__(self, *args):
            self.deadlines = {}  # each open connection: when its request must be in; None once in
            super().__init__(*args)

        def process_request(self, connection, address):  # before the connection's thread starts
            self.deadlines[connection] = time.monotonic() + REQUEST_SECONDS
            super().process_request(connection, address)

        def request_read(self, connection):  # the rest is the server's own work: no deadline
            self.deadlines[connection] = None

        def shutdown_request(self, connection):  # its thread is done with it
            self.deadlines.pop(connection, None)
            super().shutdown_request(connection)

        def service_actions(self):  # serve_forever calls it twice a second
            now = time.monotonic()
            for connection, deadline in self.deadlines.copy().items():  # threads change it
                if deadline is not None and deadline < now:
                    end(connection)

        def server_close(self):
            super().server_close()
            # In IPython the process lives on after Ctrl-C, and so would a connection's thread.
            for connection in self.deadlines.copy():
                end(connection)

    return Server(("127.0.0.1", port), handler)


def has_too_many_pixels(data):
    """True if the image in data has more than MAX_DRAWING_PIXELS, as its header says (a PNG's
    IHDR chunk, a JPEG's frame header): a small file can hold a huge image of one colour."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's warning of a huge image: refused here anyway
        try:
            with Image.open(io.BytesIO(data)) as image:  # reads the header; decodes no pixel
                return image.width * image.height > MAX_DRAWING_PIXELS
        except Image.DecompressionBombError:  # over 179 megapixels PIL refuses it at once
            return True
        except (OSError, ValueError):  # no image: open_image says so
            return False

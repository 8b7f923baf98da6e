"""Your own digits, read by the network mnist_dense.py trained: photos, scans and drawings.

    python mnist_dense.py --predict my_digit.jpg another.png   # prints each digit, writes
                                                               # own_predictions.csv and .png
    python mnist_dense.py --draw                               # a page to draw digits on

Or in your own code, after a run of mnist_dense.py (README.md, "Use the saved models"):

    from own_digits import open_image, prepare_digit
    digit = prepare_digit(open_image("my_digit.jpg"))  # 28x28 floats, white ink on black

Not in the articles: they end with the test set. A reader may start here once they are done.
"""

import contextlib
import csv
import io
import shlex
import warnings
from pathlib import Path

import numpy as np

from tutorial_helpers import UserError, check_writable, load_saved_model, one_line, save_outputs
from tutorial_helpers import setting

MAX_DRAWN = 32  # own digits in own_predictions.png; the CSV has them all
DRAWING_PAGE = Path(__file__).resolve().parent / "draw_digit.html"
MAX_DRAWING_BYTES = 5 * 1024 * 1024
MAX_DRAWING_PIXELS = 2000 * 2000  # the page's drawings have 280x280
REQUEST_SECONDS = 10  # a client of --draw has this long to send its request


def main(args):
    """--predict or --draw, with mnist_dense.py's flags: the saved model reads your digits."""
    model = load_digit_model(args.model or args.out / "model.keras", args.out)
    if args.draw:
        return serve_drawing_page(model, args.port)
    check_writable(args.out)
    read_own_digits(model, args.images, args.out)


## Reading image files (--predict)
# MNIST's digits were made in one way: white ink on black, the digit scaled to fit 20x20
# pixels and placed in a 28x28 frame with its centre of mass at the centre. The network has
# seen nothing else, so a photo (dark ink on light paper, the digit small and off-centre)
# must be made to look the same: squeezed to 28x28 as they were, 55 real handwritten digits
# were read about as well as by chance; prepared as MNIST's were, 52 (README.md).


def read_own_digits(model, paths, out):
    """Each image read by the model: printed, and written to own_predictions.csv and .png."""
    thumbnails, digits = [], []
    for path in paths:  # one image in memory at a time: photos can be large
        image = open_image(path)
        digits.append(prepare_digit(image, path))
        if len(thumbnails) < MAX_DRAWN:
            image.thumbnail((160, 160))
            thumbnails.append(image.convert("RGB"))
    probabilities = read_digits(model, np.array(digits))
    rows = [["file", "digit", "confidence", *(f"p{d}" for d in range(10))]]
    print(" digit  confidence  runner-up  file")
    for path, shares in zip(paths, probabilities):
        best, second = np.argsort(-shares, kind="stable")[:2]
        print(f"   {best}      {shares[best]:6.1%}     {second} {shares[second]:5.1%}  {path}")
        rows.append(
            [as_text(str(path)), best, f"{shares[best]:.4f}", *(f"{v:.4f}" for v in shares)]
        )
    text = io.StringIO()
    csv.writer(text).writerows(rows)  # its \r\n line ends quote a file name holding \r
    if len(digits) > MAX_DRAWN:
        print(f"own_predictions.png shows the first {MAX_DRAWN}; the .csv has all {len(digits)}")
    figure = own_predictions_figure(paths, thumbnails, digits, probabilities)
    save_outputs(
        out, {"own_predictions.csv": text.getvalue(), "own_predictions.png": figure.savefig}
    )


def as_text(name):
    """The file name as own_predictions.csv holds it: a spreadsheet runs a cell that begins with
    =, +, -, @, a tab or a CR as a formula (-2+3.png, =1+1.png); a ' before it shows it as text."""
    return "'" + name if name.startswith(("=", "+", "-", "@", "\t", "\r")) else name


def load_digit_model(model_path, out):
    """The saved model, checked to take MNIST digits and give ten probabilities."""
    how_to_train = f"python mnist_dense.py --out {shlex.quote(str(out))}"
    model = load_saved_model(model_path, how_to_train)
    if model.input_shape[1:] not in [(784,), (28, 28)] or model.output_shape[1:] != (10,):
        raise UserError(
            f"{model_path} takes {model.input_shape[1:]} and gives {model.output_shape[1:]}; this "
            f"script needs a model that takes 784 or 28x28 pixels and gives 10 probabilities; "
            f"train one with: {how_to_train}"
        )
    return model


def read_digits(model, digits):
    """Ten probabilities per 28x28 digit; 784 numbers in a row for first and dropout."""
    probabilities = model.predict(digits.reshape((-1, *model.input_shape[1:])), verbose=0)
    if not np.allclose(probabilities.sum(axis=1), 1, atol=1e-3) or probabilities.min() < 0:
        raise UserError(
            "the model's outputs are not probabilities (a softmax layer "
            "gives them); train one with: python mnist_dense.py"
        )
    return probabilities


def open_image(path):
    """The image in the file, in its upright orientation; a UserError if it is none."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a huge photo, a damaged EXIF tag: read all the same
            with Image.open(path) as image:
                image.load()
                return ImageOps.exif_transpose(image)  # phones store photos sideways plus a tag
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; check the path given to {setting('photos')}")
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; pass image files, e.g. {path}/*.png")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(
            f"{path} is not an image this script can read "
            f"({one_line(error, 80)}); pass a PNG or JPEG file"
        )


def prepare_digit(image, name="the image"):
    """A 28x28 array of floats from 0 to 1 that looks like an MNIST digit: white ink on
    black, scaled to fit 20x20 pixels, its centre of mass at the centre. name: for errors."""
    from PIL import Image, ImageFilter, ImageOps

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float scans: their own range
        values = np.asarray(image, dtype="float32")
        image = Image.fromarray(
            ((values - values.min()) / max(np.ptp(values), 1e-9) * 255).astype("uint8")
        )
    # Grey levels. Transparent parts go onto a backdrop unlike the ink, so that a drawing
    # whose ink is only in the alpha channel still shows.
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        grey, alpha = image.convert("LA").split()
        opaque = np.asarray(grey)[np.asarray(alpha) > 128]
        backdrop = 255 if opaque.size == 0 or opaque.mean() < 128 else 0
        image = Image.composite(grey, Image.new("L", grey.size, backdrop), alpha)
    image = image.convert("L")
    image.thumbnail((400, 400), Image.Resampling.BOX)  # enough detail; thin lines fade, not vanish
    grey = np.asarray(image, dtype="float32")
    # Most pixels are paper. Ink is what departs from the paper's grey: darker on paper,
    # lighter on a blackboard; the side that departs more, in total, is the ink's. Taking
    # the paper's grey away, not only inverting, leaves the background black, as in MNIST.
    paper = np.median(grey)
    darker, lighter = (paper - grey).clip(0), (grey - paper).clip(0)
    ink = darker if darker.sum() > lighter.sum() else lighter
    if ink.max() < 32:  # fainter than this is shading or noise
        raise UserError(f"{name}: no ink found; pass a photo, scan or drawing of one digit")
    # Otsu's threshold: the level that best splits the pixels into two groups, paper (with
    # its grain, shadows and grid lines) and ink.
    counts, levels = np.histogram(ink, bins=64, range=(0, ink.max()))
    below, weight = np.cumsum(counts), np.cumsum(counts * levels[:-1])
    spread = (weight[-1] * below / below[-1] - weight) ** 2 / np.maximum(
        below * (below[-1] - below), 1
    )
    is_ink = ink > levels[1 + np.argmax(spread)]
    # Crop to the ink, leaving out stray marks at the edges (the outer 0.5% of the ink).
    (top, bottom), (left, right) = [
        np.searchsorted(np.cumsum(is_ink.sum(axis)) / is_ink.sum(), [0.005, 0.995])
        for axis in (1, 0)
    ]
    digit = scaled_to(
        Image.fromarray(is_ink[top : bottom + 1, left : right + 1].astype("uint8") * 255), 80
    )
    # MNIST's strokes are about an eighth of the digit's height. A pen line on a large page
    # is far thinner and would fade away when shrunk, so it is thickened first. Its width is
    # about twice its area divided by the length of its outline. Any pixel the ink touched
    # counts, so that a 1-pixel line, a shade of grey at this size, stays whole and white.
    is_ink = np.asarray(digit) > 0
    digit = Image.fromarray(is_ink.astype("uint8") * 255)
    padded = np.pad(is_ink, 1)
    inside = is_ink & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    grow = round((10 - 2 * is_ink.sum() / max(1, is_ink.sum() - inside.sum())) / 2)
    if grow > 0:
        digit = ImageOps.expand(digit, grow).filter(ImageFilter.MaxFilter(2 * grow + 1))
    # MNIST's recipe: the digit fits a 20x20 box, placed in a 28x28 frame with its centre of
    # mass, not its box, at the centre.
    small = np.asarray(scaled_to(digit, 20), dtype="float32") / 255
    centre = (np.indices(small.shape) * small).sum(axis=(1, 2)) / small.sum()
    top, left = np.clip(np.round(14 - centre), 0, np.subtract(28, small.shape)).astype(int)
    frame = np.zeros((28, 28), dtype="float32")
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return frame


def scaled_to(image, longest):
    """The image scaled so that its longest side is `longest` pixels, averaging as it shrinks."""
    from PIL import Image

    scale = longest / max(image.size)
    return image.resize([max(1, round(side * scale)) for side in image.size], Image.Resampling.BOX)


## Drawing in the browser (--draw)
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


def own_predictions_figure(paths, thumbnails, digits, probabilities):
    """For each image: the original, the 28x28 the network saw, and its ten probabilities."""
    from matplotlib import font_manager, ft2font
    from matplotlib.figure import Figure

    # The characters the titles' font can draw: others (Chinese, say) are shown as \u escapes.
    font = ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))
    drawable = font.get_charmap()

    per_row, n_rows = 2, -(-len(thumbnails) // 2)  # images side by side, three panels each
    figure = Figure(figsize=(12, 1.7 * n_rows + 0.6), dpi=80, layout="constrained")
    axes = figure.subplots(n_rows, 3 * per_row, squeeze=False, width_ratios=[1, 1, 2.2] * per_row)
    for axis in axes.flat:
        axis.axis("off")
    for index, (path, thumbnail, digit, shares) in enumerate(
        zip(paths, thumbnails, digits, probabilities)
    ):
        original, seen, bars = axes[
            index // per_row, 3 * (index % per_row) : 3 * (index % per_row) + 3
        ]
        original.imshow(thumbnail)
        name = ""
        for c in Path(path).name:  # up to 22 characters, an escape whole or not at all
            shown = c if ord(c) in drawable else c.encode("ascii", "backslashreplace").decode()
            shown = shown if c.isprintable() else "?"
            if len(name + shown) > 22:
                break
            name += shown
        original.set_title(name, fontsize=7, parse_math=False)  # "$" in a name is no formula
        seen.imshow(digit, cmap="gray", vmin=0, vmax=1)
        seen.set_title("as MNIST", fontsize=7)
        bars.axis("on")
        colors = ["#2e7d32" if d == shares.argmax() else "#9e9e9e" for d in range(10)]
        bars.bar(range(10), shares, color=colors)
        bars.set(xticks=range(10), yticks=[], ylim=(0, 1))
        bars.tick_params(labelsize=7)
        bars.set_title(f"reads {shares.argmax()} ({shares.max():.0%})", fontsize=8)
    figure.suptitle(
        "Your digits: the image, what the network saw, and its probability for each digit"
    )
    return figure

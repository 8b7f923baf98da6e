"""mnist_dense.py --draw: the page in a real browser, the answers to POST /predict, the
requests it refuses, the clients it drops, and Ctrl-C, in a terminal and in IPython."""

import base64
import concurrent.futures
import contextlib
import csv
import http.client
import json
import queue
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

import draw_page
import own_digits
from conftest import (
    ROOT,
    as_from_a_terminal,
    assert_one_line_error,
    run,
    script_env,
    shared_file,
)
from makers import draw_digit, png_bytes

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)

CTRL_C_LINE = "interrupted (Ctrl-C): stopped before the end; no output file was left half-written"
SEVEN = [(80, 70), (200, 70), (120, 220)]  # the browser test's stroke on the 280x280 canvas: a 7
# A 7 as the page draws it: white ink, as wide as a marker, on a black 280x280 canvas; a PNG.
DRAWN_SEVEN = png_bytes(draw_digit("7", size=280, width=18, ink=(255,) * 3, paper=(0,) * 3))


@pytest.fixture(scope="module")
def model_folder(quick_run):
    # Digits the test makes: what the page's answers are checked against is the same model
    # reading the same picture, not the truth, so no real data is needed.
    return quick_run("mnist_dense.py")[1]


@contextlib.contextmanager
def drawing_server(model_folder, seconds=120):
    """Start mnist_dense.py --draw --port 0; give (process, url) once it prints its URL; kill
    it after."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "mnist_dense.py"),
            "--draw",
            "--port",
            "0",
            "--out",
            str(model_folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_env(),
        # Ctrl-C as a terminal delivers it, even when pytest's own runner ignores it
        preexec_fn=as_from_a_terminal,
    )
    try:
        yield process, printed_url(process, seconds)
    finally:
        process.kill()
        process.wait(timeout=30)


def printed_url(process, seconds):
    """The URL the server prints. A thread reads stdout, so the wait ends after `seconds` even
    if no line comes; it reads on afterwards, so stdout never fills up."""
    urls = queue.Queue()

    def read():
        for line in process.stdout:
            if match := re.search(r"http://127\.0\.0\.1:\d+/", line):
                urls.put(match.group())
        urls.put(None)  # stdout closed: the server has ended

    threading.Thread(target=read, daemon=True).start()
    try:
        url = urls.get(timeout=seconds)
    except queue.Empty:
        url = None
    if url is None:
        process.kill()
        pytest.fail(
            f"--draw printed no URL within {seconds} s; stderr: {process.stderr.read()[-2000:]}"
        )
    return url


@pytest.fixture(scope="module")
def server_process(model_folder):
    with drawing_server(model_folder) as started:
        yield started


@pytest.fixture(scope="module")
def server(server_process):
    return server_process[1]


@pytest.fixture(scope="module")
def reading_server(tmp_path_factory):
    """A server whose model learnt real digits, to read a 7 drawn in the browser as a 7."""
    folder = tmp_path_factory.mktemp("real_model")
    data = shared_file("mnist-real-10k.npz")
    run("mnist_dense.py", "--quick", "--data", data, "--out", folder, ok=True)
    with drawing_server(folder) as (_, url):
        yield url


def port_of(url):
    return int(url.split(":")[2].strip("/"))


def ask(url, method, path, body=None, headers=None, length=None):
    """One request; (status, answer as JSON, or the bytes if not JSON). length: a
    Content-Length header sent instead of a body."""
    connection = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=60)
    try:
        if length is None:
            connection.request(method, path, body=body, headers=headers or {})
        else:
            connection.putrequest(method, path)
            connection.putheader("Content-Length", str(length))
            connection.endheaders()
        response = connection.getresponse()
        data = response.read()
        is_json = response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(data) if is_json else data
    finally:
        connection.close()


def assert_reads_a_digit(answer):
    p = answer["probabilities"]
    assert len(p) == 10 and abs(sum(p) - 1) < 1e-3
    assert answer["digit"] == int(np.argmax(p)) and answer["confidence"] == max(p)
    seen = np.array(answer["seen"])
    assert seen.shape == (28, 28) and 0 <= seen.min() and seen.max() <= 1


def test_the_page_is_served_on_both_local_names(server):
    status, page = ask(server, "GET", "/")
    assert status == 200 and b"<canvas" in page
    assert ask(server, "GET", "/", headers={"Host": f"localhost:{port_of(server)}"})[0] == 200


def test_the_server_listens_on_127_0_0_1_only(server_process):
    psutil = pytest.importorskip("psutil", reason="psutil comes with ipykernel")
    process, url = server_process
    listening = [
        connection.laddr
        for connection in psutil.Process(process.pid).net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    ]
    assert [(address.ip, address.port) for address in listening] == [("127.0.0.1", port_of(url))]


def blank_canvas():
    return png_bytes(np.zeros((280, 280, 3), "uint8"))


# Each bad request: what is sent (a function of the server's port), the status, and a piece
# of the error. predict(...) makes a POST to /predict.
def predict(body=None, **request):
    return dict(method="POST", path="/predict", body=body, **request)


BAD_REQUESTS = {
    "empty canvas": (lambda port: predict(blank_canvas()), 400, "nothing drawn yet: draw a digit"),
    "not an image": (lambda port: predict(b"a few words, not an image"), 400, "not an image"),
    "5 MB of no image": (lambda port: predict(b"x" * 5 * 1024 * 1024), 400, "not an image"),
    "no length": (lambda port: predict(length="a few"), 411, "Content-Length"),
    # One byte over 5 MB, and no body sent: the answer comes only if the server does not wait
    # for it.
    "over 5 MB": (lambda port: predict(length=5 * 1024 * 1024 + 1), 413, "at most"),
    "other host": (
        lambda port: predict(DRAWN_SEVEN, headers={"Host": f"attacker.example:{port}"}),
        403,
        "only http://127.0.0.1",
    ),
    "other port": (
        lambda port: dict(method="GET", path="/", headers={"Host": f"127.0.0.1:{port + 1}"}),
        403,
        "only http://127.0.0.1",
    ),
    "other path": (
        lambda port: dict(method="GET", path="/model.keras"),
        404,
        "nothing at /model.keras",
    ),
    "POST elsewhere": (
        lambda port: dict(method="POST", path="/", body=DRAWN_SEVEN),
        404,
        "nothing at /",
    ),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_a_bad_request_gets_its_status_and_the_server_goes_on(server, name):
    make_request, status, error = BAD_REQUESTS[name]
    answer = ask(server, **make_request(port_of(server)))
    assert answer[0] == status, answer
    assert set(answer[1]) == {"error"} and error in answer[1]["error"], answer
    assert "\n" not in answer[1]["error"]
    status, answer = ask(server, "POST", "/predict", DRAWN_SEVEN)  # still serving
    assert status == 200, answer
    assert_reads_a_digit(answer)


# Each page that may post a drawing: its Origin header, as a browser sends it with a POST, and
# the answer's status. Another site's page can post here too (a form, a fetch in no-cors mode);
# the browser names that site in Origin.
ORIGINS = {
    "none, as from urllib or curl": (None, 200),
    "the page's own": ("http://127.0.0.1:{port}", 200),
    "the page's own, as localhost": ("http://localhost:{port}", 200),
    "another site's page": ("http://attacker.example", 403),
    "another local server's page": ("http://127.0.0.1:{other_port}", 403),
    "a sandboxed page or a file": ("null", 403),
}


@pytest.mark.parametrize("name", ORIGINS)
def test_only_the_pages_own_origin_may_post_a_drawing(server, name):
    origin, status = ORIGINS[name]
    port = port_of(server)
    headers = {} if origin is None else {"Origin": origin.format(port=port, other_port=port + 1)}
    answer = ask(server, "POST", "/predict", DRAWN_SEVEN, headers=headers)
    assert answer[0] == status, answer
    if status == 403:
        assert "other pages" in answer[1]["error"], answer


@pytest.mark.parametrize("size", [5 * 1024 * 1024 + 1, 6_000_000, 20 * 1024 * 1024])
def test_a_drawing_over_5_mb_sent_whole_through_urllib_reads_its_413(server, size):
    # urllib, as a browser's fetch, sends the whole body before it reads the answer.
    request = urllib.request.Request(server + "predict", data=bytes(size))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413
    assert "at most" in json.loads(refused.value.read())["error"]


def tls_client_hello():
    """The first bytes a browser sends to https://127.0.0.1:PORT/, made here without a network."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the server's answer
        tls.do_handshake()
    return outgoing.read()


def seconds_held(port, sent, trickle=b"", bound=60):
    """Send `sent`, then `trickle` a byte every half second; the seconds until the server closes
    the connection, or None if it still holds it after `bound` seconds."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as client:
        client.sendall(sent)
        while time.monotonic() - started < bound:
            try:
                if not client.recv(65536):
                    return time.monotonic() - started
            except TimeoutError:
                if trickle:
                    client.sendall(trickle[:1])
                    trickle = trickle[1:]
            except ConnectionError:
                return time.monotonic() - started
    return None


def test_clients_that_stall_are_dropped_within_a_bounded_time(model_folder):
    with drawing_server(model_folder) as (process, url):
        port = port_of(url)
        headers = (
            f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 1000\r\n\r\n"
        )
        stalling = {
            "a Content-Length larger than the body": (headers.encode() + b"x" * 10, b""),
            "an HTTP/0.9 request line": (b"GET /\r\n", b""),
            "a TLS ClientHello (https:// typed)": (tls_client_hello(), b""),
        }
        for number in range(20):  # headers a byte at a time, never ending
            stalling[f"slow headers {number}"] = (b"G", b"ET / HTTP/1.1\r\nX-Slow: " + b"x" * 999)
        with concurrent.futures.ThreadPoolExecutor(len(stalling)) as pool:
            held = dict(
                zip(stalling, pool.map(lambda sent: seconds_held(port, *sent), stalling.values()))
            )
            status, answer = ask(url, "POST", "/predict", DRAWN_SEVEN)  # meanwhile, served
        assert status == 200, answer
        assert all(seconds is not None for seconds in held.values()), held
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        assert process.stderr.read().splitlines() == [CTRL_C_LINE]  # no traceback for any of it


def test_50_drawings_posted_at_once_are_all_answered(server):
    drawing, at_once = DRAWN_SEVEN, threading.Barrier(50)

    def post(_):
        at_once.wait()
        try:
            return ask(server, "POST", "/predict", drawing)[0]
        except OSError as error:  # a connection reset: the server's queue of new ones was full
            return repr(error)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        assert list(pool.map(post, range(50))) == [200] * 50


def huge_png(width, height):
    """A PNG of width x height black RGBA pixels: all-zero rows compress about 1000 to 1, so
    the file is small, but decoded it takes width * height * 4 bytes."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = bytes(1 + 4 * width)  # each row: its filter type (0, none), then its pixels
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def peak_memory_mb(process):
    """The most memory the process has held so far (its peak resident set), in MB."""
    status = (Path("/proc") / str(process.pid) / "status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_three_pngs_of_177_megapixels_at_once_are_refused_without_being_decoded(server_process):
    process, url = server_process
    bomb = huge_png(13300, 13300)  # 177 megapixels: 708 MB decoded, 0.7 MB sent
    assert len(bomb) < draw_page.MAX_DRAWING_BYTES
    before = peak_memory_mb(process)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: ask(url, "POST", "/predict", bomb), range(3)))
    for status, answer in answers:
        assert status == 413, answer
        assert set(answer) == {"error"} and "pixels" in answer["error"], answer
        assert "\n" not in answer["error"]
    assert peak_memory_mb(process) - before < 200  # one decoded would take 708 MB


def test_a_png_gets_the_same_numbers_by_post_and_by_predict(server, model_folder, tmp_path):
    seven = tmp_path / "seven.png"
    seven.write_bytes(DRAWN_SEVEN)
    status, answer = ask(server, "POST", "/predict", seven.read_bytes())
    assert status == 200, answer
    assert_reads_a_digit(answer)
    run(
        "mnist_dense.py",
        "--predict",
        seven,
        "--model",
        model_folder / "model.keras",
        "--out",
        tmp_path,
        ok=True,
    )
    with open(tmp_path / "own_predictions.csv", newline="") as file:
        [row] = csv.DictReader(file)
    assert [row[f"p{digit}"] for digit in range(10)] == [
        f"{p:.4f}" for p in answer["probabilities"]
    ]
    assert int(row["digit"]) == answer["digit"]
    # The 28x28 it sends back is prepare_digit's, to the last bit.
    prepared = own_digits.prepare_digit(own_digits.open_image(seven))
    assert np.array_equal(np.array(answer["seen"], dtype="float32"), prepared)


def test_ctrl_c_stops_the_server_in_one_line(model_folder):
    with drawing_server(model_folder) as (process, url):
        assert ask(url, "POST", "/predict", DRAWN_SEVEN)[0] == 200  # the model has read a digit
        assert ask(url, "GET", "/favicon.ico")[0] == 404
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        stderr = process.stderr.read()
    assert process.returncode == 130, stderr
    assert stderr.splitlines() == [CTRL_C_LINE]  # no traceback, and no line per request


def test_draw_without_a_model_says_how_to_train_one(tmp_path):
    result = run("mnist_dense.py", "--draw", "--out", tmp_path / "empty")
    assert_one_line_error(
        result,
        f"no trained model at {tmp_path / 'empty' / 'model.keras'}",
        f"python mnist_dense.py --out {tmp_path / 'empty'}",
    )


def test_a_port_in_use_or_out_of_range_gets_one_line(model_folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("mnist_dense.py", "--draw", "--port", port, "--out", model_folder, timeout=120)
    assert_one_line_error(result, f"cannot serve on 127.0.0.1:{port}", "--port 0")
    assert_one_line_error(
        run("mnist_dense.py", "--draw", "--port", "70000"),
        "--port",
        "from 0 to 65535",
        code=2,
    )


## In a real browser

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: Chromium run as root (as in CI containers) starts only without its sandbox.
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1000,700",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    yield driver
    driver.quit()


def draw_stroke(driver, canvas, points, steps=8):
    """Press, move through points ((x, y) from the canvas's top-left corner), release."""
    from selenium.webdriver import ActionChains

    # Many small moves along each line, as a hand makes them.
    path = [points[0]] + [
        (round(x0 + (x1 - x0) * step / steps), round(y0 + (y1 - y0) * step / steps))
        for (x0, y0), (x1, y1) in zip(points, points[1:])
        for step in range(1, steps + 1)
    ]
    actions = ActionChains(driver, duration=10)
    # Selenium measures the first offset from the element's centre, the others from the last point.
    x, y = path[0]
    actions.move_to_element_with_offset(
        canvas, x - canvas.size["width"] // 2, y - canvas.size["height"] // 2
    )
    actions.click_and_hold()
    for (x0, y0), (x1, y1) in zip(path, path[1:]):
        actions.move_by_offset(x1 - x0, y1 - y0)
    actions.release().perform()


def percent(share):
    return f"{int(100 * share + 0.5)}%"  # rounded as the page's Math.round rounds


# A mark, not a skip inside the test: it skips before the model is trained for nothing.
@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="the browser test needs Chromium and its driver: apt install chromium chromium-driver",
)
def test_a_digit_drawn_in_the_browser_is_read_as_the_model_reads_the_canvas(
    reading_server, browser
):
    server = reading_server
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server)
    canvas = browser.find_element(By.ID, "pad")
    draw_stroke(browser, canvas, SEVEN)
    WebDriverWait(browser, 60).until(lambda page: page.find_element(By.ID, "digit").text != "?")

    # The canvas as a PNG, sent by the test itself: the page must show what the model says.
    data_url = browser.execute_script(
        "return document.getElementById('pad').toDataURL('image/png')"
    )
    status, answer = ask(server, "POST", "/predict", base64.b64decode(data_url.split(",", 1)[1]))
    assert status == 200, answer
    assert answer["digit"] == 7  # measured: the quick model reads this stroke as a 7, 99.9% sure
    assert browser.find_element(By.ID, "digit").text == str(answer["digit"])
    assert (
        browser.find_element(By.ID, "confidence").text == f"({percent(answer['confidence'])} sure)"
    )
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert [bar.text.split()[-1] for bar in bars] == [percent(p) for p in answer["probabilities"]]
    assert [bar.get_attribute("class") for bar in bars].index("bar best") == answer["digit"]
    # The small canvas shows the 28x28 the network saw, pixel for pixel.
    shown = browser.execute_script(
        "return Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data)"
    )
    red = np.array(shown).reshape(28, 28, 4)[:, :, 0]
    assert np.abs(red - np.array(answer["seen"]) * 255).max() <= 1
    # Offline: the page fetched nothing but itself and its answers.
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(name.startswith(server) for name in fetched), fetched
    assert browser.find_element(By.ID, "error").text == ""

    browser.find_element(By.ID, "clear").click()
    ink = browser.execute_script(
        "return Math.max(...document.getElementById('pad').getContext('2d')"
        ".getImageData(0, 0, 280, 280).data"
        ".filter((value, i) => i % 4 === 0))"
    )
    assert ink == 0
    assert browser.find_element(By.ID, "digit").text == "?"


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="the browser test needs Chromium and its driver: apt install chromium chromium-driver",
)
def test_a_tap_leaves_a_dot_and_an_empty_drawing_is_asked_for_a_digit(server, browser):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def answered(page):
        return (
            page.find_element(By.ID, "digit").text != "?" or page.find_element(By.ID, "error").text
        )

    browser.get(server)
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "pad")).click().perform()
    WebDriverWait(browser, 60).until(answered)
    centre = browser.execute_script(
        "return document.getElementById('pad').getContext('2d')"
        ".getImageData(140, 140, 1, 1).data[0]"
    )
    assert centre == 255  # white ink where the tap was
    assert browser.find_element(By.ID, "error").text == ""

    browser.find_element(By.ID, "clear").click()
    browser.execute_script("read()")  # the page sends the empty canvas as it sends a drawing
    WebDriverWait(browser, 60).until(answered)
    assert browser.find_element(By.ID, "error").text == "nothing drawn yet: draw a digit first"


# In IPython: a thread opens a connection to the server, sends half a request, and presses
# Ctrl-C; after %run, the session looks for the server's threads and at the connection.
IPYTHON_SESSION = """
import os, signal, socket, threading, time
kept = "mine"  # a variable of the user's, before %run

def half_a_request_then_ctrl_c():
    global client
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # until the server listens
        try:
            client = socket.create_connection(("127.0.0.1", {port}))
            break
        except ConnectionRefusedError:
            time.sleep(0.2)
    client.sendall(b"POST /predict HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n")
    time.sleep(1)  # a thread of the server's reads it, and waits for the rest
    os.kill(os.getpid(), signal.SIGINT)

def server_threads():
    return [t.name for t in threading.enumerate() if "process_request" in t.name]

threading.Thread(target=half_a_request_then_ctrl_c, daemon=True).start()
%run {script} --draw --port {port} --out {model}
deadline = time.monotonic() + 10
while server_threads() and time.monotonic() < deadline:
    time.sleep(0.1)
print("server threads left:", server_threads())
print("kept:", kept)
client.settimeout(5)
try:
    print("connection:", "answered" if client.recv(100) else "closed")
except TimeoutError:
    print("connection: open")
"""


def test_in_ipython_ctrl_c_leaves_no_connection_open_nor_its_thread(model_folder, tmp_path):
    pytest.importorskip("IPython", reason="IPython comes with ipykernel (requirements-dev.txt)")
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = tmp_path / "session.ipy"
    session.write_text(
        IPYTHON_SESSION.format(port=port, script=ROOT / "mnist_dense.py", model=model_folder)
    )
    result = subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor", session],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=script_env(),
        preexec_fn=as_from_a_terminal,
    )
    # One line, no traceback: "interrupted: stopped", and the session goes on.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted"), result.stderr[-3000:]
    assert "server threads left: []" in result.stdout, result.stdout[-3000:]
    assert "kept: mine" in result.stdout  # the user's variables outlive a Ctrl-C during %run
    assert "connection: closed" in result.stdout, result.stdout[-3000:]

"""mnist_dense.py --draw: the page in a real browser, the answers to POST /predict, the
requests it refuses, and Ctrl-C."""

import base64
import contextlib
import csv
import http.client
import io
import json
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

import own_digits
from conftest import (
    ROOT,
    as_from_a_terminal,
    assert_one_line_error,
    run_ok,
    run_script,
    script_env,
    shared_file,
)

CTRL_C_LINE = "interrupted (Ctrl-C): stopped before the end; no output file was left half-written"
SEVEN = [(80, 70), (200, 70), (120, 220)]  # one stroke on the 280x280 canvas: a 7


def png_of(image):
    data = io.BytesIO()
    image.save(data, format="PNG")
    return data.getvalue()


def drawn_seven():
    """A 7 as the page draws it: white ink, as wide as a marker, on a black 280x280 canvas."""
    image = Image.new("RGB", (280, 280), "black")
    ImageDraw.Draw(image).line(SEVEN, fill="white", width=18, joint="curve")
    return png_of(image)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quick_model")
    run_ok(
        "mnist_dense.py", "--quick", "--data", shared_file("mnist-real-10k.npz"), "--out", folder
    )
    return folder


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
def server(model_folder):
    with drawing_server(model_folder) as (_, url):
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


def blank_canvas():
    return png_of(Image.new("RGB", (280, 280), "black"))


# Each bad request: what is sent (a function of the server's port), the status, and a piece
# of the error. predict(...) makes a POST to /predict.
def predict(body=None, **request):
    return dict(method="POST", path="/predict", body=body, **request)


BAD_REQUESTS = {
    "empty canvas": (lambda port: predict(blank_canvas()), 400, "no ink found"),
    "not an image": (lambda port: predict(b"a few words, not an image"), 400, "not an image"),
    "5 MB of no image": (lambda port: predict(b"x" * 5 * 1024 * 1024), 400, "not an image"),
    "no length": (lambda port: predict(length="a few"), 411, "Content-Length"),
    # One byte over 5 MB, and no body sent: the answer comes only if the server does not wait
    # for it.
    "over 5 MB": (lambda port: predict(length=5 * 1024 * 1024 + 1), 413, "at most"),
    "other host": (
        lambda port: predict(drawn_seven(), headers={"Host": f"attacker.example:{port}"}),
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
        lambda port: dict(method="POST", path="/", body=drawn_seven()),
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
    status, answer = ask(server, "POST", "/predict", drawn_seven())  # still serving
    assert status == 200, answer
    assert_reads_a_digit(answer)


def test_a_png_gets_the_same_numbers_by_post_and_by_predict(server, model_folder, tmp_path):
    seven = tmp_path / "seven.png"
    seven.write_bytes(drawn_seven())
    status, answer = ask(server, "POST", "/predict", seven.read_bytes())
    assert status == 200, answer
    assert_reads_a_digit(answer)
    run_ok(
        "mnist_dense.py",
        "--predict",
        seven,
        "--model",
        model_folder / "model.keras",
        "--out",
        tmp_path,
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
        assert ask(url, "POST", "/predict", drawn_seven())[0] == 200  # the model has read a digit
        assert ask(url, "GET", "/favicon.ico")[0] == 404
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        stderr = process.stderr.read()
    assert process.returncode == 130, stderr
    assert stderr.splitlines() == [CTRL_C_LINE]  # no traceback, and no line per request


def test_draw_without_a_model_says_how_to_train_one(tmp_path):
    result = run_script("mnist_dense.py", "--draw", "--out", tmp_path / "empty")
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
        result = run_script(
            "mnist_dense.py", "--draw", "--port", port, "--out", model_folder, timeout=120
        )
    assert_one_line_error(result, f"cannot serve on 127.0.0.1:{port}", "--port 0")
    assert_one_line_error(
        run_script("mnist_dense.py", "--draw", "--port", "70000"),
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
def test_a_digit_drawn_in_the_browser_is_read_as_the_model_reads_the_canvas(server, browser):
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

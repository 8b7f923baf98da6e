"""tutorial_helpers: downloads for real against a server on 127.0.0.1 that the test starts,
a changed copy of the user's in data/ refused and left as it is (online, offline, in a read-only
folder), nothing left by a failed download, not even a data/ folder, and outputs that appear
whole or not at all, their folder made only once they are all written."""

import hashlib
import json
import os
import resource
import signal
import socket
import stat
import sys
import threading
import time

import pytest

import tutorial_helpers as helpers
from conftest import (
    HARNESS,
    ROOT,
    as_from_a_terminal,
    assert_one_line_error,
    run,
    wait_for_line,
)
from makers import write_own_csv

BODY = b"6,148,72,35,0,33.6,0.627,50,1\n" * 2000
SHA256 = hashlib.sha256(BODY).hexdigest()


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


def test_first_call_downloads_and_verifies_second_makes_no_request(local_server, tmp_path, capsys):
    local_server.files["table.csv"] = BODY
    path = helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path / "data")
    assert path == tmp_path / "data" / "table.csv"
    assert path.read_bytes() == BODY
    assert local_server.requests == ["table.csv"]
    assert f"Downloading {local_server.url}/table.csv" in capsys.readouterr().out

    again = helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path / "data")
    assert again == path
    assert local_server.requests == ["table.csv"]  # the verified copy was used
    assert "already downloaded" in capsys.readouterr().out


def test_wrong_checksum_names_both_hashes_and_keeps_nothing(local_server, tmp_path):
    local_server.files["table.csv"] = b"something else\n"
    with pytest.raises(helpers.UserError) as error:
        helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path)
    message = str(error.value)
    assert SHA256 in message
    assert hashlib.sha256(b"something else\n").hexdigest() in message
    assert list(tmp_path.iterdir()) == []


def test_connection_cut_half_way_leaves_no_file_and_next_run_downloads_again(
    local_server, tmp_path
):
    local_server.files["table.csv"] = BODY
    local_server.cut_after["table.csv"] = len(BODY) // 2
    with pytest.raises(helpers.UserError, match="could not download"):
        helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path)
    assert list(tmp_path.iterdir()) == []

    del local_server.cut_after["table.csv"]
    assert helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path).read_bytes() == BODY
    assert local_server.requests == ["table.csv", "table.csv"]


def serve_differently(local_server, closed_port, how):
    """The server's side of a download, done `how`; the URL."""
    if how == "no server":
        return f"http://127.0.0.1:{closed_port}/table.csv"
    local_server.files["table.csv"] = BODY
    if how == "cut half-way":
        local_server.cut_after["table.csv"] = len(BODY) // 2
    elif how == "another file":
        local_server.files["table.csv"] = BODY.replace(b"50", b"51")
    return f"{local_server.url}/table.csv"


@pytest.mark.parametrize("how", ["cut half-way", "another file", "no server"])
def test_a_failed_download_leaves_no_data_folder_of_its_own(
    local_server, closed_port, tmp_path, how
):
    """Issue 43: data/ is made only once the download is checked; its .part file is written in
    the nearest folder that exists, and deleted."""
    url = serve_differently(local_server, closed_port, how)
    with pytest.raises(helpers.UserError, match="nothing was kept"):
        helpers.download(url, SHA256, tmp_path / "new" / "data")
    assert files_in(tmp_path) == []  # no data/, no new/, no .part


def test_a_failed_download_on_a_full_disk_leaves_no_data_folder_of_its_own(local_server, tmp_path):
    """The file size limit stands in for a full disk: the download (60 kB) does not fit."""

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    local_server.files["table.csv"] = BODY
    url = f"{local_server.url}/table.csv"
    command = [HARNESS, "--", "download", url, SHA256, tmp_path / "new" / "data"]
    result = run(*command, timeout=300, preexec_fn=small_files)
    assert_one_line_error(result, "could not download", "File too large", "nothing was kept")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("copy", [BODY[:100], BODY + b"\n"], ids=["cut short", "re-saved"])
def test_a_differing_copy_in_data_dir_is_refused_and_left_as_it_is(local_server, tmp_path, copy):
    """A file of yours in data/ that differs from the published one is never replaced: one
    line says how to use it or how to download, and nothing is asked of the server."""
    local_server.files["table.csv"] = BODY
    own_copy = tmp_path / "table.csv"
    own_copy.write_bytes(copy)
    with pytest.raises(helpers.UserError) as error:
        helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path)
    message = str(error.value)
    assert f"{own_copy} is there, not the published table.csv" in message and SHA256 in message
    # Outside a script's run (a notebook, say) a setting is named as the notebook names it.
    assert "name a copy with data_file" in message and "move it away" in message
    assert own_copy.read_bytes() == copy  # not a byte changed
    assert files_in(tmp_path) == ["table.csv"]  # and nothing half-downloaded beside it
    assert local_server.requests == []


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask 022", "umask 002"])
def test_a_download_gets_a_normal_files_permissions_not_private_ones(local_server, tmp_path, umask):
    local_server.files["table.csv"] = BODY
    before = os.umask(umask)
    try:
        path = helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path)
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # 0644 for the usual 022


def test_unreachable_server_says_which_url_and_how_to_go_offline(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/table.csv"
    with pytest.raises(helpers.UserError) as error:
        helpers.download(url, SHA256, tmp_path / "data")
    message = str(error.value)
    assert url in message and str(tmp_path / "data") in message
    assert "put table.csv there or name a copy with data_file" in message
    assert files_in(tmp_path) == []  # no empty data/ either


def test_silent_server_times_out_instead_of_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr(helpers, "READ_TIMEOUT_SECONDS", 1)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/table.csv"
        errors = []

        def attempt():
            try:
                helpers.download(url, SHA256, tmp_path)
            except helpers.UserError as error:
                errors.append(str(error))

        worker = threading.Thread(target=attempt, daemon=True)  # a hang fails the test, not CI
        worker.start()
        worker.join(timeout=30)
    assert not worker.is_alive(), "download() still waiting on a silent server after 30 s"
    assert len(errors) == 1 and "timed out" in errors[0] and url in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_a_data_dir_under_a_file_is_a_clear_error_and_the_file_is_left_alone(
    local_server, tmp_path
):
    local_server.files["table.csv"] = BODY
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(helpers.UserError) as error:
        helpers.download(f"{local_server.url}/table.csv", SHA256, blocker / "data")
    message = str(error.value)  # said before a byte is downloaded
    assert f"cannot write to {blocker / 'data'}" in message and "Not a directory" in message
    assert "choose another data_dir" in message and local_server.requests == []
    assert files_in(tmp_path) == ["file"] and blocker.read_text() == "not a folder"


# The cases below run as a user meets them: a whole process, its exit code, its one line.


def test_a_changed_copy_in_data_is_refused_in_one_line_naming_data(local_server, tmp_path):
    published = write_own_csv(tmp_path / "published.csv", header=None).read_bytes()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own_copy = data_dir / "pima-indians-diabetes.data.csv"
    own_copy.write_bytes(published + b"1,2,3,4,5,1\n0,1,2,3,4,0\n")  # two rows added
    local_server.files[own_copy.name] = published  # online: the published file is there
    url, sha256 = f"{local_server.url}/{own_copy.name}", hashlib.sha256(published).hexdigest()
    result = run(
        "pima_binary.py",
        "--quick",
        "--data-dir",
        data_dir,
        "--out",
        tmp_path / "out",
        patch={"pima_binary.DATA_URL": url, "pima_binary.DATA_SHA256": sha256},
    )
    # In a script's run, the line names the flag.
    assert_one_line_error(
        result, f"{own_copy} is there, not the published", "name a copy with --data", "move it away"
    )
    assert own_copy.read_bytes() == published + b"1,2,3,4,5,1\n0,1,2,3,4,0\n"  # not a byte lost
    assert files_in(data_dir) == [own_copy.name]
    assert local_server.requests == []
    assert not (tmp_path / "out").exists()


def test_offline_a_changed_copy_in_a_read_only_data_dir_is_named_with_data_file(
    tmp_path, closed_port, read_only
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own_copy = data_dir / "pima-indians-diabetes.data.csv"
    own_copy.write_bytes(write_own_csv(tmp_path / "own.csv", header=None).read_bytes())
    url = f"http://127.0.0.1:{closed_port}/{own_copy.name}"
    settings = {"pima_binary.DATA_URL": url, "pima_binary.DATA_SHA256": "0" * 64}
    result = run(
        "pima_binary.py",
        "--quick",
        "--data-dir",
        data_dir,
        "--out",
        tmp_path / "out",
        patch=settings,
        under=read_only(data_dir),
    )
    line = assert_one_line_error(result, f"{own_copy} is there, not the published", "--data")
    assert ".part" not in line  # the temporary file it could not make is no business of yours
    assert [path.name for path in data_dir.iterdir()] == [own_copy.name]


def test_two_runs_downloading_into_one_folder_at_once_both_succeed(
    local_server, tmp_path, start_process
):
    local_server.files["table.csv"] = BODY[:3000]
    local_server.together["table.csv"] = 2  # neither is answered until both have asked
    local_server.pause["table.csv"] = 0.03  # then 30 chunks each, side by side
    url, sha256 = f"{local_server.url}/table.csv", hashlib.sha256(BODY[:3000]).hexdigest()
    runs = [
        start_process([sys.executable, HARNESS, "--", "download", url, sha256, tmp_path])
        for _ in range(2)
    ]
    results = [run.communicate(timeout=120) for run in runs]
    assert local_server.not_together == []  # both requests were in flight at once
    assert [run.returncode for run in runs] == [0, 0], results
    assert all(f"downloaded {tmp_path / 'table.csv'}" in out for out, _ in results)
    assert local_server.requests == ["table.csv", "table.csv"]
    assert (tmp_path / "table.csv").read_bytes() == BODY[:3000]
    assert files_in(tmp_path) == ["table.csv"]


def test_a_folder_where_the_download_belongs_is_one_line(tmp_path, closed_port):
    (tmp_path / "table.csv").mkdir()
    result = run(
        HARNESS, "--", "download", f"http://127.0.0.1:{closed_port}/table.csv", SHA256, tmp_path
    )
    assert_one_line_error(
        result, f"{tmp_path / 'table.csv'} is there, not the published", "move it away"
    )
    assert files_in(tmp_path) == ["table.csv"] and files_in(tmp_path / "table.csv") == []


def test_ctrl_c_during_a_download_leaves_nothing_and_is_one_line(
    local_server, tmp_path, start_process
):
    local_server.files["table.csv"] = BODY
    local_server.pause["table.csv"] = 0.05  # 600 chunks: half a minute, if it were not stopped
    url, data_dir = f"{local_server.url}/table.csv", tmp_path / "data"
    download = start_process(
        [sys.executable, HARNESS, "--", "download", url, SHA256, data_dir],
        preexec_fn=as_from_a_terminal,
    )
    wait_for_line(download, "Downloading", seconds=60)
    time.sleep(0.5)  # a few chunks in
    assert download.poll() is None  # still downloading
    download.send_signal(signal.SIGINT)
    _, stderr = download.communicate(timeout=60)
    assert download.returncode == 130, stderr
    assert stderr.splitlines() == [
        "interrupted (Ctrl-C): stopped before the end; no output file was left half-written"
    ]
    assert files_in(tmp_path) == []  # no .part file, no table.csv, no data/


def test_a_redirect_loop_is_one_line(local_server, tmp_path):
    local_server.redirect["table.csv"] = "table.csv"
    result = run(HARNESS, "--", "download", f"{local_server.url}/table.csv", SHA256, tmp_path)
    assert_one_line_error(result, "could not download", "redirect")
    assert files_in(tmp_path) == []


## save_outputs: each file is text, bytes, or a function given the temporary path (model.save)


def write_json(path):
    with open(path, "w") as file:
        file.write('{"loss": 0.25}\n')


def test_outputs_are_saved_all_or_none_and_the_file_that_fails_is_named(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"old")
    (tmp_path / "b.txt").mkdir()  # a folder where an output belongs
    files = {"a.txt": "new", "b.txt": b"b", "c.json": write_json}
    with pytest.raises(helpers.UserError) as error:
        helpers.save_outputs(tmp_path, files)
    assert "b.txt" in str(error.value) and "nothing of this run was saved" in str(error.value)
    assert files_in(tmp_path) == ["a.txt", "b.txt"]  # no c.json, no temporary file left
    assert (tmp_path / "a.txt").read_bytes() == b"old"
    (tmp_path / "b.txt").rmdir()
    helpers.save_outputs(tmp_path, files)
    assert (tmp_path / "a.txt").read_text() == "new" and (tmp_path / "b.txt").read_bytes() == b"b"
    assert (tmp_path / "c.json").read_text() == '{"loss": 0.25}\n'
    assert files_in(tmp_path) == ["a.txt", "b.txt", "c.json"]


def test_the_out_folder_is_made_only_once_every_file_is_written(tmp_path):
    written_in = []

    def fails(path):
        written_in.append(os.path.dirname(path))
        raise OSError(28, "No space left on device")

    out = tmp_path / "new" / "out"
    with pytest.raises(helpers.UserError, match="No space left on device"):
        helpers.save_outputs(out, {"a.txt": "a", "b.png": fails})
    assert written_in == [str(tmp_path)]  # the nearest folder that exists
    assert files_in(tmp_path) == []  # no new/, no out/, no temporary file
    helpers.save_outputs(out, {"a.txt": "a", "b.txt": b"b"})
    assert files_in(out) == ["a.txt", "b.txt"] and files_in(tmp_path) == ["new"]


def stopping_program(out, stop_during):
    """A program that saves a.txt, b.txt and c.txt to out and gets Ctrl-C while doing it."""
    return f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
import shell
import tutorial_helpers as helpers

def ctrl_c(*args):
    os.kill(os.getpid(), signal.SIGINT)

def half_written(path):
    open(path, "w").write("half")
    ctrl_c()

def main():
    if {stop_during!r} == "writing":
        b = half_written
    else:
        b = b"new"
        real_replace = os.replace
        os.replace = lambda *args: (real_replace(*args), ctrl_c())
    helpers.save_outputs({str(out)!r}, {{"a.txt": b"new", "b.txt": b, "c.txt": b"new"}})

shell.run(main)
"""


@pytest.mark.parametrize("stop_during, left", [("writing", b"old"), ("renaming", b"new")])
def test_ctrl_c_while_saving_leaves_the_old_set_or_the_new_one_never_a_mix(
    tmp_path, stop_during, left
):
    for name in ["a.txt", "b.txt", "c.txt"]:
        (tmp_path / name).write_bytes(b"old")
    result = run(
        "-c",
        stopping_program(tmp_path, stop_during),
        timeout=120,
        preexec_fn=as_from_a_terminal,
    )
    assert_one_line_error(result, "interrupted (Ctrl-C)", code=130)
    assert files_in(tmp_path) == ["a.txt", "b.txt", "c.txt"]  # no temporary file either
    assert {(tmp_path / name).read_bytes() for name in ["a.txt", "b.txt", "c.txt"]} == {left}


def test_no_nan_nor_infinity_in_a_json_file_the_project_writes(tmp_path):
    """Issue 48: strict JSON readers refuse NaN and Infinity, which Python's json writes for a
    loss that diverged or a weight divided by zero: they are written as null."""
    metrics = {"loss": [0.5, float("nan")], "weight": float("inf"), "name": "naive"}
    helpers.save_outputs(tmp_path, {"metrics.json": json.dumps(metrics, indent=2)})
    text = (tmp_path / "metrics.json").read_text()
    assert json.loads(text, parse_constant=lambda name: pytest.fail(name)) == {
        "loss": [0.5, None],
        "weight": None,
        "name": "naive",
    }

"""tutorial_helpers: downloads for real against a server on 127.0.0.1 that the test starts,
a changed copy of the user's in data/ never lost (online, offline, in a read-only folder),
and outputs that appear whole or not at all."""

import hashlib
import os
import signal
import socket
import stat
import subprocess
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
    assert_succeeded,
    run_patched,
    run_under,
    script_env,
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


def serve_differently(local_server, how):
    """The server's side of a download, done `how`; the URL."""
    local_server.files["table.csv"] = BODY
    if how == "cut half-way":
        local_server.cut_after["table.csv"] = len(BODY) // 2
    elif how == "another file":
        local_server.files["table.csv"] = BODY.replace(b"50", b"51")
    return f"{local_server.url}/table.csv"


@pytest.mark.parametrize("how", ["cut half-way", "another file", "no server"])
def test_a_differing_copy_in_data_dir_is_kept_when_no_checked_download_replaces_it(
    local_server, closed_port, tmp_path, how
):
    """README: a file of yours in data/ that differs from the published one is replaced only
    by the published file, once a download's SHA-256 has been checked; until then it is kept."""
    own_copy = tmp_path / "table.csv"
    own_copy.write_bytes(BODY + b"\n")  # re-saved with one newline more: another SHA-256
    url = (
        f"http://127.0.0.1:{closed_port}/table.csv"
        if how == "no server"
        else serve_differently(local_server, how)
    )
    with pytest.raises(helpers.UserError) as error:
        helpers.download(url, SHA256, tmp_path)
    assert f"{own_copy} differs from the published file" in str(error.value)
    assert f"pass --data {own_copy}" in str(error.value)
    assert own_copy.read_bytes() == BODY + b"\n"  # not a byte lost
    assert files_in(tmp_path) == ["table.csv"]  # and nothing half-downloaded beside it


@pytest.mark.parametrize("copy", [BODY[:100], BODY + b"\n"], ids=["cut short", "re-saved"])
def test_a_differing_copy_in_data_dir_is_kept_aside_once_the_published_file_has_arrived(
    local_server, tmp_path, copy, capsys
):
    """README: a changed copy of yours is never lost: the download takes its name, and yours
    is kept under a dated one that the run prints, with the --data that uses it."""
    local_server.files["table.csv"] = BODY
    (tmp_path / "table.csv").write_bytes(copy)
    path = helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path)
    assert path.read_bytes() == BODY
    assert local_server.requests == ["table.csv"]
    kept = tmp_path / f"table.csv.yours-{time.strftime('%Y-%m-%d')}"
    assert files_in(tmp_path) == ["table.csv", kept.name]
    assert kept.read_bytes() == copy
    printed = capsys.readouterr().out
    assert f"yours is kept as {kept}" in printed and f"pass --data {kept}" in printed


def test_a_second_changed_copy_on_the_same_day_is_kept_beside_the_first(local_server, tmp_path):
    local_server.files["table.csv"] = BODY
    url = f"{local_server.url}/table.csv"
    for change in [b"first\n", b"second\n"]:
        (tmp_path / "table.csv").write_bytes(BODY + change)
        helpers.download(url, SHA256, tmp_path)
    kept = f"table.csv.yours-{time.strftime('%Y-%m-%d')}"
    assert files_in(tmp_path) == ["table.csv", kept, f"{kept}-2"]
    assert (tmp_path / kept).read_bytes() == BODY + b"first\n"
    assert (tmp_path / f"{kept}-2").read_bytes() == BODY + b"second\n"


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
    assert url in message
    assert "--data FILE" in message and str(tmp_path / "data") in message
    assert files_in(tmp_path / "data") == []


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


def test_data_dir_that_cannot_be_created_is_a_clear_error(tmp_path, closed_port):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(helpers.UserError, match="--data-dir"):
        helpers.download(f"http://127.0.0.1:{closed_port}/table.csv", SHA256, blocker / "data")


# The cases below run as a user meets them: a whole process, its exit code, its one line.


def test_offline_a_differing_copy_of_the_users_is_kept_and_can_be_used_with_data(
    tmp_path, closed_port
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own_copy = data_dir / "pima-indians-diabetes.data.csv"
    own_copy.write_bytes(BODY + b"\n")  # re-saved with one newline more: another SHA-256
    url = f"http://127.0.0.1:{closed_port}/pima-indians-diabetes.data.csv"
    result = run_patched(
        [f"pima_binary.DATA_URL={url!r}", f"pima_binary.DATA_SHA256={SHA256!r}"],
        "pima_binary.py",
        "--quick",
        "--data-dir",
        data_dir,
        "--out",
        tmp_path / "out",
    )
    assert_one_line_error(
        result, f"{own_copy} differs from the published file", url, f"pass --data {own_copy}"
    )
    assert own_copy.read_bytes() == BODY + b"\n"
    assert files_in(data_dir) == [own_copy.name]


def test_online_a_changed_copy_in_data_is_kept_under_a_printed_name(local_server, tmp_path):
    published = write_own_csv(tmp_path / "published.csv", header=None).read_bytes()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own_copy = data_dir / "pima-indians-diabetes.data.csv"
    own_copy.write_bytes(published + b"1,2,3,4,5,1\n0,1,2,3,4,0\n")  # two rows added
    own_copy.chmod(0o644)
    local_server.files[own_copy.name] = published
    url, sha256 = f"{local_server.url}/{own_copy.name}", hashlib.sha256(published).hexdigest()
    settings = [f"pima_binary.DATA_URL={url!r}", f"pima_binary.DATA_SHA256={sha256!r}"]
    result = subprocess.run(
        [sys.executable, HARNESS, *settings, "--", "pima_binary.py", "--quick"]
        + ["--data-dir", data_dir, "--out", tmp_path / "out"],
        capture_output=True,
        text=True,
        timeout=600,
        env=script_env(),
        preexec_fn=lambda: os.umask(0o022),
    )
    assert_succeeded(result)
    kept = data_dir / f"{own_copy.name}.yours-{time.strftime('%Y-%m-%d')}"
    assert f"yours is kept as {kept}; to use it, pass --data {kept}" in result.stdout
    assert kept.read_bytes() == published + b"1,2,3,4,5,1\n0,1,2,3,4,0\n"  # not a byte lost
    assert own_copy.read_bytes() == published
    assert stat.S_IMODE(own_copy.stat().st_mode) == 0o644  # a normal file's, not 0600
    assert sorted(path.name for path in data_dir.iterdir()) == [own_copy.name, kept.name]


def test_offline_a_changed_copy_in_a_read_only_data_dir_is_named_with_data_file(
    tmp_path, closed_port, read_only
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own_copy = data_dir / "pima-indians-diabetes.data.csv"
    own_copy.write_bytes(write_own_csv(tmp_path / "own.csv", header=None).read_bytes())
    url = f"http://127.0.0.1:{closed_port}/{own_copy.name}"
    settings = [f"pima_binary.DATA_URL={url!r}", f"pima_binary.DATA_SHA256={'0' * 64!r}"]
    result = run_under(
        read_only(data_dir),
        sys.executable,
        HARNESS,
        *settings,
        "--",
        "pima_binary.py",
        "--quick",
        "--data-dir",
        data_dir,
        "--out",
        tmp_path / "out",
    )
    line = assert_one_line_error(
        result, f"{own_copy} differs from the published file", f"pass --data {own_copy}"
    )
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


def test_a_download_that_trickles_is_given_up_by_a_deadline_that_grows_with_its_size(
    local_server, tmp_path
):
    local_server.files["table.csv"] = BODY[:4000]
    local_server.pause["table.csv"] = (
        0.2  # 100 bytes every 0.2 s, 10 times within the read time-out
    )
    url, sha256 = f"{local_server.url}/table.csv", hashlib.sha256(BODY[:4000]).hexdigest()
    result = run_patched(
        ["tutorial_helpers.READ_TIMEOUT_SECONDS=2", "tutorial_helpers.MIN_BYTES_PER_SECOND=2000"],
        "download",
        url,
        sha256,
        tmp_path,
    )
    # 2 s + 4,000 bytes at 2 kB/s: 4 s, where the whole file would have taken 8 s and the read
    # time-out alone would never have fired.
    assert_one_line_error(result, url, "gave up after 4 s", "slower than 2 kB/s")
    assert files_in(tmp_path) == []


def test_a_folder_where_the_download_belongs_is_one_line(tmp_path, closed_port):
    (tmp_path / "table.csv").mkdir()
    result = run_patched(
        [], "download", f"http://127.0.0.1:{closed_port}/table.csv", SHA256, tmp_path
    )
    assert_one_line_error(result, f"{tmp_path / 'table.csv'} is a folder", "--data FILE")


def test_ctrl_c_during_a_download_deletes_the_part_file_and_is_one_line(
    local_server, tmp_path, start_process
):
    local_server.files["table.csv"] = BODY
    local_server.pause["table.csv"] = 0.05  # 600 chunks: half a minute, if it were not stopped
    download = start_process(
        [
            sys.executable,
            HARNESS,
            "--",
            "download",
            f"{local_server.url}/table.csv",
            SHA256,
            tmp_path,
        ],
        preexec_fn=as_from_a_terminal,
    )
    wait_for_line(download, "Downloading", seconds=60)  # printed once the .part file is made
    assert len(list(tmp_path.glob(".table.csv-*.part"))) == 1, files_in(tmp_path)
    time.sleep(0.5)  # a few chunks in
    assert download.poll() is None  # still downloading
    download.send_signal(signal.SIGINT)
    _, stderr = download.communicate(timeout=60)
    assert download.returncode == 130, stderr
    assert stderr.splitlines() == [
        "interrupted (Ctrl-C): stopped before the end; no output file was left half-written"
    ]
    assert files_in(tmp_path) == []  # the .part file is gone, and no table.csv


def test_a_redirect_loop_is_one_line(local_server, tmp_path):
    local_server.redirect["table.csv"] = "table.csv"
    result = run_patched([], "download", f"{local_server.url}/table.csv", SHA256, tmp_path)
    assert_one_line_error(result, "could not download", "redirect")
    assert files_in(tmp_path) == []


def test_outputs_are_saved_all_or_none_and_the_file_that_fails_is_named(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"old")
    (tmp_path / "b.txt").mkdir()  # a folder where an output belongs
    with pytest.raises(helpers.UserError) as error:
        helpers.save_outputs(tmp_path, {"a.txt": "new", "b.txt": b"b", "c.json": {"loss": 0.25}})
    assert "b.txt" in str(error.value) and "nothing of this run was saved" in str(error.value)
    assert (tmp_path / "a.txt").read_bytes() == b"old"
    assert files_in(tmp_path) == ["a.txt", "b.txt"]  # no c.json, no temporary file left
    (tmp_path / "b.txt").rmdir()
    helpers.save_outputs(tmp_path, {"a.txt": "new", "b.txt": b"b", "c.json": {"loss": 0.25}})
    assert (tmp_path / "c.json").read_text() == '{\n  "loss": 0.25\n}\n'
    assert files_in(tmp_path) == ["a.txt", "b.txt", "c.json"]


def stopping_program(out, stop_during):
    """A program that saves a.txt, b.txt and c.txt to out and gets Ctrl-C while doing it."""
    return f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
import tutorial_helpers as helpers

def ctrl_c(*args):
    os.kill(os.getpid(), signal.SIGINT)

class HalfWritten:
    def savefig(self, path, **options):
        open(path, "w").write("half")
        ctrl_c()

def main():
    if {stop_during!r} == "writing":
        b = HalfWritten()
    else:
        b = b"new"
        real_replace = os.replace
        os.replace = lambda *args: (real_replace(*args), ctrl_c())
    helpers.save_outputs({str(out)!r}, {{"a.txt": b"new", "b.txt": b, "c.txt": b"new"}})

helpers.run(main)
"""


@pytest.mark.parametrize("stop_during, left", [("writing", b"old"), ("renaming", b"new")])
def test_ctrl_c_while_saving_leaves_the_old_set_or_the_new_one_never_a_mix(
    tmp_path, stop_during, left
):
    for name in ["a.txt", "b.txt", "c.txt"]:
        (tmp_path / name).write_bytes(b"old")
    result = subprocess.run(
        [sys.executable, "-c", stopping_program(tmp_path, stop_during)],
        capture_output=True,
        text=True,
        timeout=120,
        env=script_env(),
        preexec_fn=as_from_a_terminal,
    )
    assert_one_line_error(result, "interrupted (Ctrl-C)", code=130)
    assert files_in(tmp_path) == ["a.txt", "b.txt", "c.txt"]  # no temporary file either
    assert {(tmp_path / name).read_bytes() for name in ["a.txt", "b.txt", "c.txt"]} == {left}

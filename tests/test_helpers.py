"""tutorial_helpers: downloads for real against a server on 127.0.0.1 that the test starts,
and outputs that appear whole or not at all."""

import hashlib
import socket
import threading

import pytest

import tutorial_helpers as helpers

BODY = b"6,148,72,35,0,33.6,0.627,50,1\n" * 2000
SHA256 = hashlib.sha256(BODY).hexdigest()


def test_first_call_downloads_and_verifies_second_makes_no_request(local_server, tmp_path, capsys):
    local_server.files["table.csv"] = BODY
    path = helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path / "data")
    assert path == tmp_path / "data" / "table.csv"
    assert path.read_bytes() == BODY
    assert local_server.requests == ["table.csv"]
    assert "Downloading data from" in capsys.readouterr().out

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


def test_connection_cut_half_way_leaves_no_file_and_next_run_downloads_again(local_server, tmp_path):
    local_server.files["table.csv"] = BODY
    local_server.cut_after["table.csv"] = len(BODY) // 2
    with pytest.raises(helpers.UserError, match="could not download"):
        helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path)
    assert list(tmp_path.iterdir()) == []

    del local_server.cut_after["table.csv"]
    assert helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path).read_bytes() == BODY
    assert local_server.requests == ["table.csv", "table.csv"]


def test_corrupted_copy_in_data_dir_is_replaced(local_server, tmp_path):
    local_server.files["table.csv"] = BODY
    (tmp_path / "table.csv").write_bytes(BODY[:100])
    path = helpers.download(f"{local_server.url}/table.csv", SHA256, tmp_path)
    assert path.read_bytes() == BODY
    assert local_server.requests == ["table.csv"]


def test_unreachable_server_says_which_url_and_how_to_go_offline(tmp_path):
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/table.csv"
    with pytest.raises(helpers.UserError) as error:
        helpers.download(url, SHA256, tmp_path / "data")
    message = str(error.value)
    assert url in message
    assert "--data FILE" in message and str(tmp_path / "data") in message
    assert not (tmp_path / "data" / "table.csv").exists()


def test_silent_server_times_out_instead_of_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr(helpers, "DOWNLOAD_TIMEOUT_SECONDS", 1)
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


def test_data_dir_that_cannot_be_created_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(helpers.UserError, match="--data-dir"):
        helpers.download("http://127.0.0.1:9/table.csv", SHA256, blocker / "data")


def test_atomic_path_replaces_the_target_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("previous run")
    with pytest.raises(RuntimeError):
        with helpers.atomic_path(target) as temporary:
            with open(temporary, "w") as half_written:
                half_written.write("{")
            raise RuntimeError("interrupted while writing")
    assert target.read_text() == "previous run"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind

    helpers.save_json({"test_loss": 0.25}, target)
    assert target.read_text() == '{\n  "test_loss": 0.25\n}\n'
    assert list(tmp_path.iterdir()) == [target]

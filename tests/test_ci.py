"""What .ci/run relies on beyond the README's test command."""

from conftest import ROOT, run, script_env

FIND_A_SHARED_FILE = (
    "import sys; sys.path.insert(0, 'tests'); import conftest; conftest.shared_file('absent.npz')"
)


def test_missing_shared_data_skips_a_test_but_fails_it_where_ci_needs_the_data(tmp_path):
    for need, outcome in [(None, "Skipped"), ("1", "Failed")]:
        env = script_env(SHARED_DATA_DIR=str(tmp_path), TESTS_NEED_SHARED_DATA=need)
        result = run("-c", FIND_A_SHARED_FILE, cwd=ROOT, env=env)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"{outcome}: real data {tmp_path}/absent.npz")
    assert "TESTS_NEED_SHARED_DATA is set" in last
    # .ci/run sets it whenever the real data is beside the clone.
    ci = (ROOT / ".ci" / "run").read_text()
    assert "if [ -d ../shared ]; then export TESTS_NEED_SHARED_DATA=1; fi" in ci

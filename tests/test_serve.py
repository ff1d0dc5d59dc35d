"""The server settles what a crashed process left as soon as it starts, before anyone opens a page."""

import os
import signal
import subprocess
import sys
import time

from imagegen import GenerationRequest, Settings, Studio
from imagegen.checks import scoped_id
from tests.conftest import ROOT, cli_env, free_port


def test_a_restarted_server_settles_a_paid_image_without_any_visit(data_dir):
    settings = Settings(data_dir=data_dir, offline_delay=0)
    pid = os.fork()
    if pid == 0:  # a server that dies right after the provider answered
        try:
            studio = Studio(settings)
            import imagegen.pipeline as pipeline

            pipeline.imaging.verify_image = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
            studio.generate(GenerationRequest("a paid fox", request_id="left-behind"), "ann")
        finally:
            os._exit(3)
    os.waitpid(pid, 0)
    ledger_id = scoped_id("ann", "left-behind")
    assert Studio(settings)._engine.ledger.generation(ledger_id)["status"] == "reserved"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1"],
        cwd=ROOT, env=cli_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        status, listed = "reserved", []
        while time.time() < deadline and not (status == "committed" and listed) and server.poll() is None:
            time.sleep(0.2)
            studio = Studio(settings)
            status = studio._engine.ledger.generation(ledger_id)["status"]
            listed = [i["request_id"] for i in studio.history().items]  # indexed once uploaded, after the charge
        assert status == "committed", "the server did not settle the spooled image on its own"
        assert listed == [ledger_id]
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_local_mode_listens_on_loopback_unless_told_otherwise(caplog):
    from ui.serve import with_safe_address

    local, oidc = Settings(auth="local"), Settings(auth="oidc")
    assert with_safe_address(local, ["--server.port", "1"]) == ["--server.port", "1", "--server.address", "127.0.0.1"]
    assert with_safe_address(oidc, ["--server.port", "1"]) == ["--server.port", "1"]
    assert with_safe_address(local, ["--server.address", "0.0.0.0"]) == ["--server.address", "0.0.0.0"]
    assert "every visitor is the same admin" in caplog.text


def test_local_mode_on_a_shared_address_says_so_on_the_page(monkeypatch, data_dir):
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    for name in ("OPENAI_API_KEY", "IMAGEGEN_AUTH", "IMAGEGEN_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGEGEN_DATA_DIR", str(data_dir))
    shown = {}
    for address in ("0.0.0.0", "127.0.0.1"):
        config.set_option("server.address", address)
        try:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
        finally:
            config.set_option("server.address", None)
        shown[address] = " ".join(w.value for w in at.sidebar.warning)
    assert "every visitor is the same admin" in shown["0.0.0.0"]
    assert shown["127.0.0.1"] == ""


def test_what_the_server_loads_is_kept_out_of_the_collection_streamlit_runs_after_every_page_run():
    probe = (
        "import gc, sys\n"
        "from ui import serve\n"
        "serve.settle_heap()\n"
        "print(all(name in sys.modules for name in serve.PAGE_LIBRARIES), len(gc.get_objects()))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    libraries_loaded, objects_left_to_walk = done.stdout.split()
    assert libraries_loaded == "True"
    assert int(objects_left_to_walk) < 1_000  # of some 140 000 objects the libraries made
